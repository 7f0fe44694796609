package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func newTestVerifier(t *testing.T, cfg VerifierConfig) *Verifier {
	t.Helper()
	if cfg.Audience == "" {
		cfg.Audience = testAudience
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// wantReason asserts err is an *Error with reason and that neither the
// reason nor the log text repeats the token.
func wantReason(t *testing.T, err error, reason, token string) {
	t.Helper()
	var ae *Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not *auth.Error", err, err)
	}
	if ae.Reason != reason {
		t.Fatalf("reason = %q, want %q (err: %v)", ae.Reason, reason, err)
	}
	if token != "" && (strings.Contains(ae.Reason, token) || strings.Contains(err.Error(), token)) {
		t.Fatalf("error leaks the token: %v", err)
	}
	if errors.Is(err, ErrUnavailable) {
		t.Fatalf("client error also wraps ErrUnavailable: %v", err)
	}
}

func TestVerify(t *testing.T) {
	iss := newTestIssuer(t)
	key := iss.addKey(t, "kid-1")
	stranger := newTestKey(t, "kid-1") // same kid, key the issuer never published
	v := newTestVerifier(t, VerifierConfig{IssuerURL: iss.URL()})

	with := func(mutate func(c map[string]any)) map[string]any {
		c := accessClaimsFor(iss.URL())
		mutate(c)
		return c
	}
	pubDER, err := x509.MarshalPKIXPublicKey(key.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	tests := []struct {
		name   string
		token  func(t *testing.T) string
		reason string // "" means accepted
	}{
		{
			name:  "valid Keycloak access token",
			token: func(t *testing.T) string { return key.sign(t, "JWT", accessClaimsFor(iss.URL())) },
		},
		{
			name: "RFC 9068 at+jwt header without typ claim",
			token: func(t *testing.T) string {
				return key.sign(t, "at+jwt", with(func(c map[string]any) { delete(c, "typ") }))
			},
		},
		{
			name: "application/at+jwt header",
			token: func(t *testing.T) string {
				return key.sign(t, "application/at+jwt", with(func(c map[string]any) { delete(c, "typ") }))
			},
		},
		{
			name: "audience as a single string",
			token: func(t *testing.T) string {
				return key.sign(t, "JWT", with(func(c map[string]any) { c["aud"] = testAudience }))
			},
		},
		{
			name: "nbf within leeway",
			token: func(t *testing.T) string {
				return key.sign(t, "JWT", with(func(c map[string]any) { c["nbf"] = time.Now().Add(time.Minute).Unix() }))
			},
		},
		{
			name: "expired",
			token: func(t *testing.T) string {
				return key.sign(t, "JWT", with(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }))
			},
			reason: reasonExpired,
		},
		{
			name: "nbf beyond leeway",
			token: func(t *testing.T) string {
				return key.sign(t, "JWT", with(func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour).Unix() }))
			},
			reason: reasonNotYetValid,
		},
		{
			name: "wrong issuer",
			token: func(t *testing.T) string {
				return key.sign(t, "JWT", with(func(c map[string]any) { c["iss"] = "https://evil.example.com/realms/orchestrator" }))
			},
			reason: reasonIssuer,
		},
		{
			name: "issuer with trailing slash",
			token: func(t *testing.T) string {
				return key.sign(t, "JWT", with(func(c map[string]any) { c["iss"] = iss.URL() + "/" }))
			},
			reason: reasonIssuer,
		},
		{
			name: "wrong audience",
			token: func(t *testing.T) string {
				return key.sign(t, "JWT", with(func(c map[string]any) { c["aud"] = []string{"account", "shell-app"} }))
			},
			reason: "token audience does not include orchestrator-api",
		},
		{
			name: "no audience",
			token: func(t *testing.T) string {
				return key.sign(t, "JWT", with(func(c map[string]any) { delete(c, "aud") }))
			},
			reason: "token audience does not include orchestrator-api",
		},
		{
			name: "alg none",
			token: func(t *testing.T) string {
				return unsignedJWT(t, map[string]any{"alg": "none", "typ": "JWT"}, accessClaimsFor(iss.URL()), nil)
			},
			reason: reasonAlgorithm,
		},
		{
			name: "HS256 keyed with the public key",
			token: func(t *testing.T) string {
				header := map[string]any{"alg": "HS256", "typ": "JWT", "kid": "kid-1"}
				claims := accessClaimsFor(iss.URL())
				signingInput := strings.TrimSuffix(unsignedJWT(t, header, claims, nil), ".")
				mac := hmac.New(sha256.New, pubPEM)
				mac.Write([]byte(signingInput))
				return unsignedJWT(t, header, claims, mac.Sum(nil))
			},
			reason: reasonAlgorithm,
		},
		{
			name: "signed by an unpublished key with a known kid",
			token: func(t *testing.T) string {
				return stranger.sign(t, "JWT", accessClaimsFor(iss.URL()))
			},
			reason: reasonSignature,
		},
		{
			name: "tampered payload",
			token: func(t *testing.T) string {
				good := key.sign(t, "JWT", accessClaimsFor(iss.URL()))
				forged := unsignedJWT(t, map[string]any{"alg": "RS256", "kid": "kid-1", "typ": "JWT"},
					with(func(c map[string]any) { c["realm_access"] = map[string]any{"roles": []string{"approver", "admin"}} }), nil)
				parts := strings.Split(good, ".")
				fparts := strings.Split(forged, ".")
				return parts[0] + "." + fparts[1] + "." + parts[2]
			},
			reason: reasonSignature,
		},
		{
			name: "ID token",
			token: func(t *testing.T) string {
				return key.sign(t, "JWT", with(func(c map[string]any) { c["typ"] = "ID" }))
			},
			reason: reasonIDToken,
		},
		{
			name: "no typ at all",
			token: func(t *testing.T) string {
				return key.sign(t, "JWT", with(func(c map[string]any) { delete(c, "typ") }))
			},
			reason: reasonNotAccess,
		},
		{
			name: "refresh token typ with at+jwt header",
			token: func(t *testing.T) string {
				return key.sign(t, "at+jwt", with(func(c map[string]any) { c["typ"] = "Refresh" }))
			},
			reason: reasonNotAccess,
		},
		{
			name: "empty subject",
			token: func(t *testing.T) string {
				return key.sign(t, "JWT", with(func(c map[string]any) { c["sub"] = "" }))
			},
			reason: reasonNoSubject,
		},
		{
			name:   "empty token",
			token:  func(t *testing.T) string { return "" },
			reason: reasonMissing,
		},
		{
			name:   "not a JWT",
			token:  func(t *testing.T) string { return "abc.def" },
			reason: reasonMalformed,
		},
		{
			name:   "header is not JSON",
			token:  func(t *testing.T) string { return "bm90IGpzb24.e30.c2ln" },
			reason: reasonMalformed,
		},
		{
			name: "JWE-shaped token",
			token: func(t *testing.T) string {
				return "eyJhbGciOiJSUzI1NiJ9.e30.e30.e30.e30"
			},
			reason: reasonMalformed,
		},
		{
			name: "oversized token",
			token: func(t *testing.T) string {
				return key.sign(t, "JWT", with(func(c map[string]any) { c["pad"] = strings.Repeat("x", MaxTokenSize) }))
			},
			reason: reasonTooLarge,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := tt.token(t)
			p, err := v.Verify(context.Background(), token)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if p.Subject == "" {
					t.Fatal("principal has no subject")
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted the token, want %q", tt.reason)
			}
			wantReason(t, err, tt.reason, token)
		})
	}
}

