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
