package api_test

// The generic service webhook (POST /api/webhooks/<service>) as an attacker
// who captured one delivery would try it: into another tenant, later, as the
// old body-only signature, or into a tenant the service was never given.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/api"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

const (
	ghSecret  = "billing-secret"
	ghSupport = "/teams/support"
	ghFinance = "/teams/finance"
	ghOther   = "/teams/other"
)

// ghSign computes X-Signature by hand from the canonical string docs/integrations.md
// documents, so that the test pins the contract rather than reusing the
// receiver's code: "v1", the timestamp, the delivery id and the tenant, each
// followed by a line feed, then the raw body.
func ghSign(secret, ts, delivery, tenant, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v1\n" + ts + "\n" + delivery + "\n" + tenant + "\n" + body))
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// ghDelivery is one request to the receiver, as a sender builds it.
type ghDelivery struct {
	service, ts, id, tenant, body, signature string
}

// ghNew signs a delivery of billing for tenant at time at.
func ghNew(at time.Time, id, tenant, body string) ghDelivery {
	ts := strconv.FormatInt(at.Unix(), 10)
	return ghDelivery{service: "billing", ts: ts, id: id, tenant: tenant, body: body, signature: ghSign(ghSecret, ts, id, tenant, body)}
}

type ghServer struct {
	h     http.Handler
	store *store.Store
	now   time.Time // the receiver's clock
}

func newGHServer(t *testing.T, d store.Dialect) *ghServer {
	t.Helper()
	s := &ghServer{store: storetest.Open(t, d), now: time.Unix(1_750_000_000, 0)}
	s.h = api.New(api.Deps{
		Store: s.store, Log: slog.New(slog.DiscardHandler),
		Webhooks: api.Webhooks{
			Secrets: map[string]string{"billing": ghSecret, "crm": "crm-secret"},
			// crm has a secret but no tenants: it can write nowhere.
			ServiceTenants: map[string][]string{"billing": {ghSupport, ghFinance}},
			Now:            func() time.Time { return s.now },
		},
	})
	return s
}

// send posts d; empty fields are left out of the request.
func (s *ghServer) send(t *testing.T, d ghDelivery) (int, api.Problem) {
	t.Helper()
	req := httptest.NewRequest("POST", "/api/webhooks/"+d.service, strings.NewReader(d.body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range map[string]string{"X-Webhook-Timestamp": d.ts, "X-Delivery-Id": d.id, "X-Tenant-Id": d.tenant, "X-Signature": d.signature} {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	var p api.Problem
	if rec.Code >= 300 {
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatalf("%d: the body is not a problem: %v: %s", rec.Code, err, rec.Body)
		}
		if p.Status != rec.Code {
			t.Errorf("problem status %d on a %d response", p.Status, rec.Code)
		}
	}
	return rec.Code, p
}

// webhookRows returns the webhook.received entries of tenant.
func (s *ghServer) webhookRows(t *testing.T, tenant string) []store.AuditLog {
	t.Helper()
	rows, _, err := s.store.ListAudit(context.Background(), store.ScopeOf(tenant), store.AuditQuery{TenantID: tenant, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []store.AuditLog
	for _, r := range rows {
		if r.Action == "webhook.received" {
			out = append(out, r)
		}
	}
	return out
}

func ghDialects(t *testing.T, fn func(t *testing.T, s *ghServer)) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { fn(t, newGHServer(t, d)) })
	}
}

// A fresh, correctly signed delivery for an allowed tenant is recorded once,
// however often it is delivered.
func TestGenericWebhookRecordsAFreshDeliveryOnce(t *testing.T) {
	ghDialects(t, func(t *testing.T, s *ghServer) {
		d := ghNew(s.now.Add(-time.Minute), "evt-1", ghSupport, `{"event":"invoice.paid","invoice":"in_1"}`)
		for i := range 2 {
			if code, p := s.send(t, d); code != http.StatusAccepted {
				t.Fatalf("delivery %d: want 202, got %d %+v", i+1, code, p)
			}
		}
		rows := s.webhookRows(t, ghSupport)
		if len(rows) != 1 {
			t.Fatalf("want one webhook.received row, got %d", len(rows))
		}
		r := rows[0]
		if r.UserID != "service:billing" || r.ResourceID != "billing:evt-1" || r.Channel != store.ChannelWebhook || r.TenantID != ghSupport {
			t.Errorf("unexpected row: %+v", r)
		}
		var got map[string]any
		if err := json.Unmarshal(r.NewValues, &got); err != nil || got["invoice"] != "in_1" {
			t.Errorf("newValues = %s (%v), want the body", r.NewValues, err)
		}
	})
}

// A captured delivery sent again with another X-Tenant-Id (one the service
// may write to, so only the signature stands in the way) is refused, with
// its own delivery id or a new one.
func TestGenericWebhookReplayIntoAnotherTenantIsRefused(t *testing.T) {
	ghDialects(t, func(t *testing.T, s *ghServer) {
		captured := ghNew(s.now, "evt-2", ghSupport, `{"event":"refund","amount":100}`)
		if code, p := s.send(t, captured); code != http.StatusAccepted {
			t.Fatalf("the original delivery: want 202, got %d %+v", code, p)
		}
		replay := captured
		replay.tenant = ghFinance
		if code, p := s.send(t, replay); code != http.StatusUnauthorized || p.Code != "bad_signature" {
			t.Errorf("replay into %s: want 401 bad_signature, got %d %+v", ghFinance, code, p)
		}
		replay.id = "evt-2-again"
		if code, p := s.send(t, replay); code != http.StatusUnauthorized || p.Code != "bad_signature" {
			t.Errorf("replay into %s with a new delivery id: want 401 bad_signature, got %d %+v", ghFinance, code, p)
		}
		if rows := s.webhookRows(t, ghFinance); len(rows) != 0 {
			t.Errorf("the replay reached %s's audit trail: %+v", ghFinance, rows)
		}
	})
}

// A delivery signed more than five minutes before or after the receiver's
// clock is refused with its own detail; within the window it is accepted.
func TestGenericWebhookStaleTimestampIsRefused(t *testing.T) {
	ghDialects(t, func(t *testing.T, s *ghServer) {
		for _, skew := range []time.Duration{-6 * time.Minute, 6 * time.Minute, -time.Hour} {
			d := ghNew(s.now.Add(skew), "evt-stale", ghSupport, `{"n":1}`)
			code, p := s.send(t, d)
			if code != http.StatusUnauthorized || p.Code != "bad_signature" || !strings.Contains(p.Detail, "X-Webhook-Timestamp") {
				t.Errorf("signed %s from now: want 401 bad_signature naming X-Webhook-Timestamp, got %d %+v", skew, code, p)
			}
		}
		if rows := s.webhookRows(t, ghSupport); len(rows) != 0 {
			t.Fatalf("a stale delivery was recorded: %+v", rows)
		}
		// The same delivery, signed 4m59s ago, is fresh.
		if code, p := s.send(t, ghNew(s.now.Add(-4*time.Minute-59*time.Second), "evt-stale", ghSupport, `{"n":1}`)); code != http.StatusAccepted {
			t.Fatalf("a fresh delivery: want 202, got %d %+v", code, p)
		}
	})
}

// A correctly signed delivery for a tenant the service was not given is
// refused; so is every delivery of a service that was given none.
func TestGenericWebhookTenantNotAllowedIsForbidden(t *testing.T) {
	ghDialects(t, func(t *testing.T, s *ghServer) {
		if code, p := s.send(t, ghNew(s.now, "evt-3", ghFinance, `{}`)); code != http.StatusAccepted {
			t.Fatalf("an allowed tenant: want 202, got %d %+v", code, p)
		}
		for _, tenant := range []string{ghOther, "system", "agent-1"} {
			if code, p := s.send(t, ghNew(s.now, "evt-4", tenant, `{}`)); code != http.StatusForbidden || p.Code != "tenant_forbidden" {
				t.Errorf("tenant %q: want 403 tenant_forbidden, got %d %+v", tenant, code, p)
			}
			if rows := s.webhookRows(t, tenant); len(rows) != 0 {
				t.Errorf("tenant %q got a row: %+v", tenant, rows)
			}
		}
		crm := ghNew(s.now, "evt-5", ghSupport, `{}`)
		crm.service, crm.signature = "crm", ghSign("crm-secret", crm.ts, crm.id, crm.tenant, crm.body)
		if code, p := s.send(t, crm); code != http.StatusForbidden || p.Code != "tenant_forbidden" {
			t.Errorf("a service without tenants: want 403 tenant_forbidden, got %d %+v", code, p)
		}
	})
}

// The old scheme, an HMAC of the body alone, no longer authenticates.
func TestGenericWebhookOldBodyOnlySignatureIsRefused(t *testing.T) {
	ghDialects(t, func(t *testing.T, s *ghServer) {
		body := `{"event":"invoice.paid"}`
		m := hmac.New(sha256.New, []byte(ghSecret))
		m.Write([]byte(body))
		old := hex.EncodeToString(m.Sum(nil))
		fresh := ghNew(s.now, "evt-6", ghSupport, body)
		for name, d := range map[string]ghDelivery{
			"as today's senders send it": {service: "billing", id: "evt-6", tenant: ghSupport, body: body, signature: "sha256=" + old},
			"bare hex":                   {service: "billing", id: "evt-6", tenant: ghSupport, body: body, signature: old},
			"with a fresh timestamp":     {service: "billing", ts: fresh.ts, id: "evt-6", tenant: ghSupport, body: body, signature: "sha256=" + old},
			"as v1":                      {service: "billing", ts: fresh.ts, id: "evt-6", tenant: ghSupport, body: body, signature: "v1=" + old},
		} {
			if code, p := s.send(t, d); code != http.StatusUnauthorized || p.Code != "bad_signature" {
				t.Errorf("%s: want 401 bad_signature, got %d %+v", name, code, p)
			}
		}
		if rows := s.webhookRows(t, ghSupport); len(rows) != 0 {
			t.Fatalf("a body-only signature was recorded: %+v", rows)
		}
		if code, p := s.send(t, fresh); code != http.StatusAccepted {
			t.Fatalf("the same delivery signed as v1: want 202, got %d %+v", code, p)
		}
	})
}

// The tenant and the delivery id are required and checked before anything
// is recorded: there is no fallback tenant and no id made up from the body.
func TestGenericWebhookNeedsTenantAndDeliveryID(t *testing.T) {
	s := newGHServer(t, store.SQLite)
	ok := ghNew(s.now, "evt-7", ghSupport, `{}`)
	long := strings.Repeat("a", 101)
	for name, d := range map[string]ghDelivery{
		"no tenant":              ghNew(s.now, "evt-7", "", `{}`),
		"no delivery id":         ghNew(s.now, "", ghSupport, `{}`),
		"tenant too long":        ghNew(s.now, "evt-7", "/"+strings.Repeat("t", 256), `{}`),
		"delivery id too long":   ghNew(s.now, long, ghSupport, `{}`),
		"delivery id with space": ghNew(s.now, "evt 7", ghSupport, `{}`),
	} {
		if code, p := s.send(t, d); code != http.StatusBadRequest || p.Code != "validation_failed" {
			t.Errorf("%s: want 400 validation_failed, got %d %+v", name, code, p)
		}
	}
	missing := ok
	missing.signature = ""
	if code, p := s.send(t, missing); code != http.StatusUnauthorized || p.Code != "bad_signature" {
		t.Errorf("no signature: want 401 bad_signature, got %d %+v", code, p)
	}
	missing = ok
	missing.ts = ""
	if code, p := s.send(t, missing); code != http.StatusUnauthorized || p.Code != "bad_signature" {
		t.Errorf("no timestamp: want 401 bad_signature, got %d %+v", code, p)
	}
	for _, ts := range []string{"-1", "+" + ok.ts, ok.ts + ".0", "1e9", strings.Repeat("9", 20)} {
		bad := ok
		bad.ts, bad.signature = ts, ghSign(ghSecret, ts, ok.id, ok.tenant, ok.body)
		if code, p := s.send(t, bad); code != http.StatusUnauthorized || p.Code != "bad_signature" {
			t.Errorf("timestamp %q: want 401 bad_signature, got %d %+v", ts, code, p)
		}
	}
	if code, p := s.send(t, ok); code != http.StatusAccepted {
		t.Fatalf("the complete delivery: want 202, got %d %+v", code, p)
	}
	notJSON := ghNew(s.now, "evt-8", ghSupport, `{`)
	if code, p := s.send(t, notJSON); code != http.StatusBadRequest || p.Code != "malformed_json" {
		t.Errorf("not JSON: want 400 malformed_json, got %d %+v", code, p)
	}
	unknown := ok
	unknown.service = "payroll"
	if code, _ := s.send(t, unknown); code != http.StatusNotFound {
		t.Errorf("unknown service: want 404, got %d", code)
	}
}

// A body too large for the audit row is recorded by its hash only, as before.
func TestGenericWebhookLargeBodyIsKeptOutOfTheRow(t *testing.T) {
	s := newGHServer(t, store.SQLite)
	body := `{"blob":"` + strings.Repeat("x", 70<<10) + `"}`
	if code, p := s.send(t, ghNew(s.now, "evt-9", ghSupport, body)); code != http.StatusAccepted {
		t.Fatalf("want 202, got %d %+v", code, p)
	}
	rows := s.webhookRows(t, ghSupport)
	if len(rows) != 1 || len(rows[0].NewValues) != 0 {
		t.Fatalf("want one row without newValues, got %+v", rows)
	}
	sum := sha256.Sum256([]byte(body))
	if !bytes.Contains(rows[0].Metadata, []byte(hex.EncodeToString(sum[:]))) {
		t.Errorf("metadata %s lacks the body's hash", rows[0].Metadata)
	}
}

// The shell example of docs/integrations.md, run at the receiver's test clock
// (ts=1750000000) with id=evt-0001 and body.json holding the body below,
// prints this signature: the documented scheme is the one the receiver
// checks.
func TestGenericWebhookREADMEExample(t *testing.T) {
	s := newGHServer(t, store.SQLite)
	d := ghDelivery{service: "billing", ts: "1750000000", id: "evt-0001", tenant: ghSupport, body: `{"event":"invoice.paid","invoice":"in_1"}`,
		signature: "v1=dba10e36167f73bf90071080d2fa446bac5275c8f06f0eb114816fb5ca4f34e3"}
	if code, p := s.send(t, d); code != http.StatusAccepted {
		t.Fatalf("want 202, got %d %+v", code, p)
	}
}
