package app_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

func auditActions(t *testing.T, s *stack, token, id string) []string {
	t.Helper()
	var out []string
	for _, e := range s.do("GET", "/api/audit/resource/approval/"+id, token, nil).json(t)["items"].([]any) {
		out = append(out, e.(map[string]any)["action"].(string))
	}
	return out
}

// An escalation created with a deadline 3 s ahead is expired shortly after
// it, by system, everywhere: the API, the audit trail, the state query and
// the search attribute; a decision after that is 409.
func TestEscalationExpiresAtItsDeadline(t *testing.T) {
	s := startStack(t, newEnv(t, storetest.URL(t, store.SQLite)))
	agent := s.token("agent-1", support)
	ceo := s.token("ceo-1", support, "approver")
	r := s.do("POST", "/api/approvals", agent, map[string]any{
		"tenantId": "/teams/support", "title": "Soon due", "expiresAt": time.Now().Add(3 * time.Second).UTC().Format(time.RFC3339Nano),
	})
	if r.status != http.StatusCreated || r.json(t)["expiresAt"] == nil {
		t.Fatalf("create with expiresAt: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	eventuallyWithin(t, 15*time.Second, "the escalation to expire", func() bool {
		return s.do("GET", "/api/approvals/"+id, agent, nil).json(t)["status"] == store.StatusExpired
	})
	for _, e := range s.do("GET", "/api/audit/resource/approval/"+id, agent, nil).json(t)["items"].([]any) {
		if e := e.(map[string]any); e["action"] == "approval.expired" && (e["userId"] != "system" || e["channel"] != "system") {
			t.Fatalf("the expiry must be recorded by system: %v", e)
		}
	}
	if got := auditActions(t, s, agent, id); !slices.Equal(got, []string{"approval.created", "approval.expired"}) {
		t.Fatalf("audit: %v", got)
	}
	if r := s.do("PATCH", "/api/approvals/"+id, ceo, map[string]any{"status": "approved"}); r.status != http.StatusConflict {
		t.Fatalf("a decision after the deadline: %d %s, want 409", r.status, r.body)
	}
	q, err := devServer.Client().QueryWorkflow(context.Background(), contract.EscalationWorkflowID(id), "", contract.QueryState)
	var state contract.EscalationState
	if err == nil {
		err = q.Get(&state)
	}
	if err != nil || state.Phase != contract.PhaseClosed || state.Approval.Status != store.StatusExpired {
		t.Fatalf("state query: %+v %v", state, err)
	}
	waitVisibility(t, fmt.Sprintf("ApprovalStatus='expired' AND WorkflowId='%s'", contract.EscalationWorkflowID(id)))

	// Without expiresAt the tenant's policy sets the deadline; past the
	// maximum or in the past is the caller's mistake.
	r = s.do("POST", "/api/approvals", agent, map[string]any{"tenantId": "/teams/support", "title": "Default deadline"})
	if exp, _ := time.Parse(time.RFC3339, fmt.Sprint(r.json(t)["expiresAt"])); time.Until(exp) < 71*time.Hour {
		t.Fatalf("default deadline: %v", r.json(t)["expiresAt"])
	}
	for _, bad := range []time.Time{time.Now().Add(-time.Minute), time.Now().Add(10000 * time.Hour)} {
		r := s.do("POST", "/api/approvals", agent, map[string]any{"tenantId": "/teams/support", "title": "Bad", "expiresAt": bad.UTC().Format(time.RFC3339)})
		if r.status != http.StatusBadRequest {
			t.Fatalf("expiresAt %s: %d %s, want 400", bad, r.status, r.body)
		}
	}
}

