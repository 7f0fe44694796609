package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/orchestrator-dev/orchestrator/internal/auth"
	"github.com/orchestrator-dev/orchestrator/internal/chatwoot"
	"github.com/orchestrator-dev/orchestrator/internal/chatwoot/chatwoottest"
	"github.com/orchestrator-dev/orchestrator/internal/keycloak"
	"github.com/orchestrator-dev/orchestrator/internal/keycloak/keycloaktest"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// startedTemporal records the escalations the receiver starts.
type startedTemporal struct {
	client.Client
	mu      sync.Mutex
	started []contract.EscalationInput
}

func (s *startedTemporal) ExecuteWorkflow(_ context.Context, _ client.StartWorkflowOptions, _ any, args ...any) (client.WorkflowRun, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = append(s.started, args[0].(contract.EscalationInput))
	return nil, nil
}

func (s *startedTemporal) list() []contract.EscalationInput {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]contract.EscalationInput(nil), s.started...)
}

// emailDirectory finds Keycloak users by verified email, as the app's
// directory does, through the Keycloak client.
type emailDirectory struct{ d *keycloak.Directory }

func (e emailDirectory) Principal(context.Context, string) (*auth.Principal, error) {
	return nil, errors.New("not used")
}

func (e emailDirectory) ByVerifiedEmail(ctx context.Context, email string) (*auth.Principal, error) {
	u, err := e.d.UserByVerifiedEmail(ctx, email)
	if errors.Is(err, keycloak.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return &auth.Principal{Subject: u.ID, Name: u.DisplayName(), Email: u.Email}, nil
}

// chatwootRig is the receiver behind a real listener, fed by the Chatwoot
// stand-in's webhooks, writing its notes back to the stand-in, finding
// agents in the Keycloak stand-in.
type chatwootRig struct {
	cw       *chatwoottest.Server
	temporal *startedTemporal
	agent    *chatwoot.Client // the stand-in's API user: agent 1
}

func newChatwootRig(t *testing.T, subjects map[string]string, users ...keycloaktest.User) *chatwootRig {
	t.Helper()
	const secret = "cw-secret"
	kc := keycloaktest.Start(t, keycloaktest.Realm{Users: users})
	dir, err := keycloak.New(keycloak.Config{AdminURL: kc.AdminURL(), ClientID: kc.ClientID(), ClientSecret: kc.ClientSecret()})
	if err != nil {
		t.Fatal(err)
	}
	cw := chatwoottest.Start(t)
	agent := chatwoot.New(cw.URL(), cw.Token(), nil)
	r := &chatwootRig{cw: cw, temporal: &startedTemporal{}, agent: agent}
	h := New(Deps{
		Store: storetest.Open(t, store.SQLite), Temporal: r.temporal, Auth: oaAuth{}, Log: slog.New(slog.DiscardHandler),
		Directory: emailDirectory{dir},
		ChatwootNote: func(ctx context.Context, conv store.Conversation, echoID, text string) error {
			_, err := agent.PostMessage(ctx, int(conv.AccountID), int(conv.ConversationID), chatwoot.NewMessage{Content: text, Private: true, EchoID: echoID})
			return err
		},
		Webhooks: Webhooks{ChatwootSecret: secret, ChatwootAccountTenants: map[string]string{"1": "/teams/support"}, ChatwootAgentSubjects: subjects},
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	// Conversation events name no account: the URL says whose they are.
	cw.SetWebhook(srv.URL+"/api/webhooks/chatwoot/1", secret)
	return r
}

// escalate posts "/escalate" as agent 1 and waits for its webhook (and the
// webhook of any note it caused) to be handled.
func (r *chatwootRig) escalate(t *testing.T, conv int) {
	t.Helper()
	ctx := context.Background()
	if _, err := r.agent.PostMessage(ctx, 1, conv, chatwoot.NewMessage{Content: "/escalate Refund", Private: true}); err != nil {
		t.Fatal(err)
	}
	r.settle(t)
}

func (r *chatwootRig) settle(t *testing.T) {
	t.Helper()
	for range 2 { // the trigger's delivery, then the echo of a note it caused
		if err := r.cw.WaitWebhooks(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// refusals are the orchestrator's "Not escalated" notes in a conversation.
func (r *chatwootRig) refusals(conv int) []string {
	var out []string
	for _, m := range r.cw.Messages(1, conv) {
		if m.Private && strings.HasPrefix(m.Content, "Not escalated: ") {
			out = append(out, m.Content)
		}
	}
	return out
}

// An escalation from Chatwoot starts only for a requester who is a Keycloak
// user (CHATWOOT_AGENT_SUBJECTS, or a verified email): separation of duties
// must know them. Anyone else starts nothing, and a private note says why.
func TestChatwootEscalationNeedsAKeycloakRequester(t *testing.T) {
	t.Run("unmapped agent", func(t *testing.T) {
		r := newChatwootRig(t, nil,
			// Same email, not verified: not the agent for sure.
			keycloaktest.User{ID: "ceo-1", Username: "ceo", Email: "orchestrator@example.test"})
		r.cw.AddConversation(1, 7)
		r.escalate(t, 7)
		if got := r.temporal.list(); len(got) != 0 {
			t.Fatalf("an agent linked to nobody started an escalation requested by %q", got[0].Approval.RequestedBy)
		}
		if got := r.refusals(7); len(got) != 1 || !strings.Contains(got[0], "not linked to a company account") {
			t.Fatalf("want one note saying the agent is not linked, got %q", got)
		}
	})
	t.Run("agent mapped by verified email", func(t *testing.T) {
		r := newChatwootRig(t, nil,
			keycloaktest.User{ID: "ceo-1", Username: "ceo", Email: "orchestrator@example.test", EmailVerified: true})
		r.cw.AddConversation(1, 7)
		r.escalate(t, 7)
		got := r.temporal.list()
		if len(got) != 1 || got[0].Approval.RequestedBy != "ceo-1" || got[0].Actor.ID != "ceo-1" {
			t.Fatalf("want one escalation requested by ceo-1, got %+v", got)
		}
		if n := r.refusals(7); len(n) != 0 {
			t.Fatalf("refusal notes for a mapped agent: %q", n)
		}
	})
	t.Run("label on an unassigned conversation", func(t *testing.T) {
		r := newChatwootRig(t, map[string]string{"1": "ceo-1"})
		r.cw.AddConversation(1, 8)
		r.cw.SimulateLabels(1, 8, "Ceo", "escalate")
		r.settle(t)
		if got := r.temporal.list(); len(got) != 0 {
			t.Fatalf("an unassigned conversation started an escalation requested by %q", got[0].Approval.RequestedBy)
		}
		if got := r.refusals(8); len(got) != 1 || !strings.Contains(got[0], "no assignee") {
			t.Fatalf("want one note saying the conversation has no assignee, got %q", got)
		}
	})
	t.Run("label by an unmapped assignee", func(t *testing.T) {
		r := newChatwootRig(t, map[string]string{"1": "ceo-1"})
		r.cw.AddConversation(1, 8)
		r.cw.Assign(1, 8, 5, "Sam")
		r.cw.SimulateLabels(1, 8, "Ceo", "escalate")
		r.settle(t)
		if got := r.temporal.list(); len(got) != 0 {
			t.Fatalf("an unmapped assignee started an escalation requested by %q", got[0].Approval.RequestedBy)
		}
		if got := r.refusals(8); len(got) != 1 || !strings.Contains(got[0], "assignee (Chatwoot agent 5) is not linked") {
			t.Fatalf("want one note naming the unlinked assignee, got %q", got)
		}
	})
	t.Run("label by a mapped assignee", func(t *testing.T) {
		r := newChatwootRig(t, map[string]string{"5": "agent-5"})
		r.cw.AddConversation(1, 8)
		r.cw.Assign(1, 8, 5, "Sam")
		r.cw.SimulateLabels(1, 8, "Ceo", "escalate")
		r.settle(t)
		got := r.temporal.list()
		if len(got) != 1 || got[0].Approval.RequestedBy != "agent-5" {
			t.Fatalf("want one escalation requested by the assignee's subject, got %+v", got)
		}
		if !strings.Contains(string(got[0].Approval.Metadata), `"requesterMapped":true`) {
			t.Fatalf("metadata: %s", got[0].Approval.Metadata)
		}
	})
}

// CHATWOOT_WEBHOOK_UNSIGNED: the sender of an unsigned body is whoever
// wrote it, so it is never taken for a Keycloak user, not even one
// CHATWOOT_AGENT_SUBJECTS names: nothing starts, nothing is written into the
// conversation it names, and nothing about that conversation is told.
func TestChatwootUnsignedDeliveryIsNobody(t *testing.T) {
	temporal := &startedTemporal{}
	st := storetest.Open(t, store.SQLite)
	notes := 0
	h := New(Deps{
		Store: st, Temporal: temporal, Auth: oaAuth{}, Log: slog.New(slog.DiscardHandler),
		ChatwootNote: func(context.Context, store.Conversation, string, string) error { notes++; return nil },
		Webhooks: Webhooks{ChatwootUnsigned: true, ChatwootAccountTenants: map[string]string{"1": "/teams/support"},
			ChatwootAgentSubjects: map[string]string{"9": "ceo-1"}},
	})
	post := func(body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/api/webhooks/chatwoot", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	forged := string(escalateNote(1, 7)) // "sent" by agent 9, who maps to ceo-1
	rec := post(forged)
	if rec.Code != http.StatusOK || ackStatus(t, rec) != "refused" {
		t.Fatalf("a forged /escalate: %d %s, want 200 refused", rec.Code, rec.Body)
	}
	if got := temporal.list(); len(got) != 0 || notes != 0 {
		t.Fatalf("an unsigned body started %d escalations (%+v) and wrote %d notes", len(got), got, notes)
	}
	// Even a conversation with a pending escalation is not named.
	at := st.Now()
	if _, _, err := st.RecordApproval(context.Background(), &store.Approval{ID: store.NewID(), TenantID: "/teams/support", Title: "t",
		Status: store.StatusPending, Priority: store.PriorityMedium, RequestedBy: "agent-2", Metadata: store.JSON(`{}`),
		Conversation: &store.Conversation{AccountID: 1, ConversationID: 8}, CreatedAt: at, UpdatedAt: at}, nil); err != nil {
		t.Fatal(err)
	}
	rec = post(strings.Replace(string(escalateNote(1, 8)), `"id":11`, `"id":12`, 1))
	if ackStatus(t, rec) != "refused" || strings.Contains(rec.Body.String(), "approvalId") {
		t.Fatalf("an unsigned body about an escalated conversation: %s", rec.Body)
	}
}

// An escalation from Chatwoot is held to the tenant's whole policy, as one
// created through the API: without maxQuestions and answerTtl in its input,
// approvers could ask it questions without end, and a question nobody
// answers would keep it waiting past every deadline.
func TestChatwootEscalationTakesTheQuestionPolicy(t *testing.T) {
	r := newChatwootRig(t, map[string]string{"5": "agent-5"})
	r.cw.AddConversation(1, 8)
	r.cw.Assign(1, 8, 5, "Sam")
	r.cw.SimulateLabels(1, 8, "Ceo", "escalate")
	r.settle(t)
	got := r.temporal.list()
	if len(got) != 1 {
		t.Fatalf("want one escalation, got %d", len(got))
	}
	def := (&Server{}).defaultPolicy()
	if in := got[0]; in.MaxQuestions != def.Questions() || in.AnswerTTLSeconds != int64(def.AnswerWait()/time.Second) {
		t.Fatalf("maxQuestions %d, answerTtlSeconds %d; want the policy's %d and %d",
			in.MaxQuestions, in.AnswerTTLSeconds, def.Questions(), int64(def.AnswerWait()/time.Second))
	}
}
