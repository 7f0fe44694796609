package keycloak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

const (
	// maxTokenSkew is the most time before its expiry that a token is
	// replaced, so that one sent near the end of its life still arrives
	// valid despite clock skew and latency.
	maxTokenSkew = 30 * time.Second
	// maxTokenResponse bounds a token endpoint answer; Keycloak's are a few
	// kilobytes even with many roles in the token.
	maxTokenResponse = 256 << 10
)

// tokenSource obtains and caches the service account's access token with the
// client-credentials grant on the realm's token endpoint.
type tokenSource struct {
	url          string
	clientID     string
	clientSecret string
	hc           *http.Client
	now          func() time.Time
	log          *slog.Logger

	// fetching admits one grant at a time: a burst of lookups after expiry
	// waits for one new token instead of each requesting its own.
	fetching chan struct{}

	mu      sync.Mutex
	token   string
	expires time.Time
}

func newTokenSource(tokenURL, clientID, clientSecret string, hc *http.Client, now func() time.Time, log *slog.Logger) *tokenSource {
	return &tokenSource{
		url: tokenURL, clientID: clientID, clientSecret: clientSecret,
		hc: hc, now: now, log: log,
		fetching: make(chan struct{}, 1),
	}
}

// current returns the cached token if it is still good to send.
func (s *tokenSource) current() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && s.now().Before(s.expires) {
		return s.token, true
	}
	return "", false
}

// Token returns a valid access token, requesting a new one when the cached
// one is missing or about to expire.
func (s *tokenSource) Token(ctx context.Context) (string, error) {
	if tok, ok := s.current(); ok {
		return tok, nil
	}
	select {
	case s.fetching <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("keycloak: waiting for a token: %w", ctx.Err())
	}
	defer func() { <-s.fetching }()
	// Another caller may have fetched one while this one waited.
	if tok, ok := s.current(); ok {
		return tok, nil
	}
	return s.fetch(ctx)
}

// Invalidate drops tok if it is still the cached token. Comparing avoids
// dropping a newer token that another caller fetched after tok was refused.
func (s *tokenSource) Invalidate(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == tok {
		s.token = ""
	}
}

func (s *tokenSource) fetch(ctx context.Context) (string, error) {
	// Keycloak's client authenticator accepts the secret in the form body
	// as well as in Basic auth; the body avoids the RFC 6749 encoding of
	// Basic credentials, which older Keycloak versions did not decode.
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {s.clientID},
		"client_secret": {s.clientSecret},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("keycloak: client-credentials grant: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)

	// The lifetime counts from before the request: the token may have been
	// issued any time while the request was under way.
	sent := s.now()
	resp, err := s.hc.Do(req)
	if err != nil {
		return "", transportError(ctx, "client-credentials grant", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse+1))
	if err != nil {
		return "", transportError(ctx, "client-credentials grant: read response", err)
	}
	if len(data) > maxTokenResponse {
		return "", fmt.Errorf("keycloak: client-credentials grant: response larger than %d bytes", maxTokenResponse)
	}

	var body struct {
		AccessToken      string `json:"access_token"`
		TokenType        string `json:"token_type"`
		ExpiresIn        int64  `json:"expires_in"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	decodeErr := json.Unmarshal(data, &body)
	if resp.StatusCode != http.StatusOK {
		return "", &TokenError{
			StatusCode:  resp.StatusCode,
			Code:        truncate(body.Error, maxErrorMessage),
			Description: truncate(body.ErrorDescription, maxErrorMessage),
		}
	}
	if decodeErr != nil {
		return "", fmt.Errorf("keycloak: client-credentials grant: decode response: %w", decodeErr)
	}
	if body.AccessToken == "" {
		return "", errors.New("keycloak: client-credentials grant: response has no access_token")
	}
	if !strings.EqualFold(body.TokenType, "Bearer") {
		return "", fmt.Errorf("keycloak: client-credentials grant: token type %q, want Bearer", truncate(body.TokenType, 20))
	}

	lifetime := time.Duration(body.ExpiresIn) * time.Second
	s.mu.Lock()
	s.token = body.AccessToken
	// A token without a stated lifetime is used for this request only: it
	// is safer to ask again than to guess how long it lives.
	s.expires = time.Time{}
	if lifetime > 0 {
		s.expires = sent.Add(lifetime - min(maxTokenSkew, lifetime/10))
	}
	s.mu.Unlock()
	s.log.DebugContext(ctx, "keycloak: service-account token obtained", "expires_in", lifetime)
	return body.AccessToken, nil
}

// transportError wraps a failure to exchange a request. It is transient
// unless the caller itself gave up (context canceled): then retrying is the
// caller's decision, not a property of Keycloak.
func transportError(ctx context.Context, what string, err error) error {
	err = fmt.Errorf("keycloak: %s: %w", what, err)
	if errors.Is(ctx.Err(), context.Canceled) {
		return err
	}
	return transientError{err}
}
