package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/events"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

// The tests' DNS: receiver.example is public, intranet.example resolves to
// a private address, rebind.example to a public and a loopback one.
func subResolve(_ context.Context, host string) ([]netip.Addr, error) {
	switch host {
	case "receiver.example", "other.example":
		return []netip.Addr{netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("2001:4860::1")}, nil
	case "intranet.example":
		return []netip.Addr{netip.MustParseAddr("10.1.2.3")}, nil
	case "rebind.example":
		return []netip.Addr{netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("127.0.0.1")}, nil
	case "flaky.example":
		return nil, &net.DNSError{Err: "server misbehaving", Name: host, IsTemporary: true}
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// ensureRecorder is Deps.Events: it records what it was asked to deliver.
type ensureRecorder struct {
	mu    sync.Mutex
	calls []string // tenant + " " + subscription
}

func (e *ensureRecorder) EnsureDelivering(_ context.Context, tenantID, subscriptionID string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, tenantID+" "+subscriptionID)
	return nil
}

func (e *ensureRecorder) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.calls
	e.calls = nil
	return out
}

type subServer struct {
	h      http.Handler
	store  *store.Store
	events *ensureRecorder
}

func newSubServer(t *testing.T, d store.Dialect, allowPrivate bool) *subServer {
	t.Helper()
	st := storetest.Open(t, d)
	ev := &ensureRecorder{}
	deps := Deps{Store: st, Auth: polAuth{}, Log: slog.New(slog.DiscardHandler), ApproverRole: "approver",
		Events: ev, EventsAllowPrivate: allowPrivate, Resolve: subResolve}
	return &subServer{h: New(deps), store: st, events: ev}
}

// do sends a request; body "" sends none, anything else as JSON.
func (s *subServer) do(t *testing.T, method, target, token, body string) *httptest.ResponseRecorder {
	t.Helper()
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, r)
	return rec
}

// subJSON is a subscription as the API answers, every field it may carry.
type subJSON struct {
	ID                      string     `json:"id"`
	TenantID                string     `json:"tenantId"`
	URL                     string     `json:"url"`
	Events                  []string   `json:"events"`
	Description             string     `json:"description"`
	Enabled                 bool       `json:"enabled"`
	DisabledReason          *string    `json:"disabledReason"`
	CreatedBy               string     `json:"createdBy"`
	CreatedAt               time.Time  `json:"createdAt"`
	UpdatedAt               time.Time  `json:"updatedAt"`
	PreviousSecretExpiresAt *time.Time `json:"previousSecretExpiresAt"`
	Secret                  *string    `json:"secret"`
}

func decodeSub(t *testing.T, rec *httptest.ResponseRecorder) subJSON {
	t.Helper()
	var v subJSON
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("subscription %s: %v", rec.Body, err)
	}
	return v
}

func (s *subServer) create(t *testing.T, token, tenant, body string) subJSON {
	t.Helper()
	if body == "" {
		body = fmt.Sprintf(`{"tenantId":%q,"url":"https://receiver.example/hooks"}`, tenant)
	}
	rec := s.do(t, "POST", "/api/subscriptions", token, body)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create in %s: %d %s", tenant, rec.Code, rec.Body)
	}
	return decodeSub(t, rec)
}

