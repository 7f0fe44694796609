package app_test

import (
	"context"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
	"github.com/orchestrator-dev/orchestrator/worker"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

var updateHistories = flag.Bool("update-histories", false, "write the recorded histories to workflows/testdata/histories")

// TestRecordedHistoriesReplay runs the main flows on a real server, replays
// their histories with the current code and, with -update-histories, stores
// them as the fixtures workflows/replay_test.go keeps replaying.
func TestRecordedHistoriesReplay(t *testing.T) {
	env := newEnv(t, storetest.URL(t, store.SQLite))
	// The consultations approvals open and nobody starts expire soon: the
	// escalations that run them complete, and their histories are whole.
	env["CONSULTATION_START_TIMEOUT"] = "10s"
	s := startStack(t, env)
	agent := s.token("agent-1", support)
	ceo := s.token("ceo-1", support, "approver")
	create := func(title string) string {
		r := s.do("POST", "/api/approvals", agent, map[string]any{"tenantId": "/teams/support", "title": title, "priority": "high"})
		if r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		return r.json(t)["id"].(string)
	}
	histories := map[string]string{}

	approved := create("Approved flow")
	if r := s.do("PATCH", "/api/approvals/"+approved, ceo, map[string]any{"status": "approved", "comment": "yes"}); r.status != http.StatusOK {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	cons := s.do("GET", "/api/consultations?tenantId=%2Fteams%2Fsupport", agent, nil).json(t)["items"].([]any)[0].(map[string]any)["id"].(string)
	for _, step := range []string{"start", "end"} {
		if r := s.do("POST", "/api/consultations/"+cons+"/"+step, ceo, nil); r.status != http.StatusOK {
			t.Fatalf("consultation %s: %d %s", step, r.status, r.body)
		}
	}
	// The approval's consultation is run by the escalation's workflow
	// (contract.GenerationCompact); one created on its own keeps its own.
	histories["escalation-approved"] = contract.EscalationWorkflowID(approved)
	r := s.do("POST", "/api/consultations", ceo, map[string]any{"tenantId": "/teams/support", "title": "A call on its own"})
	if r.status != http.StatusCreated {
		t.Fatalf("create consultation: %d %s", r.status, r.body)
	}
	alone := r.json(t)["id"].(string)
	for _, step := range []string{"start", "end"} {
		if r := s.do("POST", "/api/consultations/"+alone+"/"+step, ceo, nil); r.status != http.StatusOK {
			t.Fatalf("consultation %s: %d %s", step, r.status, r.body)
		}
	}
	histories["consultation-started-ended"] = contract.ConsultationWorkflowID(alone)

	rejected := create("Rejected flow")
	if r := s.do("PATCH", "/api/approvals/"+rejected, ceo, map[string]any{"status": "rejected"}); r.status != http.StatusOK {
		t.Fatalf("reject: %d %s", r.status, r.body)
	}
	histories["escalation-rejected"] = contract.EscalationWorkflowID(rejected)

	signalled := create("Decided by ops signal")
	tc := devServer.Client()
	ctx := context.Background()
	for _, d := range []contract.DecisionRequest{{Status: "bogus", DeciderID: "ops-1"}, {Status: "approved", DeciderID: "ops-1", DeciderName: "Ops"}} {
		if err := tc.SignalWorkflow(ctx, contract.EscalationWorkflowID(signalled), "", contract.SignalDecision, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := tc.GetWorkflow(ctx, contract.EscalationWorkflowID(signalled), "").Get(ctx, nil); err != nil {
		t.Fatalf("signalled escalation: %v", err)
	}
	histories["escalation-ops-signal"] = contract.EscalationWorkflowID(signalled)

	// The lifecycle: a deadline nobody met, a withdrawal, a question and
	// its answer before the decision.
	r = s.do("POST", "/api/approvals", agent, map[string]any{"tenantId": "/teams/support", "title": "Expired flow",
		"expiresAt": time.Now().Add(2 * time.Second).UTC().Format(time.RFC3339Nano)})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	histories["escalation-expired"] = contract.EscalationWorkflowID(r.json(t)["id"].(string))
	withdrawn := create("Withdrawn flow")
	if r := s.do("POST", "/api/approvals/"+withdrawn+"/withdraw", agent, map[string]any{"comment": "solved"}); r.status != http.StatusOK {
		t.Fatalf("withdraw: %d %s", r.status, r.body)
	}
	histories["escalation-withdrawn"] = contract.EscalationWorkflowID(withdrawn)
	asked := create("Question flow")
	for _, step := range []struct {
		path, token string
		body        map[string]any
	}{
		{"/request-info", ceo, map[string]any{"question": "Which order?"}},
		{"/provide-info", agent, map[string]any{"answer": "Order 42"}},
	} {
		if r := s.do("POST", "/api/approvals/"+asked+step.path, step.token, step.body); r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", step.path, r.status, r.body)
		}
	}
	if r := s.do("PATCH", "/api/approvals/"+asked, ceo, map[string]any{"status": "rejected"}); r.status != http.StatusOK {
		t.Fatalf("reject: %d %s", r.status, r.body)
	}
	histories["escalation-info-loop"] = contract.EscalationWorkflowID(asked)

	// The bounded generation: a question loop long enough to continue as
	// new (devServer suggests it at historySuggestion events), both runs
	// kept; a question nobody answers in time.
	policy := func(body map[string]any) {
		if r := s.do("PUT", "/api/policies?tenantId=%2Fteams%2Fsupport", ceo, body); r.status != http.StatusOK {
			t.Fatalf("policy: %d %s", r.status, r.body)
		}
	}
	policy(map[string]any{"defaultTtl": "72h", "maxTtl": "720h", "maxQuestions": 30})
	looped := create("Long question loop")
	loopID := contract.EscalationWorkflowID(looped)
	first, err := tc.DescribeWorkflow(ctx, loopID, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		for _, step := range []struct{ token, path, field string }{{ceo, "/request-info", "question"}, {agent, "/provide-info", "answer"}} {
			if r := s.do("POST", "/api/approvals/"+looped+step.path, step.token, map[string]any{step.field: "round"}); r.status != http.StatusOK {
				t.Fatalf("round %d %s: %d %s", i, step.path, r.status, r.body)
			}
		}
	}
	if r := s.do("PATCH", "/api/approvals/"+looped, ceo, map[string]any{"status": "approved"}); r.status != http.StatusOK {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	histories["escalation-continued-last-run"] = loopID
	runs := map[string]string{"escalation-continued-first-run": first.RawResponse.GetWorkflowExecutionInfo().GetExecution().GetRunId()}

	policy(map[string]any{"defaultTtl": "72h", "maxTtl": "720h", "answerTtl": "2s"})
	unanswered := create("Unanswered question")
	if r := s.do("POST", "/api/approvals/"+unanswered+"/request-info", ceo, map[string]any{"question": "Which order?"}); r.status != http.StatusOK {
		t.Fatalf("request-info: %d %s", r.status, r.body)
	}
	eventuallyWithin(t, 20*time.Second, "the question's time to run out", func() bool {
		return s.do("GET", "/api/approvals/"+unanswered, agent, nil).json(t)["status"] == store.StatusPending
	})
	if r := s.do("PATCH", "/api/approvals/"+unanswered, ceo, map[string]any{"status": "rejected"}); r.status != http.StatusOK {
		t.Fatalf("reject: %d %s", r.status, r.body)
	}
	histories["escalation-info-unanswered"] = contract.EscalationWorkflowID(unanswered)

	record := func(name string, h *historypb.History) {
		replayer := sdkworker.NewWorkflowReplayer()
		worker.RegisterWorkflows(replayer, nil)
		if err := replayer.ReplayWorkflowHistory(nil, h); err != nil {
			t.Fatalf("replay %s: %v", name, err)
		}
		if *updateHistories {
			b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("..", "..", "workflows", "testdata", "histories", name+".json")
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s", path)
		}
	}
	for name, runID := range runs {
		h := fetchRunHistoryOf(t, tc, loopID, runID)
		if last := h.Events[len(h.Events)-1]; last.GetEventType() != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW {
			t.Fatalf("%s ends with %s, not continued as new", name, last.GetEventType())
		}
		record(name, h)
	}
	for name, id := range histories {
		if err := tc.GetWorkflow(ctx, id, "").Get(ctx, nil); err != nil {
			t.Fatalf("%s did not complete: %v", id, err)
		}
		record(name, fetchHistory(t, tc, id))
	}
}

func fetchHistory(t *testing.T, tc client.Client, id string) *historypb.History {
	return fetchRunHistoryOf(t, tc, id, "")
}

func fetchRunHistoryOf(t *testing.T, tc client.Client, id, runID string) *historypb.History {
	t.Helper()
	it := tc.GetWorkflowHistory(context.Background(), id, runID, false, 0)
	h := &historypb.History{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, e)
	}
	return h
}