func TestVerifyPrincipal(t *testing.T) {
	iss := newTestIssuer(t)
	key := iss.addKey(t, "kid-1")
	v := newTestVerifier(t, VerifierConfig{IssuerURL: iss.URL()})

	claims := accessClaimsFor(iss.URL())
	delete(claims, "name")
	p, err := v.Verify(context.Background(), key.sign(t, "JWT", claims))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if p.Subject != "3f1c2a9e-0000-4000-8000-000000000001" || p.Email != "agent@example.com" {
		t.Errorf("subject/email = %q/%q", p.Subject, p.Email)
	}
	if p.Name != "agent" {
		t.Errorf("Name = %q, want preferred_username fallback %q", p.Name, "agent")
	}
	// Realm roles plus the API client's roles, not roles of other clients.
	if want := []string{"approver", "auditor", "offline_access"}; !slices.Equal(p.Roles, want) {
		t.Errorf("Roles = %q, want %q", p.Roles, want)
	}
	if !p.HasRole("approver") || p.HasRole("manage-account") || p.HasRole("") {
		t.Errorf("HasRole gives wrong answers for %q", p.Roles)
	}
	if want := []string{"/teams/support", "/organizations/acme-corp"}; !slices.Equal(p.Groups, want) {
		t.Errorf("Groups = %q, want %q", p.Groups, want)
	}
	if want := []string{p.Subject, "/teams/support", "/organizations/acme-corp"}; !slices.Equal(p.TenantIDs(), want) {
		t.Errorf("TenantIDs = %q, want %q", p.TenantIDs(), want)
	}
	if !p.MemberOf("/organizations/acme-corp") || !p.MemberOf(p.Subject) || p.MemberOf("/teams/engineering") || p.MemberOf("") {
		t.Errorf("MemberOf gives wrong answers for %q", p.TenantIDs())
	}

	claims["name"] = "Alex Agent"
	claims["groups"] = "/teams/support" // single-valued mapper
	p, err = v.Verify(context.Background(), key.sign(t, "JWT", claims))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if p.Name != "Alex Agent" || !slices.Equal(p.Groups, []string{"/teams/support"}) {
		t.Errorf("Name/Groups = %q/%q", p.Name, p.Groups)
	}
}