func wantProblem(t *testing.T, rec *httptest.ResponseRecorder, status int, code string, fields ...string) {
	t.Helper()
	if rec.Code != status || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/problem+json") {
		t.Fatalf("want %d problem+json, got %d %s %s", status, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	p := decodeProblem(t, rec.Body.Bytes())
	if p.Code != code {
		t.Fatalf("want code %s, got %s (%s)", code, p.Code, p.Detail)
	}
	for _, f := range fields {
		if !slices.ContainsFunc(p.Errors, func(e FieldError) bool { return e.Field == f }) {
			t.Fatalf("want a field error on %s, got %+v", f, p.Errors)
		}
	}
}

// An approver creates a subscription and sees its secret once; reads never
// show it again.
func TestSubscriptionCreateShowsSecretOnce(t *testing.T) {
	eachPolicyDialect(t, func(t *testing.T, d store.Dialect) {
		s := newSubServer(t, d, false)
		rec := s.do(t, "POST", "/api/subscriptions", "approver",
			`{"tenantId":"/teams/support","url":"https://receiver.example/hooks?team=1","events":["approval.*","policy.updated"],"description":"Ticketing"}`)
		if rec.Code != http.StatusCreated {
			t.Fatalf("create: %d %s", rec.Code, rec.Body)
		}
		sub := decodeSub(t, rec)
		if rec.Header().Get("Location") != "/api/subscriptions/"+sub.ID || rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("headers %v", rec.Header())
		}
		if sub.Secret == nil {
			t.Fatal("the create response has no secret")
		}
		key, ok := strings.CutPrefix(*sub.Secret, "whsec_")
		raw, err := base64.StdEncoding.DecodeString(key)
		if !ok || err != nil || len(raw) < 24 || len(raw) > 32 {
			t.Fatalf("secret %q: want whsec_ and base64 of 24 to 32 bytes", *sub.Secret)
		}
		if sub.TenantID != polSupport || !sub.Enabled || sub.CreatedBy != "ceo-1" || sub.Description != "Ticketing" ||
			!slices.Equal(sub.Events, []string{"approval.*", "policy.updated"}) || sub.URL != "https://receiver.example/hooks?team=1" {
			t.Fatalf("created %+v", sub)
		}
		if got := s.events.take(); !slices.Equal(got, []string{polSupport + " " + sub.ID}) {
			t.Fatalf("EnsureDelivering calls %v", got)
		}
		got := decodeSub(t, s.do(t, "GET", "/api/subscriptions/"+sub.ID, "approver", ""))
		if got.Secret != nil || got.ID != sub.ID || got.URL != sub.URL {
			t.Fatalf("read back %+v: the secret is shown once", got)
		}
		rec = s.do(t, "GET", "/api/subscriptions?tenantId="+url.QueryEscape(polSupport), "approver", "")
		if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), "whsec_") || !strings.Contains(rec.Body.String(), sub.ID) {
			t.Fatalf("list: %d %s", rec.Code, rec.Body)
		}
		// Without events: every event, listed as [].
		all := s.create(t, "approver", polSupport, "")
		if all.Events == nil || len(all.Events) != 0 {
			t.Fatalf("default events %#v, want []", all.Events)
		}
	})
}

// Only approvers of the tenant manage its subscriptions; another tenant's
// subscription does not exist for the caller.
func TestSubscriptionAuthority(t *testing.T) {
	eachPolicyDialect(t, func(t *testing.T, d store.Dialect) {
		s := newSubServer(t, d, false)
		body := func(tenant string) string {
			return fmt.Sprintf(`{"tenantId":%q,"url":"https://receiver.example/hooks"}`, tenant)
		}
		wantProblem(t, s.do(t, "POST", "/api/subscriptions", "member", body(polSupport)), 403, "role_required")
		wantProblem(t, s.do(t, "POST", "/api/subscriptions", "lead", body(polSupport)), 403, "role_required")
		wantProblem(t, s.do(t, "POST", "/api/subscriptions", "outsider", body(polSupport)), 403, "tenant_forbidden")
		wantProblem(t, s.do(t, "GET", "/api/subscriptions?tenantId="+url.QueryEscape(polSupport), "member", ""), 403, "role_required")
		wantProblem(t, s.do(t, "GET", "/api/subscriptions?tenantId="+url.QueryEscape(polEngineering), "approver", ""), 403, "tenant_forbidden")
		support := s.create(t, "approver", polSupport, "")
		engineering := s.create(t, "lead", polEngineering, body(polEngineering))

		for _, r := range []struct{ method, path, body string }{
			{"GET", "", ""},
			{"PATCH", "", `{"enabled":false}`},
			{"DELETE", "", ""},
			{"POST", "/rotate-secret", ""},
			{"GET", "/deliveries", ""},
			{"POST", "/deliveries/" + store.NewID() + "/redeliver", ""},
		} {
			// Another tenant's: 404, as if it did not exist.
			wantProblem(t, s.do(t, r.method, "/api/subscriptions/"+engineering.ID+r.path, "approver", r.body), 404, "not_found")
			// A member without approver authority: 403.
			wantProblem(t, s.do(t, r.method, "/api/subscriptions/"+support.ID+r.path, "member", r.body), 403, "role_required")
			wantProblem(t, s.do(t, r.method, "/api/subscriptions/not-an-id"+r.path, "approver", r.body), 404, "not_found")
		}
		// Nothing changed.
		if got := decodeSub(t, s.do(t, "GET", "/api/subscriptions/"+engineering.ID, "lead", "")); !got.Enabled {
			t.Fatal("another tenant's approver changed the subscription")
		}
	})
}

