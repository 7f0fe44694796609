package keycloak_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/keycloak"
	"github.com/orchestrator-dev/orchestrator/internal/keycloak/keycloaktest"
)

// clock is a settable time source shared by the directory under test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var (
	alice = keycloaktest.User{
		Username: "alice", Email: "Alice@Example.com", EmailVerified: true,
		FirstName: "Alice", LastName: "Archer",
		Groups:      []string{"/teams/support", "/teams/engineering/approvers", "/teams/engineering"},
		RealmRoles:  []string{"default-roles-acme", "approver", "offline_access"},
		ClientRoles: map[string][]string{"orchestrator-api": {"approver", "viewer"}},
	}
	bob   = keycloaktest.User{Username: "bob", Email: "bob@example.com", EmailVerified: false}
	carol = keycloaktest.User{Username: "carol", Email: "shared@example.com", EmailVerified: true}
	chris = keycloaktest.User{Username: "chris", Email: "SHARED@example.com", EmailVerified: true}
	dave  = keycloaktest.User{Username: "dave", Email: "dave@example.com", EmailVerified: true, Disabled: true}
	erin  = keycloaktest.User{Username: "erin", Email: "erin@example.com", EmailVerified: true}
	// eve typed erin's address into her profile but could not verify it.
	eve = keycloaktest.User{Username: "eve", Email: "erin@example.com", EmailVerified: false}
)

func seed(extra ...keycloaktest.User) keycloaktest.Realm {
	return keycloaktest.Realm{
		Users:   append([]keycloaktest.User{alice, bob, carol, chris, dave, erin, eve}, extra...),
		Clients: []string{"no-roles-client"},
	}
}

