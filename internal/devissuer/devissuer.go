// Package devissuer is a tiny OIDC issuer for local development, when no
// Keycloak runs. It publishes discovery and keys the way Keycloak does and
// mints Keycloak-shaped access tokens, so the API verifies them through the
// same auth.Verifier code path as in production.
//
// Only the dev subcommand, and the token command that mints tokens for it,
// may wire this package in. As a second line of defence, Open refuses any issuer URL whose
// host is not a loopback address, so a production configuration cannot turn
// it on by accident.
package devissuer

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	// KeyFile is the signing key's name inside the data directory. It is
	// kept so that tokens survive restarts and a separate process can mint
	// tokens the running stack accepts.
	KeyFile = "dev-issuer-key.pem"
	// CertsPath is where the JWKS lives below the issuer URL, as in Keycloak.
	CertsPath = "/protocol/openid-connect/certs"
	// DefaultTTL is the lifetime of a minted token when none is asked for.
	DefaultTTL = time.Hour

	discoveryPath = "/.well-known/openid-configuration"
	keyBits       = 2048
	// authorizedParty mirrors what Keycloak puts in azp for the shell app.
	authorizedParty = "shell-app"
)

// Issuer signs tokens with one RSA key. It is immutable after Open and safe
// for concurrent use.
type Issuer struct {
	issuer    string
	audience  string
	keyID     string
	signer    jose.Signer
	pathBase  string // issuer URL path, so the handler works mounted at root
	discovery []byte
	jwks      []byte
}

// Open loads the signing key from dataDir, creating it on first use. The
// issuer URL is used verbatim as iss and must be the exact OIDC_ISSUER_URL
// the API is configured with.
func Open(dataDir, issuerURL, audience string) (*Issuer, error) {
	u, err := checkIssuerURL(issuerURL)
	if err != nil {
		return nil, err
	}
	if audience == "" {
		return nil, errors.New("devissuer: audience is required")
	}
	key, err := loadOrCreateKey(dataDir)
	if err != nil {
		return nil, err
	}
	pub := jose.JSONWebKey{Key: key.Public(), Algorithm: string(jose.RS256), Use: "sig"}
	thumb, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("devissuer: key thumbprint: %w", err)
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(thumb)

	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: pub.KeyID}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return nil, fmt.Errorf("devissuer: signer: %w", err)
	}

	base := strings.TrimSuffix(issuerURL, "/")
	discovery, err := json.Marshal(map[string]any{
		"issuer":                                issuerURL,
		"jwks_uri":                              base + CertsPath,
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{string(jose.RS256)},
		"claims_supported": []string{
			"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "typ", "azp",
			"preferred_username", "name", "email", "groups", "realm_access",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("devissuer: discovery document: %w", err)
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
	if err != nil {
		return nil, fmt.Errorf("devissuer: JWKS: %w", err)
	}
	return &Issuer{
		issuer:    issuerURL,
		audience:  audience,
		keyID:     pub.KeyID,
		signer:    signer,
		pathBase:  strings.TrimSuffix(u.Path, "/"),
		discovery: discovery,
		jwks:      jwks,
	}, nil
}

// checkIssuerURL is the production guard: a dev issuer reachable from other
// machines would let anyone holding the key file, or this binary in dev
// mode, sign in as anybody.
func checkIssuerURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("devissuer: issuer URL %q is not an absolute http(s) URL", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("devissuer: issuer URL %q must not carry credentials, a query or a fragment", raw)
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	if !strings.EqualFold(host, "localhost") && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("devissuer: refusing issuer URL %q: the dev issuer only runs on a loopback address (localhost, 127.0.0.0/8, ::1); use Keycloak for anything else", raw)
	}
	return u, nil
}

func loadOrCreateKey(dataDir string) (*rsa.PrivateKey, error) {
	if dataDir == "" {
		return nil, errors.New("devissuer: data directory is required")
	}
	path := filepath.Join(dataDir, KeyFile)
	key, err := readKey(path)
	if err == nil {
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("devissuer: create data directory: %w", err)
	}
	key, err = rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return nil, fmt.Errorf("devissuer: generate key: %w", err)
	}
	if err := writeKeyOnce(path, key); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process (dev and token started together) won the
			// race; use its key so both sign alike.
			return readKey(path)
		}
		return nil, err
	}
	return key, nil
}

