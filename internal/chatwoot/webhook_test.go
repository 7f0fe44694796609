package chatwoot_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/chatwoot"
	"github.com/orchestrator-dev/orchestrator/internal/chatwoot/chatwoottest"
)

func TestSignMatchesAnIndependentVector(t *testing.T) {
	// Computed with Python's hmac module.
	const want = "sha256=7dd5fa15bbe79046162327abe492507c2163fa0388be9e8ae0a15524b48bf01f"
	if got := chatwoot.Sign("whsec_test", "1700000000", []byte(`{"event":"message_created"}`)); got != want {
		t.Fatalf("Sign = %s", got)
	}
}

func TestVerifySignature(t *testing.T) {
	const secret = "whsec_test"
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"event":"message_created"}`)
	ts := "1700000000"
	sig := chatwoot.Sign(secret, ts, body)

	cases := []struct {
		name            string
		secret, ts, sig string
		body            []byte
		now             time.Time
		want            error
	}{
		{"valid", secret, ts, sig, body, now, nil},
		{"valid, upper-case hex", secret, ts, "sha256=" + strings.ToUpper(sig[7:]), body, now, nil},
		{"valid at the window's edge", secret, ts, sig, body, now.Add(5 * time.Minute), nil},
		{"missing signature", secret, ts, "", body, now, chatwoot.ErrMissingSignature},
		{"missing timestamp", secret, "", sig, body, now, chatwoot.ErrMissingSignature},
		{"body changed", secret, ts, sig, []byte(`{"event":"message_updated"}`), now, chatwoot.ErrBadSignature},
		{"wrong secret", "other", ts, sig, body, now, chatwoot.ErrBadSignature},
		{"timestamp changed", secret, "1700000001", sig, body, now, chatwoot.ErrBadSignature},
		{"no prefix", secret, ts, sig[7:], body, now, chatwoot.ErrBadSignature},
		{"not hex", secret, ts, "sha256=zz", body, now, chatwoot.ErrBadSignature},
		{"truncated", secret, ts, sig[:40], body, now, chatwoot.ErrBadSignature},
		{"too old", secret, ts, sig, body, now.Add(5*time.Minute + time.Second), chatwoot.ErrStaleTimestamp},
		{"from the future", secret, ts, sig, body, now.Add(-6 * time.Minute), chatwoot.ErrStaleTimestamp},
		{"no secret configured", "", ts, sig, body, now, chatwoot.ErrNoSecret},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := chatwoot.VerifySignature(tc.secret, tc.ts, tc.body, tc.sig, tc.now, 5*time.Minute)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}

	// A signed but unparseable timestamp is reported as a timestamp problem.
	odd := chatwoot.Sign(secret, "yesterday", body)
	if err := chatwoot.VerifySignature(secret, "yesterday", body, odd, now, time.Minute); !errors.Is(err, chatwoot.ErrStaleTimestamp) {
		t.Fatalf("unparseable timestamp: %v", err)
	}
	// A zero window means the default.
	if err := chatwoot.VerifySignature(secret, ts, body, sig, now.Add(4*time.Minute), 0); err != nil {
		t.Fatalf("default window: %v", err)
	}
}

func TestParseMessageCreated(t *testing.T) {
	body, err := os.ReadFile("testdata/message_created.json")
	if err != nil {
		t.Fatal(err)
	}
	e, err := chatwoot.ParseWebhook(body)
	if err != nil {
		t.Fatal(err)
	}
	if e.Event != chatwoot.EventMessageCreated || !e.IsMessageEvent() || e.IsConversationEvent() {
		t.Fatalf("event %q", e.Event)
	}
	if e.ID != 77287 || e.MessageType != chatwoot.WebhookMessageOutgoing || !e.Private || e.ContentType != "text" {
		t.Fatalf("message fields %+v", e)
	}
	if e.EchoID != "approval-6f1c/escalated" {
		t.Fatalf("echo id %q", e.EchoID)
	}
	if e.AccountID != 3 || e.Account.Name != "Acme Support" || e.Inbox.ID != 58 {
		t.Fatalf("account/inbox %+v %+v %+v", e.AccountID, e.Account, e.Inbox)
	}
	if !e.FromAgent() || e.Sender.Email != "orchestrator@example.com" {
		t.Fatalf("sender %+v", e.Sender)
	}
	cv := e.Conversation
	if cv.ID != 42 || cv.Status != "open" || cv.Priority != "high" || !slices.Equal(cv.Labels, []string{"billing", "escalated"}) {
		t.Fatalf("conversation %+v", cv)
	}
	if cv.Meta.Assignee == nil || cv.Meta.Assignee.ID != 12 || cv.Meta.Sender.Type != chatwoot.SenderContact {
		t.Fatalf("meta %+v", cv.Meta)
	}
	if want := time.Date(2025, 7, 10, 15, 36, 22, 262e6, time.UTC); !e.CreatedAt.Equal(want) {
		t.Fatalf("created_at %v", e.CreatedAt)
	}
}

func TestParseConversationUpdatedLabelChange(t *testing.T) {
	body, err := os.ReadFile("testdata/conversation_updated.json")
	if err != nil {
		t.Fatal(err)
	}
	e, err := chatwoot.ParseWebhook(body)
	if err != nil {
		t.Fatal(err)
	}
	if !e.IsConversationEvent() || e.Conversation == nil || e.Conversation.ID != 42 || e.ID != 42 {
		t.Fatalf("conversation %+v", e.Conversation)
	}
	if e.Conversation.Priority != "" || e.Conversation.Meta.Team.Name != "Support" || e.Conversation.Meta.Assignee.Name != "Sam Agent" {
		t.Fatalf("conversation fields %+v", e.Conversation)
	}
	if e.AccountID != 0 {
		t.Fatalf("account %d: the payload names none", e.AccountID)
	}
	lc, ok := e.LabelChange()
	if !ok || !slices.Equal(lc.Added, []string{"escalate"}) || len(lc.Removed) != 0 ||
		!slices.Equal(lc.Previous, []string{"billing"}) || !slices.Equal(lc.Current, []string{"billing", "escalate"}) {
		t.Fatalf("label change %+v %v", lc, ok)
	}
	if _, ok := e.ChangedAttributes.Get("updated_at"); !ok {
		t.Fatal("updated_at change missing")
	}
}

func TestParseWebhookVariants(t *testing.T) {
	t.Run("cached_label_list string and integer message_type", func(t *testing.T) {
		e, err := chatwoot.ParseWebhook([]byte(`{"event":"conversation_updated","id":5,"account_id":9,
			"changed_attributes":{"cached_label_list":{"previous_value":"a, b","current_value":"b"}}}`))
		if err != nil {
			t.Fatal(err)
		}
		lc, ok := e.LabelChange()
		if !ok || !slices.Equal(lc.Removed, []string{"a"}) || len(lc.Added) != 0 || e.AccountID != 9 {
			t.Fatalf("%+v %v account %d", lc, ok, e.AccountID)
		}
	})
	t.Run("account from the last message", func(t *testing.T) {
		e, err := chatwoot.ParseWebhook([]byte(`{"event":"conversation_status_changed","id":5,"status":"resolved",
			"messages":[{"id":1,"account_id":4,"message_type":1}]}`))
		if err != nil || e.AccountID != 4 || e.Conversation.Status != "resolved" {
			t.Fatalf("%+v %v", e, err)
		}
	})
	t.Run("integer message type, legacy attributes, unknown fields", func(t *testing.T) {
		e, err := chatwoot.ParseWebhook([]byte(`{"event":"message_created","id":1,"message_type":0,"surprise":{"x":1},
			"content_attributes":"{\"echo_id\":\"e\"}","created_at":1700000000,"conversation":{"id":3}}`))
		if err != nil || e.MessageType != chatwoot.WebhookMessageIncoming || e.EchoID != "e" || e.CreatedAt.Unix() != 1700000000 {
			t.Fatalf("%+v %v", e, err)
		}
	})
	t.Run("unknown event accepted", func(t *testing.T) {
		if _, err := chatwoot.ParseWebhook([]byte(`{"event":"contact_merged","id":1}`)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no label change", func(t *testing.T) {
		e, err := chatwoot.ParseWebhook([]byte(`{"event":"conversation_updated","id":5,"changed_attributes":[{"priority":{"previous_value":null,"current_value":"high"}}]}`))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := e.LabelChange(); ok {
			t.Fatal("label change reported for a priority change")
		}
	})

	for name, body := range map[string]string{
		"empty":                        ``,
		"array":                        `[{"event":"message_created"}]`,
		"not JSON":                     `{"event":`,
		"no event":                     `{"id":1}`,
		"odd event name":               `{"event":"Message Created"}`,
		"message without conversation": `{"event":"message_created","id":1}`,
		"conversation without id":      `{"event":"conversation_updated","labels":[]}`,
		"id of the wrong type":         `{"event":"message_created","id":"1","conversation":{"id":1}}`,
	} {
		t.Run("refuses "+name, func(t *testing.T) {
			if _, err := chatwoot.ParseWebhook([]byte(body)); !errors.Is(err, chatwoot.ErrInvalidWebhook) {
				t.Fatalf("got %v", err)
			}
		})
	}
	t.Run("refuses oversized", func(t *testing.T) {
		big := append([]byte(`{"event":"message_created","content":"`), bytes.Repeat([]byte("x"), chatwoot.MaxWebhookBytes)...)
		if _, err := chatwoot.ParseWebhook(append(big, `"}`...)); !errors.Is(err, chatwoot.ErrInvalidWebhook) {
			t.Fatalf("got %v", err)
		}
	})
}

