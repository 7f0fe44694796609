package api_test

// The generic service webhook (POST /api/webhooks/<service>) signed per
// Standard Webhooks 1.0, with deliveries signed by the specification's
// reference Go library, and as an attacker who captured one delivery would
// try it: into another tenant, later, again, or into a tenant the service
// was never given.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/orchestrator-dev/orchestrator/api"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

const (
	// ghSecret is the specification's example secret (24 bytes decoded).
	ghSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	ghCRM     = "whsec_Y3JtLXNlY3JldC1jcm0tc2VjcmV0LWNybS1zZWNyZXQ="
	ghOldKey  = "whsec_b2xkLXNlY3JldC1vbGQtc2VjcmV0LW9sZC1zZWNyZXQ="
	ghSupport = "/teams/support"
	ghFinance = "/teams/finance"
	ghOther   = "/teams/other"
)

// ghSign signs with the reference library, so that the receiver is proven
// against the specification's own implementation, not against itself.
func ghSign(t *testing.T, secret, id string, at time.Time, body string) string {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(id, at, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// ghDelivery is one request to the receiver, as a sender builds it.
type ghDelivery struct {
	service, ts, id, body, signature string
}

// ghBody is an event body for tenant.
func ghBody(tenant, rest string) string {
	b, _ := json.Marshal(tenant)
	return `{"tenantId":` + string(b) + rest + `}`
}

// ghNew signs a delivery of billing at time at.
func ghNew(t *testing.T, at time.Time, id, body string) ghDelivery {
	t.Helper()
	return ghDelivery{service: "billing", ts: strconv.FormatInt(at.Unix(), 10), id: id, body: body, signature: ghSign(t, ghSecret, id, at, body)}
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
			Secrets: map[string]string{"billing": ghSecret, "crm": ghCRM},
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
	code, p, _ := s.sendBody(t, d)
	return code, p
}

// sendBody is send that also returns the body of a success.
func (s *ghServer) sendBody(t *testing.T, d ghDelivery) (int, api.Problem, string) {
	t.Helper()
	req := httptest.NewRequest("POST", "/api/webhooks/"+d.service, strings.NewReader(d.body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range map[string]string{"webhook-timestamp": d.ts, "webhook-id": d.id, "webhook-signature": d.signature} {
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
	return rec.Code, p, rec.Body.String()
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

// A delivery signed by the reference library for an allowed tenant is
// recorded; the same webhook-id again is acknowledged as a duplicate and
// recorded no second time, even with a new timestamp and signature.
func TestGenericWebhookReferenceSignedDeliveryRecordedOnce(t *testing.T) {
	ghDialects(t, func(t *testing.T, s *ghServer) {
		body := ghBody(ghSupport, `,"type":"invoice.paid","data":{"invoice":"in_1"}`)
		if code, p, got := s.sendBody(t, ghNew(t, s.now.Add(-time.Minute), "msg_1", body)); code != http.StatusAccepted || !strings.Contains(got, `"recorded"`) {
			t.Fatalf("first delivery: want 202 recorded, got %d %+v %s", code, p, got)
		}
		for _, at := range []time.Time{s.now.Add(-time.Minute), s.now} {
			if code, p, got := s.sendBody(t, ghNew(t, at, "msg_1", body)); code != http.StatusOK || !strings.Contains(got, `"duplicate"`) {
				t.Fatalf("retry signed at %s: want 200 duplicate, got %d %+v %s", at, code, p, got)
			}
		}
		rows := s.webhookRows(t, ghSupport)
		if len(rows) != 1 {
			t.Fatalf("want one webhook.received row, got %d", len(rows))
		}
		r := rows[0]
		if r.UserID != "service:billing" || r.ResourceID != "billing:msg_1" || r.Channel != store.ChannelWebhook || r.TenantID != ghSupport {
			t.Errorf("unexpected row: %+v", r)
		}
		var got struct {
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(r.NewValues, &got); err != nil || got.Data["invoice"] != "in_1" {
			t.Errorf("newValues = %s (%v), want the body", r.NewValues, err)
		}
	})
}

// Wrong secret, a tampered body (another tenant among them), a signature
// moved to another webhook-id, and missing headers: 401 bad_signature,
// nothing recorded.
func TestGenericWebhookBadSignaturesAreRefused(t *testing.T) {
	ghDialects(t, func(t *testing.T, s *ghServer) {
		body := ghBody(ghSupport, `,"amount":100`)
		ok := ghNew(t, s.now, "msg_2", body)
		wrongSecret := ok
		wrongSecret.signature = ghSign(t, ghOldKey, ok.id, s.now, body)
		tampered := ok
		tampered.body = ghBody(ghSupport, `,"amount":999`)
		otherTenant := ok
		otherTenant.body = ghBody(ghFinance, `,"amount":100`)
		otherID := ok
		otherID.id = "msg_2b"
		noID, noTS, noSig := ok, ok, ok
		noID.id, noTS.ts, noSig.signature = "", "", ""
		v2 := ok
		v2.signature = "v2," + strings.TrimPrefix(ok.signature, "v1,")
		notBase64 := ok
		notBase64.signature = "v1,not base64!"
		for name, d := range map[string]ghDelivery{
			"wrong secret": wrongSecret, "tampered body": tampered, "body for another tenant": otherTenant,
			"signature of another id": otherID, "no webhook-id": noID, "no webhook-timestamp": noTS,
			"no webhook-signature": noSig, "a v2 signature": v2, "not base64": notBase64,
		} {
			if code, p := s.send(t, d); code != http.StatusUnauthorized || p.Code != "bad_signature" {
				t.Errorf("%s: want 401 bad_signature, got %d %+v", name, code, p)
			}
		}
		for _, tenant := range []string{ghSupport, ghFinance} {
			if rows := s.webhookRows(t, tenant); len(rows) != 0 {
				t.Fatalf("a refused delivery reached %s: %+v", tenant, rows)
			}
		}
		if code, p := s.send(t, ok); code != http.StatusAccepted {
			t.Fatalf("the authentic delivery: want 202, got %d %+v", code, p)
		}
	})
}

// A delivery signed more than five minutes before or after the receiver's
// clock is refused with its own detail; within the window it is accepted.
func TestGenericWebhookStaleTimestampIsRefused(t *testing.T) {
	ghDialects(t, func(t *testing.T, s *ghServer) {
		body := ghBody(ghSupport, `,"n":1`)
		for _, skew := range []time.Duration{-5*time.Minute - time.Second, 5*time.Minute + time.Second, -time.Hour} {
			code, p := s.send(t, ghNew(t, s.now.Add(skew), "msg_stale", body))
			if code != http.StatusUnauthorized || p.Code != "bad_signature" || !strings.Contains(p.Detail, "webhook-timestamp") {
				t.Errorf("signed %s from now: want 401 bad_signature naming webhook-timestamp, got %d %+v", skew, code, p)
			}
		}
		for _, ts := range []string{"-1", "+1750000000", "1750000000.0", "1e9", strings.Repeat("9", 20)} {
			d := ghNew(t, s.now, "msg_stale", body)
			d.ts = ts
			if code, p := s.send(t, d); code != http.StatusUnauthorized || p.Code != "bad_signature" {
				t.Errorf("timestamp %q: want 401 bad_signature, got %d %+v", ts, code, p)
			}
		}
		if rows := s.webhookRows(t, ghSupport); len(rows) != 0 {
			t.Fatalf("a stale delivery was recorded: %+v", rows)
		}
		// The same delivery, signed 4m59s ago, is fresh; and its id was not
		// used up by the refused attempts.
		if code, p := s.send(t, ghNew(t, s.now.Add(-4*time.Minute-59*time.Second), "msg_stale", body)); code != http.StatusAccepted {
			t.Fatalf("a fresh delivery: want 202, got %d %+v", code, p)
		}
	})
}

// Several signatures, as a sender rolling its secret sends them: one that
// matches is enough, wherever it stands.
func TestGenericWebhookOneOfSeveralSignaturesMatches(t *testing.T) {
	ghDialects(t, func(t *testing.T, s *ghServer) {
		body := ghBody(ghFinance, "")
		for i, order := range []func(good, old string) string{
			func(good, old string) string { return old + " " + good },
			func(good, old string) string { return good + " " + old },
			func(good, old string) string { return "v1a,xyz " + old + "  " + good },
		} {
			id := "msg_multi_" + strconv.Itoa(i)
			d := ghNew(t, s.now, id, body)
			d.signature = order(d.signature, ghSign(t, ghOldKey, id, s.now, body))
			if code, p := s.send(t, d); code != http.StatusAccepted {
				t.Errorf("%q: want 202, got %d %+v", d.signature, code, p)
			}
		}
		d := ghNew(t, s.now, "msg_multi_none", body)
		d.signature = ghSign(t, ghOldKey, d.id, s.now, body) + " " + ghSign(t, ghCRM, d.id, s.now, body)
		if code, p := s.send(t, d); code != http.StatusUnauthorized || p.Code != "bad_signature" {
			t.Errorf("none matching: want 401 bad_signature, got %d %+v", code, p)
		}
	})
}

// A correctly signed delivery for a tenant the service was not given is
// refused; so is every delivery of a service that was given none.
func TestGenericWebhookTenantNotAllowedIsForbidden(t *testing.T) {
	ghDialects(t, func(t *testing.T, s *ghServer) {
		if code, p := s.send(t, ghNew(t, s.now, "msg_3", ghBody(ghFinance, ""))); code != http.StatusAccepted {
			t.Fatalf("an allowed tenant: want 202, got %d %+v", code, p)
		}
		for i, tenant := range []string{ghOther, "system", "agent-1"} {
			if code, p := s.send(t, ghNew(t, s.now, "msg_4_"+strconv.Itoa(i), ghBody(tenant, ""))); code != http.StatusForbidden || p.Code != "tenant_forbidden" {
				t.Errorf("tenant %q: want 403 tenant_forbidden, got %d %+v", tenant, code, p)
			}
			if rows := s.webhookRows(t, tenant); len(rows) != 0 {
				t.Errorf("tenant %q got a row: %+v", tenant, rows)
			}
		}
		crm := ghDelivery{service: "crm", ts: strconv.FormatInt(s.now.Unix(), 10), id: "msg_5", body: ghBody(ghSupport, "")}
		crm.signature = ghSign(t, ghCRM, crm.id, s.now, crm.body)
		if code, p := s.send(t, crm); code != http.StatusForbidden || p.Code != "tenant_forbidden" {
			t.Errorf("a service without tenants: want 403 tenant_forbidden, got %d %+v", code, p)
		}
	})
}

// The tenant is required in the body and the body must be JSON; a
// webhook-id that cannot be stored as it is is refused; an unknown service
// is 404. None of these uses up the webhook-id.
func TestGenericWebhookNeedsTenantAndDeliveryID(t *testing.T) {
	s := newGHServer(t, store.SQLite)
	for name, body := range map[string]string{
		"no tenant":       `{"type":"x"}`,
		"empty tenant":    `{"tenantId":""}`,
		"tenant too long": ghBody("/"+strings.Repeat("t", 256), ""),
	} {
		code, p := s.send(t, ghNew(t, s.now, "msg_7", body))
		if code != http.StatusBadRequest || p.Code != "validation_failed" || len(p.Errors) != 1 || p.Errors[0].Field != "tenantId" {
			t.Errorf("%s: want 400 validation_failed on tenantId, got %d %+v", name, code, p)
		}
	}
	for name, id := range map[string]string{"webhook-id too long": strings.Repeat("a", 101), "webhook-id with space": "msg 7"} {
		code, p := s.send(t, ghNew(t, s.now, id, ghBody(ghSupport, "")))
		if code != http.StatusBadRequest || p.Code != "validation_failed" || len(p.Errors) != 1 || p.Errors[0].Field != "webhook-id" {
			t.Errorf("%s: want 400 validation_failed on webhook-id, got %d %+v", name, code, p)
		}
	}
	if code, p := s.send(t, ghNew(t, s.now, "msg_8", `{`)); code != http.StatusBadRequest || p.Code != "malformed_json" {
		t.Errorf("not JSON: want 400 malformed_json, got %d %+v", code, p)
	}
	unknown := ghNew(t, s.now, "msg_7", ghBody(ghSupport, ""))
	unknown.service = "payroll"
	if code, _ := s.send(t, unknown); code != http.StatusNotFound {
		t.Errorf("unknown service: want 404, got %d", code)
	}
	if code, p := s.send(t, ghNew(t, s.now, "msg_7", ghBody(ghSupport, ""))); code != http.StatusAccepted {
		t.Fatalf("the complete delivery: want 202, got %d %+v", code, p)
	}
}

// A body too large for the audit row is recorded by its hash only.
func TestGenericWebhookLargeBodyIsKeptOutOfTheRow(t *testing.T) {
	s := newGHServer(t, store.SQLite)
	body := ghBody(ghSupport, `,"blob":"`+strings.Repeat("x", 70<<10)+`"`)
	if code, p := s.send(t, ghNew(t, s.now, "msg_9", body)); code != http.StatusAccepted {
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

// A body without an RFC 8785 form (a duplicate member, a number beyond a
// double), which the audit chain could not hash unambiguously, is recorded
// by its hash only, and the chain still verifies.
func TestGenericWebhookNonCanonicalBodyIsKeptOutOfTheRow(t *testing.T) {
	s := newGHServer(t, store.SQLite)
	for i, body := range []string{ghBody(ghSupport, `,"n":1,"n":2`), ghBody(ghSupport, `,"n":1e400`)} {
		if code, p := s.send(t, ghNew(t, s.now, fmt.Sprintf("msg_c%d", i), body)); code != http.StatusAccepted {
			t.Fatalf("%s: want 202, got %d %+v", body, code, p)
		}
	}
	rows := s.webhookRows(t, ghSupport)
	if len(rows) != 2 || len(rows[0].NewValues) != 0 || len(rows[1].NewValues) != 0 {
		t.Fatalf("want two rows without newValues, got %+v", rows)
	}
	if v, err := s.store.VerifyAudit(context.Background(), store.ScopeOf(ghSupport), ghSupport); err != nil || !v.Valid {
		t.Fatalf("the chain: %+v %v", v, err)
	}
}

// The specification's published example (secret, id, timestamp, body and
// signature as in the reference libraries' tests) passes the signature
// check: the receiver then asks for the tenant the example does not carry.
func TestGenericWebhookSpecificationVector(t *testing.T) {
	s := newGHServer(t, store.SQLite)
	s.now = time.Unix(1614265330, 0)
	d := ghDelivery{service: "billing", ts: "1614265330", id: "msg_p5jXN8AQM9LWM0D4loKWxJek", body: `{"test": 2432232314}`,
		signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
	if code, p := s.send(t, d); code != http.StatusBadRequest || p.Code != "validation_failed" || p.Errors[0].Field != "tenantId" {
		t.Fatalf("want the signature accepted and 400 on tenantId, got %d %+v", code, p)
	}
}

// The shell recipe of docs/integrations.md, run at the receiver's test clock
// (ts=1750000000) with id=msg_0001, the example secret and body.json holding
// the body below, prints this signature: the documented recipe is the one
// the receiver checks.
func TestGenericWebhookREADMEExample(t *testing.T) {
	s := newGHServer(t, store.SQLite)
	d := ghDelivery{service: "billing", ts: "1750000000", id: "msg_0001",
		body:      `{"tenantId":"/teams/support","type":"invoice.paid","data":{"invoice":"in_1"}}`,
		signature: "v1,7HPjbkAOQSxOA3beY0RXTF/oWqvoiWXwAjsJUnxWfck="}
	if code, p := s.send(t, d); code != http.StatusAccepted {
		t.Fatalf("want 202, got %d %+v", code, p)
	}
}
