package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/config"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

// rlReplicas are API replicas on one database, whose clock stands at 10:30:00
// of a day: a window of an hour ends in 30 minutes.
func rlReplicas(t *testing.T, d store.Dialect, limit config.RateLimit, n int) []http.Handler {
	t.Helper()
	url := storetest.URL(t, d)
	now := func() time.Time { return time.Date(2026, 12, 7, 10, 30, 0, 0, time.UTC) }
	var out []http.Handler
	for i := range n {
		st, err := store.Open(context.Background(), url, store.Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		if i == 0 {
			if _, err := st.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, New(Deps{Store: st, Temporal: oaTemporal{}, Auth: oaAuth{}, Log: slog.New(slog.DiscardHandler),
			ApproverRole: "approver", CreateRateLimit: limit}))
	}
	return out
}

func rlCreate(t *testing.T, h http.Handler, token, tenant string) *httptest.ResponseRecorder {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"tenantId": tenant, "title": "flood"})
	req := httptest.NewRequest(http.MethodPost, "/api/approvals", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// passed is a create the limit let through: it reached Temporal, which is
// down in these tests (503 unavailable).
func rlPassed(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("%s: want it past the limit (503 from the Temporal that is down), got %d %s", what, rec.Code, rec.Body)
	}
}

// The N+1th create of a caller in a tenant within the window is 429 with
// Retry-After (until the window ends), on whichever replica it reaches;
// another caller, or the same caller in another tenant, counts apart.
func TestCreateRateLimitAcrossReplicas(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			api := rlReplicas(t, d, config.RateLimit{N: 2, Per: time.Hour}, 2)
			rlPassed(t, "first create, replica A", rlCreate(t, api[0], "good", "/teams/support"))
			rlPassed(t, "second create, replica B", rlCreate(t, api[1], "good", "/teams/support"))
			doc := loadOpenAPI(t)
			for i, h := range api {
				rec := rlCreate(t, h, "good", "/teams/support")
				if err := doc.ValidateHTTPResponse(http.MethodPost, "/api/approvals", rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
					t.Error(err)
				}
				var p Problem
				_ = json.Unmarshal(rec.Body.Bytes(), &p)
				if rec.Code != http.StatusTooManyRequests || p.Code != "rate_limited" || rec.Header().Get("Retry-After") != "1800" ||
					rec.Header().Get("Content-Type") != "application/problem+json" {
					t.Fatalf("third create on replica %d: want 429 rate_limited, Retry-After 1800, got %d %v %s", i, rec.Code, rec.Header(), rec.Body)
				}
			}
			rlPassed(t, "another caller", rlCreate(t, api[1], "ceo", "/teams/support"))
			rlPassed(t, "the same caller in another tenant", rlCreate(t, api[0], "good", "/organizations/acme"))
		})
	}
}

// CREATE_RATE_LIMIT=0 counts nothing.
func TestCreateRateLimitOff(t *testing.T) {
	api := rlReplicas(t, store.SQLite, config.RateLimit{}, 1)
	for range 5 {
		rlPassed(t, "create without a limit", rlCreate(t, api[0], "good", "/teams/support"))
	}
}

// An agent who escalates through Chatwoot is held to the same limit, as the
// requester the escalation is recorded for.
func TestCreateRateLimitOnChatwootTriggers(t *testing.T) {
	const secret = "cw-secret"
	r := &chatwootReceiver{store: storetest.Open(t, store.SQLite), now: time.Now()}
	wh := Webhooks{ChatwootSecret: secret, ChatwootAccountTenants: map[string]string{"1": "/teams/support"},
		ChatwootAgentSubjects: map[string]string{"9": "agent-9"}, Now: func() time.Time { return r.now }}
	notes := map[string]string{}
	r.h = New(Deps{Store: r.store, Temporal: oaTemporal{}, Auth: oaAuth{}, Log: slog.New(slog.DiscardHandler), Webhooks: wh,
		CreateRateLimit: config.RateLimit{N: 1, Per: time.Hour},
		ChatwootNote: func(_ context.Context, conv store.Conversation, echoID, text string) error {
			notes[fmt.Sprintf("%d/%s", conv.ConversationID, echoID)] = text
			return nil
		}})
	rlPassed(t, "the first /escalate", r.post("/api/webhooks/chatwoot", secret, "d-1", escalateNote(1, 7)))
	rec := r.post("/api/webhooks/chatwoot", secret, "d-2", escalateNote(1, 8))
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("the second /escalate within the hour: want 429 with Retry-After, got %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if err := loadOpenAPI(t).ValidateHTTPResponse(http.MethodPost, "/api/webhooks/chatwoot", rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
		t.Error(err)
	}
	// The agent, who never sees the 429, is told in the conversation.
	told := false
	for k, n := range notes {
		told = told || strings.HasPrefix(k, "8/orchestrator:limited:") && strings.HasPrefix(n, "Not escalated: at most 1/h escalations")
	}
	if !told || len(notes) != 1 {
		t.Fatalf("want one note in the limited conversation (8), got %v", notes)
	}
}