// TestWebhookRoundTrip checks the client's view of webhooks against what the
// stand-in sends: signed deliveries of our own note (recognised by echo id),
// a customer message, and the label change our own AddLabels causes.
func TestWebhookRoundTrip(t *testing.T) {
	const secret = "round-trip-secret"
	var mu sync.Mutex
	var events []*chatwoot.WebhookEvent
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, chatwoot.MaxWebhookBytes))
		if err != nil {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err := chatwoot.VerifySignature(secret, r.Header.Get(chatwoot.HeaderTimestamp), body,
			r.Header.Get(chatwoot.HeaderSignature), time.Now(), time.Minute); err != nil {
			t.Errorf("verify: %v", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		e, err := chatwoot.ParseWebhook(body)
		if err != nil {
			t.Errorf("parse: %v", err)
			return
		}
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}))
	defer recv.Close()

	s, c := setup(t, chatwoottest.WithWebhook(recv.URL, secret))
	if _, err := c.PostMessage(t.Context(), acct, conv, chatwoot.NewMessage{Content: "note", Private: true, EchoID: "a-1/escalated"}); err != nil {
		t.Fatal(err)
	}
	s.SimulateIncoming(acct, conv, "thanks")
	if _, err := c.AddLabels(t.Context(), acct, conv, "escalated"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetPriority(t.Context(), acct, conv, chatwoot.PriorityUrgent); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitWebhooks(t.Context()); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(events) != 4 {
		t.Fatalf("%d events", len(events))
	}
	own, customer, labels, prio := events[0], events[1], events[2], events[3]
	if own.EchoID != "a-1/escalated" || !own.FromAgent() || !own.Private || own.AccountID != acct || own.Conversation.ID != conv {
		t.Fatalf("own note %+v", own)
	}
	if customer.EchoID != "" || customer.FromAgent() || customer.MessageType != chatwoot.WebhookMessageIncoming {
		t.Fatalf("customer message %+v", customer)
	}
	if lc, ok := labels.LabelChange(); !ok || !slices.Equal(lc.Added, []string{"escalated"}) || labels.Conversation.ID != conv {
		t.Fatalf("label change %+v %v", lc, ok)
	}
	// The conversation's last chat message is the customer's, which carries
	// the account id.
	if labels.AccountID != acct {
		t.Fatalf("label event account %d", labels.AccountID)
	}
	if ch, ok := prio.ChangedAttributes.Get("priority"); !ok || string(ch.Current) != `"urgent"` || prio.Conversation.Priority != "urgent" {
		t.Fatalf("priority change %+v", prio.ChangedAttributes)
	}
}
