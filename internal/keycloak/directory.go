// Package keycloak reads people from Keycloak's Admin REST API: a user, the
// groups they belong to and their effective roles. The orchestrator needs
// this where no access token of the person is at hand (a Matrix command, a
// Chatwoot agent) but Keycloak must still decide who they are and what they
// may do, since it is the only source of identities and grants.
//
// The Directory authenticates as a confidential client's service account with
// the client-credentials grant. The account needs the realm-management roles
// view-users (users, their groups and role mappings), query-groups and, for
// ClientRoles, query-clients.
//
// Answers are cached for Config.CacheTTL: a grant withdrawn in Keycloak can
// stay in effect for that long, which is why the TTL is meant to be short.
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
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

const (
	// DefaultTimeout bounds one HTTP exchange when New builds the client.
	DefaultTimeout = 10 * time.Second
	// DefaultCacheSize is how many answers the cache holds when
	// Config.CacheSize is zero.
	DefaultCacheSize = 1024
	// DefaultMaxGroups is how many groups of one user are read when
	// Config.MaxGroups is zero.
	DefaultMaxGroups = 1000

	// groupsPage is the page size of group listings: Keycloak's own
	// default, which every version accepts.
	groupsPage = 100
	// emailPage and maxEmailMatches bound an email lookup. Keycloak keeps
	// emails unique unless the realm allows duplicates, so more than a
	// handful of exact matches means a realm this lookup cannot serve.
	emailPage       = 20
	maxEmailMatches = 100
	// maxResponseBytes bounds one admin API answer.
	maxResponseBytes = 4 << 20

	userAgent = "orchestrator-keycloak-directory/1"
)

// Config configures a Directory.
type Config struct {
	// AdminURL is the realm's admin base,
	// https://host/admin/realms/<realm>; AdminURLFromIssuer derives it from
	// the OIDC issuer. It may name an internal hostname when the public
	// one is not reachable from the orchestrator.
	AdminURL string
	// TokenURL is the realm's token endpoint. Empty derives it from
	// AdminURL (same host and realm), so a split hostname serves both.
	TokenURL string
	// ClientID and ClientSecret are the confidential client whose service
	// account reads the directory.
	ClientID     string
	ClientSecret string
	// CacheTTL is how long answers are reused; zero disables the cache
	// (concurrent identical lookups are still merged).
	CacheTTL time.Duration
	// CacheSize bounds the number of cached answers (DefaultCacheSize).
	CacheSize int
	// MaxGroups is the most groups of one user read before Groups fails
	// with ErrLimitExceeded (DefaultMaxGroups).
	MaxGroups int
	// HTTPClient is copied; nil gets one with DefaultTimeout. Redirects are
	// never followed: they would carry the bearer token elsewhere.
	HTTPClient *http.Client
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now; tests move the clock.
	Now func() time.Time
}

// String keeps the secret out of logs and %v output.
func (c Config) String() string {
	return fmt.Sprintf("keycloak.Config{AdminURL: %q, ClientID: %q, CacheTTL: %s}", c.AdminURL, c.ClientID, c.CacheTTL)
}

// GoString keeps the secret out of %#v output.
func (c Config) GoString() string { return c.String() }

// User is a Keycloak user as the Admin REST API represents it (the fields
// the orchestrator uses).
type User struct {
	ID            string `json:"id"`
	Username      string `json:"username"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"emailVerified"`
	Enabled       bool   `json:"enabled"`
	FirstName     string `json:"firstName"`
	LastName      string `json:"lastName"`
}

// DisplayName is the user's full name, else the username, else the id.
func (u *User) DisplayName() string {
	if name := strings.TrimSpace(strings.TrimSpace(u.FirstName) + " " + strings.TrimSpace(u.LastName)); name != "" {
		return name
	}
	if u.Username != "" {
		return u.Username
	}
	return u.ID
}

// Directory looks people up in one Keycloak realm. It is safe for
// concurrent use.
type Directory struct {
	admin     string // admin base URL, no trailing slash
	tokens    *tokenSource
	hc        *http.Client
	log       *slog.Logger
	cache     *cache
	maxGroups int
}