// Every bad input is a problem+json naming the field; nothing is stored.
func TestSubscriptionValidation(t *testing.T) {
	s := newSubServer(t, store.SQLite, false)
	many := make([]string, 21)
	for i := range many {
		many[i] = fmt.Sprintf("%q", "approval.created")
	}
	create := func(fields string) string { return `{"tenantId":"/teams/support",` + fields + `}` }
	for _, c := range []struct {
		name, body, field string
	}{
		{"no url", create(`"events":[]`), "url"},
		{"empty url", create(`"url":""`), "url"},
		{"http", create(`"url":"http://receiver.example/hooks"`), "url"},
		{"ftp", create(`"url":"ftp://receiver.example/hooks"`), "url"},
		{"relative", create(`"url":"/hooks"`), "url"},
		{"no host", create(`"url":"https:///hooks"`), "url"},
		{"credentials", create(`"url":"https://user:pw@receiver.example/hooks"`), "url"},
		{"fragment", create(`"url":"https://receiver.example/hooks#x"`), "url"},
		{"space", create(`"url":"https://receiver.example/a b"`), "url"},
		{"bad port", create(`"url":"https://receiver.example:99999/hooks"`), "url"},
		{"too long", create(`"url":"https://receiver.example/` + strings.Repeat("a", 2048) + `"`), "url"},
		{"loopback", create(`"url":"https://127.0.0.1/hooks"`), "url"},
		{"loopback v6", create(`"url":"https://[::1]:8443/hooks"`), "url"},
		{"mapped loopback", create(`"url":"https://[::ffff:127.0.0.1]/hooks"`), "url"},
		{"private", create(`"url":"https://10.0.0.8/hooks"`), "url"},
		{"private 192", create(`"url":"https://192.168.1.1/hooks"`), "url"},
		{"link-local metadata", create(`"url":"https://169.254.169.254/latest"`), "url"},
		{"unspecified", create(`"url":"https://0.0.0.0/hooks"`), "url"},
		{"multicast", create(`"url":"https://224.0.0.1/hooks"`), "url"},
		{"carrier-grade NAT", create(`"url":"https://100.64.0.1/hooks"`), "url"},
		{"localhost", create(`"url":"https://localhost/hooks"`), "url"},
		{"a .localhost name", create(`"url":"https://app.localhost/hooks"`), "url"},
		{"short address", create(`"url":"https://127.1/hooks"`), "url"},
		{"decimal address", create(`"url":"https://2130706433/hooks"`), "url"},
		{"hex address", create(`"url":"https://0x7f.0x1/hooks"`), "url"},
		{"zoned link-local", create(`"url":"https://[fe80::1%25eth0]/hooks"`), "url"},
		{"NAT64 of a private address", create(`"url":"https://[64:ff9b::a00:1]/hooks"`), "url"},
		{"name resolving to a private address", create(`"url":"https://intranet.example/hooks"`), "url"},
		{"name resolving to loopback among others", create(`"url":"https://rebind.example/hooks"`), "url"},
		{"name that does not resolve", create(`"url":"https://nowhere.example/hooks"`), "url"},
		{"unknown event", create(`"url":"https://receiver.example/h","events":["approval.decided"]`), "events"},
		{"bad pattern", create(`"url":"https://receiver.example/h","events":["*.created"]`), "events"},
		{"unknown resource pattern", create(`"url":"https://receiver.example/h","events":["ticket.*"]`), "events"},
		{"events not a list", create(`"url":"https://receiver.example/h","events":"approval.*"`), "events"},
		{"too many patterns", create(`"url":"https://receiver.example/h","events":[` + strings.Join(many, ",") + `]`), "events"},
		{"twice", create(`"url":"https://receiver.example/h","events":["approval.created","approval.created"]`), "events"},
		{"description too long", create(`"url":"https://receiver.example/h","description":"` + strings.Repeat("é", 501) + `"`), "description"},
		{"description control", create(`"url":"https://receiver.example/h","description":"a\u0000b"`), "description"},
		{"unknown field", create(`"url":"https://receiver.example/h","secret":"whsec_x"`), "secret"},
		{"no tenant", `{"url":"https://receiver.example/h"}`, "tenantId"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantProblem(t, s.do(t, "POST", "/api/subscriptions", "approver", c.body), 400, "validation_failed", c.field)
		})
	}
	wantProblem(t, s.do(t, "POST", "/api/subscriptions", "approver", `{`), 400, "malformed_json")
	rec := s.do(t, "POST", "/api/subscriptions", "approver", create(`"url":"https://flaky.example/hooks"`))
	wantProblem(t, rec, 503, "unavailable")
	if rows, _, err := s.store.ListSubscriptions(context.Background(), store.ScopeOf(polSupport), store.SubscriptionQuery{TenantID: polSupport}); err != nil || len(rows) != 0 {
		t.Fatalf("refused creates stored %d subscriptions (%v)", len(rows), err)
	}

	sub := s.create(t, "approver", polSupport, "")
	for _, c := range []struct{ name, body, field string }{
		{"private url", `{"url":"https://10.0.0.8/"}`, "url"},
		{"http url", `{"url":"http://receiver.example/"}`, "url"},
		{"unknown event", `{"events":["nope"]}`, "events"},
		{"enabled not a bool", `{"enabled":"yes"}`, "enabled"},
		{"unknown field", `{"tenantId":"/teams/engineering"}`, "tenantId"},
	} {
		t.Run("patch "+c.name, func(t *testing.T) {
			wantProblem(t, s.do(t, "PATCH", "/api/subscriptions/"+sub.ID, "approver", c.body), 400, "validation_failed", c.field)
		})
	}
	for _, q := range []string{"status=done", "limit=0", "cursor=abc", "tenantId=x"} {
		wantProblem(t, s.do(t, "GET", "/api/subscriptions/"+sub.ID+"/deliveries?"+q, "approver", ""), 400, "validation_failed")
	}
	wantProblem(t, s.do(t, "POST", "/api/subscriptions/"+sub.ID+"/rotate-secret", "approver", `{"x":1}`), 400, "validation_failed", "x")
	wantProblem(t, s.do(t, "GET", "/api/subscriptions?tenantId="+url.QueryEscape(polSupport)+"&status=x", "approver", ""), 400, "validation_failed", "status")
}

