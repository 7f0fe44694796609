package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Approver authority is per tenant: the approvers subgroup of a tenant's
// group grants it there and nowhere else.
func TestApproverAuthorityPerTenant(t *testing.T) {
	s := startStack(t, newEnv(t, storetest.URL(t, store.SQLite)))
	supportAgent := s.token("agent-1", []string{"/teams/support"})
	engAgent := s.token("agent-2", []string{"/teams/engineering"})
	lead := s.token("lead-1", []string{"/teams/support", "/teams/engineering/approvers"})

	create := func(token, tenant string) string {
		r := s.do("POST", "/api/approvals", token, map[string]any{"tenantId": tenant, "title": "Needs a decision"})
		if r.status != http.StatusCreated {
			t.Fatalf("create in %s: %d %s", tenant, r.status, r.body)
		}
		return r.json(t)["id"].(string)
	}
	supportID, engID := create(supportAgent, "/teams/support"), create(engAgent, "/teams/engineering")

	if r := s.do("PATCH", "/api/approvals/"+supportID, lead, map[string]any{"status": "approved"}); r.status != http.StatusForbidden {
		t.Fatalf("a plain member of support deciding there: %d %s, want 403", r.status, r.body)
	}
	if r := s.do("PATCH", "/api/approvals/"+engID, lead, map[string]any{"status": "approved"}); r.status != http.StatusOK {
		t.Fatalf("an approver of engineering deciding there: %d %s, want 200", r.status, r.body)
	}

	me := s.do("GET", "/api/me", lead, nil).json(t)
	can := map[string]bool{}
	for _, x := range me["tenants"].([]any) {
		tn := x.(map[string]any)
		can[tn["id"].(string)] = tn["canApprove"].(bool)
	}
	if !can["/teams/engineering"] || can["/teams/support"] || len(can) != 3 {
		t.Fatalf("/api/me must say where the caller may decide: %v", me["tenants"])
	}
}

// A decide update sent straight to Temporal (the CLI, the UI) is recorded as
// ops, whatever decider and channel it claims; the API's own are api.
func TestDecisionsThroughTemporalAreOps(t *testing.T) {
	s := startStack(t, newEnv(t, storetest.URL(t, store.SQLite)))
	agent := s.token("agent-1", support)
	ceo := s.token("ceo-1", support, "approver")
	create := func() string {
		r := s.do("POST", "/api/approvals", agent, map[string]any{"tenantId": "/teams/support", "title": "Channel check"})
		if r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		return r.json(t)["id"].(string)
	}
	channelOf := func(id string) string {
		for _, e := range s.do("GET", "/api/audit/resource/approval/"+id, agent, nil).json(t)["items"].([]any) {
			if e := e.(map[string]any); e["action"] == "approval.approved" {
				return e["channel"].(string)
			}
		}
		t.Fatalf("no approval.approved entry for %s", id)
		return ""
	}

	viaTemporal := create()
	ctx := context.Background()
	h, err := devServer.Client().UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: contract.EscalationWorkflowID(viaTemporal), UpdateName: contract.UpdateDecide,
		WaitForStage: client.WorkflowUpdateStageCompleted,
		Args:         []any{contract.DecisionRequest{Status: "approved", DeciderID: "ceo-1", DeciderName: "CEO-1", Channel: store.ChannelAPI}},
	})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	if err != nil {
		t.Fatalf("decide through Temporal: %v", err)
	}
	if got := channelOf(viaTemporal); got != store.ChannelOps {
		t.Fatalf("a decision sent through Temporal is recorded as %q, want ops", got)
	}

	viaAPI := create()
	if r := s.do("PATCH", "/api/approvals/"+viaAPI, ceo, map[string]any{"status": "approved"}); r.status != http.StatusOK {
		t.Fatalf("decide: %d %s", r.status, r.body)
	}
	if got := channelOf(viaAPI); got != store.ChannelAPI {
		t.Fatalf("the API's decision is recorded as %q, want api", got)
	}
}

