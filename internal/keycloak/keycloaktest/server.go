// Package keycloaktest is a stand-in for the part of Keycloak's Admin REST API
// that package keycloak calls, for tests only: the realm's token endpoint
// (client-credentials grant), users, a user's groups, effective realm and
// client role mappings, and clients by client id. Answers have the JSON shapes
// of Keycloak's representations (UserRepresentation, GroupRepresentation,
// RoleRepresentation, ClientRepresentation); fields Keycloak leaves out when
// null are left out here too.
//
// Like Keycloak, the stand-in stores usernames and emails in lower case,
// matches exact email searches case-insensitively, refuses admin calls
// without a valid bearer token (401) or without the service account's
// realm-management role (403), and answers 404 {"error": "User not found"}
// for an unknown user.
//
// Production code must not import this package.
package keycloaktest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Defaults of a Realm's zero fields.
const (
	DefaultRealm         = "acme"
	DefaultClientID      = "orchestrator-directory"
	DefaultClientSecret  = "keycloaktest-secret"
	DefaultTokenLifetime = 5 * time.Minute
)

// defaultMaxResults is Keycloak's page size when a listing has no max.
const defaultMaxResults = 100

// Realm seeds a stand-in.
type Realm struct {
	Name         string // DefaultRealm if empty
	ClientID     string // the service account's client; DefaultClientID if empty
	ClientSecret string // DefaultClientSecret if empty
	// ServiceAccountRoles are the service account's realm-management roles.
	// Nil grants view-users, query-groups and query-clients.
	ServiceAccountRoles []string
	// TokenLifetime is the expires_in of issued tokens.
	TokenLifetime time.Duration
	Users         []User
	// Clients lists client ids that exist without any role of a user;
	// every client id used in User.ClientRoles exists as well.
	Clients []string
}

// User is one seeded user. Groups and roles are what Keycloak would compute
// as effective: the stand-in does not model composites or inheritance.
type User struct {
	ID            string // derived from Username if empty
	Username      string
	Email         string
	EmailVerified bool
	Disabled      bool // zero value is an enabled user, as usually wanted
	FirstName     string
	LastName      string
	// Groups are full group paths, e.g. /teams/engineering/approvers.
	Groups      []string
	RealmRoles  []string
	ClientRoles map[string][]string // client id → role names
}

// Request is one request the stand-in received.
type Request struct {
	Method string
	Path   string // unescaped
	Query  url.Values
	Status int
	Token  bool // true for the token endpoint, false for the admin API
}

// Server is a running stand-in. Its methods are safe for concurrent use.
type Server struct {
	ts *httptest.Server

	mu          sync.Mutex
	realm       Realm
	users       map[string]User   // by id
	clients     map[string]string // client id → internal id
	tokens      map[string]time.Time
	adminFaults []int
	tokenFaults []int
	requests    []Request
}

// Start seeds and starts a stand-in that t's cleanup stops.
func Start(t testing.TB, realm Realm) *Server {
	t.Helper()
	if realm.Name == "" {
		realm.Name = DefaultRealm
	}
	if realm.ClientID == "" {
		realm.ClientID = DefaultClientID
	}
	if realm.ClientSecret == "" {
		realm.ClientSecret = DefaultClientSecret
	}
	if realm.ServiceAccountRoles == nil {
		realm.ServiceAccountRoles = []string{"view-users", "query-groups", "query-clients"}
	}
	if realm.TokenLifetime == 0 {
		realm.TokenLifetime = DefaultTokenLifetime
	}
	s := &Server{
		realm:   realm,
		users:   make(map[string]User),
		clients: map[string]string{realm.ClientID: stableID("client", realm.ClientID)},
		tokens:  make(map[string]time.Time),
	}
	for _, c := range realm.Clients {
		s.clients[c] = stableID("client", c)
	}
	for _, u := range realm.Users {
		s.putLocked(u)
	}
	s.ts = httptest.NewServer(s.routes())
	t.Cleanup(s.ts.Close)
	return s
}

// URL is the server root, e.g. http://127.0.0.1:port.
func (s *Server) URL() string { return s.ts.URL }

// IssuerURL is the realm's OIDC issuer, root/realms/<realm>.
func (s *Server) IssuerURL() string { return s.ts.URL + "/realms/" + s.realm.Name }

// AdminURL is the realm's admin base, root/admin/realms/<realm>.
func (s *Server) AdminURL() string { return s.ts.URL + "/admin/realms/" + s.realm.Name }

