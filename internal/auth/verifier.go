package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// VerifierConfig says which tokens to trust.
type VerifierConfig struct {
	// IssuerURL must equal the tokens' iss exactly (Keycloak:
	// http(s)://<public host>/realms/<realm>).
	IssuerURL string
	// Audience must be one of the tokens' aud values; its client roles in
	// resource_access become Principal roles too.
	Audience string
	// DiscoveryURL is where this process reaches the issuer when the public
	// issuer URL does not resolve from here (containers). It is the issuer
	// base URL; a trailing /.well-known/openid-configuration is tolerated.
	DiscoveryURL string
	// JWKSURL skips discovery altogether and reads keys from this URL.
	JWKSURL string
	// AllowedAlgs is the allow-list of signing algorithms; RS256 when empty.
	// Symmetric algorithms and "none" are refused: a key the API can verify
	// with must not also be able to forge.
	AllowedAlgs []string
	// HTTPClient fetches discovery and keys; one with a 10 s timeout when nil.
	HTTPClient *http.Client
	// JWKSMinRefresh is the least time between two fetches of the signing
	// keys (DefaultJWKSMinRefresh when zero). Keys are refetched only for a
	// token naming a key id not seen yet, so this bounds what a stream of
	// forged tokens can cost the issuer.
	JWKSMinRefresh time.Duration
	// Now is the clock of the refresh throttle and of the verified-token
	// cache; time.Now when nil (tests).
	Now func() time.Time
	// Approvers is the rule for who approves where; DefaultApprovers when nil.
	Approvers *Approvers
	// TokenCacheSize is how many verified tokens are answered from memory
	// until their expiry (at most five minutes); DefaultTokenCacheSize when
	// zero, none when negative.
	TokenCacheSize int
}

const (
	discoveryTimeout   = 10 * time.Second
	defaultHTTPTimeout = 10 * time.Second
	maxMetadataBytes   = 1 << 20
	wellKnownPath      = "/.well-known/openid-configuration"
)

// asymmetricAlgs are the algorithms go-oidc can verify with a public key.
var asymmetricAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512,
	oidc.PS256, oidc.PS384, oidc.PS512,
	oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.EdDSA,
}

// Verifier checks access tokens. The issuer is contacted lazily, so the API
// can start (and report not ready) before Keycloak is up; once discovery has
// succeeded its result is kept for the life of the Verifier.
type Verifier struct {
	cfg  VerifierConfig
	algs []string
	// keysCtx outlives every request: go-oidc's RemoteKeySet keeps it to
	// refresh keys in the background and reads the HTTP client from it.
	keysCtx context.Context
	client  *http.Client

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
	inflight *discovery
	// keys outlives failed discovery attempts so that its throttle holds
	// across them; nil until the JWKS URL is known.
	keys *keySet
	// verified is nil when the cache is off.
	verified *tokenCache
}

// discovery is one attempt shared by every caller that needs it, so that a
// burst of requests against a down issuer makes one request, not a burst.
type discovery struct {
	done     chan struct{}
	verifier *oidc.IDTokenVerifier
	err      error
}

// NewVerifier validates cfg without any network access.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if err := checkURL("issuer URL", cfg.IssuerURL, true); err != nil {
		return nil, err
	}
	if cfg.Audience == "" {
		return nil, errors.New("auth: audience is required")
	}
	if err := checkURL("discovery URL", cfg.DiscoveryURL, false); err != nil {
		return nil, err
	}
	if err := checkURL("JWKS URL", cfg.JWKSURL, false); err != nil {
		return nil, err
	}
	if cfg.DiscoveryURL != "" && cfg.JWKSURL != "" {
		return nil, errors.New("auth: set either a discovery URL or a JWKS URL, not both")
	}
	algs, err := allowedAlgs(cfg.AllowedAlgs)
	if err != nil {
		return nil, err
	}
	if cfg.JWKSMinRefresh < 0 {
		return nil, errors.New("auth: the minimum JWKS refresh interval must not be negative")
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: defaultHTTPTimeout}
	}
	v := &Verifier{
		cfg:     cfg,
		algs:    algs,
		keysCtx: oidc.ClientContext(context.Background(), client),
		client:  client,
	}
	if cfg.JWKSURL != "" {
		v.keys = v.newKeySet(cfg.JWKSURL)
	}
	size := cfg.TokenCacheSize
	if size == 0 {
		size = DefaultTokenCacheSize
	}
	if size > 0 {
		v.verified = newTokenCache(size, cfg.Now)
	}
	return v, nil
}

func (v *Verifier) newKeySet(jwksURL string) *keySet {
	return newKeySet(jwksURL, v.client, v.algs, v.cfg.JWKSMinRefresh, v.cfg.Now)
}

