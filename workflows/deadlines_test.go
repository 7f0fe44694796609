package workflows_test

import (
	"slices"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Deadlines hold without the timer (issue 17): what arrives once the
// deadline has passed is refused as expired, even in the workflow task in
// which the timer fires; a question's answer has its own deadline.

// A decision, a withdrawal and a question sent after the deadline, while
// the workflow is busy (a reminder's write runs across the deadline, so its
// timer cannot fire yet), are refused as expired; the escalation expires.
func TestNothingIsTakenOnceTheDeadlineHasPassed(t *testing.T) {
	h := newHarness(t, withDeadline(time.Hour, time.Hour-5*time.Second), func(h *harness) {
		h.onStep(reminding).After(10 * time.Second).Return(h.acts.Step)
	})
	late := time.Hour + 2*time.Second
	decided := h.update(contract.UpdateDecide, late, nil, approve("ceo-1"))
	asked := h.update(contract.UpdateRequestInfo, late, nil, change("ceo-1", "Which order?"))
	withdrawn := h.update(contract.UpdateWithdraw, late, nil, change("agent-1", ""))
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	for name, u := range map[string]*updateResult{"decide": decided, "request-info": asked, "withdraw": withdrawn} {
		if appType(u.rejected) != contract.ErrTypeExpired {
			t.Errorf("%s after the deadline: want %s, got rejected=%v err=%v", name, contract.ErrTypeExpired, u.rejected, u.err)
		}
	}
	if ap := h.approval(t); ap.Status != store.StatusExpired || ap.ApprovedBy != nil {
		t.Fatalf("the escalation expires: %+v", ap)
	}
	if got := actions(h.audit(t)); !slices.Equal(got, []string{"approval.created", "approval.reminded", "approval.expired"}) {
		t.Fatalf("audit: %v", got)
	}
}

// A question nobody answers in time: at the answer's deadline the
// escalation is pending again, recorded by system, the approvers told, and
// the deadline moved on by the wait; a late answer is refused, a decision
// taken.
func TestUnansweredQuestionReturnsToPending(t *testing.T) {
	h := newHarness(t, withDeadline(2*time.Hour), func(h *harness) { h.input.AnswerTTLSeconds = int64(time.Hour / time.Second) })
	asked := h.update(contract.UpdateRequestInfo, 10*time.Minute, nil, change("ceo-1", "Which order?"))
	late := h.update(contract.UpdateProvideInfo, 75*time.Minute, nil, change("agent-1", "Order 42"))
	decided := h.update(contract.UpdateDecide, 80*time.Minute, nil, approve("ceo-1"))
	var during contract.EscalationState
	h.env.RegisterDelayedCallback(func() {
		if v, err := h.env.QueryWorkflow(contract.QueryState); err == nil {
			_ = v.Get(&during)
		}
	}, 71*time.Minute)
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if asked.err != nil || asked.rejected != nil {
		t.Fatalf("request-info: %v %v", asked.rejected, asked.err)
	}
	if during.Phase != contract.PhasePending || during.Approval.Status != store.StatusPending {
		t.Fatalf("after the answer's deadline the escalation is pending again: %+v", during)
	}
	want := h.input.Approval.ExpiresAt.Add(time.Hour)
	if during.ExpiresAt == nil || during.ExpiresAt.Sub(want).Abs() > time.Second {
		t.Fatalf("the deadline moves on by the hour spent waiting: %v, want %s", during.ExpiresAt, want)
	}
	if appType(late.rejected) != contract.ErrTypeInvalidTransition {
		t.Fatalf("an answer after its deadline: %v %v", late.rejected, late.err)
	}
	if decided.err != nil || decided.rejected != nil || h.approval(t).Status != store.StatusApproved {
		t.Fatalf("decide: %v %v %+v", decided.rejected, decided.err, h.approval(t))
	}
	e := h.audit(t)
	if got := actions(e); !slices.Equal(got, []string{"approval.created", "approval.info_requested", "approval.info_unanswered", "approval.approved"}) {
		t.Fatalf("audit: %v", got)
	}
	if e[2].UserID != "system" || !contains(string(e[2].NewValues), `"status":"pending"`) {
		t.Fatalf("unanswered entry: %+v %s", e[2], e[2].NewValues)
	}
	if !slices.Equal(h.notes.kinds, []string{"escalated", "info_requested", "info_unanswered", "decided", "consultation"}) {
		t.Fatalf("notifications: %v", h.notes.kinds)
	}
}

// An answer sent at the very moment its time runs out is refused as
// expired, and the escalation is pending again.
func TestAnswerAtItsDeadlineIsRefused(t *testing.T) {
	h := newHarness(t, withDeadline(2*time.Hour), func(h *harness) { h.input.AnswerTTLSeconds = int64(time.Hour / time.Second) })
	h.update(contract.UpdateRequestInfo, 10*time.Minute, nil, change("ceo-1", "Which order?"))
	answered := h.update(contract.UpdateProvideInfo, 70*time.Minute, nil, change("agent-1", "Order 42"))
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if appType(answered.rejected) != contract.ErrTypeExpired {
		t.Fatalf("an answer at its deadline: %v %v", answered.rejected, answered.err)
	}
	if got := actions(h.audit(t)); !slices.Equal(got, []string{"approval.created", "approval.info_requested", "approval.info_unanswered", "approval.expired"}) {
		t.Fatalf("audit: %v", got)
	}
}
