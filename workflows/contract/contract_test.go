package contract_test

import (
	"strings"
	"testing"

	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

func TestWaitingQuery(t *testing.T) {
	want := "WorkflowType = 'Escalation' AND ExecutionStatus = 'Running' AND ApprovalStatus IN ('pending', 'info_requested') AND TaskQueue = 'escalations'"
	if q := contract.WaitingQuery("escalations"); q != want {
		t.Fatalf("query\n got %s\nwant %s", q, want)
	}
	if q := contract.WaitingQuery("it's"); strings.Contains(q, "TaskQueue") {
		t.Fatalf("a task queue with a quote went into the query: %s", q)
	}
}