// In dev (EVENTS_ALLOW_PRIVATE) a receiver on this machine is fine.
func TestSubscriptionAllowPrivate(t *testing.T) {
	s := newSubServer(t, store.SQLite, true)
	for _, u := range []string{"http://127.0.0.1:9000/hooks", "https://localhost/hooks", "http://10.0.0.8/", "https://intranet.example/hooks"} {
		sub := s.create(t, "approver", polSupport, fmt.Sprintf(`{"tenantId":"/teams/support","url":%q}`, u))
		if sub.URL != u {
			t.Fatalf("stored %s, want %s", sub.URL, u)
		}
	}
	wantProblem(t, s.do(t, "POST", "/api/subscriptions", "approver", `{"tenantId":"/teams/support","url":"ftp://127.0.0.1/"}`), 400, "validation_failed", "url")
}

func TestSubscriptionLimitPerTenant(t *testing.T) {
	s := newSubServer(t, store.SQLite, false)
	for range MaxSubscriptionsPerTenant {
		s.create(t, "approver", polSupport, "")
	}
	wantProblem(t, s.do(t, "POST", "/api/subscriptions", "approver", `{"tenantId":"/teams/support","url":"https://receiver.example/"}`), 409, "limit_reached")
	s.create(t, "lead", polEngineering, `{"tenantId":"/teams/engineering","url":"https://receiver.example/"}`)
	var (
		seen   = map[string]bool{}
		cursor = ""
	)
	for page := 0; ; page++ {
		target := "/api/subscriptions?limit=7&tenantId=" + url.QueryEscape(polSupport)
		if cursor != "" {
			target += "&cursor=" + url.QueryEscape(cursor)
		}
		rec := s.do(t, "GET", target, "approver", "")
		var list struct {
			Items      []subJSON `json:"items"`
			NextCursor *string   `json:"nextCursor"`
		}
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &list) != nil {
			t.Fatalf("page %d: %d %s", page, rec.Code, rec.Body)
		}
		for _, it := range list.Items {
			seen[it.ID] = true
		}
		if list.NextCursor == nil {
			break
		}
		cursor = *list.NextCursor
	}
	if len(seen) != MaxSubscriptionsPerTenant {
		t.Fatalf("paged through %d subscriptions, want %d", len(seen), MaxSubscriptionsPerTenant)
	}
}