// A consultation's join link, its room name (what a link is made of:
// <base>/<room> without Jitsi tokens), start and end are for its host, its
// participants and the tenant's approvers, on every route that returns it;
// other members only see that it exists.
func TestConsultationAccessIsForParticipants(t *testing.T) {
	s := startStack(t, newEnv(t, storetest.URL(t, store.SQLite)))
	host := s.token("host-1", support)
	guest := s.token("guest-1", support)
	bystander := s.token("bystander-1", support)
	approver := s.token("lead-1", []string{"/teams/support/approvers"})

	// takesPart: the room and a link made of it; !takesPart: neither, and
	// the room nowhere in the body.
	check := func(what string, r response, room string, takesPart bool) {
		t.Helper()
		if r.status != http.StatusOK && r.status != http.StatusCreated {
			t.Fatalf("%s: %d %s", what, r.status, r.body)
		}
		var items []any
		if list, ok := r.json(t)["items"].([]any); ok {
			items = list
		} else {
			items = []any{r.json(t)}
		}
		if len(items) == 0 {
			t.Fatalf("%s: no consultation shown", what)
		}
		for _, it := range items {
			c := it.(map[string]any)
			got, _ := c["jitsiRoom"].(string)
			join, _ := c["joinUrl"].(string)
			switch {
			case takesPart && (got != room || !strings.Contains(join, room)):
				t.Fatalf("%s: one who takes part got room %q and link %q, want %q in both", what, got, join, room)
			case !takesPart && (got != "" || join != "" || strings.Contains(string(r.body), room)):
				t.Fatalf("%s: a member who takes no part can find the room: %s", what, r.body)
			}
		}
	}

	r := s.do("POST", "/api/consultations", host, map[string]any{"tenantId": "/teams/support", "title": "Call", "participantIds": []string{"guest-1"}})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	id, room := r.json(t)["id"].(string), r.json(t)["jitsiRoom"].(string)
	check("create", r, room, true)
	for _, p := range []struct {
		name, token string
		takesPart   bool
	}{{"host", host, true}, {"participant", guest, true}, {"approver", approver, true}, {"bystander", bystander, false}} {
		check("get as "+p.name, s.do("GET", "/api/consultations/"+id, p.token, nil), room, p.takesPart)
		check("list as "+p.name, s.do("GET", "/api/consultations?tenantId=%2Fteams%2Fsupport", p.token, nil), room, p.takesPart)
	}
	for _, step := range []string{"start", "end"} {
		if r := s.do("POST", "/api/consultations/"+id+"/"+step, bystander, nil); r.status != http.StatusForbidden || strings.Contains(string(r.body), room) {
			t.Fatalf("%s by a bystander: %d %s, want 403", step, r.status, r.body)
		}
	}
	check("start by a participant", s.do("POST", "/api/consultations/"+id+"/start", guest, nil), room, true)
	check("end by the tenant's approver", s.do("POST", "/api/consultations/"+id+"/end", approver, nil), room, true)

	// The consultation an approval opens: its requester and decider take
	// part, the rest of the tenant does not.
	r = s.do("POST", "/api/approvals", guest, map[string]any{"tenantId": "/teams/support", "title": "Refund"})
	if r.status != http.StatusCreated {
		t.Fatalf("create approval: %d %s", r.status, r.body)
	}
	approvalID := r.json(t)["id"].(string)
	if r := s.do("PATCH", "/api/approvals/"+approvalID, approver, map[string]any{"status": "approved"}); r.status != http.StatusOK {
		t.Fatalf("approve: %d %s", r.status, r.body)
	} else if strings.Contains(string(r.body), "consult-") {
		t.Fatalf("the decision's answer names a room: %s", r.body)
	}
	byApproval := "/api/consultations?tenantId=%2Fteams%2Fsupport&approvalId=" + approvalID
	r = s.do("GET", byApproval, approver, nil)
	items, _ := r.json(t)["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("the approval's consultation: %d %s", r.status, r.body)
	}
	opened := items[0].(map[string]any)
	room = opened["jitsiRoom"].(string)
	check("the approval's consultation, as its decider", r, room, true)
	check("the approval's consultation, as its requester", s.do("GET", byApproval, guest, nil), room, true)
	check("the approval's consultation, as a bystander", s.do("GET", byApproval, bystander, nil), room, false)
	check("get the approval's consultation, as a bystander", s.do("GET", "/api/consultations/"+opened["id"].(string), bystander, nil), room, false)
	for _, e := range s.do("GET", "/api/audit?tenantId=%2Fteams%2Fsupport", bystander, nil).json(t)["items"].([]any) {
		if b, _ := json.Marshal(e); strings.Contains(string(b), room) {
			t.Fatalf("the audit trail names the room: %s", b)
		}
	}
}

// A create may name only a conversation of its own tenant's Chatwoot account.
func TestCreateCannotNameAnotherTenantsConversation(t *testing.T) {
	env := newEnv(t, storetest.URL(t, store.SQLite))
	env["CHATWOOT_ACCOUNT_TENANTS"] = "1=/teams/support,2=/teams/finance"
	s := startStack(t, env)
	attacker := s.token("mallory", []string{"/teams/finance"})
	agent := s.token("agent-1", []string{"/teams/support"})
	supportConv := map[string]any{"accountId": 1, "conversationId": 7}

	for _, tc := range []struct {
		name, tenant string
		conv         map[string]any
	}{
		{"personal tenant", "mallory", supportConv},
		{"own team", "/teams/finance", supportConv},
		{"unmapped account", "/teams/finance", map[string]any{"accountId": 3, "conversationId": 7}},
	} {
		r := s.do("POST", "/api/approvals", attacker, map[string]any{"tenantId": tc.tenant, "title": "Squat", "conversation": tc.conv})
		if r.status != http.StatusForbidden || r.json(t)["code"] != "conversation_forbidden" {
			t.Fatalf("%s: %d %s, want 403 conversation_forbidden", tc.name, r.status, r.body)
		}
	}
	// The real escalation of that conversation is not blocked.
	r := s.do("POST", "/api/approvals", agent, map[string]any{"tenantId": "/teams/support", "title": "Real", "conversation": supportConv})
	if r.status != http.StatusCreated {
		t.Fatalf("the conversation's own tenant: %d %s", r.status, r.body)
	}
	// Another tenant's pending escalation of the same conversation number on
	// its own account does not conflict.
	finance := s.token("fin-1", []string{"/teams/finance"})
	r = s.do("POST", "/api/approvals", finance, map[string]any{"tenantId": "/teams/finance", "title": "Own", "conversation": map[string]any{"accountId": 2, "conversationId": 7}})
	if r.status != http.StatusCreated {
		t.Fatalf("same conversation number, other account and tenant: %d %s", r.status, r.body)
	}
}