// fakeClock drives the JWKS refresh throttle.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// withKid is k's key announcing another key id.
func (k *testKey) withKid(kid string) *testKey { return &testKey{priv: k.priv, kid: kid} }

func TestVerifyUnknownKidRefetchesOncePerInterval(t *testing.T) {
	iss := newTestIssuer(t)
	key1 := iss.addKey(t, "kid-1")
	clock := newFakeClock()
	v := newTestVerifier(t, VerifierConfig{IssuerURL: iss.URL(), JWKSMinRefresh: time.Minute, Now: clock.Now})
	ctx := context.Background()
	wantFetches := func(want int, why string) {
		t.Helper()
		if _, jwks := iss.hits(); jwks != want {
			t.Fatalf("%s: %d JWKS fetches in total, want %d", why, jwks, want)
		}
	}

	if _, err := v.Verify(ctx, key1.sign(t, "JWT", accessClaimsFor(iss.URL()))); err != nil {
		t.Fatalf("Verify with the first key: %v", err)
	}
	wantFetches(1, "first token")
	if _, err := v.Verify(ctx, key1.sign(t, "JWT", accessClaimsFor(iss.URL()))); err != nil {
		t.Fatalf("Verify again: %v", err)
	}
	wantFetches(1, "a cached kid")

	// An unknown kid costs one refetch once the interval has passed, and is
	// then refused; another one within the interval costs nothing.
	clock.advance(time.Minute)
	rogue := newTestKey(t, "kid-unknown")
	token := rogue.sign(t, "JWT", accessClaimsFor(iss.URL()))
	_, err := v.Verify(ctx, token)
	wantReason(t, err, reasonSignature, token)
	wantFetches(2, "unknown kid after the interval")
	token = rogue.withKid("kid-unknown-2").sign(t, "JWT", accessClaimsFor(iss.URL()))
	_, err = v.Verify(ctx, token)
	wantReason(t, err, reasonSignature, token)
	wantFetches(2, "unknown kid within the interval")

	// Rotation: a key published after the cache was filled is picked up by
	// the first refetch its unknown kid may trigger.
	key2 := iss.addKey(t, "kid-2")
	clock.advance(59 * time.Second)
	token = key2.sign(t, "JWT", accessClaimsFor(iss.URL()))
	_, err = v.Verify(ctx, token)
	wantReason(t, err, reasonSignature, token)
	wantFetches(2, "rotated key within the interval")
	clock.advance(time.Second)
	if _, err := v.Verify(ctx, key2.sign(t, "JWT", accessClaimsFor(iss.URL()))); err != nil {
		t.Fatalf("Verify with the rotated key: %v", err)
	}
	wantFetches(3, "rotated key after the interval")
	if _, err := v.Verify(ctx, key1.sign(t, "JWT", accessClaimsFor(iss.URL()))); err != nil {
		t.Fatalf("old key still published but refused: %v", err)
	}
	wantFetches(3, "old key")
}