func TestSubscriptionPatchRotateDelete(t *testing.T) {
	eachPolicyDialect(t, func(t *testing.T, d store.Dialect) {
		s := newSubServer(t, d, false)
		sub := s.create(t, "approver", polSupport, `{"tenantId":"/teams/support","url":"https://receiver.example/a","description":"x"}`)
		s.events.take()
		path := "/api/subscriptions/" + sub.ID

		off := decodeSub(t, s.do(t, "PATCH", path, "approver", `{"enabled":false}`))
		if off.Enabled || off.DisabledReason == nil || *off.DisabledReason != "user" || off.URL != sub.URL || off.Description != "x" {
			t.Fatalf("disabled %+v", off)
		}
		if got := s.events.take(); len(got) != 0 {
			t.Fatalf("disabling started deliveries: %v", got)
		}
		on := decodeSub(t, s.do(t, "PATCH", path, "approver",
			`{"enabled":true,"url":"https://other.example/b","events":["consultation.*"],"description":null}`))
		if !on.Enabled || on.DisabledReason != nil || on.URL != "https://other.example/b" || !slices.Equal(on.Events, []string{"consultation.*"}) ||
			on.Description != "x" || on.Secret != nil {
			t.Fatalf("enabled and changed %+v", on)
		}
		if got := s.events.take(); !slices.Equal(got, []string{polSupport + " " + sub.ID}) {
			t.Fatalf("enabling: EnsureDelivering calls %v", got)
		}
		if same := decodeSub(t, s.do(t, "PATCH", path, "approver", `{}`)); same.URL != on.URL || !same.Enabled {
			t.Fatalf("an empty patch changed %+v", same)
		}
		all := decodeSub(t, s.do(t, "PATCH", path, "approver", `{"events":[]}`))
		if len(all.Events) != 0 {
			t.Fatalf("events [] (all): %v", all.Events)
		}

		// Rotation: a new secret, shown once; the old one signs for 24 h.
		rec := s.do(t, "POST", path+"/rotate-secret", "approver", "")
		if rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("rotate: %d %s", rec.Code, rec.Body)
		}
		rotated := decodeSub(t, rec)
		if rotated.Secret == nil || *rotated.Secret == *sub.Secret || !strings.HasPrefix(*rotated.Secret, "whsec_") {
			t.Fatalf("rotated secret %v, was %s", rotated.Secret, *sub.Secret)
		}
		if e := rotated.PreviousSecretExpiresAt; e == nil || e.Sub(s.store.Now()) < 23*time.Hour || e.Sub(s.store.Now()) > 24*time.Hour {
			t.Fatalf("previousSecretExpiresAt %v, want in 24h", e)
		}
		stored, err := s.store.GetSubscription(context.Background(), store.ScopeOf(polSupport), sub.ID)
		if err != nil || stored.Secret != *rotated.Secret || stored.PreviousSecret == nil || *stored.PreviousSecret != *sub.Secret {
			t.Fatalf("stored after rotation: %+v %v", stored, err)
		}
		if got := decodeSub(t, s.do(t, "GET", path, "approver", "")); got.Secret != nil || got.PreviousSecretExpiresAt == nil {
			t.Fatalf("read after rotation %+v: no secret, the old one's expiry", got)
		}

		if rec := s.do(t, "DELETE", path, "approver", ""); rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
			t.Fatalf("delete: %d %s", rec.Code, rec.Body)
		}
		wantProblem(t, s.do(t, "GET", path, "approver", ""), 404, "not_found")
		wantProblem(t, s.do(t, "DELETE", path, "approver", ""), 404, "not_found")
	})
}

