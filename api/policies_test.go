package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/auth"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

const (
	polSupport     = "/teams/support"
	polEngineering = "/teams/engineering"
)

// polAuth: "member" belongs to support without approver authority,
// "approver" approves there (the role), "lead" approves in engineering only
// (its approvers subgroup) and belongs to support too, "outsider" belongs to
// neither.
type polAuth struct{}

func (polAuth) Verify(_ context.Context, raw string) (*auth.Principal, error) {
	switch raw {
	case "member":
		return &auth.Principal{Subject: "agent-1", Name: "Alex", Groups: []string{polSupport}}, nil
	case "approver":
		return &auth.Principal{Subject: "ceo-1", Name: "Casey", Groups: []string{polSupport}, Roles: []string{"approver"}}, nil
	case "lead":
		return &auth.Principal{Subject: "lead-1", Name: "Lee", Groups: []string{polSupport, polEngineering + "/approvers"}}, nil
	case "outsider":
		return &auth.Principal{Subject: "x-1", Name: "Xe", Groups: []string{"/teams/other"}}, nil
	}
	return nil, &auth.Error{Reason: "unknown token"}
}

func (polAuth) Ready(context.Context) error { return nil }

// polDefault is the configured default the tests run with.
var polDefault = store.Policy{DefaultTTL: 48 * time.Hour, MaxTTL: 480 * time.Hour, Reminders: []time.Duration{2 * time.Hour}}

type polServer struct {
	h     http.Handler
	s     *Server
	store *store.Store
}

func newPolServer(t *testing.T, d store.Dialect, def store.Policy) *polServer {
	t.Helper()
	st := storetest.Open(t, d)
	deps := Deps{Store: st, Auth: polAuth{}, Log: slog.New(slog.DiscardHandler), ApproverRole: "approver", DefaultPolicy: def}
	return &polServer{h: New(deps), s: &Server{d: deps}, store: st}
}

func (p *polServer) do(t *testing.T, method, tenant, token, body string) (int, []byte) {
	t.Helper()
	target := "/api/policies"
	if tenant != "" {
		target += "?tenantId=" + url.QueryEscape(tenant)
	}
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	p.h.ServeHTTP(rec, r)
	return rec.Code, rec.Body.Bytes()
}

func decodePolicy(t *testing.T, b []byte) store.PolicyView {
	t.Helper()
	var v store.PolicyView
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("policy %s: %v", b, err)
	}
	return v
}

func decodeProblem(t *testing.T, b []byte) Problem {
	t.Helper()
	var p Problem
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("problem %s: %v", b, err)
	}
	return p
}

func eachPolicyDialect(t *testing.T, fn func(t *testing.T, d store.Dialect)) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { fn(t, d) })
	}
}

func TestGetPolicyDefault(t *testing.T) {
	eachPolicyDialect(t, func(t *testing.T, d store.Dialect) {
		p := newPolServer(t, d, polDefault)
		code, body := p.do(t, "GET", polSupport, "member", "")
		if code != http.StatusOK {
			t.Fatalf("member GET: %d %s", code, body)
		}
		v := decodePolicy(t, body)
		if v.Source != "default" || v.TenantID != polSupport || v.DefaultTTL != "48h" || v.MaxTTL != "480h" ||
			!slices.Equal(v.Reminders, []string{"2h"}) || v.UpdatedAt != nil || v.UpdatedBy != "" {
			t.Fatalf("default policy: %+v", v)
		}
		// Without a configured default, the built-in one.
		bare := newPolServer(t, d, store.Policy{})
		code, body = bare.do(t, "GET", polSupport, "member", "")
		if v := decodePolicy(t, body); code != http.StatusOK || v.DefaultTTL != "72h" || v.MaxTTL != "720h" || v.Reminders == nil || len(v.Reminders) != 0 {
			t.Fatalf("built-in default: %d %+v", code, v)
		}
	})
}