func checkURL(what, raw string, required bool) error {
	if raw == "" {
		if required {
			return fmt.Errorf("auth: %s is required", what)
		}
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("auth: %s %q is not an absolute http(s) URL", what, raw)
	}
	return nil
}

func allowedAlgs(requested []string) ([]string, error) {
	if len(requested) == 0 {
		return []string{oidc.RS256}, nil
	}
	var algs []string
	for _, a := range requested {
		if !slices.Contains(asymmetricAlgs, a) {
			return nil, fmt.Errorf("auth: signing algorithm %q is not allowed: use one of %s", a, strings.Join(asymmetricAlgs, ", "))
		}
		if !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	return algs, nil
}

// Ready contacts the issuer if that has not succeeded yet. Errors wrap
// ErrUnavailable.
func (v *Verifier) Ready(ctx context.Context) error {
	_, err := v.tokenVerifier(ctx)
	return err
}

func (v *Verifier) tokenVerifier(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	v.mu.Lock()
	if v.verifier != nil {
		iv := v.verifier
		v.mu.Unlock()
		return iv, nil
	}
	d := v.inflight
	if d == nil {
		d = &discovery{done: make(chan struct{})}
		v.inflight = d
		go v.discover(d)
	}
	v.mu.Unlock()

	select {
	case <-d.done:
		return d.verifier, d.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: waiting for issuer discovery: %w", ErrUnavailable, ctx.Err())
	}
}

// discover runs detached from any request so that one caller giving up does
// not fail the attempt for the others; the timeout bounds it instead.
func (v *Verifier) discover(d *discovery) {
	ctx, cancel := context.WithTimeout(v.keysCtx, discoveryTimeout)
	defer cancel()
	iv, err := v.build(ctx)
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	}

	v.mu.Lock()
	if err == nil {
		v.verifier = iv
	}
	v.inflight = nil
	v.mu.Unlock()

	d.verifier, d.err = iv, err
	close(d.done)
}

func (v *Verifier) build(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	v.mu.Lock()
	keys := v.keys
	v.mu.Unlock()
	if keys != nil {
		// Nothing to discover, but readiness should still mean the keys are
		// reachable, and a bad URL should show up here rather than as
		// "signature invalid" on every request. The keys fetched stay
		// cached, and the fetch counts towards the refresh throttle.
		if err := keys.refresh(ctx); err != nil {
			return nil, err
		}
	} else {
		base, dctx := v.cfg.IssuerURL, ctx
		if v.cfg.DiscoveryURL != "" {
			// The document is fetched from the internal URL while tokens
			// keep the public issuer; go-oidc then checks iss against
			// IssuerURL (oidc.NewVerifier below), not against this URL.
			base = strings.TrimSuffix(v.cfg.DiscoveryURL, wellKnownPath)
			dctx = oidc.InsecureIssuerURLContext(ctx, v.cfg.IssuerURL)
		}
		provider, err := oidc.NewProvider(dctx, base)
		if err != nil {
			return nil, fmt.Errorf("discover issuer at %s: %w", base, err)
		}
		var meta struct {
			JWKSURL string `json:"jwks_uri"`
		}
		if err := provider.Claims(&meta); err != nil {
			return nil, fmt.Errorf("read discovery document from %s: %w", base, err)
		}
		if meta.JWKSURL == "" {
			return nil, fmt.Errorf("discovery document from %s has no jwks_uri", base)
		}
		// Discovery succeeds once per Verifier, so this runs once too.
		keys = v.newKeySet(meta.JWKSURL)
		v.mu.Lock()
		v.keys = keys
		v.mu.Unlock()
	}
	return oidc.NewVerifier(v.cfg.IssuerURL, &probedKeySet{inner: keys}, &oidc.Config{
		ClientID:             v.cfg.Audience,
		SupportedSigningAlgs: v.algs,
		Now:                  v.cfg.Now,
	}), nil
}