func TestSubscriptionDeliveriesAndRedeliver(t *testing.T) {
	eachPolicyDialect(t, func(t *testing.T, d store.Dialect) {
		s := newSubServer(t, d, false)
		ctx := context.Background()
		sub := s.create(t, "approver", polSupport, "")
		s.events.take()
		now := s.store.Now()
		a := &store.Approval{ID: store.NewID(), TenantID: polSupport, Title: "refund", Status: store.StatusPending, Priority: store.PriorityHigh,
			RequestedBy: "agent-1", Metadata: store.JSON("{}"), CreatedAt: now, UpdatedAt: now}
		if _, _, err := s.store.RecordApproval(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
		path := "/api/subscriptions/" + sub.ID + "/deliveries"
		var list struct {
			Items []struct {
				ID        string            `json:"id"`
				Status    string            `json:"status"`
				EventID   string            `json:"eventId"`
				EventType string            `json:"eventType"`
				Event     json.RawMessage   `json:"event"`
				Attempts  []json.RawMessage `json:"attempts"`
			} `json:"items"`
			NextCursor *string `json:"nextCursor"`
		}
		rec := s.do(t, "GET", path, "approver", "")
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &list) != nil || len(list.Items) != 1 {
			t.Fatalf("deliveries: %d %s", rec.Code, rec.Body)
		}
		got := list.Items[0]
		var ev struct {
			Type string `json:"type"`
			Data struct {
				ID       string `json:"id"`
				Sequence int    `json:"sequence"`
			} `json:"data"`
		}
		if json.Unmarshal(got.Event, &ev) != nil || got.Status != "pending" || got.EventType != "approval.created" || !strings.HasPrefix(got.EventID, "msg_") ||
			got.Attempts == nil || len(got.Attempts) != 0 || ev.Type != "approval.created" || ev.Data.ID != a.ID || ev.Data.Sequence != 1 {
			t.Fatalf("delivery %+v (event %s)", got, got.Event)
		}
		for status, n := range map[string]int{"pending": 1, "failed": 0, "delivered": 0} {
			rec := s.do(t, "GET", path+"?status="+status, "approver", "")
			if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &list) != nil || len(list.Items) != n {
				t.Fatalf("status %s: %d %s", status, rec.Code, rec.Body)
			}
		}

		rec = s.do(t, "POST", path+"/"+got.ID+"/redeliver", "approver", "")
		if rec.Code != http.StatusAccepted || !strings.Contains(rec.Body.String(), `"status":"pending"`) {
			t.Fatalf("redeliver: %d %s", rec.Code, rec.Body)
		}
		if calls := s.events.take(); !slices.Equal(calls, []string{polSupport + " " + sub.ID}) {
			t.Fatalf("redeliver: EnsureDelivering calls %v", calls)
		}
		wantProblem(t, s.do(t, "POST", path+"/"+store.NewID()+"/redeliver", "approver", ""), 404, "not_found")
		wantProblem(t, s.do(t, "POST", path+"/nope/redeliver", "approver", ""), 404, "not_found")
		wantProblem(t, s.do(t, "POST", path+"/"+got.ID+"/redeliver", "approver", `{"now":true}`), 400, "validation_failed", "now")
		// Through another subscription of the same tenant: not its delivery.
		other := s.create(t, "approver", polSupport, "")
		wantProblem(t, s.do(t, "POST", "/api/subscriptions/"+other.ID+"/deliveries/"+got.ID+"/redeliver", "approver", ""), 404, "not_found")
		// Disabled: nothing would send it.
		s.do(t, "PATCH", "/api/subscriptions/"+sub.ID, "approver", `{"enabled":false}`)
		wantProblem(t, s.do(t, "POST", path+"/"+got.ID+"/redeliver", "approver", ""), 409, "conflict")
	})
}

func TestPublicAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "203.0.113.10": true, "2001:4860::8888": true, "64:ff9b::808:808": true, "::ffff:8.8.8.8": true,
		"127.0.0.1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.0.1": false, "169.254.169.254": false,
		"0.0.0.0": false, "0.1.2.3": false, "100.64.1.1": false, "224.0.0.251": false, "255.255.255.255": false, "198.18.0.1": false,
		"::": false, "::1": false, "fe80::1": false, "fc00::1": false, "fd12::1": false, "ff02::1": false, "::ffff:10.0.0.1": false,
		"64:ff9b::7f00:1": false, "2001:db8::1": false,
	} {
		if got := publicAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("publicAddr(%s) = %v, want %v", addr, got, want)
		}
	}
}

