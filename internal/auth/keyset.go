package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// DefaultJWKSMinRefresh is the least time between two fetches of the signing
// keys when VerifierConfig.JWKSMinRefresh is zero.
const DefaultJWKSMinRefresh = 30 * time.Second

// errKeyFetch marks a failure to fetch the signing keys: the issuer's fault,
// not the token's.
var errKeyFetch = errors.New("fetch signing keys")

// errUnknownKey is a token naming a key the issuer has not published (after
// a refetch, or while refetches are throttled).
var errUnknownKey = errors.New("token names an unknown signing key")

// errBadSignature is a token whose key is known but whose signature does not
// verify with it.
var errBadSignature = errors.New("signature does not verify")

// keySet is the issuer's JWKS, fetched when a token names a key id not in the
// cache. go-oidc's RemoteKeySet refetches whenever no cached key verifies, so
// every forged token with a valid-looking header cost one request to the
// issuer; here a known kid never refetches, and refetches (successful or not)
// are at most one per minInterval, shared by every caller that needs one.
type keySet struct {
	url         string
	client      *http.Client
	algs        []jose.SignatureAlgorithm
	minInterval time.Duration
	now         func() time.Time

	mu          sync.Mutex
	keys        []jose.JSONWebKey
	lastAttempt time.Time // zero: never fetched
	lastErr     error     // outcome of the last attempt
	inflight    *keyFetch
}

// keyFetch is one fetch awaited by every caller that triggered or joined it.
type keyFetch struct {
	done chan struct{}
	err  error
}

func newKeySet(url string, client *http.Client, algs []string, minInterval time.Duration, now func() time.Time) *keySet {
	ja := make([]jose.SignatureAlgorithm, 0, len(algs))
	for _, a := range algs {
		ja = append(ja, jose.SignatureAlgorithm(a))
	}
	if minInterval <= 0 {
		minInterval = DefaultJWKSMinRefresh
	}
	if now == nil {
		now = time.Now
	}
	return &keySet{url: url, client: client, algs: ja, minInterval: minInterval, now: now}
}

// VerifySignature implements oidc.KeySet. Fetch failures wrap errKeyFetch.
func (k *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	// go-oidc has already parsed the token with the same algorithms, but
	// keeps the result in a context key of its own.
	jws, err := jose.ParseSigned(raw, k.algs)
	if err != nil {
		return nil, fmt.Errorf("parse token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("token has %d signatures, want 1", len(jws.Signatures))
	}
	kid := jws.Signatures[0].Header.KeyID

	payload, known, err := verifyWith(jws, k.cached(), kid)
	if err == nil || known {
		// A published kid whose signature fails is a forgery or a
		// corrupted token: the issuer's current keys cannot change that.
		return payload, err
	}
	if err := k.refresh(ctx); err != nil {
		return nil, err
	}
	payload, _, err = verifyWith(jws, k.cached(), kid)
	return payload, err
}

// verifyWith tries the keys kid names (every signing key when the token names
// none). known reports whether any key matched the kid.
func verifyWith(jws *jose.JSONWebSignature, keys []jose.JSONWebKey, kid string) (payload []byte, known bool, err error) {
	for i := range keys {
		key := &keys[i]
		if key.Use == "enc" || (kid != "" && key.KeyID != kid) {
			continue
		}
		if kid != "" {
			known = true
		}
		if payload, err := jws.Verify(key); err == nil {
			return payload, true, nil
		}
	}
	if known {
		return nil, true, errBadSignature
	}
	return nil, false, errUnknownKey
}

func (k *keySet) cached() []jose.JSONWebKey {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys
}

// refresh fetches the keys unless an attempt started less than minInterval
// ago; then it returns that attempt's outcome instead. A fetch already under
// way is joined rather than repeated.
func (k *keySet) refresh(ctx context.Context) error {
	k.mu.Lock()
	f := k.inflight
	if f == nil {
		if !k.lastAttempt.IsZero() && k.now().Sub(k.lastAttempt) < k.minInterval {
			err := k.lastErr
			k.mu.Unlock()
			return err
		}
		f = &keyFetch{done: make(chan struct{})}
		k.inflight, k.lastAttempt = f, k.now()
		// Detached from the request: one caller giving up must not fail
		// the fetch the others wait for. The client's timeout bounds it.
		go k.fetch(f)
	}
	k.mu.Unlock()

	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return fmt.Errorf("%w: waiting for %s: %w", errKeyFetch, k.url, ctx.Err())
	}
}

func (k *keySet) fetch(f *keyFetch) {
	ctx, cancel := context.WithTimeout(context.Background(), discoveryTimeout)
	defer cancel()
	keys, err := k.get(ctx)
	if err != nil {
		err = fmt.Errorf("%w: %w", errKeyFetch, err)
	}
	k.mu.Lock()
	if err == nil {
		k.keys = keys
	}
	k.lastErr, k.inflight = err, nil
	k.mu.Unlock()
	f.err = err
	close(f.done)
}

func (k *keySet) get(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", k.url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataBytes))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", k.url, err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("decode %s: %w", k.url, err)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("%s has no keys", k.url)
	}
	return set.Keys, nil
}
