package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const testAudience = "orchestrator-api"

// testIssuer is a minimal Keycloak stand-in: discovery plus JWKS, with knobs
// for outages, key rotation and a public issuer that differs from its URL.
type testIssuer struct {
	srv *httptest.Server

	mu            sync.Mutex
	publicIssuer  string // what discovery reports; srv.URL unless set
	keys          []jose.JSONWebKey
	down          bool
	block         chan struct{} // when set, discovery waits on it
	discoveryHits int
	jwksHits      int
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	ti := &testIssuer{}
	ti.srv = httptest.NewServer(http.HandlerFunc(ti.serve))
	t.Cleanup(ti.srv.Close)
	return ti
}

func (ti *testIssuer) URL() string { return ti.srv.URL }

func (ti *testIssuer) serve(w http.ResponseWriter, r *http.Request) {
	ti.mu.Lock()
	down, block := ti.down, ti.block
	issuer := ti.publicIssuer
	if issuer == "" {
		issuer = ti.srv.URL
	}
	keys := jose.JSONWebKeySet{Keys: append([]jose.JSONWebKey(nil), ti.keys...)}
	switch r.URL.Path {
	case wellKnownPath:
		ti.discoveryHits++
	case "/keys":
		ti.jwksHits++
	}
	ti.mu.Unlock()

	if block != nil && r.URL.Path == wellKnownPath {
		<-block
	}
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case wellKnownPath:
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                issuer,
			"jwks_uri":                              ti.srv.URL + "/keys",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	case "/keys":
		_ = json.NewEncoder(w).Encode(keys)
	default:
		http.NotFound(w, r)
	}
}

func (ti *testIssuer) setDown(down bool) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	ti.down = down
}

func (ti *testIssuer) setPublicIssuer(issuer string) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	ti.publicIssuer = issuer
}

func (ti *testIssuer) setBlock(block chan struct{}) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	ti.block = block
}

func (ti *testIssuer) hits() (discovery, jwks int) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	return ti.discoveryHits, ti.jwksHits
}

// addKey publishes the public half of a fresh RSA key and returns a signer
// for it.
func (ti *testIssuer) addKey(t *testing.T, kid string) *testKey {
	t.Helper()
	k := newTestKey(t, kid)
	ti.mu.Lock()
	defer ti.mu.Unlock()
	ti.keys = append(ti.keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: kid, Algorithm: "RS256", Use: "sig"})
	return k
}

type testKey struct {
	priv *rsa.PrivateKey
	kid  string
}

func newTestKey(t *testing.T, kid string) *testKey {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	return &testKey{priv: priv, kid: kid}
}

// sign produces a compact JWS; headerTyp "" leaves typ out of the header.
func (k *testKey) sign(t *testing.T, headerTyp string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", k.kid)
	if headerTyp != "" {
		opts = opts.WithType(jose.ContentType(headerTyp))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k.priv}, opts)
	if err != nil {
		t.Fatalf("new signer: %v", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatalf("marshal claims: %v", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return out
}

// accessClaimsFor is a Keycloak-shaped access token body valid for an hour.
func accessClaimsFor(issuer string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss":                issuer,
		"sub":                "3f1c2a9e-0000-4000-8000-000000000001",
		"aud":                []string{testAudience, "account"},
		"exp":                now.Add(time.Hour).Unix(),
		"iat":                now.Unix(),
		"jti":                "jti-1",
		"typ":                "Bearer",
		"azp":                "shell-app",
		"preferred_username": "agent",
		"name":               "Alex Agent",
		"email":              "agent@example.com",
		"groups":             []string{"/teams/support", "/organizations/acme-corp"},
		"realm_access":       map[string]any{"roles": []string{"offline_access", "approver"}},
		"resource_access": map[string]any{
			testAudience: map[string]any{"roles": []string{"auditor", "approver"}},
			"account":    map[string]any{"roles": []string{"manage-account"}},
		},
	}
}

// unsignedJWT builds header.payload.signature by hand for tokens go-jose
// would refuse to produce.
func unsignedJWT(t *testing.T, header, claims map[string]any, sig []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(h) + "." + enc.EncodeToString(c) + "." + enc.EncodeToString(sig)
}
