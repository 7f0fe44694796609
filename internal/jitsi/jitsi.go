// Package jitsi creates consultation links for Jitsi Meet. Jitsi has no API
// to create a room (a room exists once someone joins it), so a consultation
// is an unguessable room name plus, where the deployment checks tokens, a
// JWT per participant that names that room.
//
// Three modes, chosen by Config: no credentials gives plain links (public
// meet.jit.si or an open self-hosted server); AppSecret gives HS256 tokens
// for a self-hosted server with prosody token authentication; PrivateKeyPEM
// gives RS256 tokens for 8x8 JaaS.
package jitsi

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base32"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

const (
	// DefaultBaseURL is used without credentials or with AppSecret.
	DefaultBaseURL = "https://meet.jit.si"
	// JaaSBaseURL is used with PrivateKeyPEM.
	JaaSBaseURL = "https://8x8.vc"
	// DefaultTokenTTL is a token's lifetime when Config.TokenTTL is zero.
	DefaultTokenTTL = 3 * time.Hour
	// MaxTokenTTL bounds Config.TokenTTL: a join link travels in a chat
	// message and should not stay usable for days.
	MaxTokenTTL = 24 * time.Hour
	// MinSecretLength is the shortest AppSecret accepted. Join links reach
	// customers, and an HS256 token is an offline guessing oracle for its
	// secret: a short one would let a customer mint moderator tokens.
	MinSecretLength = 32

	minTokenTTL = time.Minute
	// notBeforeSkew backdates nbf: prosody checks it without leeway, and a
	// server clock slightly behind ours would refuse a fresh token.
	notBeforeSkew = time.Minute
	minRSABits    = 2048
	jaasPrefix    = "vpaas-magic-cookie-"
	roomPrefix    = "consult-"
	maxUserField  = 256
)

var (
	roomPattern   = regexp.MustCompile(`^[a-z0-9-]{16,128}$`)
	tenantPattern = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
)

// ErrInvalidRoom is returned for a room name outside ^[a-z0-9-]{16,128}$.
var ErrInvalidRoom = errors.New("jitsi: invalid room name")

// Config says which Jitsi deployment to link to and how to sign.
type Config struct {
	// BaseURL is the deployment, e.g. https://meet.example.com, optionally
	// with one tenant path segment (https://meet.example.com/acme). Empty
	// means DefaultBaseURL, or JaaSBaseURL with PrivateKeyPEM.
	BaseURL string
	// AppID is the token issuer for HS256 (prosody's app_id) or the JaaS
	// tenant ("vpaas-magic-cookie-…") for RS256.
	AppID string
	// AppSecret selects HS256 signing.
	AppSecret string
	// PrivateKeyPEM selects RS256 signing for 8x8 JaaS (PKCS#8 or PKCS#1).
	PrivateKeyPEM []byte
	// KeyID is the JaaS API key id: either the full kid
	// ("vpaas-magic-cookie-<id>/<key>") or just the part after the slash.
	KeyID string
	// TokenTTL is how long a token is valid; 0 means DefaultTokenTTL.
	TokenTTL time.Duration
}

type mode int

const (
	modePlain mode = iota
	modeHS256
	modeJaaS
)

// Signer builds join links. It is safe for concurrent use.
type Signer struct {
	mode    mode
	baseURL string // scheme://host[:port][/tenant], no trailing slash
	subject string
	appID   string
	secret  []byte
	key     *rsa.PrivateKey
	kid     string
	ttl     time.Duration
}

// User is a participant a link is made for.
type User struct {
	ID        string
	Name      string
	Email     string
	Avatar    string // URL, optional
	Moderator bool
}

// New validates cfg and returns a Signer.
func New(cfg Config) (*Signer, error) {
	s := &Signer{ttl: cfg.TokenTTL}
	switch {
	case cfg.AppSecret != "" && len(cfg.PrivateKeyPEM) > 0:
		return nil, errors.New("jitsi: set either AppSecret (HS256) or PrivateKeyPEM (RS256), not both")
	case cfg.AppSecret != "":
		s.mode = modeHS256
	case len(cfg.PrivateKeyPEM) > 0:
		s.mode = modeJaaS
	case cfg.AppID != "" || cfg.KeyID != "":
		return nil, errors.New("jitsi: AppID or KeyID set without AppSecret or PrivateKeyPEM")
	}

	switch {
	case s.ttl == 0:
		s.ttl = DefaultTokenTTL
	case s.ttl < minTokenTTL || s.ttl > MaxTokenTTL:
		return nil, fmt.Errorf("jitsi: token TTL %s outside [%s, %s]", s.ttl, minTokenTTL, MaxTokenTTL)
	}

	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
		if s.mode == modeJaaS {
			base = JaaSBaseURL
		}
	}
	host, tenant, err := s.parseBase(base)
	if err != nil {
		return nil, err
	}

	switch s.mode {
	case modeHS256:
		if err := checkAppID(cfg.AppID); err != nil {
			return nil, err
		}
		if len(cfg.AppSecret) < MinSecretLength {
			return nil, fmt.Errorf("jitsi: AppSecret must be at least %d bytes", MinSecretLength)
		}
		s.appID, s.secret = cfg.AppID, []byte(cfg.AppSecret)
		// prosody compares sub with the tenant when the URL has one,
		// otherwise with the domain.
		s.subject = host
		if tenant != "" {
			s.subject = tenant
		}
	case modeJaaS:
		if !strings.HasPrefix(cfg.AppID, jaasPrefix) || len(cfg.AppID) == len(jaasPrefix) {
			return nil, fmt.Errorf("jitsi: JaaS AppID must look like %s<id>", jaasPrefix)
		}
		if err := checkAppID(cfg.AppID); err != nil {
			return nil, err
		}
		if tenant != "" {
			return nil, errors.New("jitsi: a JaaS BaseURL takes no path; the AppID is the tenant")
		}
		if s.kid, err = jaasKeyID(cfg.AppID, cfg.KeyID); err != nil {
			return nil, err
		}
		if s.key, err = parseRSAKey(cfg.PrivateKeyPEM); err != nil {
			return nil, err
		}
		s.appID, s.subject = cfg.AppID, cfg.AppID
		s.baseURL += "/" + cfg.AppID
	}
	return s, nil
}

