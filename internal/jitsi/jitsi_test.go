package jitsi_test

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/jitsi"
)

const secret = "0123456789abcdef0123456789abcdef-hs256"

var now = time.Unix(1_750_000_000, 0)

// splitToken checks the link's shape and returns the token's parts.
func splitToken(t *testing.T, link, wantPrefix string) (header, claims map[string]any, signingInput string, sig []byte) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	if base := u.Scheme + "://" + u.Host + u.Path; base != wantPrefix {
		t.Fatalf("link %s, want %s?jwt=…", base, wantPrefix)
	}
	token := u.Query().Get("jwt")
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("segment %q: %v", s, err)
		}
		return b
	}
	if err := json.Unmarshal(dec(parts[0]), &header); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(dec(parts[1]), &claims); err != nil {
		t.Fatal(err)
	}
	return header, claims, parts[0] + "." + parts[1], dec(parts[2])
}

func userClaims(t *testing.T, claims map[string]any) map[string]any {
	t.Helper()
	ctx, ok := claims["context"].(map[string]any)
	if !ok {
		t.Fatalf("no context: %v", claims)
	}
	u, ok := ctx["user"].(map[string]any)
	if !ok {
		t.Fatalf("no context.user: %v", ctx)
	}
	for k, v := range u {
		if _, isString := v.(string); !isString {
			t.Fatalf("context.user.%s is %T, Jitsi wants strings", k, v)
		}
	}
	return u
}

