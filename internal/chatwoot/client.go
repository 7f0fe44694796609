// Package chatwoot talks to Chatwoot's account API (messages, labels,
// priority), verifies and parses the webhooks Chatwoot sends, and renders the
// notes and messages the orchestrator posts.
//
// The client never retries: the workflow that calls it retries with backoff
// and uses IsPermanent to decide when to stop. Chatwoot has no idempotency key,
// so a retried POST of a message posts it twice; see NewMessage.EchoID and
// FindMessageByEchoID for how to reconcile after a crash.
package chatwoot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	// DefaultTimeout bounds one HTTP exchange when New builds the HTTP client.
	DefaultTimeout = 10 * time.Second

	// maxResponseBytes bounds what is read from most responses; Chatwoot's
	// answers to the calls made here are a few kilobytes.
	maxResponseBytes = 1 << 20
	// maxListBytes bounds a message page: 20 messages of up to 150,000
	// characters each can legitimately exceed 1 MiB.
	maxListBytes = 16 << 20
	// maxErrorMessage bounds the server's error text kept in an APIError.
	maxErrorMessage = 200

	headerToken = "api_access_token"
	userAgent   = "orchestrator-chatwoot-client/1"
)

// ErrInvalidArgument marks a call refused before anything was sent (an empty
// message, an unknown priority, a bad base URL). Retrying cannot help, so
// IsPermanent reports true for it.
var ErrInvalidArgument = errors.New("chatwoot: invalid argument")

// Client calls one Chatwoot installation with one API access token. It is safe
// for concurrent use.
type Client struct {
	base    *url.URL
	baseErr error
	token   string
	hc      *http.Client
}

// New returns a client for the Chatwoot installation at baseURL (for example
// "https://chat.example.com"), authenticating with apiToken. A nil httpClient
// gets one with DefaultTimeout. A bad baseURL is reported by every call as an
// ErrInvalidArgument; check it at startup with Client.Validate.
func New(baseURL, apiToken string, httpClient *http.Client) *Client {
	c := &Client{token: apiToken}
	c.base, c.baseErr = parseBaseURL(baseURL)
	if c.baseErr == nil && apiToken == "" {
		c.baseErr = fmt.Errorf("%w: empty API token", ErrInvalidArgument)
	}

	var hc http.Client
	if httpClient != nil {
		hc = *httpClient
	} else {
		hc.Timeout = DefaultTimeout
	}
	// The token travels in a custom header that net/http would forward to
	// any host a redirect names; refuse redirects so it cannot leak.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.hc = &hc
	return c
}

func parseBaseURL(raw string) (*url.URL, error) {
	raw = strings.TrimRight(strings.TrimSpace(raw), "/")
	if raw == "" {
		return nil, fmt.Errorf("%w: empty base URL", ErrInvalidArgument)
	}
	// The messages below never quote the URL: a mistyped one may carry
	// credentials.
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: base URL does not parse", ErrInvalidArgument)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: base URL must be http(s)://host[/path]", ErrInvalidArgument)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: base URL must not carry credentials, a query or a fragment", ErrInvalidArgument)
	}
	return u, nil
}

// Validate reports a configuration problem (bad base URL, empty token) that
// would make every call fail.
func (c *Client) Validate() error { return c.baseErr }

// String keeps the token out of logs and %v output.
func (c *Client) String() string {
	if c.base == nil {
		return "chatwoot.Client{invalid}"
	}
	return "chatwoot.Client{" + c.base.String() + "}"
}

// GoString keeps the token out of %#v output.
func (c *Client) GoString() string { return c.String() }

func accountPath(accountID, conversationID int, tail string) (string, error) {
	if accountID <= 0 || conversationID <= 0 {
		return "", fmt.Errorf("%w: account id %d and conversation id %d must be positive", ErrInvalidArgument, accountID, conversationID)
	}
	return "/api/v1/accounts/" + strconv.Itoa(accountID) + "/conversations/" + strconv.Itoa(conversationID) + tail, nil
}

// do sends one request and decodes a 2xx JSON answer into out (when out is
// not nil). Any other status becomes an *APIError.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any, limit int64) error {
	if c.baseErr != nil {
		return fmt.Errorf("chatwoot: %s %s: %w", method, path, c.baseErr)
	}
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawPath = ""
	u.RawQuery = query.Encode()

	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("chatwoot: %s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("chatwoot: %s %s: %w", method, path, err)
	}
	req.Header.Set(headerToken, c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("chatwoot: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()

	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("chatwoot: %s %s: read response: %w", method, path, err)
	}
	if int64(len(data)) > limit {
		return fmt.Errorf("chatwoot: %s %s: response larger than %d bytes", method, path, limit)
	}

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &APIError{
			StatusCode: resp.StatusCode,
			Message:    c.errorMessage(data),
			Method:     method,
			Path:       path,
			RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now()),
		}
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		if out != nil {
			return fmt.Errorf("chatwoot: %s %s: empty response body", method, path)
		}
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("chatwoot: %s %s: decode response: %w", method, path, err)
	}
	return nil
}

// errorMessage extracts Chatwoot's error text: {"error": "..."} from the
// account API, {"message": "..."} or {"errors": [...]} from elsewhere.
func (c *Client) errorMessage(data []byte) string {
	var body struct {
		Error   any `json:"error"`
		Message any `json:"message"`
		Errors  any `json:"errors"`
	}
	msg := ""
	if json.Unmarshal(data, &body) == nil {
		for _, v := range []any{body.Error, body.Message, body.Errors} {
			if msg = flattenMessage(v); msg != "" {
				break
			}
		}
	}
	if c.token != "" {
		msg = strings.ReplaceAll(msg, c.token, "[redacted]")
	}
	return truncate(msg, maxErrorMessage)
}

func flattenMessage(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		parts := make([]string, 0, len(v))
		for _, e := range v {
			if s := flattenMessage(e); s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, "; ")
	case map[string]any:
		for _, k := range []string{"message", "error", "description"} {
			if s := flattenMessage(v[k]); s != "" {
				return s
			}
		}
	}
	return ""
}

func truncate(s string, n int) string {
	s = strings.ToValidUTF8(strings.TrimSpace(s), "")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