// Withdraw, and the question-and-answer loop, end to end.
func TestWithdrawAndInfoLoop(t *testing.T) {
	s := startStack(t, newEnv(t, storetest.URL(t, store.SQLite)))
	agent := s.token("agent-1", support)
	ceo := s.token("ceo-1", support, "approver")
	other := s.token("agent-2", support)
	create := func(title string) string {
		r := s.do("POST", "/api/approvals", agent, map[string]any{"tenantId": "/teams/support", "title": title})
		if r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		return r.json(t)["id"].(string)
	}
	post := func(token, path string, body map[string]any, want int) map[string]any {
		t.Helper()
		r := s.do("POST", path, token, body)
		if r.status != want {
			t.Fatalf("POST %s: %d %s, want %d", path, r.status, r.body, want)
		}
		return r.json(t)
	}

	w := create("Take back")
	post(other, "/api/approvals/"+w+"/withdraw", map[string]any{}, http.StatusForbidden)
	if got := post(agent, "/api/approvals/"+w+"/withdraw", map[string]any{"comment": "solved"}, http.StatusOK); got["status"] != store.StatusWithdrawn {
		t.Fatalf("withdraw: %v", got)
	}
	post(agent, "/api/approvals/"+w+"/withdraw", map[string]any{}, http.StatusConflict)
	if r := s.do("PATCH", "/api/approvals/"+w, ceo, map[string]any{"status": "approved"}); r.status != http.StatusConflict {
		t.Fatalf("decide a withdrawn escalation: %d", r.status)
	}

	q := create("Needs detail")
	post(agent, "/api/approvals/"+q+"/request-info", map[string]any{"question": "me?"}, http.StatusForbidden)
	post(ceo, "/api/approvals/"+q+"/provide-info", map[string]any{"answer": "x"}, http.StatusForbidden)
	post(agent, "/api/approvals/"+q+"/provide-info", map[string]any{"answer": "nobody asked"}, http.StatusConflict)
	post(ceo, "/api/approvals/"+q+"/request-info", map[string]any{"question": ""}, http.StatusBadRequest)
	if got := post(ceo, "/api/approvals/"+q+"/request-info", map[string]any{"question": "Which order?"}, http.StatusOK); got["status"] != store.StatusInfoRequested {
		t.Fatalf("request-info: %v", got)
	}
	post(ceo, "/api/approvals/"+q+"/request-info", map[string]any{"question": "And?"}, http.StatusConflict)
	if got := post(agent, "/api/approvals/"+q+"/provide-info", map[string]any{"answer": "Order 42"}, http.StatusOK); got["status"] != store.StatusPending {
		t.Fatalf("provide-info: %v", got)
	}
	// A second round: its seals are for round 2, as the workflow counts.
	post(ceo, "/api/approvals/"+q+"/request-info", map[string]any{"question": "Which customer?"}, http.StatusOK)
	post(agent, "/api/approvals/"+q+"/provide-info", map[string]any{"answer": "Ada"}, http.StatusOK)
	if r := s.do("PATCH", "/api/approvals/"+q, ceo, map[string]any{"status": "approved"}); r.status != http.StatusOK {
		t.Fatalf("decide after the answer: %d %s", r.status, r.body)
	}
	if got := auditActions(t, s, agent, q); !slices.Equal(got, []string{"approval.created", "approval.info_requested", "approval.info_provided",
		"approval.info_requested", "approval.info_provided", "approval.approved"}) {
		t.Fatalf("audit: %v", got)
	}
	for _, e := range s.do("GET", "/api/audit/resource/approval/"+q, agent, nil).json(t)["items"].([]any) {
		if e := e.(map[string]any); e["channel"] != store.ChannelAPI && e["action"] != "approval.created" {
			t.Fatalf("%v by %v recorded with channel %v, want api", e["action"], e["userId"], e["channel"])
		}
	}
	for _, st := range []string{store.StatusWithdrawn, store.StatusApproved} {
		r := s.do("GET", "/api/approvals?tenantId=%2Fteams%2Fsupport&status="+st, agent, nil)
		if r.status != http.StatusOK || len(r.json(t)["items"].([]any)) != 1 {
			t.Fatalf("filter %s: %d %s", st, r.status, r.body)
		}
	}
}

// Two approvers sending the same Idempotency-Key are two decisions: the
// workflow takes one, the other is refused, never both answered 200.
func TestSameIdempotencyKeyFromTwoApprovers(t *testing.T) {
	s := startStack(t, newEnv(t, storetest.URL(t, store.SQLite)))
	agent := s.token("agent-1", support)
	r := s.do("POST", "/api/approvals", agent, map[string]any{"tenantId": "/teams/support", "title": "Race"})
	id := r.json(t)["id"].(string)
	codes := make(chan int, 2)
	for _, who := range []string{"ceo-1", "ceo-2"} {
		tok := s.token(who, support, "approver")
		status := map[string]string{"ceo-1": "approved", "ceo-2": "rejected"}[who]
		go func() {
			codes <- s.do("PATCH", "/api/approvals/"+id, tok, map[string]any{"status": status}, "Idempotency-Key", "same-key").status
		}()
	}
	got := []int{<-codes, <-codes}
	slices.Sort(got)
	if !slices.Equal(got, []int{http.StatusOK, http.StatusConflict}) {
		t.Fatalf("two approvers with one key: %v, want one 200 and one 409", got)
	}
}