// newDirectory builds a Directory against srv, deriving the admin URL from
// the issuer as production does.
func newDirectory(t *testing.T, srv *keycloaktest.Server, clk *clock, mod func(*keycloak.Config)) *keycloak.Directory {
	t.Helper()
	admin, err := keycloak.AdminURLFromIssuer(srv.IssuerURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg := keycloak.Config{
		AdminURL: admin, ClientID: srv.ClientID(), ClientSecret: srv.ClientSecret(),
		Now: clk.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	d, err := keycloak.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// adminRequests returns the admin API requests whose path ends in suffix.
func adminRequests(srv *keycloaktest.Server, suffix string) []keycloaktest.Request {
	var out []keycloaktest.Request
	for _, r := range srv.Requests() {
		if !r.Token && strings.HasSuffix(r.Path, suffix) {
			out = append(out, r)
		}
	}
	return out
}

func TestUser(t *testing.T) {
	srv := keycloaktest.Start(t, seed())
	d := newDirectory(t, srv, newClock(), nil)

	u, err := d.User(t.Context(), keycloaktest.UserID("alice"))
	if err != nil {
		t.Fatal(err)
	}
	want := keycloak.User{
		ID: keycloaktest.UserID("alice"), Username: "alice", Email: "alice@example.com", EmailVerified: true,
		Enabled: true, FirstName: "Alice", LastName: "Archer",
	}
	if *u != want {
		t.Fatalf("User = %+v, want %+v", *u, want)
	}
	if got := u.DisplayName(); got != "Alice Archer" {
		t.Fatalf("DisplayName = %q", got)
	}
}

func TestDisplayNameFallsBack(t *testing.T) {
	for _, tc := range []struct {
		u    keycloak.User
		want string
	}{
		{keycloak.User{ID: "1", Username: "al", FirstName: "Al"}, "Al"},
		{keycloak.User{ID: "1", Username: "al", LastName: " Archer "}, "Archer"},
		{keycloak.User{ID: "1", Username: "al", FirstName: " "}, "al"},
		{keycloak.User{ID: "1"}, "1"},
	} {
		if got := tc.u.DisplayName(); got != tc.want {
			t.Errorf("%+v: DisplayName = %q, want %q", tc.u, got, tc.want)
		}
	}
}

func TestUnknownUserIsNotFound(t *testing.T) {
	srv := keycloaktest.Start(t, seed())
	d := newDirectory(t, srv, newClock(), nil)
	ctx := t.Context()

	_, err := d.User(ctx, "00000000-0000-0000-0000-000000000000")
	if !errors.Is(err, keycloak.ErrNotFound) || errors.Is(err, keycloak.ErrUnavailable) {
		t.Fatalf("User(unknown) = %v, want ErrNotFound and not ErrUnavailable", err)
	}
	var apiErr *keycloak.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Message != "User not found" {
		t.Fatalf("want an *APIError 404 carrying Keycloak's message, got %#v", err)
	}
	for name, call := range map[string]func() error{
		"Groups":      func() error { _, err := d.Groups(ctx, "nobody"); return err },
		"RealmRoles":  func() error { _, err := d.RealmRoles(ctx, "nobody"); return err },
		"ClientRoles": func() error { _, err := d.ClientRoles(ctx, "nobody", "orchestrator-api"); return err },
	} {
		if err := call(); !errors.Is(err, keycloak.ErrNotFound) {
			t.Errorf("%s(unknown) = %v, want ErrNotFound", name, err)
		}
	}
}

// Ids that would reach another resource are refused before anything is sent.
func TestSubjectsThatLeaveTheirSegmentAreRefused(t *testing.T) {
	srv := keycloaktest.Start(t, seed())
	d := newDirectory(t, srv, newClock(), nil)
	for _, s := range []string{"", ".", "..", "../clients", "a/b", "a?max=1", "a#b", "a%2Fb", "a\nb", strings.Repeat("a", 256)} {
		if _, err := d.User(t.Context(), s); !errors.Is(err, keycloak.ErrInvalidArgument) {
			t.Errorf("User(%q) = %v, want ErrInvalidArgument", s, err)
		}
	}
	if _, err := d.ClientRoles(t.Context(), keycloaktest.UserID("alice"), "../x"); !errors.Is(err, keycloak.ErrInvalidArgument) {
		t.Errorf("ClientRoles(client ../x) = %v, want ErrInvalidArgument", err)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Fatalf("%d requests were sent, want none", n)
	}
	// Federated users have ids like f:<provider>:<id>; those must pass.
	if _, err := d.User(t.Context(), "f:ldap:alice"); !errors.Is(err, keycloak.ErrNotFound) {
		t.Fatalf("User(f:ldap:alice) = %v, want a lookup answered ErrNotFound", err)
	}
}

func TestTokenIsCachedUntilShortlyBeforeExpiry(t *testing.T) {
	srv := keycloaktest.Start(t, seed()) // tokens live 5 minutes
	clk := newClock()
	d := newDirectory(t, srv, clk, nil) // no answer cache: every lookup is sent
	ctx := t.Context()

	for _, name := range []string{"alice", "bob", "carol", "alice"} {
		if _, err := d.User(ctx, keycloaktest.UserID(name)); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.TokenRequests(); n != 1 {
		t.Fatalf("token requests after 4 lookups = %d, want 1", n)
	}
	if n := srv.AdminRequests(); n != 4 {
		t.Fatalf("admin requests = %d, want 4 (no answer cache configured)", n)
	}

	// 5m lifetime, replaced 30s early: still good at 4m29s ...
	clk.Advance(4*time.Minute + 29*time.Second)
	if _, err := d.User(ctx, keycloaktest.UserID("alice")); err != nil {
		t.Fatal(err)
	}
	if n := srv.TokenRequests(); n != 1 {
		t.Fatalf("token requests at 4m29s = %d, want 1", n)
	}
	// ... and replaced at 4m31s.
	clk.Advance(2 * time.Second)
	if _, err := d.User(ctx, keycloaktest.UserID("alice")); err != nil {
		t.Fatal(err)
	}
	if n := srv.TokenRequests(); n != 2 {
		t.Fatalf("token requests at 4m31s = %d, want 2", n)
	}
}

// gatedTransport holds token requests until the gate opens.
type gatedTransport struct {
	gate    chan struct{}
	started chan struct{}
	once    sync.Once
}

func (g *gatedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/token") {
		g.once.Do(func() { close(g.started) })
		<-g.gate
	}
	return http.DefaultTransport.RoundTrip(r)
}

// Callers that queue behind a token request use its token rather than each
// requesting another.
func TestConcurrentCallersShareOneToken(t *testing.T) {
	srv := keycloaktest.Start(t, seed())
	gt := &gatedTransport{gate: make(chan struct{}), started: make(chan struct{})}
	d := newDirectory(t, srv, newClock(), func(c *keycloak.Config) { c.HTTPClient = &http.Client{Transport: gt} })
	names := []string{"alice", "bob", "carol", "chris", "dave", "erin", "eve"}
	var wg sync.WaitGroup
	errs := make(chan error, len(names))
	lookup := func(name string) {
		_, err := d.User(t.Context(), keycloaktest.UserID(name))
		errs <- err
	}
	wg.Go(func() { lookup(names[0]) })
	<-gt.started // the first token request is under way
	for _, name := range names[1:] {
		wg.Go(func() { lookup(name) })
	}
	// Let the others queue for the token; the count below holds however
	// many of them got there in time, so this sleep cannot make it flaky.
	time.Sleep(50 * time.Millisecond)
	close(gt.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.TokenRequests(); n != 1 {
		t.Fatalf("token requests = %d, want 1", n)
	}
}

func TestRefusedTokenIsReplacedOnce(t *testing.T) {
	srv := keycloaktest.Start(t, seed())
	d := newDirectory(t, srv, newClock(), nil)
	ctx := t.Context()
	if _, err := d.User(ctx, keycloaktest.UserID("alice")); err != nil {
		t.Fatal(err)
	}
	srv.RevokeTokens() // as after a Keycloak restart with new keys

	if _, err := d.User(ctx, keycloaktest.UserID("alice")); err != nil {
		t.Fatalf("lookup after revocation = %v, want it to succeed with a new token", err)
	}
	if n := srv.TokenRequests(); n != 2 {
		t.Fatalf("token requests = %d, want 2", n)
	}
	var statuses []int
	for _, r := range adminRequests(srv, "/users/"+keycloaktest.UserID("alice")) {
		statuses = append(statuses, r.Status)
	}
	if want := []int{200, 401, 200}; !slices.Equal(statuses, want) {
		t.Fatalf("admin statuses = %v, want %v", statuses, want)
	}
}

// A token refused even when fresh is a configuration fault: one retry, then
// a permanent error, never a loop of token requests.
func TestFreshTokenRefusedIsPermanent(t *testing.T) {
	srv := keycloaktest.Start(t, seed())
	d := newDirectory(t, srv, newClock(), nil)
	srv.FailAdmin(2, http.StatusUnauthorized)

	_, err := d.User(t.Context(), keycloaktest.UserID("alice"))
	var apiErr *keycloak.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
		t.Fatalf("err = %v, want *APIError 401", err)
	}
	if errors.Is(err, keycloak.ErrUnavailable) || errors.Is(err, keycloak.ErrNotFound) {
		t.Fatalf("a refused fresh token must be neither transient nor not-found: %v", err)
	}
	if tok, adm := srv.TokenRequests(), srv.AdminRequests(); tok != 2 || adm != 2 {
		t.Fatalf("token/admin requests = %d/%d, want 2/2", tok, adm)
	}
}

func TestGroupsArePagedUntilExhausted(t *testing.T) {
	var many []string
	for i := range 250 {
		many = append(many, fmt.Sprintf("/tenants/t%03d", i))
	}
	srv := keycloaktest.Start(t, seed(keycloaktest.User{Username: "many", Groups: many}))
	d := newDirectory(t, srv, newClock(), nil)

	got, err := d.Groups(t.Context(), keycloaktest.UserID("many"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, many) {
		t.Fatalf("Groups returned %d paths (first %q), want the 250 seeded in order", len(got), got[:min(3, len(got))])
	}
	reqs := adminRequests(srv, "/groups")
	var firsts []string
	for _, r := range reqs {
		firsts = append(firsts, r.Query.Get("first"))
		if r.Query.Get("max") != "100" || r.Query.Get("briefRepresentation") != "true" {
			t.Errorf("group page query = %v, want max=100 and briefRepresentation=true", r.Query)
		}
	}
	if want := []string{"0", "100", "200"}; !slices.Equal(firsts, want) {
		t.Fatalf("pages requested with first = %v, want %v", firsts, want)
	}

	// Paths come back sorted and whole, subgroups as their own paths.
	got, err = d.Groups(t.Context(), keycloaktest.UserID("alice"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/teams/engineering", "/teams/engineering/approvers", "/teams/support"}; !slices.Equal(got, want) {
		t.Fatalf("Groups(alice) = %v, want %v", got, want)
	}
}

func TestGroupsOverTheLimitFail(t *testing.T) {
	groups := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("/g/%03d", i))
		}
		return out
	}
	srv := keycloaktest.Start(t, seed(
		keycloaktest.User{Username: "two-hundred", Groups: groups(200)},
		keycloaktest.User{Username: "one-sixty", Groups: groups(160)},
	))
	limited := func(n int) *keycloak.Directory {
		return newDirectory(t, srv, newClock(), func(c *keycloak.Config) { c.MaxGroups = n })
	}

	// Exactly at the limit is fine: the empty third page ends the listing.
	if got, err := limited(200).Groups(t.Context(), keycloaktest.UserID("two-hundred")); err != nil || len(got) != 200 {
		t.Fatalf("Groups at the limit = %d paths, %v; want 200, nil", len(got), err)
	}
	// Over it is refused rather than truncated, whether the excess fills a
	// page or sits in a short last one.
	for _, tc := range []struct {
		user  string
		limit int
	}{{"two-hundred", 199}, {"one-sixty", 150}} {
		if got, err := limited(tc.limit).Groups(t.Context(), keycloaktest.UserID(tc.user)); !errors.Is(err, keycloak.ErrLimitExceeded) {
			t.Errorf("%s with a limit of %d: %d paths, %v; want ErrLimitExceeded", tc.user, tc.limit, len(got), err)
		}
	}
}

func TestRoles(t *testing.T) {
	srv := keycloaktest.Start(t, seed())
	d := newDirectory(t, srv, newClock(), func(c *keycloak.Config) { c.CacheTTL = time.Minute })
	ctx := t.Context()

	realm, err := d.RealmRoles(ctx, keycloaktest.UserID("alice"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"approver", "default-roles-acme", "offline_access"}; !slices.Equal(realm, want) {
		t.Fatalf("RealmRoles = %v, want %v", realm, want)
	}
	client, err := d.ClientRoles(ctx, keycloaktest.UserID("alice"), "orchestrator-api")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"approver", "viewer"}; !slices.Equal(client, want) {
		t.Fatalf("ClientRoles = %v, want %v", client, want)
	}
	if got, err := d.ClientRoles(ctx, keycloaktest.UserID("bob"), "orchestrator-api"); err != nil || len(got) != 0 {
		t.Fatalf("ClientRoles(bob) = %v, %v; want none", got, err)
	}
	if got, err := d.ClientRoles(ctx, keycloaktest.UserID("alice"), "no-roles-client"); err != nil || len(got) != 0 {
		t.Fatalf("ClientRoles(no-roles-client) = %v, %v; want none", got, err)
	}
	// The client's internal id is looked up once, not per user.
	if n := len(adminRequests(srv, "/clients")); n != 2 {
		t.Fatalf("client lookups = %d, want 2 (one per client id)", n)
	}
	if r := adminRequests(srv, "/clients")[0]; r.Query.Get("clientId") != "orchestrator-api" {
		t.Fatalf("client lookup query = %v", r.Query)
	}

	if _, err := d.ClientRoles(ctx, keycloaktest.UserID("alice"), "no-such-client"); !errors.Is(err, keycloak.ErrNotFound) {
		t.Fatalf("ClientRoles(unknown client) = %v, want ErrNotFound", err)
	}
	// A prefix of a client id is not that client.
	if _, err := d.ClientRoles(ctx, keycloaktest.UserID("alice"), "orchestrator"); !errors.Is(err, keycloak.ErrNotFound) {
		t.Fatalf("ClientRoles(prefix) = %v, want ErrNotFound", err)
	}
}

// Callers may modify what they get without changing later answers.
func TestAnswersAreCopies(t *testing.T) {
	srv := keycloaktest.Start(t, seed())
	d := newDirectory(t, srv, newClock(), func(c *keycloak.Config) { c.CacheTTL = time.Minute })
	ctx := t.Context()
	g, _ := d.Groups(ctx, keycloaktest.UserID("alice"))
	g[0] = "/tampered"
	u, _ := d.User(ctx, keycloaktest.UserID("alice"))
	u.Enabled = false
	if g, _ := d.Groups(ctx, keycloaktest.UserID("alice")); g[0] != "/teams/engineering" {
		t.Fatalf("cached groups changed through a returned slice: %v", g)
	}
	if u, _ := d.User(ctx, keycloaktest.UserID("alice")); !u.Enabled {
		t.Fatal("cached user changed through a returned pointer")
	}
}

func TestUserByVerifiedEmail(t *testing.T) {
	srv := keycloaktest.Start(t, seed())
	d := newDirectory(t, srv, newClock(), nil)
	for _, tc := range []struct {
		email string
		want  string // username; "" when an error is wanted
		err   error
	}{
		{"alice@example.com", "alice", nil},
		{"  ALICE@EXAMPLE.COM ", "alice", nil},
		{"bob@example.com", "", keycloak.ErrNotFound},        // not verified
		{"dave@example.com", "", keycloak.ErrNotFound},       // disabled
		{"shared@example.com", "", keycloak.ErrAmbiguous},    // two verified owners
		{"erin@example.com", "erin", nil},                    // eve's unverified copy does not count
		{"nobody@example.com", "", keycloak.ErrNotFound},     // no user
		{"alice@example.co", "", keycloak.ErrNotFound},       // exact, not a substring
		{"not-an-email", "", keycloak.ErrInvalidArgument},    // refused before sending
		{"a b@example.com", "", keycloak.ErrInvalidArgument}, // likewise
	} {
		u, err := d.UserByVerifiedEmail(t.Context(), tc.email)
		switch {
		case tc.err != nil && !errors.Is(err, tc.err):
			t.Errorf("%q: err = %v, want %v", tc.email, err, tc.err)
		case tc.err == nil && (err != nil || u.Username != tc.want):
			t.Errorf("%q: got %+v, %v; want %s", tc.email, u, err, tc.want)
		}
	}
	for _, r := range adminRequests(srv, "/users") {
		if r.Query.Get("exact") != "true" || r.Query.Get("email") == "" {
			t.Errorf("email lookup sent %v, want email=... and exact=true", r.Query)
		}
	}
}

func TestManyUsersSharingAnEmailFail(t *testing.T) {
	var extra []keycloaktest.User
	for i := range 101 {
		extra = append(extra, keycloaktest.User{Username: fmt.Sprintf("dup%03d", i), Email: "dup@example.com"})
	}
	srv := keycloaktest.Start(t, seed(extra...))
	d := newDirectory(t, srv, newClock(), nil)
	if _, err := d.UserByVerifiedEmail(t.Context(), "dup@example.com"); !errors.Is(err, keycloak.ErrLimitExceeded) {
		t.Fatalf("err = %v, want ErrLimitExceeded", err)
	}
}

func TestCacheHonoursTTL(t *testing.T) {
	srv := keycloaktest.Start(t, seed())
	clk := newClock()
	d := newDirectory(t, srv, clk, func(c *keycloak.Config) { c.CacheTTL = time.Minute })
	ctx := t.Context()
	id := keycloaktest.UserID("alice")

	for range 5 {
		if _, err := d.User(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Groups(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.AdminRequests(); n != 2 {
		t.Fatalf("admin requests for 5 bursts = %d, want 2", n)
	}

	// A change in Keycloak shows once the TTL has passed, not before.
	changed := alice
	changed.FirstName = "Alicia"
	srv.PutUser(changed)
	clk.Advance(59 * time.Second)
	if u, _ := d.User(ctx, id); u.FirstName != "Alice" {
		t.Fatalf("at 59s FirstName = %q, want the cached Alice", u.FirstName)
	}
	clk.Advance(2 * time.Second)
	if u, _ := d.User(ctx, id); u.FirstName != "Alicia" {
		t.Fatalf("at 61s FirstName = %q, want Alicia", u.FirstName)
	}
	if n := srv.AdminRequests(); n != 3 {
		t.Fatalf("admin requests = %d, want 3", n)
	}

	// Not-found answers are kept too ...
	for range 3 {
		if _, err := d.User(ctx, "gone"); !errors.Is(err, keycloak.ErrNotFound) {
			t.Fatal(err)
		}
	}
	if n := len(adminRequests(srv, "/users/gone")); n != 1 {
		t.Fatalf("lookups of an unknown user = %d, want 1", n)
	}
	// ... failures are not.
	srv.FailAdmin(1, http.StatusServiceUnavailable)
	if _, err := d.RealmRoles(ctx, id); !errors.Is(err, keycloak.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if _, err := d.RealmRoles(ctx, id); err != nil {
		t.Fatalf("lookup after the outage = %v, want success (the failure must not be cached)", err)
	}
}

func TestCacheIsBounded(t *testing.T) {
	srv := keycloaktest.Start(t, seed())
	clk := newClock()
	d := newDirectory(t, srv, clk, func(c *keycloak.Config) { c.CacheTTL = time.Hour; c.CacheSize = 2 })
	ctx := t.Context()
	for _, name := range []string{"alice", "bob", "carol"} {
		if _, err := d.User(ctx, keycloaktest.UserID(name)); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second) // orders the entries' expiry
	}
	before := srv.AdminRequests()
	_, _ = d.User(ctx, keycloaktest.UserID("carol")) // newest: still cached
	_, _ = d.User(ctx, keycloaktest.UserID("bob"))   // kept
	if n := srv.AdminRequests() - before; n != 0 {
		t.Fatalf("cached users cost %d requests, want 0", n)
	}
	_, _ = d.User(ctx, keycloaktest.UserID("alice")) // the oldest was evicted
	if n := srv.AdminRequests() - before; n != 1 {
		t.Fatalf("evicted user cost %d requests, want 1", n)
	}
}

func TestTransientAndPermanentFailures(t *testing.T) {
	id := keycloaktest.UserID("alice")
	for _, tc := range []struct {
		name      string
		realm     func(*keycloaktest.Realm)
		setup     func(*keycloaktest.Server)
		secret    string
		transient bool
		check     func(t *testing.T, err error)
	}{
		{name: "503", setup: func(s *keycloaktest.Server) { s.FailAdmin(1, 503) }, transient: true},
		{name: "500", setup: func(s *keycloaktest.Server) { s.FailAdmin(1, 500) }, transient: true},
		{name: "429", setup: func(s *keycloaktest.Server) { s.FailAdmin(1, 429) }, transient: true},
		{name: "token endpoint 502", setup: func(s *keycloaktest.Server) { s.FailToken(1, 502) }, transient: true,
			check: func(t *testing.T, err error) {
				var te *keycloak.TokenError
				if !errors.As(err, &te) || te.StatusCode != 502 {
					t.Errorf("want *TokenError 502, got %v", err)
				}
			}},
		{name: "unreachable", setup: func(s *keycloaktest.Server) { s.Close() }, transient: true},
		{name: "wrong secret", secret: "wrong", transient: false,
			check: func(t *testing.T, err error) {
				var te *keycloak.TokenError
				if !errors.As(err, &te) || te.StatusCode != 401 || te.Code != "unauthorized_client" {
					t.Errorf("want *TokenError 401 unauthorized_client, got %v", err)
				}
				if strings.Contains(err.Error(), "wrong") {
					t.Errorf("error shows the secret: %v", err)
				}
			}},
		{name: "missing role", realm: func(r *keycloaktest.Realm) { r.ServiceAccountRoles = []string{"query-groups"} }, transient: false,
			check: func(t *testing.T, err error) {
				var apiErr *keycloak.APIError
				if !errors.As(err, &apiErr) || apiErr.StatusCode != 403 {
					t.Errorf("want *APIError 403, got %v", err)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			realm := seed()
			if tc.realm != nil {
				tc.realm(&realm)
			}
			srv := keycloaktest.Start(t, realm)
			if tc.setup != nil {
				tc.setup(srv)
			}
			d := newDirectory(t, srv, newClock(), func(c *keycloak.Config) {
				if tc.secret != "" {
					c.ClientSecret = tc.secret
				}
			})
			_, err := d.User(t.Context(), id)
			if err == nil {
				t.Fatal("want an error")
			}
			if got := errors.Is(err, keycloak.ErrUnavailable); got != tc.transient {
				t.Fatalf("errors.Is(%v, ErrUnavailable) = %v, want %v", err, got, tc.transient)
			}
			if errors.Is(err, keycloak.ErrNotFound) {
				t.Fatalf("a failure must not read as not-found: %v", err)
			}
			if tc.check != nil {
				tc.check(t, err)
			}
		})
	}
}

// The caller giving up is not Keycloak being unavailable.
func TestCanceledContextIsNotTransient(t *testing.T) {
	srv := keycloaktest.Start(t, seed())
	d := newDirectory(t, srv, newClock(), nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := d.User(ctx, keycloaktest.UserID("alice"))
	if !errors.Is(err, context.Canceled) || errors.Is(err, keycloak.ErrUnavailable) {
		t.Fatalf("err = %v, want context.Canceled and not ErrUnavailable", err)
	}
}

// An admin URL answering for someone else, or redirecting, is refused: the
// bearer token is not sent on, and no answer is taken for the wrong subject.
func TestForeignAnswersAreRefused(t *testing.T) {
	srv := keycloaktest.Start(t, seed())
	var redirected bool
	odd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/users/moved"):
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		case r.URL.Path == "/elsewhere":
			redirected = true
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"id":"someone-else","username":"mallory","enabled":true}`))
		}
	}))
	t.Cleanup(odd.Close)
	d := newDirectory(t, srv, newClock(), func(c *keycloak.Config) {
		c.AdminURL = odd.URL + "/admin/realms/acme"
		c.TokenURL = srv.TokenURL()
	})

	if u, err := d.User(t.Context(), "asked-for"); err == nil {
		t.Fatalf("User = %+v, want an error for an answer about another user", u)
	}
	_, err := d.User(t.Context(), "moved")
	var apiErr *keycloak.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusFound || redirected {
		t.Fatalf("err = %v (redirect followed: %v), want *APIError 302 and no redirect", err, redirected)
	}
}

func TestAdminURLFromIssuer(t *testing.T) {
	for _, tc := range []struct{ issuer, want string }{
		{"https://sso.example.com/realms/acme", "https://sso.example.com/admin/realms/acme"},
		{"https://sso.example.com/realms/acme/", "https://sso.example.com/admin/realms/acme"},
		{"https://sso.example.com/auth/realms/acme", "https://sso.example.com/auth/admin/realms/acme"},
		{"http://keycloak:8080/realms/my%20realm", "http://keycloak:8080/admin/realms/my%20realm"},
	} {
		got, err := keycloak.AdminURLFromIssuer(tc.issuer)
		if err != nil || got != tc.want {
			t.Errorf("AdminURLFromIssuer(%q) = %q, %v; want %q", tc.issuer, got, err, tc.want)
		}
	}
	for _, bad := range []string{
		"", "sso.example.com/realms/acme", "ftp://sso.example.com/realms/acme", "https://sso.example.com/",
		"https://sso.example.com/realms/", "https://sso.example.com/realms/acme/account",
		"https://user:pw@sso.example.com/realms/acme", "https://sso.example.com/realms/acme?x=1",
	} {
		if got, err := keycloak.AdminURLFromIssuer(bad); !errors.Is(err, keycloak.ErrInvalidArgument) {
			t.Errorf("AdminURLFromIssuer(%q) = %q, %v; want ErrInvalidArgument", bad, got, err)
		}
	}
}

// A split hostname: the admin base names the internal host, and the token
// endpoint follows it without a setting of its own.
func TestTokenURLFollowsTheAdminURL(t *testing.T) {
	srv := keycloaktest.Start(t, seed())
	d, err := keycloak.New(keycloak.Config{
		AdminURL: srv.AdminURL(), ClientID: srv.ClientID(), ClientSecret: srv.ClientSecret(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if srv.TokenRequests() != 1 {
		t.Fatalf("token requests = %d, want 1 at the derived token URL", srv.TokenRequests())
	}
}

func TestCheckFindsAWrongRealm(t *testing.T) {
	srv := keycloaktest.Start(t, seed())
	d := newDirectory(t, srv, newClock(), func(c *keycloak.Config) {
		c.AdminURL = srv.URL() + "/admin/realms/other"
		c.TokenURL = srv.TokenURL()
	})
	if err := d.Check(t.Context()); err == nil {
		t.Fatal("Check against an unknown realm succeeded")
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	good := keycloak.Config{AdminURL: "https://sso.example.com/admin/realms/acme", ClientID: "id", ClientSecret: "secret"}
	if _, err := keycloak.New(good); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*keycloak.Config){
		"no secret":         func(c *keycloak.Config) { c.ClientSecret = "" },
		"no client id":      func(c *keycloak.Config) { c.ClientID = "" },
		"issuer as admin":   func(c *keycloak.Config) { c.AdminURL = "https://sso.example.com/realms/acme" },
		"relative admin":    func(c *keycloak.Config) { c.AdminURL = "/admin/realms/acme" },
		"bad token URL":     func(c *keycloak.Config) { c.TokenURL = "token" },
		"negative TTL":      func(c *keycloak.Config) { c.CacheTTL = -time.Second },
		"negative MaxGroup": func(c *keycloak.Config) { c.MaxGroups = -1 },
	} {
		cfg := good
		mod(&cfg)
		if _, err := keycloak.New(cfg); !errors.Is(err, keycloak.ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want ErrInvalidArgument", name, err)
		}
	}
	if s := fmt.Sprintf("%v %+v %#v", good, good, good); strings.Contains(s, "secret") {
		t.Fatalf("Config printing shows the secret: %s", s)
	}
}

func TestValidateAdminURL(t *testing.T) {
	for _, ok := range []string{"https://sso.example.com/admin/realms/acme", "http://keycloak:8080/auth/admin/realms/acme/"} {
		if err := keycloak.ValidateAdminURL(ok); err != nil {
			t.Errorf("ValidateAdminURL(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "https://sso.example.com/realms/acme", "https://sso.example.com/admin/realms/", "keycloak/admin/realms/acme", "https://sso.example.com/admin/realms/acme?x=1"} {
		if err := keycloak.ValidateAdminURL(bad); !errors.Is(err, keycloak.ErrInvalidArgument) {
			t.Errorf("ValidateAdminURL(%q) = %v, want ErrInvalidArgument", bad, err)
		}
	}
}