func TestHS256(t *testing.T) {
	s, err := jitsi.New(jitsi.Config{BaseURL: "https://meet.example.com/", AppID: "orchestrator", AppSecret: secret, TokenTTL: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !s.TokenAuth() {
		t.Fatal("TokenAuth false with a secret")
	}
	room := "consult-abcdefghijklmnopqrstuvwxyz"
	link, err := s.JoinURL(room, jitsi.User{ID: "agent-7", Name: "Sam Agent", Email: "sam@example.com", Moderator: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	header, claims, input, sig := splitToken(t, link, "https://meet.example.com/"+room)

	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(input))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		t.Fatal("HS256 signature does not verify with the secret")
	}
	if header["alg"] != "HS256" || header["typ"] != "JWT" || len(header) != 2 {
		t.Fatalf("header %v", header)
	}
	checks := map[string]any{
		"iss": "orchestrator", "aud": "jitsi", "sub": "meet.example.com", "room": room,
		"exp": float64(now.Add(2 * time.Hour).Unix()),
	}
	for k, want := range checks {
		if claims[k] != want {
			t.Errorf("claim %s = %v, want %v", k, claims[k], want)
		}
	}
	nbf, ok := claims["nbf"].(float64)
	if !ok || nbf > float64(now.Unix()) || nbf < float64(now.Add(-5*time.Minute).Unix()) {
		t.Errorf("nbf %v not just before now", claims["nbf"])
	}
	u := userClaims(t, claims)
	if u["id"] != "agent-7" || u["name"] != "Sam Agent" || u["email"] != "sam@example.com" || u["moderator"] != "true" || u["affiliation"] != "owner" {
		t.Errorf("context.user %v", u)
	}
	if _, has := u["avatar"]; has {
		t.Error("empty avatar sent")
	}

	link, err = s.JoinURL(room, jitsi.User{ID: "c-1", Name: "Dana", Avatar: "https://example.com/a.png"}, now)
	if err != nil {
		t.Fatal(err)
	}
	_, claims, _, _ = splitToken(t, link, "https://meet.example.com/"+room)
	u = userClaims(t, claims)
	if u["moderator"] != "false" || u["affiliation"] != "member" || u["avatar"] != "https://example.com/a.png" || u["email"] != "" {
		t.Errorf("customer context.user %v", u)
	}
}

func TestHS256TenantAndDefaultTTL(t *testing.T) {
	s, err := jitsi.New(jitsi.Config{BaseURL: "https://meet.example.com/acme", AppID: "orch", AppSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	room := "consult-0123456789abcdef"
	link, err := s.JoinURL(room, jitsi.User{Name: "x"}, now)
	if err != nil {
		t.Fatal(err)
	}
	_, claims, _, _ := splitToken(t, link, "https://meet.example.com/acme/"+room)
	if claims["sub"] != "acme" {
		t.Errorf("sub %v, want the tenant", claims["sub"])
	}
	if claims["exp"] != float64(now.Add(jitsi.DefaultTokenTTL).Unix()) {
		t.Errorf("exp %v, want now+%s", claims["exp"], jitsi.DefaultTokenTTL)
	}
}

func rsaPEM(t *testing.T, bits int, pkcs8 bool) (*rsa.PrivateKey, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	if !pkcs8 {
		return key, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestJaaSRS256(t *testing.T) {
	const appID = "vpaas-magic-cookie-1fc542a3e4414a44b2611668195e2bfe"
	key, keyPEM := rsaPEM(t, 2048, true)
	for _, keyID := range []string{"4f4910", appID + "/4f4910"} {
		s, err := jitsi.New(jitsi.Config{AppID: appID, PrivateKeyPEM: keyPEM, KeyID: keyID})
		if err != nil {
			t.Fatalf("KeyID %q: %v", keyID, err)
		}
		room := "consult-abcdefghijklmnopqrstuvwxyz"
		link, err := s.JoinURL(room, jitsi.User{ID: "approver", Name: "Alex", Email: "alex@example.com", Moderator: true}, now)
		if err != nil {
			t.Fatal(err)
		}
		header, claims, input, sig := splitToken(t, link, "https://8x8.vc/"+appID+"/"+room)
		digest := sha256.Sum256([]byte(input))
		if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], sig); err != nil {
			t.Fatalf("RS256 signature: %v", err)
		}
		if header["alg"] != "RS256" || header["typ"] != "JWT" || header["kid"] != appID+"/4f4910" {
			t.Fatalf("header %v", header)
		}
		for k, want := range map[string]any{"iss": "chat", "aud": "jitsi", "sub": appID, "room": room} {
			if claims[k] != want {
				t.Errorf("claim %s = %v, want %v", k, claims[k], want)
			}
		}
		if u := userClaims(t, claims); u["moderator"] != "true" || u["name"] != "Alex" {
			t.Errorf("context.user %v", u)
		}
	}

	// PKCS#1 keys work too, and BaseURL can point elsewhere.
	_, pkcs1 := rsaPEM(t, 2048, false)
	s, err := jitsi.New(jitsi.Config{BaseURL: "https://jaas.example.com", AppID: appID, PrivateKeyPEM: pkcs1, KeyID: "k"})
	if err != nil {
		t.Fatal(err)
	}
	link, err := s.JoinURL("consult-abcdefghijklmnop", jitsi.User{}, now)
	if err != nil || !strings.HasPrefix(link, "https://jaas.example.com/"+appID+"/consult-abcdefghijklmnop?jwt=") {
		t.Fatalf("link %s, %v", link, err)
	}
}

func TestPlainMode(t *testing.T) {
	s, err := jitsi.New(jitsi.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if s.TokenAuth() {
		t.Fatal("TokenAuth true without credentials")
	}
	link, err := s.JoinURL("consult-abcdefghijklmnop", jitsi.User{Name: "Dana", Moderator: true}, now)
	if err != nil || link != "https://meet.jit.si/consult-abcdefghijklmnop" {
		t.Fatalf("link %q, %v", link, err)
	}
}

func TestConfigErrors(t *testing.T) {
	_, small := rsaPEM(t, 1024, true)
	_, good := rsaPEM(t, 2048, true)
	const appID = "vpaas-magic-cookie-abc"
	cases := map[string]jitsi.Config{
		"both secret and key":    {AppID: "a", AppSecret: secret, PrivateKeyPEM: good, KeyID: "k"},
		"short secret":           {BaseURL: "https://meet.example.com", AppID: "a", AppSecret: "short"},
		"secret without app id":  {BaseURL: "https://meet.example.com", AppSecret: secret},
		"app id alone":           {AppID: "a"},
		"tokens for meet.jit.si": {AppID: "a", AppSecret: secret},
		"ttl too long":           {TokenTTL: 25 * time.Hour},
		"ttl negative":           {TokenTTL: -time.Minute},
		"bad scheme":             {BaseURL: "ftp://meet.example.com"},
		"query in base":          {BaseURL: "https://meet.example.com?x=1"},
		"two path segments":      {BaseURL: "https://meet.example.com/a/b"},
		"jaas without key id":    {AppID: appID, PrivateKeyPEM: good},
		"jaas foreign key id":    {AppID: appID, PrivateKeyPEM: good, KeyID: "vpaas-magic-cookie-other/k"},
		"jaas bad app id":        {AppID: "tenant", PrivateKeyPEM: good, KeyID: "k"},
		"jaas small key":         {AppID: appID, PrivateKeyPEM: small, KeyID: "k"},
		"jaas garbage key":       {AppID: appID, PrivateKeyPEM: []byte("not a key"), KeyID: "k"},
		"jaas tenant path":       {BaseURL: "https://8x8.vc/x", AppID: appID, PrivateKeyPEM: good, KeyID: "k"},
	}
	for name, cfg := range cases {
		if _, err := jitsi.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestJoinURLRefusesBadInput(t *testing.T) {
	s, err := jitsi.New(jitsi.Config{BaseURL: "https://meet.example.com", AppID: "a", AppSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	for _, room := range []string{"", "short-room", "Consult-ABCDEFGHIJKLMNOP", "consult_abcdefghijklmnop", "consult-abcdefghijklmnop/x", strings.Repeat("a", 129)} {
		if _, err := s.JoinURL(room, jitsi.User{}, now); !errors.Is(err, jitsi.ErrInvalidRoom) {
			t.Errorf("room %q: %v", room, err)
		}
	}
	if _, err := s.JoinURL("consult-abcdefghijklmnop", jitsi.User{Name: "bad\nname"}, now); err == nil {
		t.Error("control character in a name accepted")
	}
}

func TestNewRoomName(t *testing.T) {
	pattern := regexp.MustCompile(`^consult-[a-z2-7]{26}$`)
	seen := map[string]bool{}
	for range 1000 {
		room, err := jitsi.NewRoomName()
		if err != nil {
			t.Fatal(err)
		}
		if !pattern.MatchString(room) || !jitsi.ValidRoomName(room) {
			t.Fatalf("room %q", room)
		}
		if seen[room] {
			t.Fatalf("duplicate room %q", room)
		}
		seen[room] = true
	}
	// 128 random bits: every base32 symbol should turn up in 1000 names.
	var chars [256]bool
	for room := range seen {
		for _, c := range []byte(strings.TrimPrefix(room, "consult-")) {
			chars[c] = true
		}
	}
	for _, c := range []byte("abcdefghijklmnopqrstuvwxyz234567") {
		if !chars[c] {
			t.Errorf("symbol %q never used", c)
		}
	}
}

func TestRedactURL(t *testing.T) {
	got := jitsi.RedactURL("https://meet.example.com/consult-abcdefghijklmnop?jwt=eyJ.secret.sig")
	if strings.Contains(got, "secret") || !strings.Contains(got, "jwt=REDACTED") {
		t.Fatalf("got %s", got)
	}
	if got := jitsi.RedactURL("https://meet.jit.si/consult-abcdefghijklmnop"); got != "https://meet.jit.si/consult-abcdefghijklmnop" {
		t.Fatalf("plain link changed: %s", got)
	}
}
