package workflows_test

import (
	"os"
	"path/filepath"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	orchworker "github.com/orchestrator-dev/orchestrator/worker"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// TestReplayRecordedHistories replays histories recorded from real runs
// (internal/app's TestRecordedHistoriesReplay -update-histories). A change to
// workflow code that would break running workflows fails here.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("want at least 4 recorded histories, found %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			orchworker.RegisterWorkflows(r, nil)
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatalf("replay: %v", err)
			}
		})
	}
}

// TestReplayPendingRunsOfOldVersions replays each recorded escalation up to
// where it waited for its decision: an escalation started by older code and
// still pending when new code is deployed must replay to that point, and is
// then decided by the branch of its own generation (which the whole
// histories above replay).
func TestReplayPendingRunsOfOldVersions(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*escalation-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var h historypb.History
		if err := protojson.Unmarshal(b, &h); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		cut := pendingPoint(h.Events)
		if cut < 0 {
			continue // no decision in this history (expired, withdrawn)
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			pending := &historypb.History{Events: h.Events[:cut+1]}
			r := worker.NewWorkflowReplayer()
			orchworker.RegisterWorkflows(r, nil)
			if err := r.ReplayWorkflowHistory(nil, pending); err != nil {
				t.Fatalf("replay of the pending run (%d of %d events): %v", cut+1, len(h.Events), err)
			}
		})
	}
	if n < 6 {
		t.Fatalf("want the pending runs of at least 6 recorded escalations, found %d", n)
	}
}

// pendingPoint is the index of the last completed workflow task before the
// decision arrived (a decide update or the decision signal), -1 if none did.
func pendingPoint(events []*historypb.HistoryEvent) int {
	last := -1
	for i, e := range events {
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			last = i
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			return last
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
			if e.GetWorkflowExecutionUpdateAcceptedEventAttributes().GetAcceptedRequest().GetInput().GetName() == contract.UpdateDecide {
				return last
			}
		}
	}
	return -1
}