// New checks cfg and returns a Directory. Nothing is sent until the first
// lookup; call Check at startup to find configuration mistakes early.
func New(cfg Config) (*Directory, error) {
	admin, err := parseHTTPURL(cfg.AdminURL, "admin URL")
	if err != nil {
		return nil, err
	}
	derivedToken, err := tokenURLFromAdmin(admin)
	if err != nil {
		return nil, err
	}
	tokenURL := derivedToken
	if cfg.TokenURL != "" {
		u, err := parseHTTPURL(cfg.TokenURL, "token URL")
		if err != nil {
			return nil, err
		}
		tokenURL = u.String()
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, fmt.Errorf("%w: client id and client secret are required", ErrInvalidArgument)
	}
	if cfg.CacheTTL < 0 || cfg.CacheSize < 0 || cfg.MaxGroups < 0 {
		return nil, fmt.Errorf("%w: cache TTL, cache size and max groups must not be negative", ErrInvalidArgument)
	}
	size := cmpOr(cfg.CacheSize, DefaultCacheSize)
	maxGroups := cmpOr(cfg.MaxGroups, DefaultMaxGroups)
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	} else {
		hc.Timeout = DefaultTimeout
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	return &Directory{
		admin:     strings.TrimRight(admin.String(), "/"),
		tokens:    newTokenSource(tokenURL, cfg.ClientID, cfg.ClientSecret, &hc, now, log),
		hc:        &hc,
		log:       log,
		cache:     newCache(cfg.CacheTTL, size, now),
		maxGroups: maxGroups,
	}, nil
}

func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// Check obtains a token and lists one user, proving the URLs, the
// credentials and the service account's view-users role in one call.
func (d *Directory) Check(ctx context.Context) error {
	var users []User
	return d.get(ctx, "/users", url.Values{"first": {"0"}, "max": {"1"}, "briefRepresentation": {"true"}}, &users)
}

// User returns the user whose id (the token's sub claim) is subject.
func (d *Directory) User(ctx context.Context, subject string) (*User, error) {
	seg, err := pathSegment("subject", subject)
	if err != nil {
		return nil, err
	}
	v, err := d.cache.do(ctx, "user\x00"+subject, func(ctx context.Context) (any, error) {
		var u User
		if err := d.get(ctx, "/users/"+seg, nil, &u); err != nil {
			return nil, err
		}
		// An answer about someone else (a proxy's cache, a rewritten path)
		// must never be taken for this subject.
		if u.ID != subject {
			return nil, fmt.Errorf("keycloak: GET /users/%s: answer is about another user", seg)
		}
		return &u, nil
	})
	if err != nil {
		return nil, err
	}
	u := *v.(*User)
	return &u, nil
}

// Groups returns the full paths (/teams/engineering/approvers) of the groups
// subject belongs to directly, sorted. Membership of a subgroup is not
// reported as membership of its parent: that is the caller's rule to make.
func (d *Directory) Groups(ctx context.Context, subject string) ([]string, error) {
	seg, err := pathSegment("subject", subject)
	if err != nil {
		return nil, err
	}
	v, err := d.cache.do(ctx, "groups\x00"+subject, func(ctx context.Context) (any, error) {
		return d.fetchGroups(ctx, seg)
	})
	if err != nil {
		return nil, err
	}
	return slices.Clone(v.([]string)), nil
}

func (d *Directory) fetchGroups(ctx context.Context, seg string) ([]string, error) {
	path := "/users/" + seg + "/groups"
	var paths []string
	seen := make(map[string]bool)
	// The bound on first (not on the number of paths) also ends the loop
	// when a server ignores first and repeats one full page forever.
	for first := 0; first <= d.maxGroups; first += groupsPage {
		var page []struct {
			Path string `json:"path"`
		}
		q := url.Values{
			"briefRepresentation": {"true"},
			"first":               {strconv.Itoa(first)},
			"max":                 {strconv.Itoa(groupsPage)},
		}
		if err := d.get(ctx, path, q, &page); err != nil {
			return nil, err
		}
		for _, g := range page {
			if !strings.HasPrefix(g.Path, "/") {
				return nil, fmt.Errorf("keycloak: GET %s: a group has no path", path)
			}
			if !seen[g.Path] {
				seen[g.Path] = true
				paths = append(paths, g.Path)
			}
		}
		if len(paths) > d.maxGroups {
			break
		}
		if len(page) < groupsPage {
			slices.Sort(paths)
			return paths, nil
		}
	}
	return nil, fmt.Errorf("keycloak: GET %s: %w: more than %d groups", path, ErrLimitExceeded, d.maxGroups)
}

