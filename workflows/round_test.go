package workflows_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// A sealed question or answer holds for its round only: the first question
// sent again, word for word with its seal, once it has been answered, is
// recorded as ops, not as the approver on api. It still counts as a round
// (the API counts the recorded questions too): the next question, sealed for
// round 3, is api.
func TestChangeSealBindsTheRound(t *testing.T) {
	h := newHarness(t, withDeadline(time.Hour))
	id := h.input.Approval.ID
	q1 := testKey.SealChange(id, contract.UpdateRequestInfo, 1, change("ceo-1", "Which order?"))
	a1 := testKey.SealChange(id, contract.UpdateProvideInfo, 1, change("agent-1", "Order 42"))
	q3 := testKey.SealChange(id, contract.UpdateRequestInfo, 3, change("ceo-1", "Which customer?"))
	a3 := testKey.SealChange(id, contract.UpdateProvideInfo, 3, change("agent-1", "Ada"))
	updates := []*updateResult{
		h.update(contract.UpdateRequestInfo, 10*time.Minute, nil, q1),
		h.update(contract.UpdateProvideInfo, 20*time.Minute, nil, a1),
		h.update(contract.UpdateRequestInfo, 30*time.Minute, nil, q1), // replayed: round 2
		h.update(contract.UpdateProvideInfo, 40*time.Minute, nil, a1), // replayed: round 2
		h.update(contract.UpdateRequestInfo, 50*time.Minute, nil, q3),
		h.update(contract.UpdateProvideInfo, 55*time.Minute, nil, a3),
	}
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	for i, u := range updates {
		if u.rejected != nil || u.err != nil {
			t.Fatalf("update %d: %v %v", i+1, u.rejected, u.err)
		}
	}
	var got []string
	for _, e := range h.audit(t) {
		if e.Action == "approval.info_requested" || e.Action == "approval.info_provided" {
			got = append(got, e.Action+"/"+e.UserID+"/"+e.Channel)
		}
	}
	want := []string{
		"approval.info_requested/ceo-1/" + store.ChannelAPI, "approval.info_provided/agent-1/" + store.ChannelAPI,
		"approval.info_requested/ceo-1/" + store.ChannelOps, "approval.info_provided/agent-1/" + store.ChannelOps,
		"approval.info_requested/ceo-1/" + store.ChannelAPI, "approval.info_provided/agent-1/" + store.ChannelAPI,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("questions and answers recorded as\n%v\nwant\n%v", got, want)
	}
}