// Verify checks rawToken and returns its principal. A token the client should
// not have sent yields *Error; an issuer that cannot be reached yields an
// error wrapping ErrUnavailable.
func (v *Verifier) Verify(ctx context.Context, rawToken string) (*Principal, error) {
	if rawToken == "" {
		return nil, reject(reasonMissing, nil)
	}
	if len(rawToken) > MaxTokenSize {
		return nil, reject(reasonTooLarge, fmt.Errorf("token is %d bytes, limit %d", len(rawToken), MaxTokenSize))
	}
	if v.verified != nil {
		if p, ok := v.verified.get(rawToken); ok {
			return p, nil
		}
	}
	jwt, err := splitJWT(rawToken)
	if err != nil {
		return nil, reject(reasonMalformed, err)
	}
	// go-oidc refuses these too, but only with a generic parse error; checking
	// first gives the client a reason it can act on.
	if !slices.Contains(v.algs, jwt.header.Alg) {
		return nil, reject(reasonAlgorithm, fmt.Errorf("alg %q not in %v", jwt.header.Alg, v.algs))
	}

	iv, err := v.tokenVerifier(ctx)
	if err != nil {
		return nil, fmt.Errorf("auth: verify token: %w", err)
	}
	probe := &signatureProbe{}
	tok, err := iv.Verify(context.WithValue(ctx, signatureProbeKey{}, probe), rawToken)
	if err != nil {
		return nil, v.classify(err, probe, jwt)
	}

	var claims accessClaims
	if err := tok.Claims(&claims); err != nil {
		return nil, reject(reasonMalformed, fmt.Errorf("decode claims: %w", err))
	}
	if err := checkAccessTokenType(jwt.header.Typ, claims.Type); err != nil {
		return nil, err
	}
	if claims.Subject == "" {
		return nil, reject(reasonNoSubject, nil)
	}
	rule := DefaultApprovers()
	if v.cfg.Approvers != nil {
		rule = *v.cfg.Approvers
	}
	p := claims.principal(v.cfg.Audience, rule)
	if v.verified != nil {
		v.verified.put(rawToken, p, tok.Expiry)
	}
	return p, nil
}

// checkAccessTokenType closes the gap go-oidc leaves: it verifies any JWT the
// issuer signed, and an ID token (audience: the shell app, which may be ours
// too through the audience mapper) must not open the API.
func checkAccessTokenType(headerTyp, claimTyp string) error {
	switch {
	case claimTyp == "Bearer":
		return nil
	case claimTyp == "ID":
		return reject(reasonIDToken, nil)
	case claimTyp == "" && (strings.EqualFold(headerTyp, "at+jwt") || strings.EqualFold(headerTyp, "application/at+jwt")):
		return nil
	default:
		return reject(reasonNotAccess, fmt.Errorf("typ claim %q, header typ %q", claimTyp, headerTyp))
	}
}

// classify turns go-oidc's flat error strings into a reason. The probe tells
// whether the signature step was reached and how it ended; after a good
// signature the unverified claims parsed earlier are the verified ones, so
// they can name the failing check.
func (v *Verifier) classify(err error, probe *signatureProbe, jwt parsedJWT) error {
	switch {
	case !probe.called:
		return reject(reasonMalformed, err)
	case errors.Is(probe.err, errKeyFetch):
		// The issuer's keys could not be fetched: the client may well
		// hold a valid token.
		return fmt.Errorf("%w: %w", ErrUnavailable, probe.err)
	case probe.err != nil:
		return reject(reasonSignature, err)
	}
	var expired *oidc.TokenExpiredError
	if errors.As(err, &expired) {
		return reject(reasonExpired, err)
	}
	var c struct {
		Issuer    string          `json:"iss"`
		Audience  json.RawMessage `json:"aud"`
		NotBefore *float64        `json:"nbf"`
	}
	if json.Unmarshal(jwt.payload, &c) != nil {
		return reject(reasonMalformed, err)
	}
	if c.Issuer != v.cfg.IssuerURL {
		return reject(reasonIssuer, err)
	}
	if !audienceContains(c.Audience, v.cfg.Audience) {
		return reject(reasonAudience(v.cfg.Audience), err)
	}
	if c.NotBefore != nil && time.Unix(int64(*c.NotBefore), 0).After(time.Now()) {
		return reject(reasonNotYetValid, err)
	}
	return reject(reasonMalformed, err)
}

func audienceContains(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		return slices.Contains(many, want)
	}
	return false
}

type parsedJWT struct {
	header struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
	}
	payload []byte
}

// splitJWT reads a compact JWS without verifying it, to pick an error reason
// and to see the header typ, which go-oidc does not expose. The JWS JSON
// serialization, which go-jose would also accept, is refused here.
func splitJWT(raw string) (parsedJWT, error) {
	var p parsedJWT
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return p, fmt.Errorf("want 3 dot-separated parts, got %d", len(parts))
	}
	header, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return p, fmt.Errorf("decode header: %w", err)
	}
	if err := json.Unmarshal(header, &p.header); err != nil {
		return p, fmt.Errorf("parse header: %w", err)
	}
	if p.payload, err = base64.RawURLEncoding.DecodeString(parts[1]); err != nil {
		return p, fmt.Errorf("decode payload: %w", err)
	}
	return p, nil
}

// signatureProbe records, per Verify call, what the key set saw; go-oidc
// flattens that error into a string before returning it.
type signatureProbe struct {
	called bool
	err    error
}

type signatureProbeKey struct{}

// probedKeySet wraps the remote key set to fill the probe.
type probedKeySet struct {
	inner oidc.KeySet
}

func (k *probedKeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := k.inner.VerifySignature(ctx, jwt)
	if probe, ok := ctx.Value(signatureProbeKey{}).(*signatureProbe); ok {
		probe.called, probe.err = true, err
	}
	return payload, err
}