// Concurrent tokens with unknown kids share one fetch.
func TestVerifyUnknownKidsConcurrently(t *testing.T) {
	iss := newTestIssuer(t)
	key := iss.addKey(t, "kid-1")
	v := newTestVerifier(t, VerifierConfig{IssuerURL: iss.URL()})
	rogue := newTestKey(t, "x")
	tokens := make([]string, 32)
	for i := range tokens {
		tokens[i] = rogue.withKid(fmt.Sprintf("kid-rogue-%d", i)).sign(t, "JWT", accessClaimsFor(iss.URL()))
	}
	tokens[0] = key.sign(t, "JWT", accessClaimsFor(iss.URL()))
	var wg sync.WaitGroup
	for _, token := range tokens {
		wg.Go(func() { _, _ = v.Verify(context.Background(), token) })
	}
	wg.Wait()
	if _, jwks := iss.hits(); jwks != 1 {
		t.Fatalf("%d concurrent tokens fetched the JWKS %d times, want 1", len(tokens), jwks)
	}
}

// A failed fetch is throttled too: within the interval the failure is
// reported again (503, not the client's fault) without asking the issuer.
func TestVerifyKeyFetchFailureThrottled(t *testing.T) {
	iss := newTestIssuer(t)
	key := iss.addKey(t, "kid-1")
	clock := newFakeClock()
	v := newTestVerifier(t, VerifierConfig{IssuerURL: iss.URL(), JWKSURL: iss.URL() + "/keys", JWKSMinRefresh: time.Minute, Now: clock.Now})
	ctx := context.Background()
	iss.setDown(true)
	token := key.sign(t, "JWT", accessClaimsFor(iss.URL()))
	for range 5 {
		if _, err := v.Verify(ctx, token); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Verify with the keys down = %v, want ErrUnavailable", err)
		}
	}
	if _, jwks := iss.hits(); jwks != 1 {
		t.Fatalf("5 tokens with the keys down fetched the JWKS %d times, want 1", jwks)
	}
	iss.setDown(false)
	clock.advance(time.Minute)
	if _, err := v.Verify(ctx, token); err != nil {
		t.Fatalf("Verify once the keys are back: %v", err)
	}
	// The fetch that made the verifier ready filled the cache: a second
	// token with an unknown kid right after it fetches nothing.
	token = newTestKey(t, "kid-unknown").sign(t, "JWT", accessClaimsFor(iss.URL()))
	_, err := v.Verify(ctx, token)
	wantReason(t, err, reasonSignature, token)
	if _, jwks := iss.hits(); jwks != 2 {
		t.Fatalf("JWKS fetched %d times in total, want 2", jwks)
	}
}

func TestVerifyKeysUnreachable(t *testing.T) {
	iss := newTestIssuer(t)
	key := iss.addKey(t, "kid-1")
	v := newTestVerifier(t, VerifierConfig{IssuerURL: iss.URL()})
	if err := v.Ready(context.Background()); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	iss.setDown(true)
	_, err := v.Verify(context.Background(), key.sign(t, "JWT", accessClaimsFor(iss.URL())))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	var ae *Error
	if errors.As(err, &ae) {
		t.Fatalf("an issuer outage is reported as the client's fault: %v", err)
	}
}

