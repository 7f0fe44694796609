package devissuer

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/orchestrator-dev/orchestrator/internal/auth"
)

const audience = "orchestrator-api"

// serve starts the issuer's handler on a loopback listener whose address is
// known before Open, since the issuer URL is baked into tokens.
func serve(t *testing.T, dataDir string) (*Issuer, *httptest.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	srv.Listener.Close()
	srv.Listener = ln
	iss, err := Open(dataDir, "http://"+ln.Addr().String(), audience)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	srv.Config.Handler = iss.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	return iss, srv
}

func verifier(t *testing.T, issuerURL string) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(auth.VerifierConfig{IssuerURL: issuerURL, Audience: audience})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func TestMintedTokenVerifies(t *testing.T) {
	iss, srv := serve(t, t.TempDir())
	v := verifier(t, srv.URL)

	token, err := iss.Mint(MintOptions{
		Subject: "agent-1",
		Name:    "Alex Agent",
		Email:   "agent@example.com",
		Groups:  []string{"/teams/support", "/organizations/acme-corp"},
		Roles:   []string{"approver"},
	})
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	p, err := v.Verify(context.Background(), token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := auth.Principal{
		Subject: "agent-1", Name: "Alex Agent", Email: "agent@example.com",
		Groups: []string{"/teams/support", "/organizations/acme-corp"},
		Roles:  []string{"approver"},
	}
	if p.Subject != want.Subject || p.Name != want.Name || p.Email != want.Email ||
		!slices.Equal(p.Groups, want.Groups) || !slices.Equal(p.Roles, want.Roles) {
		t.Fatalf("principal = %+v, want %+v", *p, want)
	}
	if !p.MemberOf("/teams/support") || !p.HasRole("approver") {
		t.Fatalf("principal lacks its tenant or role: %+v", *p)
	}
}

func TestTokenShape(t *testing.T) {
	iss, err := Open(t.TempDir(), "http://localhost:8081", audience)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	token, err := iss.Mint(MintOptions{Subject: "ceo", TTL: 5 * time.Minute})
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	h := jws.Signatures[0].Header
	if h.KeyID != iss.KeyID() || h.ExtraHeaders["typ"] != "JWT" {
		t.Fatalf("header kid=%q typ=%v, want kid=%q typ=JWT", h.KeyID, h.ExtraHeaders["typ"], iss.KeyID())
	}
	var c map[string]any
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c); err != nil {
		t.Fatal(err)
	}
	for claim, want := range map[string]any{
		"iss": "http://localhost:8081", "sub": "ceo", "aud": audience, "typ": "Bearer",
		"azp": "shell-app", "preferred_username": "ceo",
	} {
		if c[claim] != want {
			t.Errorf("%s = %v, want %v", claim, c[claim], want)
		}
	}
	for _, claim := range []string{"exp", "iat", "nbf", "jti", "realm_access"} {
		if _, ok := c[claim]; !ok {
			t.Errorf("claim %s missing", claim)
		}
	}
	if exp, iat := c["exp"].(float64), c["iat"].(float64); exp-iat != 300 {
		t.Errorf("exp - iat = %v, want 300", exp-iat)
	}
	if _, err := iss.Mint(MintOptions{}); err == nil {
		t.Error("Mint without a subject succeeded")
	}
	if _, err := iss.Mint(MintOptions{Subject: "/teams/support"}); err == nil {
		t.Error("Mint with a group-like subject succeeded")
	}
	if _, err := iss.Mint(MintOptions{Subject: "x", TTL: -time.Second}); err == nil {
		t.Error("Mint with a negative TTL succeeded")
	}
}

func TestKeyPersists(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first, srv := serve(t, dir)
	token, err := first.Mint(MintOptions{Subject: "agent-1"})
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}

	// A second Open, as `orchestrator token` or a restart would do.
	second, err := Open(dir, srv.URL, audience)
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	if first.KeyID() != second.KeyID() {
		t.Fatalf("kid changed across Open: %q vs %q", first.KeyID(), second.KeyID())
	}
	restarted := httptest.NewServer(second.Handler())
	t.Cleanup(restarted.Close)
	v, err := auth.NewVerifier(auth.VerifierConfig{
		IssuerURL: srv.URL, Audience: audience,
		JWKSURL: restarted.URL + CertsPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), token); err != nil {
		t.Fatalf("token from the first Open rejected after reopening: %v", err)
	}
}

func TestKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	iss, err := Open(dir, "http://127.0.0.1:8081", audience)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	path := filepath.Join(dir, KeyFile)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	dirInfo, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if perm := info.Mode().Perm(); perm != 0o600 {
			t.Errorf("key file mode = %o, want 600", perm)
		}
		if perm := dirInfo.Mode().Perm(); perm != 0o700 {
			t.Errorf("data dir mode = %o, want 700", perm)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".dev-issuer-key-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}

	// The kid is the RFC 7638 thumbprint of the stored key.
	key, err := readKey(path)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := (&jose.JSONWebKey{Key: &key.PublicKey}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if want := base64.RawURLEncoding.EncodeToString(tp); iss.KeyID() != want {
		t.Errorf("kid = %q, want thumbprint %q", iss.KeyID(), want)
	}
	if key.N.BitLen() != 2048 {
		t.Errorf("key size = %d", key.N.BitLen())
	}

	if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, "http://127.0.0.1:8081", audience); err == nil {
		t.Error("Open accepted a corrupt key file")
	}
}

func TestOpenRefusesNonLoopback(t *testing.T) {
	for _, issuer := range []string{
		"http://127.0.0.1:8081", "http://127.1.2.3", "http://localhost:8081", "http://LOCALHOST",
		"http://[::1]:8081", "https://localhost/realms/dev",
	} {
		if _, err := Open(t.TempDir(), issuer, audience); err != nil {
			t.Errorf("Open(%q) = %v, want ok", issuer, err)
		}
	}
	for _, issuer := range []string{
		"https://sso.example.com/realms/orchestrator", "http://0.0.0.0:8081", "http://10.0.0.5:8081",
		"http://localhost.example.com", "http://127.0.0.1.nip.io", "http://[::]:8081",
		"http://keycloak:8080/realms/orchestrator", "localhost:8081", "", "ftp://localhost",
		"http://user:pw@localhost", "http://localhost/?x=1",
	} {
		dir := t.TempDir()
		_, err := Open(dir, issuer, audience)
		if err == nil {
			t.Errorf("Open(%q) succeeded, want refusal", issuer)
			continue
		}
		if _, statErr := os.Stat(filepath.Join(dir, KeyFile)); !errors.Is(statErr, os.ErrNotExist) {
			t.Errorf("Open(%q) created a key before refusing", issuer)
		}
	}
	_, err := Open(t.TempDir(), "https://sso.example.com", audience)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("refusal does not explain itself: %v", err)
	}
}

func TestHandler(t *testing.T) {
	iss, err := Open(t.TempDir(), "http://127.0.0.1:8081/realms/dev", audience)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(iss.Handler())
	t.Cleanup(srv.Close)

	get := func(path string) (*http.Response, map[string]any) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("decode %s: %v", path, err)
			}
		}
		return resp, body
	}

	resp, disc := get("/realms/dev/.well-known/openid-configuration")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("discovery status %d", resp.StatusCode)
	}
	if disc["issuer"] != "http://127.0.0.1:8081/realms/dev" ||
		disc["jwks_uri"] != "http://127.0.0.1:8081/realms/dev/protocol/openid-connect/certs" {
		t.Fatalf("discovery = %v", disc)
	}
	if algs, _ := disc["id_token_signing_alg_values_supported"].([]any); !slices.Equal(algs, []any{"RS256"}) {
		t.Fatalf("algs = %v", disc["id_token_signing_alg_values_supported"])
	}

	resp, jwks := get("/realms/dev/protocol/openid-connect/certs")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("JWKS status %d", resp.StatusCode)
	}
	keys, _ := jwks["keys"].([]any)
	if len(keys) != 1 {
		t.Fatalf("JWKS = %v", jwks)
	}
	k := keys[0].(map[string]any)
	if k["kid"] != iss.KeyID() || k["kty"] != "RSA" || k["alg"] != "RS256" || k["use"] != "sig" {
		t.Fatalf("JWK = %v", k)
	}
	if _, private := k["d"]; private {
		t.Fatal("JWKS publishes the private exponent")
	}

	if resp, _ := get("/.well-known/openid-configuration"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("discovery outside the issuer path: status %d", resp.StatusCode)
	}
	post, err := http.Post(srv.URL+"/realms/dev/protocol/openid-connect/certs", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST status %d, want 405", post.StatusCode)
	}
}