// The URL check and the delivery client's connect-time check are one rule:
// a URL is accepted exactly when a delivery may connect to its address.
// Before they were one, IPv4-compatible (::10.0.0.1) and 6to4 addresses
// of internal hosts were accepted here, and site-local or IPv4-translated
// addresses a name was rebound to passed the connect-time check.
func TestSubscriptionURLCheckIsTheDeliveryRule(t *testing.T) {
	s := newSubServer(t, store.SQLite, false)
	for _, addr := range []string{"::7f00:1", "::a00:1", "2002:a00:1::1", "2002:7f00:1::1", "2001:0:4136:e378::1", "fec0::1", "::ffff:0:7f00:1", "100::1"} {
		t.Run(addr, func(t *testing.T) {
			body := fmt.Sprintf(`{"tenantId":"/teams/support","url":"https://[%s]/hooks"}`, addr)
			wantProblem(t, s.do(t, "POST", "/api/subscriptions", "approver", body), 400, "validation_failed", "url")
		})
	}
	for _, addr := range []string{
		"8.8.8.8", "::ffff:8.8.8.8", "64:ff9b::808:808", "2001:4860::8888", "::7f00:1", "::a00:1", "2002:a00:1::1",
		"2001:0:4136:e378::1", "fec0::1", "::ffff:0:7f00:1", "64:ff9b::7f00:1", "169.254.169.254", "fd00::1",
	} {
		a := netip.MustParseAddr(addr)
		if publicAddr(a) == events.Forbidden(a) {
			t.Errorf("%s: accepted here %v, reachable by a delivery %v", addr, publicAddr(a), !events.Forbidden(a))
		}
	}
}

// Who pointed the tenant's events where is on its audit trail: every
// create, change, rotation and delete of a subscription, by its approver,
// without either secret; nobody writes entries about subscriptions through
// POST /api/audit.
func TestSubscriptionChangesAreAudited(t *testing.T) {
	eachPolicyDialect(t, func(t *testing.T, d store.Dialect) {
		s := newSubServer(t, d, false)
		sub := s.create(t, "approver", polSupport, "")
		path := "/api/subscriptions/" + sub.ID
		decodeSub(t, s.do(t, "PATCH", path, "approver", `{"url":"https://other.example/b"}`))
		rotated := decodeSub(t, s.do(t, "POST", path+"/rotate-secret", "approver", ""))
		if rec := s.do(t, "DELETE", path, "approver", ""); rec.Code != http.StatusNoContent {
			t.Fatalf("delete: %d %s", rec.Code, rec.Body)
		}
		rows, err := s.store.ResourceAudit(context.Background(), store.ScopeOf(polSupport), "subscription", sub.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, r := range rows {
			actions = append(actions, r.Action)
			raw, _ := json.Marshal(r)
			if strings.Contains(string(raw), *sub.Secret) || strings.Contains(string(raw), *rotated.Secret) || strings.Contains(string(raw), "whsec_") {
				t.Fatalf("audit entry %s holds a secret: %s", r.Action, raw)
			}
			if r.UserID != "ceo-1" || r.TenantID != polSupport || r.Channel != store.ChannelAPI {
				t.Errorf("entry %s by %s in %s via %s", r.Action, r.UserID, r.TenantID, r.Channel)
			}
		}
		want := []string{"subscription.created", "subscription.updated", "subscription.secret_rotated", "subscription.deleted"}
		if !slices.Equal(actions, want) {
			t.Fatalf("audit trail of the subscription %v, want %v", actions, want)
		}
		if !strings.Contains(string(rows[1].OldValues), "receiver.example") || !strings.Contains(string(rows[1].NewValues), "other.example") {
			t.Errorf("the change's entry: old %s new %s", rows[1].OldValues, rows[1].NewValues)
		}
		for _, body := range []string{
			`{"tenantId":"/teams/support","action":"subscription.created","resource":"ticket","resourceId":"1"}`,
			`{"tenantId":"/teams/support","action":"ticket.updated","resource":"subscription","resourceId":"1"}`,
		} {
			if rec := s.do(t, "POST", "/api/audit", "approver", body); rec.Code != http.StatusBadRequest {
				t.Errorf("POST /api/audit %s: %d %s, want 400", body, rec.Code, rec.Body)
			}
		}
	})
}
