package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/chatwoot"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

// chatwootReceiver is the API with only the Chatwoot receiver configured, on
// SQLite, with Temporal down.
type chatwootReceiver struct {
	h     http.Handler
	store *store.Store
	now   time.Time
}

func newChatwootReceiver(t *testing.T, wh Webhooks) *chatwootReceiver {
	t.Helper()
	r := &chatwootReceiver{store: storetest.Open(t, store.SQLite), now: time.Now()}
	wh.Now = func() time.Time { return r.now }
	r.h = New(Deps{Store: r.store, Temporal: oaTemporal{}, Auth: oaAuth{}, Log: slog.New(slog.DiscardHandler), Webhooks: wh})
	return r
}

// post delivers body to path signed with secret ("" sends no signature).
func (r *chatwootReceiver) post(path, secret, delivery string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		ts := strconv.FormatInt(r.now.Unix(), 10)
		req.Header.Set(chatwoot.HeaderTimestamp, ts)
		req.Header.Set(chatwoot.HeaderSignature, chatwoot.Sign(secret, ts, body))
	}
	if delivery != "" {
		req.Header.Set(chatwoot.HeaderDelivery, delivery)
	}
	rec := httptest.NewRecorder()
	r.h.ServeHTTP(rec, req)
	return rec
}

// incomingMessage is a customer's message in account: never a trigger, so
// the receiver answers without Temporal. pad lengthens its content.
func incomingMessage(account int64, pad int) []byte {
	return fmt.Appendf(nil, `{"event":"message_created","id":10,"content":"hi %s","message_type":"incoming","private":false,`+
		`"account":{"id":%d},"sender":{"id":5,"type":"contact"},"conversation":{"id":7}}`, strings.Repeat("a", pad), account)
}

// Chatwoot payloads carry the message and the conversation's last message
// again, so the receiver takes up to chatwoot.MaxWebhookBytes (4 MiB), not
// the API's 1 MiB.
func TestChatwootWebhookBodyLimit(t *testing.T) {
	const secret = "cw-secret"
	r := newChatwootReceiver(t, Webhooks{ChatwootSecret: secret, ChatwootAccountTenants: map[string]string{"1": "/teams/support"}})

	body := incomingMessage(1, 2<<20)
	rec := r.post("/api/webhooks/chatwoot", secret, "d-2mib", body)
	if rec.Code != http.StatusOK {
		t.Fatalf("a signed 2 MiB delivery: %d %s", rec.Code, rec.Body.String())
	}

	body = incomingMessage(1, chatwoot.MaxWebhookBytes)
	rec = r.post("/api/webhooks/chatwoot", secret, "d-5mib", body)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("a delivery over 4 MiB: %d, want 413", rec.Code)
	}
	var p Problem
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("413 Content-Type %q", ct)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Code != "body_too_large" ||
		!strings.Contains(p.Detail, strconv.Itoa(chatwoot.MaxWebhookBytes)) {
		t.Errorf("413 body %s (%v): want code body_too_large naming the %d-byte limit", rec.Body.String(), err, chatwoot.MaxWebhookBytes)
	}
}

// escalateNote is an agent's /escalate note in account (conversation conv);
// the receiver then needs Temporal, which is down: 503 when it gets that far.
func escalateNote(account, conv int64) []byte {
	return fmt.Appendf(nil, `{"event":"message_created","id":11,"content":"/escalate Refund","message_type":"outgoing",`+
		`"private":true,"account":{"id":%d},"sender":{"id":9,"name":"Agent","type":"user"},"conversation":{"id":%d}}`, account, conv)
}

func ackStatus(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var ack struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &ack); err != nil {
		t.Fatalf("%d %s: %v", rec.Code, rec.Body.String(), err)
	}
	return ack.Status
}

// The account in the URL cannot redirect a signed delivery of another
// account into the URL account's tenant.
func TestChatwootWebhookPathAccountMustMatchTheBody(t *testing.T) {
	const secret = "cw-secret"
	r := newChatwootReceiver(t, Webhooks{ChatwootSecret: secret, ChatwootAccountTenants: map[string]string{"1": "/teams/support"}})
	rec := r.post("/api/webhooks/chatwoot/1", secret, "d-1", escalateNote(2, 7))
	if rec.Code != http.StatusForbidden {
		t.Fatalf("body of account 2 posted to /chatwoot/1: %d %s, want 403", rec.Code, rec.Body.String())
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Code != "account_mismatch" {
		t.Fatalf("problem %s: want code account_mismatch", rec.Body.String())
	}
	// The same path with the body's own account, or a body naming none
	// (conversation events), is the path's.
	if rec := r.post("/api/webhooks/chatwoot/1", secret, "d-2", incomingMessage(1, 0)); rec.Code != http.StatusOK {
		t.Fatalf("matching account: %d %s", rec.Code, rec.Body.String())
	}
}

// A captured delivery replayed with a new X-Chatwoot-Delivery (an unsigned
// header) is the same delivery.
func TestChatwootWebhookReplayWithANewDeliveryHeaderIsADuplicate(t *testing.T) {
	const secret = "cw-secret"
	r := newChatwootReceiver(t, Webhooks{ChatwootSecret: secret, ChatwootAccountTenants: map[string]string{"1": "/teams/support"}})
	body := incomingMessage(1, 0)
	if rec := r.post("/api/webhooks/chatwoot", secret, "d-1", body); rec.Code != http.StatusOK || ackStatus(t, rec) != "ignored" {
		t.Fatalf("first delivery: %d %s", rec.Code, rec.Body.String())
	}
	for _, delivery := range []string{"d-1", "d-2", ""} {
		rec := r.post("/api/webhooks/chatwoot", secret, delivery, body)
		if rec.Code != http.StatusOK || ackStatus(t, rec) != "duplicate" {
			t.Fatalf("replay with X-Chatwoot-Delivery %q: %d %s, want duplicate", delivery, rec.Code, rec.Body.String())
		}
	}
}

// With a secret per account, one account's secret cannot sign for another:
// neither with the victim's account in the body nor in the URL.
func TestChatwootWebhookForeignAccountSecretIsRefused(t *testing.T) {
	secrets := map[string]string{"1": "secret-one", "2": "secret-two"}
	r := newChatwootReceiver(t, Webhooks{ChatwootSecrets: secrets,
		ChatwootAccountTenants: map[string]string{"1": "/teams/support", "2": "/teams/attacker"},
		ChatwootAgentSubjects:  map[string]string{"9": "agent-9"}})
	for _, path := range []string{"/api/webhooks/chatwoot", "/api/webhooks/chatwoot/1"} {
		rec := r.post(path, "secret-two", "d-1", escalateNote(1, 7))
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("account 1's note signed with account 2's secret at %s: %d %s, want 401", path, rec.Code, rec.Body.String())
		}
	}
	// Each account with its own secret gets through (to Temporal, down here).
	for acct, secret := range map[int64]string{1: "secret-one", 2: "secret-two"} {
		if rec := r.post("/api/webhooks/chatwoot", secret, "", escalateNote(acct, 7)); rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("account %d's own secret: %d %s, want 503 (Temporal down)", acct, rec.Code, rec.Body.String())
		}
	}
	// An account without a secret cannot be posted for at all.
	if rec := r.post("/api/webhooks/chatwoot", "secret-one", "", escalateNote(3, 7)); rec.Code != http.StatusUnauthorized {
		t.Fatalf("account 3 without a secret: %d %s, want 401", rec.Code, rec.Body.String())
	}
}