// RealmRoles returns the names of subject's effective realm roles: those
// mapped directly, through groups and through composite roles, sorted.
func (d *Directory) RealmRoles(ctx context.Context, subject string) ([]string, error) {
	seg, err := pathSegment("subject", subject)
	if err != nil {
		return nil, err
	}
	v, err := d.cache.do(ctx, "realm-roles\x00"+subject, func(ctx context.Context) (any, error) {
		return d.fetchRoles(ctx, "/users/"+seg+"/role-mappings/realm/composite")
	})
	if err != nil {
		return nil, err
	}
	return slices.Clone(v.([]string)), nil
}

// ClientRoles returns the names of subject's effective roles of the client
// whose client id (not internal id) is clientID, sorted. An unknown client is
// an ErrNotFound like an unknown user.
func (d *Directory) ClientRoles(ctx context.Context, subject, clientID string) ([]string, error) {
	seg, err := pathSegment("subject", subject)
	if err != nil {
		return nil, err
	}
	if _, err := pathSegment("client id", clientID); err != nil {
		return nil, err
	}
	v, err := d.cache.do(ctx, "client-roles\x00"+clientID+"\x00"+subject, func(ctx context.Context) (any, error) {
		internal, err := d.clientUUID(ctx, clientID)
		if err != nil {
			return nil, err
		}
		cseg, err := pathSegment("client", internal)
		if err != nil {
			return nil, fmt.Errorf("keycloak: client %q: %w", clientID, err)
		}
		return d.fetchRoles(ctx, "/users/"+seg+"/role-mappings/clients/"+cseg+"/composite")
	})
	if err != nil {
		return nil, err
	}
	return slices.Clone(v.([]string)), nil
}