// TokenURL is the realm's token endpoint.
func (s *Server) TokenURL() string { return s.IssuerURL() + "/protocol/openid-connect/token" }

// ClientID and ClientSecret are the credentials the token endpoint accepts.
func (s *Server) ClientID() string     { return s.realm.ClientID }
func (s *Server) ClientSecret() string { return s.realm.ClientSecret }

// Close stops the server: later calls fail to connect.
func (s *Server) Close() { s.ts.Close() }

// PutUser adds or replaces a user.
func (s *Server) PutUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putLocked(u)
}

// DeleteUser removes a user by id.
func (s *Server) DeleteUser(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.users, id)
}

// UserID returns the id a user seeded without one received.
func UserID(username string) string { return stableID("user", strings.ToLower(username)) }

func (s *Server) putLocked(u User) {
	u.Username = strings.ToLower(u.Username)
	u.Email = strings.ToLower(u.Email)
	if u.ID == "" {
		u.ID = UserID(u.Username)
	}
	for c := range u.ClientRoles {
		if _, ok := s.clients[c]; !ok {
			s.clients[c] = stableID("client", c)
		}
	}
	s.users[u.ID] = u
}

// RevokeTokens makes every token issued so far invalid, as a restart with
// new keys or a revocation would.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// FailAdmin answers the next n admin API requests with status and a
// Keycloak-like error body, before authentication.
func (s *Server) FailAdmin(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.adminFaults = append(s.adminFaults, status)
	}
}

// FailToken answers the next n token requests with status.
func (s *Server) FailToken(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.tokenFaults = append(s.tokenFaults, status)
	}
}

// Requests returns every request received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// TokenRequests counts requests to the token endpoint.
func (s *Server) TokenRequests() int { return s.count(true) }

// AdminRequests counts requests to the admin API, refused ones included.
func (s *Server) AdminRequests() int { return s.count(false) }

func (s *Server) count(token bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Token == token {
			n++
		}
	}
	return n
}

// recorder notes the status a handler answers.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /realms/{realm}/protocol/openid-connect/token", s.token)
	admin := func(role string, h func(http.ResponseWriter, *http.Request)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { s.admin(w, r, role, h) }
	}
	mux.HandleFunc("GET /admin/realms/{realm}/users", admin("view-users", s.listUsers))
	mux.HandleFunc("GET /admin/realms/{realm}/users/{id}", admin("view-users", s.getUser))
	mux.HandleFunc("GET /admin/realms/{realm}/users/{id}/groups", admin("view-users", s.userGroups))
	mux.HandleFunc("GET /admin/realms/{realm}/users/{id}/role-mappings/realm/composite", admin("view-users", s.realmRoles))
	mux.HandleFunc("GET /admin/realms/{realm}/users/{id}/role-mappings/clients/{client}/composite", admin("view-users", s.clientRoles))
	mux.HandleFunc("GET /admin/realms/{realm}/clients", admin("query-clients", s.listClients))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Unable to find matching target resource method"})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w}
		mux.ServeHTTP(rec, r)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.requests = append(s.requests, Request{
			Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(),
			Status: cmpOr(rec.status, http.StatusOK),
			Token:  strings.HasSuffix(r.URL.Path, "/protocol/openid-connect/token"),
		})
	})
}