func (s *Signer) parseBase(raw string) (host, tenant string, err error) {
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(raw), "/"))
	if err != nil {
		return "", "", fmt.Errorf("jitsi: BaseURL: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("jitsi: BaseURL %q must be http(s)://host[/tenant]", raw)
	}
	if s.mode != modePlain && strings.EqualFold(u.Hostname(), "meet.jit.si") {
		return "", "", errors.New("jitsi: meet.jit.si does not accept our tokens; set BaseURL to your deployment (or https://8x8.vc for JaaS)")
	}
	tenant = strings.Trim(u.Path, "/")
	if strings.Contains(tenant, "/") || (tenant != "" && !tenantPattern.MatchString(tenant)) {
		return "", "", fmt.Errorf("jitsi: BaseURL path %q must be at most one tenant segment", u.Path)
	}
	s.baseURL = u.Scheme + "://" + u.Host
	if tenant != "" {
		s.baseURL += "/" + tenant
	}
	return strings.ToLower(u.Hostname()), tenant, nil
}

func checkAppID(id string) error {
	if id == "" {
		return errors.New("jitsi: AppID is required for tokens")
	}
	if len(id) > maxUserField || strings.ContainsFunc(id, func(r rune) bool { return unicode.IsSpace(r) || r == '/' }) {
		return fmt.Errorf("jitsi: AppID %q must be a single word", id)
	}
	return nil
}

func jaasKeyID(appID, keyID string) (string, error) {
	switch {
	case keyID == "":
		return "", errors.New("jitsi: KeyID is required with PrivateKeyPEM")
	case strings.HasPrefix(keyID, appID+"/") && len(keyID) > len(appID)+1:
		return keyID, nil
	case strings.Contains(keyID, "/"):
		return "", fmt.Errorf("jitsi: KeyID %q does not belong to AppID %q", keyID, appID)
	}
	return appID + "/" + keyID, nil
}

func parseRSAKey(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("jitsi: PrivateKeyPEM holds no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("jitsi: PrivateKeyPEM is a %q block, want PRIVATE KEY or RSA PRIVATE KEY", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("jitsi: parse private key: %w", err)
	}
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("jitsi: private key is %T, JaaS needs RSA", key)
	}
	if bits := rsaKey.N.BitLen(); bits < minRSABits {
		return nil, fmt.Errorf("jitsi: RSA key of %d bits, want at least %d", bits, minRSABits)
	}
	return rsaKey, nil
}

// TokenAuth reports whether join links carry a token.
func (s *Signer) TokenAuth() bool { return s.mode != modePlain }

// ValidRoomName reports whether room is usable: ^[a-z0-9-]{16,128}$ (Jitsi
// lower-cases room names, and short ones are guessable).
func ValidRoomName(room string) bool { return roomPattern.MatchString(room) }

// NewRoomName returns "consult-" followed by 26 characters encoding 128
// random bits.
func NewRoomName() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("jitsi: room name: %w", err)
	}
	enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
	return roomPrefix + strings.ToLower(enc), nil
}

// JoinURL returns the link u opens to join room. With tokens it is
// <base>/<room>?jwt=<token> (JaaS: https://8x8.vc/<AppID>/<room>?jwt=…),
// valid from a minute before now until now+TokenTTL. The link is a
// credential: keep it out of logs (see RedactURL).
func (s *Signer) JoinURL(room string, u User, now time.Time) (string, error) {
	if !ValidRoomName(room) {
		return "", fmt.Errorf("%w: %q", ErrInvalidRoom, room)
	}
	link := s.baseURL + "/" + room
	if s.mode == modePlain {
		return link, nil
	}
	if err := checkUser(u); err != nil {
		return "", err
	}
	token, err := s.token(room, u, now)
	if err != nil {
		return "", err
	}
	return link + "?jwt=" + token, nil
}

func checkUser(u User) error {
	for name, v := range map[string]string{"ID": u.ID, "Name": u.Name, "Email": u.Email, "Avatar": u.Avatar} {
		if !utf8.ValidString(v) || len(v) > maxUserField || strings.ContainsFunc(v, unicode.IsControl) {
			return fmt.Errorf("jitsi: user %s must be printable UTF-8 of at most %d bytes", name, maxUserField)
		}
	}
	return nil
}

// RedactURL replaces a join link's token with "REDACTED", for logs.
func RedactURL(link string) string {
	u, err := url.Parse(link)
	if err != nil {
		return "[unparseable URL]"
	}
	q := u.Query()
	if q.Has("jwt") {
		q.Set("jwt", "REDACTED")
		u.RawQuery = q.Encode()
	}
	return u.String()
}