// clientUUID resolves a client id to Keycloak's internal id, which the role
// mapping paths take.
func (d *Directory) clientUUID(ctx context.Context, clientID string) (string, error) {
	v, err := d.cache.do(ctx, "client\x00"+clientID, func(ctx context.Context) (any, error) {
		var clients []struct {
			ID       string `json:"id"`
			ClientID string `json:"clientId"`
		}
		// Without search=true Keycloak matches clientId exactly; the loop
		// below checks that anyway rather than trust a filter's semantics.
		if err := d.get(ctx, "/clients", url.Values{"clientId": {clientID}}, &clients); err != nil {
			return nil, err
		}
		for _, c := range clients {
			if c.ClientID == clientID && c.ID != "" {
				return c.ID, nil
			}
		}
		return nil, fmt.Errorf("%w: no client %q in the realm", ErrNotFound, clientID)
	})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

func (d *Directory) fetchRoles(ctx context.Context, path string) ([]string, error) {
	var roles []struct {
		Name string `json:"name"`
	}
	if err := d.get(ctx, path, url.Values{"briefRepresentation": {"true"}}, &roles); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(roles))
	for _, r := range roles {
		if r.Name == "" {
			return nil, fmt.Errorf("keycloak: GET %s: a role has no name", path)
		}
		names = append(names, r.Name)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// UserByVerifiedEmail returns the one enabled user whose verified email is
// email (compared case-insensitively). No such user is ErrNotFound; more
// than one is ErrAmbiguous. Users whose email is not verified never match:
// anyone can type someone else's address into a profile.
func (d *Directory) UserByVerifiedEmail(ctx context.Context, email string) (*User, error) {
	email = strings.TrimSpace(email)
	if err := checkEmail(email); err != nil {
		return nil, err
	}
	v, err := d.cache.do(ctx, "email\x00"+strings.ToLower(email), func(ctx context.Context) (any, error) {
		return d.fetchByEmail(ctx, email)
	})
	if err != nil {
		return nil, err
	}
	u := *v.(*User)
	return &u, nil
}

func (d *Directory) fetchByEmail(ctx context.Context, email string) (*User, error) {
	var match *User
	for first := 0; first < maxEmailMatches; first += emailPage {
		var page []User
		q := url.Values{
			"email":               {email},
			"exact":               {"true"},
			"briefRepresentation": {"true"},
			"first":               {strconv.Itoa(first)},
			"max":                 {strconv.Itoa(emailPage)},
		}
		if err := d.get(ctx, "/users", q, &page); err != nil {
			return nil, err
		}
		for i := range page {
			u := page[i]
			if u.ID == "" || !u.Enabled || !u.EmailVerified || !strings.EqualFold(u.Email, email) {
				continue
			}
			if match != nil && match.ID != u.ID {
				return nil, fmt.Errorf("%w: several enabled users have this verified email", ErrAmbiguous)
			}
			match = &u
		}
		if len(page) < emailPage {
			if match == nil {
				return nil, fmt.Errorf("%w: no enabled user has this verified email", ErrNotFound)
			}
			return match, nil
		}
	}
	return nil, fmt.Errorf("keycloak: GET /users: %w: more than %d users share an email", ErrLimitExceeded, maxEmailMatches)
}

// get sends a GET to the admin API and decodes a 2xx JSON answer into out.
// A 401 is answered once with a new token: Keycloak refuses tokens it has
// revoked, or that outlived the expiry estimate (skewed clocks, a restarted
// server with new keys).
func (d *Directory) get(ctx context.Context, path string, q url.Values, out any) error {
	tok, err := d.tokens.Token(ctx)
	if err != nil {
		return err
	}
	status, data, err := d.send(ctx, path, q, tok)
	if err != nil {
		return err
	}
	if status == http.StatusUnauthorized {
		d.log.DebugContext(ctx, "keycloak: admin API refused the token; requesting a new one", "path", path)
		d.tokens.Invalidate(tok)
		if tok, err = d.tokens.Token(ctx); err != nil {
			return err
		}
		if status, data, err = d.send(ctx, path, q, tok); err != nil {
			return err
		}
		if status == http.StatusUnauthorized {
			d.log.WarnContext(ctx, "keycloak: admin API refused a freshly issued token", "path", path)
		}
	}
	if status < 200 || status > 299 {
		return &APIError{StatusCode: status, Method: http.MethodGet, Path: path, Message: errorMessage(data)}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("keycloak: GET %s: decode response: %w", path, err)
	}
	return nil
}

func (d *Directory) send(ctx context.Context, path string, q url.Values, tok string) (int, []byte, error) {
	target := d.admin + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("keycloak: GET %s: %w", path, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := d.hc.Do(req)
	if err != nil {
		// The URL holds the query (maybe an email); report the path only.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return 0, nil, transportError(ctx, "GET "+path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return 0, nil, transportError(ctx, "GET "+path+": read response", err)
	}
	if len(data) > maxResponseBytes {
		return 0, nil, fmt.Errorf("keycloak: GET %s: response larger than %d bytes", path, maxResponseBytes)
	}
	return resp.StatusCode, data, nil
}

// errorMessage extracts Keycloak's error text: {"error": "..."} from most
// resources, {"errorMessage": "..."} from newer validation errors.
func errorMessage(data []byte) string {
	var body struct {
		Error            string `json:"error"`
		ErrorMessage     string `json:"errorMessage"`
		ErrorDescription string `json:"error_description"`
	}
	if json.Unmarshal(data, &body) != nil {
		return ""
	}
	for _, s := range []string{body.ErrorMessage, body.ErrorDescription, body.Error} {
		if s != "" {
			return truncate(s, maxErrorMessage)
		}
	}
	return ""
}

// pathSegment checks an id that becomes one path segment and escapes it.
// Keycloak ids are UUIDs, or f:<provider>:<id> for federated users, so
// anything that could step to another resource ("/", "..") is refused
// rather than escaped.
func pathSegment(what, s string) (string, error) {
	switch {
	case s == "":
		return "", fmt.Errorf("%w: empty %s", ErrInvalidArgument, what)
	case len(s) > 255:
		return "", fmt.Errorf("%w: %s longer than 255 bytes", ErrInvalidArgument, what)
	case s == "." || s == "..":
		return "", fmt.Errorf("%w: %s is a dot segment", ErrInvalidArgument, what)
	case strings.ContainsAny(s, `/\?#%`):
		return "", fmt.Errorf("%w: %s contains a reserved character", ErrInvalidArgument, what)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "", fmt.Errorf("%w: %s contains a control character", ErrInvalidArgument, what)
	}
	return url.PathEscape(s), nil
}

func checkEmail(email string) error {
	at := strings.LastIndexByte(email, '@')
	switch {
	case len(email) > 254:
		return fmt.Errorf("%w: email longer than 254 bytes", ErrInvalidArgument)
	case at <= 0 || at == len(email)-1:
		return fmt.Errorf("%w: not an email address", ErrInvalidArgument)
	case strings.IndexFunc(email, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0:
		return fmt.Errorf("%w: email contains a space or control character", ErrInvalidArgument)
	}
	return nil
}
