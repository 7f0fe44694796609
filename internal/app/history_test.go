package app_test

import (
	"context"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

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
	s := startStack(t, newEnv(t, storetest.URL(t, store.SQLite)))
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
	histories["escalation-approved"] = contract.EscalationWorkflowID(approved)
	histories["consultation-started-ended"] = contract.ConsultationWorkflowID(cons)

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
	r := s.do("POST", "/api/approvals", agent, map[string]any{"tenantId": "/teams/support", "title": "Expired flow",
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

	for name, id := range histories {
		if err := tc.GetWorkflow(ctx, id, "").Get(ctx, nil); err != nil {
			t.Fatalf("%s did not complete: %v", id, err)
		}
		h := fetchHistory(t, tc, id)
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
}

func fetchHistory(t *testing.T, tc client.Client, id string) *historypb.History {
	t.Helper()
	it := tc.GetWorkflowHistory(context.Background(), id, "", false, 0)
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