func TestGetPolicyRefusals(t *testing.T) {
	p := newPolServer(t, store.SQLite, polDefault)
	for _, tc := range []struct {
		name, tenant, token string
		query               string
		status              int
		code, field         string
	}{
		{"not a member", polEngineering, "member", "", 403, "tenant_forbidden", ""},
		{"outsider", polSupport, "outsider", "", 403, "tenant_forbidden", ""},
		{"no tenant", "", "member", "", 400, "validation_failed", "tenantId"},
		{"tenant with a control character", "/teams/\x01", "member", "", 400, "validation_failed", "tenantId"},
		{"unknown parameter", polSupport, "member", "&limit=5", 400, "validation_failed", "limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := "/api/policies?tenantId=" + url.QueryEscape(tc.tenant) + tc.query
			r := httptest.NewRequest("GET", target, nil)
			r.Header.Set("Authorization", "Bearer "+tc.token)
			rec := httptest.NewRecorder()
			p.h.ServeHTTP(rec, r)
			prob := decodeProblem(t, rec.Body.Bytes())
			if rec.Code != tc.status || prob.Code != tc.code {
				t.Fatalf("want %d %s, got %d %s", tc.status, tc.code, rec.Code, rec.Body)
			}
			if tc.field != "" && (len(prob.Errors) != 1 || prob.Errors[0].Field != tc.field) {
				t.Fatalf("want the field %s named, got %+v", tc.field, prob.Errors)
			}
		})
	}
}

// An approver replaces the policy; every member then reads it; the change is
// audited once, with the default it replaced and the new values, by the
// caller on channel api.
func TestPutPolicyByApprover(t *testing.T) {
	eachPolicyDialect(t, func(t *testing.T, d store.Dialect) {
		p := newPolServer(t, d, polDefault)
		code, body := p.do(t, "PUT", polSupport, "approver", `{"defaultTtl":"72h","maxTtl":"720h","reminders":["24h","4h"]}`)
		if code != http.StatusOK {
			t.Fatalf("approver PUT: %d %s", code, body)
		}
		put := decodePolicy(t, body)
		if put.Source != "tenant" || put.TenantID != polSupport || put.DefaultTTL != "72h" || put.MaxTTL != "720h" ||
			!slices.Equal(put.Reminders, []string{"4h", "24h"}) || put.UpdatedBy != "ceo-1" || put.UpdatedAt == nil {
			t.Fatalf("PUT answered %+v", put)
		}
		code, body = p.do(t, "GET", polSupport, "member", "")
		if got := decodePolicy(t, body); code != http.StatusOK || !policyViewsEqual(got, put) {
			t.Fatalf("member GET after PUT: %d %+v, want %+v", code, got, put)
		}

		entries := policyEntries(t, p, polSupport)
		if len(entries) != 1 {
			t.Fatalf("want 1 policy.updated entry, got %d", len(entries))
		}
		e := entries[0]
		if e.UserID != "ceo-1" || e.UserName != "Casey" || e.Channel != store.ChannelAPI || e.ResourceID != polSupport {
			t.Fatalf("entry %+v", e)
		}
		var oldV, newV store.PolicyView
		if err := json.Unmarshal(e.OldValues, &oldV); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(e.NewValues, &newV); err != nil {
			t.Fatal(err)
		}
		if oldV.Source != "default" || oldV.DefaultTTL != "48h" || oldV.MaxTTL != "480h" || !slices.Equal(oldV.Reminders, []string{"2h"}) {
			t.Errorf("old values %+v: want the configured default", oldV)
		}
		if !policyViewsEqual(newV, put) {
			t.Errorf("new values %+v, the PUT answered %+v", newV, put)
		}

		// The same body again changes nothing and audits nothing.
		code, body = p.do(t, "PUT", polSupport, "approver", `{"defaultTtl":"4320m","maxTtl":"720h","reminders":["4h","24h"]}`)
		if again := decodePolicy(t, body); code != http.StatusOK || !policyViewsEqual(again, put) {
			t.Fatalf("repeated PUT: %d %+v, want %+v", code, again, put)
		}
		if n := len(policyEntries(t, p, polSupport)); n != 1 {
			t.Fatalf("a repeated PUT wrote an audit entry: %d entries", n)
		}

		// A second change records the first as its old values; reminders
		// may be left out (none).
		code, body = p.do(t, "PUT", polSupport, "approver", `{"defaultTtl":"1h30m","maxtTl":"x"}`)
		if code != http.StatusBadRequest {
			t.Fatalf("unknown field: %d %s", code, body)
		}
		code, body = p.do(t, "PUT", polSupport, "approver", `{"defaultTtl":"1h30m","maxTtl":"24h"}`)
		if v := decodePolicy(t, body); code != http.StatusOK || v.DefaultTTL != "1h30m" || len(v.Reminders) != 0 {
			t.Fatalf("second PUT: %d %s", code, body)
		}
		entries = policyEntries(t, p, polSupport)
		if len(entries) != 2 {
			t.Fatalf("want 2 entries, got %d", len(entries))
		}
		if err := json.Unmarshal(entries[0].OldValues, &oldV); err != nil || !policyViewsEqual(oldV, put) {
			t.Fatalf("the newest entry's old values %s, want the first policy %+v", entries[0].OldValues, put)
		}
	})
}