func TestVerifyDiscoveryURLSplit(t *testing.T) {
	const public = "http://localhost:8080/realms/orchestrator"
	iss := newTestIssuer(t)
	iss.setPublicIssuer(public)
	key := iss.addKey(t, "kid-1")
	v := newTestVerifier(t, VerifierConfig{IssuerURL: public, DiscoveryURL: iss.URL() + wellKnownPath})

	if _, err := v.Verify(context.Background(), key.sign(t, "JWT", accessClaimsFor(public))); err != nil {
		t.Fatalf("token with the public issuer: %v", err)
	}
	token := key.sign(t, "JWT", accessClaimsFor(iss.URL()))
	_, err := v.Verify(context.Background(), token)
	wantReason(t, err, reasonIssuer, token)

	// Without the split, the mismatch between configured and discovered
	// issuer is a configuration error that Ready reports.
	direct := newTestVerifier(t, VerifierConfig{IssuerURL: iss.URL()})
	if err := direct.Ready(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ready with a mismatched discovery issuer = %v, want ErrUnavailable", err)
	}
}

func TestVerifyJWKSURLSplit(t *testing.T) {
	const public = "https://sso.invalid/realms/orchestrator"
	iss := newTestIssuer(t)
	key := iss.addKey(t, "kid-1")
	v := newTestVerifier(t, VerifierConfig{IssuerURL: public, JWKSURL: iss.URL() + "/keys"})

	if _, err := v.Verify(context.Background(), key.sign(t, "JWT", accessClaimsFor(public))); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if disc, _ := iss.hits(); disc != 0 {
		t.Fatalf("discovery fetched %d times with a JWKS URL configured", disc)
	}
	token := key.sign(t, "JWT", accessClaimsFor(iss.URL()))
	_, err := v.Verify(context.Background(), token)
	wantReason(t, err, reasonIssuer, token)
}

func TestVerifyLazyDiscovery(t *testing.T) {
	iss := newTestIssuer(t)
	key := iss.addKey(t, "kid-1")
	iss.setDown(true)
	ctx := context.Background()

	v, err := NewVerifier(VerifierConfig{IssuerURL: iss.URL(), Audience: testAudience})
	if err != nil {
		t.Fatalf("NewVerifier with the issuer down: %v", err)
	}
	if disc, _ := iss.hits(); disc != 0 {
		t.Fatalf("NewVerifier contacted the issuer")
	}
	if err := v.Ready(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ready while down = %v, want ErrUnavailable", err)
	}
	token := key.sign(t, "JWT", accessClaimsFor(iss.URL()))
	if _, err := v.Verify(ctx, token); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Verify while down = %v, want ErrUnavailable", err)
	}

	iss.setDown(false)
	if err := v.Ready(ctx); err != nil {
		t.Fatalf("Ready once up: %v", err)
	}
	if _, err := v.Verify(ctx, token); err != nil {
		t.Fatalf("Verify once up: %v", err)
	}
	before, _ := iss.hits()
	iss.setDown(true)
	if err := v.Ready(ctx); err != nil {
		t.Fatalf("Ready after success must use the cached discovery: %v", err)
	}
	if after, _ := iss.hits(); after != before {
		t.Fatalf("discovery repeated after success (%d -> %d)", before, after)
	}
}

func TestVerifyConcurrentFirstUse(t *testing.T) {
	iss := newTestIssuer(t)
	key := iss.addKey(t, "kid-1")
	v := newTestVerifier(t, VerifierConfig{IssuerURL: iss.URL()})
	token := key.sign(t, "JWT", accessClaimsFor(iss.URL()))

	var wg sync.WaitGroup
	errs := make([]error, 32)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = v.Verify(context.Background(), token)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Verify %d: %v", i, err)
		}
	}
	if disc, _ := iss.hits(); disc != 1 {
		t.Fatalf("concurrent first use ran discovery %d times, want 1", disc)
	}
}

