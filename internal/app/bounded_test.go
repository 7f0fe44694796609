package app_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// A long question loop through the API on a real server: when the server
// suggests it (historySuggestion events here), the escalation continues as
// new; no run's history grows much past the suggestion, and the API, the
// state query and the audit trail see one escalation, which is decided at
// the end.
func TestLongQuestionLoopContinuesAsNew(t *testing.T) {
	const rounds = 30
	env := newEnv(t, storetest.URL(t, store.SQLite))
	// The approval's consultation, which nobody starts, ends the last run
	// soon (the escalation runs it).
	env["CONSULTATION_START_TIMEOUT"] = "3s"
	s := startStack(t, env)
	agent := s.token("agent-1", support)
	ceo := s.token("ceo-1", support, "approver")
	if r := s.do("PUT", "/api/policies?tenantId=%2Fteams%2Fsupport", ceo, map[string]any{"defaultTtl": "72h", "maxTtl": "720h", "maxQuestions": 100}); r.status != http.StatusOK {
		t.Fatalf("policy: %d %s", r.status, r.body)
	}
	r := s.do("POST", "/api/approvals", agent, map[string]any{"tenantId": "/teams/support", "title": "Many questions"})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	for i := range rounds {
		for _, step := range []struct{ token, path, field string }{{ceo, "/request-info", "question"}, {agent, "/provide-info", "answer"}} {
			if r := s.do("POST", "/api/approvals/"+id+step.path, step.token, map[string]any{step.field: fmt.Sprintf("round %d", i)}); r.status != http.StatusOK {
				t.Fatalf("round %d %s: %d %s", i, step.path, r.status, r.body)
			}
		}
	}
	if r := s.do("PATCH", "/api/approvals/"+id, ceo, map[string]any{"status": "approved"}); r.status != http.StatusOK {
		t.Fatalf("decide after %d rounds: %d %s", rounds, r.status, r.body)
	}
	ctx := context.Background()
	tc := devServer.Client()
	wid := contract.EscalationWorkflowID(id)
	if err := tc.GetWorkflow(ctx, wid, "").Get(ctx, nil); err != nil {
		t.Fatalf("the escalation's last run: %v", err)
	}
	runs, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: fmt.Sprintf("WorkflowId = '%s'", wid)})
	if err != nil {
		t.Fatal(err)
	}
	continued := 0
	for _, run := range runs.Executions {
		n := len(fetchRunHistory(t, wid, run.Execution.RunId))
		t.Logf("run %s: %s, %d events", run.Execution.RunId, run.Status, n)
		if n > historySuggestion+60 {
			t.Errorf("run %s: %d events, the server suggested continuing as new at %d", run.Execution.RunId, n, historySuggestion)
		}
		if run.Status == enums.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
			continued++
		}
	}
	if continued < 2 || len(runs.Executions) != continued+1 {
		t.Fatalf("want the escalation continued as new at least twice, then completed: %d runs, %d continued", len(runs.Executions), continued)
	}
	if ap := s.do("GET", "/api/approvals/"+id, agent, nil).json(t); ap["status"] != store.StatusApproved {
		t.Fatalf("approval: %v", ap)
	}
	q, err := tc.QueryWorkflow(ctx, wid, "", contract.QueryState)
	var state contract.EscalationState
	if err == nil {
		err = q.Get(&state)
	}
	if err != nil || state.Phase != contract.PhaseDecided || state.Approval.Status != store.StatusApproved {
		t.Fatalf("state query: %+v %v", state, err)
	}
	asked := 0
	for _, e := range s.do("GET", "/api/audit/resource/approval/"+id+"?limit=200", agent, nil).json(t)["items"].([]any) {
		if e.(map[string]any)["action"] == "approval.info_requested" {
			asked++
		}
	}
	if asked != rounds {
		t.Fatalf("%d questions audited, want %d", asked, rounds)
	}
}

func fetchRunHistory(t *testing.T, workflowID, runID string) []any {
	t.Helper()
	it := devServer.Client().GetWorkflowHistory(context.Background(), workflowID, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var out []any
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// A question beyond the tenant's maxQuestions is 409 too_many_questions
// through the API; the escalation can still be decided.
func TestQuestionCapThroughTheAPI(t *testing.T) {
	s := startStack(t, newEnv(t, storetest.URL(t, store.SQLite)))
	agent := s.token("agent-1", support)
	ceo := s.token("ceo-1", support, "approver")
	if r := s.do("PUT", "/api/policies?tenantId=%2Fteams%2Fsupport", ceo, map[string]any{"defaultTtl": "72h", "maxTtl": "720h", "maxQuestions": 1}); r.status != http.StatusOK {
		t.Fatalf("policy: %d %s", r.status, r.body)
	}
	r := s.do("POST", "/api/approvals", agent, map[string]any{"tenantId": "/teams/support", "title": "One question"})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	for _, step := range []struct {
		token, path string
		body        map[string]any
		want        int
		code        string
	}{
		{ceo, "/request-info", map[string]any{"question": "Which order?"}, http.StatusOK, ""},
		{agent, "/provide-info", map[string]any{"answer": "Order 42"}, http.StatusOK, ""},
		{ceo, "/request-info", map[string]any{"question": "And the date?"}, http.StatusConflict, "too_many_questions"},
	} {
		r := s.do("POST", "/api/approvals/"+id+step.path, step.token, step.body)
		if r.status != step.want || (step.code != "" && r.json(t)["code"] != step.code) {
			t.Fatalf("%s: %d %s, want %d %s", step.path, r.status, r.body, step.want, step.code)
		}
	}
	if r := s.do("PATCH", "/api/approvals/"+id, ceo, map[string]any{"status": "approved"}); r.status != http.StatusOK {
		t.Fatalf("decide after the refused question: %d %s", r.status, r.body)
	}
}