func policyViewsEqual(a, b store.PolicyView) bool {
	return a.TenantID == b.TenantID && a.DefaultTTL == b.DefaultTTL && a.MaxTTL == b.MaxTTL && slices.Equal(a.Reminders, b.Reminders) &&
		a.MaxQuestions == b.MaxQuestions && a.AnswerTTL == b.AnswerTTL &&
		a.Source == b.Source && a.UpdatedBy == b.UpdatedBy && (a.UpdatedAt == nil) == (b.UpdatedAt == nil) &&
		(a.UpdatedAt == nil || a.UpdatedAt.Equal(*b.UpdatedAt))
}

// policyEntries reads the tenant's policy.updated entries, newest first,
// through the API as a member.
func policyEntries(t *testing.T, p *polServer, tenant string) []store.AuditLog {
	t.Helper()
	r := httptest.NewRequest("GET", "/api/audit?tenantId="+url.QueryEscape(tenant), nil)
	r.Header.Set("Authorization", "Bearer member")
	rec := httptest.NewRecorder()
	p.h.ServeHTTP(rec, r)
	var list struct{ Items []store.AuditLog }
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("audit list: %d %s", rec.Code, rec.Body)
	}
	var out []store.AuditLog
	for _, e := range list.Items {
		if e.Action == "policy.updated" {
			out = append(out, e)
		}
	}
	return out
}

func TestPutPolicyNeedsApproverAuthority(t *testing.T) {
	eachPolicyDialect(t, func(t *testing.T, d store.Dialect) {
		p := newPolServer(t, d, polDefault)
		body := `{"defaultTtl":"24h","maxTtl":"48h","reminders":[]}`
		for _, tc := range []struct {
			name, tenant, token string
			status              int
			code                string
		}{
			{"member without authority", polSupport, "member", 403, "role_required"},
			{"approver elsewhere only", polSupport, "lead", 403, "role_required"},
			{"not a member", polSupport, "outsider", 403, "tenant_forbidden"},
			{"approver role, not a member", polEngineering, "approver", 403, "tenant_forbidden"},
		} {
			code, b := p.do(t, "PUT", tc.tenant, tc.token, body)
			if prob := decodeProblem(t, b); code != tc.status || prob.Code != tc.code {
				t.Errorf("%s: want %d %s, got %d %s", tc.name, tc.status, tc.code, code, b)
			}
		}
		if _, stored, err := p.store.GetPolicy(context.Background(), store.ScopeOf(polSupport), polSupport); err != nil || stored {
			t.Fatalf("a refused PUT stored a policy: %v %v", stored, err)
		}
		// The engineering approvers subgroup decides engineering's policy.
		code, b := p.do(t, "PUT", polEngineering, "lead", body)
		if v := decodePolicy(t, b); code != http.StatusOK || v.TenantID != polEngineering || v.UpdatedBy != "lead-1" {
			t.Fatalf("subgroup approver in their tenant: %d %s", code, b)
		}
		// ... and support's members still read the default.
		code, b = p.do(t, "GET", polSupport, "lead", "")
		if v := decodePolicy(t, b); code != http.StatusOK || v.Source != "default" {
			t.Fatalf("support after engineering's change: %d %s", code, b)
		}
	})
}