func TestReadyHonoursContext(t *testing.T) {
	iss := newTestIssuer(t)
	release := make(chan struct{})
	iss.setBlock(release)
	// Closing the server waits for handlers, so release the stuck one first.
	t.Cleanup(func() { close(release) })
	v := newTestVerifier(t, VerifierConfig{IssuerURL: iss.URL()})

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := v.Ready(ctx)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ready with a hanging issuer = %v, want ErrUnavailable and DeadlineExceeded", err)
	}
}

func TestNewVerifierConfig(t *testing.T) {
	const issuer = "https://sso.example.com/realms/orchestrator"
	tests := []struct {
		name string
		cfg  VerifierConfig
		ok   bool
	}{
		{"defaults", VerifierConfig{IssuerURL: issuer, Audience: testAudience}, true},
		{"asymmetric algs", VerifierConfig{IssuerURL: issuer, Audience: testAudience, AllowedAlgs: []string{"RS256", "ES256", "EdDSA", "PS512"}}, true},
		{"no issuer", VerifierConfig{Audience: testAudience}, false},
		{"relative issuer", VerifierConfig{IssuerURL: "/realms/x", Audience: testAudience}, false},
		{"no audience", VerifierConfig{IssuerURL: issuer}, false},
		{"alg none", VerifierConfig{IssuerURL: issuer, Audience: testAudience, AllowedAlgs: []string{"RS256", "none"}}, false},
		{"HS256", VerifierConfig{IssuerURL: issuer, Audience: testAudience, AllowedAlgs: []string{"HS256"}}, false},
		{"lower-case alg", VerifierConfig{IssuerURL: issuer, Audience: testAudience, AllowedAlgs: []string{"rs256"}}, false},
		{"both split URLs", VerifierConfig{IssuerURL: issuer, Audience: testAudience, DiscoveryURL: "http://kc:8080/realms/x", JWKSURL: "http://kc:8080/certs"}, false},
		{"bad JWKS URL", VerifierConfig{IssuerURL: issuer, Audience: testAudience, JWKSURL: "kc:8080/certs"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewVerifier(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("NewVerifier err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestErrorWrapping(t *testing.T) {
	cause := errors.New("cause")
	var err error = reject(reasonExpired, cause)
	var ae *Error
	if !errors.As(err, &ae) || ae.Reason != reasonExpired || !errors.Is(err, cause) {
		t.Fatalf("errors.As/Is do not see through %v", err)
	}
}

// Forged tokens must not turn the API into an amplifier against Keycloak: a
// known kid with a bad signature never refetches the keys, and unknown kids
// refetch at most once per interval however many arrive.
func TestVerifyForgedTokensDoNotHammerJWKS(t *testing.T) {
	iss := newTestIssuer(t)
	key := iss.addKey(t, "kid-1")
	v := newTestVerifier(t, VerifierConfig{IssuerURL: iss.URL()})
	ctx := context.Background()
	if _, err := v.Verify(ctx, key.sign(t, "JWT", accessClaimsFor(iss.URL()))); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	_, before := iss.hits()

	forger := newTestKey(t, "kid-1") // the published kid, another key
	for range 20 {
		token := forger.sign(t, "JWT", accessClaimsFor(iss.URL()))
		_, err := v.Verify(ctx, token)
		wantReason(t, err, reasonSignature, token)
	}
	if _, jwks := iss.hits(); jwks != before {
		t.Fatalf("20 forged tokens with a known kid fetched the JWKS %d times, want 0", jwks-before)
	}

	for i := range 20 {
		token := forger.withKid(fmt.Sprintf("kid-rogue-%d", i)).sign(t, "JWT", accessClaimsFor(iss.URL()))
		_, err := v.Verify(ctx, token)
		wantReason(t, err, reasonSignature, token)
	}
	if _, jwks := iss.hits(); jwks-before > 1 {
		t.Fatalf("20 unknown kids within one interval fetched the JWKS %d times, want at most 1", jwks-before)
	}
}