func readKey(path string) (*rsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("devissuer: read key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("devissuer: %s holds no PEM block", path)
	}
	var parsed any
	switch block.Type {
	case "PRIVATE KEY":
		parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		parsed, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("devissuer: %s holds a %q block, want an RSA private key", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("devissuer: parse key %s: %w", path, err)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("devissuer: %s is a %T, want an RSA key", path, parsed)
	}
	if key.N.BitLen() < keyBits {
		return nil, fmt.Errorf("devissuer: %s is a %d-bit key, want at least %d", path, key.N.BitLen(), keyBits)
	}
	return key, nil
}

// writeKeyOnce publishes the key under path without ever exposing a partly
// written file and without replacing a key another process wrote meanwhile.
func writeKeyOnce(path string, key *rsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("devissuer: encode key: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".dev-issuer-key-*.tmp")
	if err != nil {
		return fmt.Errorf("devissuer: write key: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp already uses 0600; Chmod makes that explicit and survives
	// a platform that does otherwise.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("devissuer: write key: %w", err)
	}
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		tmp.Close()
		return fmt.Errorf("devissuer: write key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("devissuer: write key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("devissuer: write key: %w", err)
	}
	// A hard link fails when the target exists, which rename would not.
	err = os.Link(tmp.Name(), path)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	// Some mounted volumes have no hard links; a rename is still atomic and
	// only loses the (first start only) race with another process.
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("devissuer: install key %s: %w", path, err)
	}
	return nil
}

// IssuerURL is the iss of minted tokens.
func (i *Issuer) IssuerURL() string { return i.issuer }

// KeyID is the RFC 7638 thumbprint of the public key, used as kid.
func (i *Issuer) KeyID() string { return i.keyID }

// Handler serves discovery and the JWKS below the issuer URL's path, so it
// can be mounted at the root of the listener named in the issuer URL.
func (i *Issuer) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		switch r.URL.Path {
		case i.pathBase + discoveryPath:
			body = i.discovery
		case i.pathBase + CertsPath:
			body = i.jwks
		default:
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	})
}

// MintOptions describes the user a token is for.
type MintOptions struct {
	Subject string
	Name    string
	Email   string
	// Groups are full Keycloak group paths such as /teams/support.
	Groups []string
	// Roles become realm_access.roles.
	Roles []string
	// TTL is the lifetime; DefaultTTL when zero.
	TTL time.Duration
}

// accessToken follows the claim layout of a Keycloak access token.
type accessToken struct {
	Issuer            string      `json:"iss"`
	Subject           string      `json:"sub"`
	Audience          string      `json:"aud"`
	Expiry            int64       `json:"exp"`
	IssuedAt          int64       `json:"iat"`
	NotBefore         int64       `json:"nbf"`
	ID                string      `json:"jti"`
	Type              string      `json:"typ"`
	AuthorizedParty   string      `json:"azp"`
	PreferredUsername string      `json:"preferred_username"`
	Name              string      `json:"name,omitempty"`
	Email             string      `json:"email,omitempty"`
	Groups            []string    `json:"groups,omitempty"`
	RealmAccess       realmAccess `json:"realm_access"`
}

type realmAccess struct {
	Roles []string `json:"roles"`
}

// Mint signs an access token for opts.
func (i *Issuer) Mint(opts MintOptions) (string, error) {
	if opts.Subject == "" {
		return "", errors.New("devissuer: subject is required")
	}
	// Subjects share a namespace with group-path tenant IDs; a subject
	// like "/teams/x" would be confusing at best.
	if strings.HasPrefix(opts.Subject, "/") {
		return "", fmt.Errorf("devissuer: subject %q must not start with '/'", opts.Subject)
	}
	if opts.TTL < 0 {
		return "", fmt.Errorf("devissuer: negative TTL %s", opts.TTL)
	}
	ttl := opts.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	username := opts.Name
	if username == "" {
		username = opts.Subject
	}
	roles := opts.Roles
	if roles == nil {
		roles = []string{}
	}
	now := time.Now()
	claims, err := json.Marshal(accessToken{
		Issuer:            i.issuer,
		Subject:           opts.Subject,
		Audience:          i.audience,
		Expiry:            now.Add(ttl).Unix(),
		IssuedAt:          now.Unix(),
		NotBefore:         now.Unix(),
		ID:                rand.Text(),
		Type:              "Bearer",
		AuthorizedParty:   authorizedParty,
		PreferredUsername: username,
		Name:              opts.Name,
		Email:             opts.Email,
		Groups:            opts.Groups,
		RealmAccess:       realmAccess{Roles: roles},
	})
	if err != nil {
		return "", fmt.Errorf("devissuer: encode claims: %w", err)
	}
	jws, err := i.signer.Sign(claims)
	if err != nil {
		return "", fmt.Errorf("devissuer: sign: %w", err)
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("devissuer: serialize: %w", err)
	}
	return token, nil
}