func TestPutPolicyValidation(t *testing.T) {
	p := newPolServer(t, store.SQLite, polDefault)
	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = fmt.Sprintf(`"%dh"`, i+1)
	}
	for _, tc := range []struct {
		name, body string
		code       string
		fields     []string
	}{
		{"no defaultTtl", `{"maxTtl":"720h"}`, "validation_failed", []string{"defaultTtl"}},
		{"nothing", `{}`, "validation_failed", []string{"defaultTtl", "maxTtl"}},
		{"null maxTtl", `{"defaultTtl":"1h","maxTtl":null}`, "validation_failed", []string{"maxTtl"}},
		{"not a duration", `{"defaultTtl":"3 days","maxTtl":"720h"}`, "validation_failed", []string{"defaultTtl"}},
		{"a number", `{"defaultTtl":3600,"maxTtl":"720h"}`, "validation_failed", []string{"defaultTtl"}},
		{"default beyond max", `{"defaultTtl":"721h","maxTtl":"720h"}`, "validation_failed", []string{"defaultTtl"}},
		{"zero max", `{"defaultTtl":"1h","maxTtl":"0s"}`, "validation_failed", []string{"maxTtl"}},
		{"negative default", `{"defaultTtl":"-1h","maxTtl":"2h"}`, "validation_failed", []string{"defaultTtl"}},
		{"fraction of a second", `{"defaultTtl":"1h","maxTtl":"2h0.5s"}`, "validation_failed", []string{"maxTtl"}},
		{"reminder at the max", `{"defaultTtl":"1h","maxTtl":"2h","reminders":["2h"]}`, "validation_failed", []string{"reminders"}},
		{"reminder zero", `{"defaultTtl":"1h","maxTtl":"2h","reminders":["0s"]}`, "validation_failed", []string{"reminders"}},
		{"reminder twice", `{"defaultTtl":"1h","maxTtl":"2h","reminders":["30m","1800s"]}`, "validation_failed", []string{"reminders"}},
		{"reminder not a duration", `{"defaultTtl":"1h","maxTtl":"2h","reminders":["soon"]}`, "validation_failed", []string{"reminders"}},
		{"reminder null", `{"defaultTtl":"1h","maxTtl":"2h","reminders":[null]}`, "validation_failed", []string{"reminders"}},
		{"eleven reminders", `{"defaultTtl":"1h","maxTtl":"720h","reminders":[` + strings.Join(eleven, ",") + `]}`, "validation_failed", []string{"reminders"}},
		{"reminders not a list", `{"defaultTtl":"1h","maxTtl":"2h","reminders":"4h"}`, "validation_failed", []string{"reminders"}},
		{"unknown field", `{"defaultTtl":"1h","maxTtl":"2h","tenantId":"/teams/support"}`, "validation_failed", []string{"tenantId"}},
		{"max beyond the ceiling", `{"defaultTtl":"1h","maxTtl":"8761h"}`, "validation_failed", []string{"maxTtl"}},
		{"max of 292 years", `{"defaultTtl":"1h","maxTtl":"2562047h"}`, "validation_failed", []string{"maxTtl"}},
		{"two values", `{"defaultTtl":"1h","maxTtl":"2h"}{}`, "malformed_json", nil},
		{"an array", `[]`, "malformed_json", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, b := p.do(t, "PUT", polSupport, "approver", tc.body)
			prob := decodeProblem(t, b)
			if code != http.StatusBadRequest || prob.Code != tc.code {
				t.Fatalf("want 400 %s, got %d %s", tc.code, code, b)
			}
			var fields []string
			for _, e := range prob.Errors {
				if !slices.Contains(fields, e.Field) {
					fields = append(fields, e.Field)
				}
			}
			if !slices.Equal(fields, tc.fields) {
				t.Fatalf("fields %v, want %v (%s)", fields, tc.fields, b)
			}
		})
	}
	// Not JSON at all: 415 without the content type.
	r := httptest.NewRequest("PUT", "/api/policies?tenantId="+url.QueryEscape(polSupport), strings.NewReader(`{"defaultTtl":"1h","maxTtl":"2h"}`))
	r.Header.Set("Authorization", "Bearer approver")
	rec := httptest.NewRecorder()
	p.h.ServeHTTP(rec, r)
	if rec.Code != http.StatusUnsupportedMediaType {
		t.Fatalf("PUT without a content type: %d %s", rec.Code, rec.Body)
	}
	if _, stored, err := p.store.GetPolicy(context.Background(), store.ScopeOf(polSupport), polSupport); err != nil || stored {
		t.Fatalf("an invalid PUT stored a policy: %v %v", stored, err)
	}
}