func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// token serves the client-credentials grant (RFC 6749 4.4) with the client
// authenticated by client_secret_basic or client_secret_post.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	fault := pop(&s.tokenFaults)
	s.mu.Unlock()
	if fault != 0 {
		writeJSON(w, fault, map[string]string{"error": "unknown_error"})
		return
	}
	if r.PathValue("realm") != s.realm.Name {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Realm does not exist"})
		return
	}
	if err := r.ParseForm(); err != nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Request must be application/x-www-form-urlencoded")
		return
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		// RFC 6749 2.3.1: both parts are form-urlencoded before Basic.
		id, _ = url.QueryUnescape(u)
		secret, _ = url.QueryUnescape(p)
	}
	if id == "" {
		oauthError(w, http.StatusBadRequest, "invalid_client", "Missing parameter: client_id")
		return
	}
	if id != s.realm.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(s.realm.ClientSecret)) != 1 {
		oauthError(w, http.StatusUnauthorized, "unauthorized_client", "Invalid client or Invalid client credentials")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Unsupported grant_type")
		return
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	s.mu.Lock()
	s.tokens[tok] = time.Now().Add(s.realm.TokenLifetime)
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":       tok,
		"expires_in":         int(s.realm.TokenLifetime / time.Second),
		"refresh_expires_in": 0,
		"token_type":         "Bearer",
		"not-before-policy":  0,
		"scope":              "profile email",
	})
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// admin authenticates an admin API call, checks the service account's role
// and the realm, then runs h.
func (s *Server) admin(w http.ResponseWriter, r *http.Request, role string, h func(http.ResponseWriter, *http.Request)) {
	s.mu.Lock()
	fault := pop(&s.adminFaults)
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	exp, known := s.tokens[tok]
	valid := strings.EqualFold(scheme, "Bearer") && known && time.Now().Before(exp)
	granted := slices.Contains(s.realm.ServiceAccountRoles, role)
	s.mu.Unlock()
	switch {
	case fault != 0:
		writeJSON(w, fault, map[string]string{"error": http.StatusText(fault)})
	case !valid:
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+s.realm.Name+`"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "HTTP 401 Unauthorized"})
	case r.PathValue("realm") != s.realm.Name:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Realm not found."})
	case !granted:
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "HTTP 403 Forbidden"})
	default:
		h(w, r)
	}
}

func pop(q *[]int) int {
	if len(*q) == 0 {
		return 0
	}
	v := (*q)[0]
	*q = (*q)[1:]
	return v
}

// user finds the path's user or answers 404 like Keycloak.
func (s *Server) user(w http.ResponseWriter, r *http.Request) (User, bool) {
	s.mu.Lock()
	u, ok := s.users[r.PathValue("id")]
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "User not found"})
	}
	return u, ok
}

// userRep is UserRepresentation; null fields are omitted as Keycloak does.
type userRep struct {
	ID               string          `json:"id"`
	Username         string          `json:"username"`
	FirstName        string          `json:"firstName,omitempty"`
	LastName         string          `json:"lastName,omitempty"`
	Email            string          `json:"email,omitempty"`
	EmailVerified    bool            `json:"emailVerified"`
	CreatedTimestamp int64           `json:"createdTimestamp"`
	Enabled          bool            `json:"enabled"`
	Totp             *bool           `json:"totp,omitempty"`
	DisableableCreds []string        `json:"disableableCredentialTypes,omitempty"`
	RequiredActions  []string        `json:"requiredActions,omitempty"`
	NotBefore        *int            `json:"notBefore,omitempty"`
	Access           map[string]bool `json:"access,omitempty"`
}

func representUser(u User, brief bool) userRep {
	rep := userRep{
		ID: u.ID, Username: u.Username, FirstName: u.FirstName, LastName: u.LastName,
		Email: u.Email, EmailVerified: u.EmailVerified, Enabled: !u.Disabled,
		CreatedTimestamp: 1700000000000,
	}
	if !brief {
		f, zero := false, 0
		rep.Totp, rep.NotBefore = &f, &zero
		rep.DisableableCreds, rep.RequiredActions = []string{}, []string{}
		rep.Access = map[string]bool{"manageGroupMembership": false, "view": true, "mapRoles": false, "impersonate": false, "manage": false}
	}
	return rep
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	if u, ok := s.user(w, r); ok {
		writeJSON(w, http.StatusOK, representUser(u, false))
	}
}

// listUsers serves GET /users with the email, username, exact, first, max
// and briefRepresentation parameters.
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	first, limit, ok := paging(w, q)
	if !ok {
		return
	}
	exact := q.Get("exact") == "true"
	brief := q.Get("briefRepresentation") == "true"
	matches := func(have, want string) bool {
		if want == "" {
			return true
		}
		want = strings.ToLower(want)
		if exact {
			return have == want
		}
		return strings.Contains(have, want)
	}
	s.mu.Lock()
	var found []User
	for _, u := range s.users {
		if matches(u.Email, q.Get("email")) && matches(u.Username, q.Get("username")) {
			found = append(found, u)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(found, func(a, b User) int { return strings.Compare(a.Username, b.Username) })
	out := []userRep{}
	for _, u := range window(found, first, limit) {
		out = append(out, representUser(u, brief))
	}
	writeJSON(w, http.StatusOK, out)
}

// groupRep is GroupRepresentation.
type groupRep struct {
	ID          string              `json:"id"`
	Name        string              `json:"name"`
	Path        string              `json:"path"`
	ParentID    string              `json:"parentId,omitempty"`
	SubGroups   []groupRep          `json:"subGroups"`
	Attributes  map[string][]string `json:"attributes,omitempty"`
	RealmRoles  []string            `json:"realmRoles,omitempty"`
	ClientRoles map[string][]string `json:"clientRoles,omitempty"`
}

// userGroups serves GET /users/{id}/groups: briefRepresentation defaults to
// true there, and groups come sorted (Keycloak sorts by name; path order
// is as stable and easier to reason about in tests).
func (s *Server) userGroups(w http.ResponseWriter, r *http.Request) {
	u, ok := s.user(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	first, limit, ok := paging(w, q)
	if !ok {
		return
	}
	brief := q.Get("briefRepresentation") != "false"
	paths := slices.Clone(u.Groups)
	slices.Sort(paths)
	paths = slices.Compact(paths)
	out := []groupRep{}
	for _, p := range window(paths, first, limit) {
		g := groupRep{ID: stableID("group", p), Name: p[strings.LastIndex(p, "/")+1:], Path: p, SubGroups: []groupRep{}}
		if parent := p[:strings.LastIndex(p, "/")]; parent != "" {
			g.ParentID = stableID("group", parent)
		}
		if !brief {
			g.Attributes, g.RealmRoles, g.ClientRoles = map[string][]string{}, []string{}, map[string][]string{}
		}
		out = append(out, g)
	}
	writeJSON(w, http.StatusOK, out)
}

// roleRep is RoleRepresentation.
type roleRep struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Composite   bool   `json:"composite"`
	ClientRole  bool   `json:"clientRole"`
	ContainerID string `json:"containerId"`
}

func roles(names []string, container string, client bool) []roleRep {
	out := []roleRep{}
	for _, n := range names {
		out = append(out, roleRep{ID: stableID("role", container+"/"+n), Name: n, ClientRole: client, ContainerID: container})
	}
	return out
}

func (s *Server) realmRoles(w http.ResponseWriter, r *http.Request) {
	if u, ok := s.user(w, r); ok {
		writeJSON(w, http.StatusOK, roles(u.RealmRoles, stableID("realm", s.realm.Name), false))
	}
}

// clientRoles serves role-mappings/clients/{client}/composite, where
// {client} is the client's internal id.
func (s *Server) clientRoles(w http.ResponseWriter, r *http.Request) {
	u, ok := s.user(w, r)
	if !ok {
		return
	}
	internal := r.PathValue("client")
	s.mu.Lock()
	clientID := ""
	for c, id := range s.clients {
		if id == internal {
			clientID = c
		}
	}
	s.mu.Unlock()
	if clientID == "" {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Client not found"})
		return
	}
	writeJSON(w, http.StatusOK, roles(u.ClientRoles[clientID], internal, true))
}

// clientRep is ClientRepresentation (the fields a query-clients caller sees).
type clientRep struct {
	ID       string `json:"id"`
	ClientID string `json:"clientId"`
	Enabled  bool   `json:"enabled"`
	Protocol string `json:"protocol"`
}

// listClients serves GET /clients: clientId matches exactly unless
// search=true, then as a case-insensitive substring.
func (s *Server) listClients(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	first, limit, ok := paging(w, q)
	if !ok {
		return
	}
	want, search := q.Get("clientId"), q.Get("search") == "true"
	s.mu.Lock()
	var found []clientRep
	for c, id := range s.clients {
		if want == "" || (!search && c == want) || (search && strings.Contains(strings.ToLower(c), strings.ToLower(want))) {
			found = append(found, clientRep{ID: id, ClientID: c, Enabled: true, Protocol: "openid-connect"})
		}
	}
	s.mu.Unlock()
	slices.SortFunc(found, func(a, b clientRep) int { return strings.Compare(a.ClientID, b.ClientID) })
	out := window(found, first, limit)
	if out == nil {
		out = []clientRep{}
	}
	writeJSON(w, http.StatusOK, out)
}

// paging reads first and max. Keycloak treats a missing or negative first
// as 0 and a missing max as its default page size.
func paging(w http.ResponseWriter, q url.Values) (first, limit int, ok bool) {
	first, limit = 0, defaultMaxResults
	for name, dst := range map[string]*int{"first": &first, "max": &limit} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid " + name})
			return 0, 0, false
		}
		*dst = n
	}
	return max(first, 0), limit, true
}

// window returns items[first:first+limit]; a negative limit means none.
func window[T any](items []T, first, limit int) []T {
	if first >= len(items) {
		return nil
	}
	items = items[first:]
	if limit >= 0 && limit < len(items) {
		items = items[:limit]
	}
	return items
}

// stableID makes a UUID-shaped id from a name, so that seeds need no ids and
// tests can predict them.
func stableID(kind, name string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + name))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