// policyFor, which createApproval copies into a new escalation: the
// tenant's stored policy, or the default with the tenant named; never a
// slice the caller could change the default through.
func TestPolicyFor(t *testing.T) {
	eachPolicyDialect(t, func(t *testing.T, d store.Dialect) {
		p := newPolServer(t, d, polDefault)
		ctx := context.Background()
		got, err := p.s.policyFor(ctx, polSupport)
		if err != nil {
			t.Fatal(err)
		}
		if got.TenantID != polSupport || got.DefaultTTL != 48*time.Hour || got.MaxTTL != 480*time.Hour ||
			!slices.Equal(got.Reminders, []time.Duration{2 * time.Hour}) || !got.UpdatedAt.IsZero() {
			t.Fatalf("default: %+v", got)
		}
		got.Reminders[0] = time.Minute
		if again, _ := p.s.policyFor(ctx, polSupport); again.Reminders[0] != 2*time.Hour {
			t.Fatalf("changing a returned policy changed the default: %v", again.Reminders)
		}
		code, b := p.do(t, "PUT", polSupport, "approver", `{"defaultTtl":"10m","maxTtl":"1h","reminders":["5m"]}`)
		if code != http.StatusOK {
			t.Fatalf("PUT: %d %s", code, b)
		}
		got, err = p.s.policyFor(ctx, polSupport)
		if err != nil || got.TenantID != polSupport || got.DefaultTTL != 10*time.Minute || got.MaxTTL != time.Hour ||
			!slices.Equal(got.Reminders, []time.Duration{5 * time.Minute}) || got.UpdatedBy != "ceo-1" {
			t.Fatalf("stored: %+v %v", got, err)
		}
		if other, err := p.s.policyFor(ctx, polEngineering); err != nil || other.DefaultTTL != 48*time.Hour || other.TenantID != polEngineering {
			t.Fatalf("another tenant gets the default: %+v %v", other, err)
		}
	})
}

// maxTtl is at most the ceiling (365 days unless POLICY_MAX_TTL_CEILING
// says otherwise): up to it is stored, beyond it is 400, and a policy stored
// above a ceiling lowered since is held to it.
func TestPolicyMaxTTLCeiling(t *testing.T) {
	p := newPolServer(t, store.SQLite, polDefault)
	if code, b := p.do(t, "PUT", polSupport, "approver", `{"defaultTtl":"1h","maxTtl":"8760h"}`); code != http.StatusOK {
		t.Fatalf("365 days: want 200, got %d %s", code, b)
	}
	code, b := p.do(t, "PUT", polSupport, "approver", `{"defaultTtl":"1h","maxTtl":"8760h1s"}`)
	if prob := decodeProblem(t, b); code != http.StatusBadRequest || len(prob.Errors) != 1 || prob.Errors[0].Field != "maxTtl" ||
		!strings.Contains(prob.Errors[0].Detail, "at most 8760h") {
		t.Fatalf("365 days and a second: want 400 on maxTtl, got %d %s", code, b)
	}

	deps := Deps{Store: p.store, Auth: polAuth{}, Log: slog.New(slog.DiscardHandler), DefaultPolicy: polDefault, PolicyMaxTTLCeiling: 24 * time.Hour}
	lower := &polServer{h: New(deps), s: &Server{d: deps}, store: p.store}
	code, b = lower.do(t, "PUT", polSupport, "approver", `{"defaultTtl":"1h","maxTtl":"25h"}`)
	if code != http.StatusBadRequest || !strings.Contains(string(b), "at most 24h0m0s") {
		t.Fatalf("a configured ceiling of 24h: want 400, got %d %s", code, b)
	}
	got, err := lower.s.policyFor(context.Background(), polSupport)
	if err != nil || got.MaxTTL != 24*time.Hour || got.DefaultTTL != time.Hour {
		t.Fatalf("the stored 8760h policy under a 24h ceiling: %+v %v", got, err)
	}
}
