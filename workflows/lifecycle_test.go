package workflows_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/orchestrator-dev/orchestrator/activities"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// withDeadline gives the harness's escalation a deadline d after the test
// clock's start, and the reminders after creation.
func withDeadline(d time.Duration, reminders ...time.Duration) func(h *harness) {
	return func(h *harness) {
		at := h.env.Now().Add(d)
		h.input.Approval.ExpiresAt = &at
		for _, r := range reminders {
			h.input.ReminderSeconds = append(h.input.ReminderSeconds, int64(r/time.Second))
		}
	}
}

func actions(entries []store.AuditLog) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Action
	}
	return out
}

func change(actor, text string) contract.ChangeRequest {
	return contract.ChangeRequest{ActorID: actor, Text: text, Channel: store.ChannelAPI}
}

func approve(by string) contract.DecisionRequest {
	return contract.DecisionRequest{Status: store.StatusApproved, DeciderID: by, Channel: store.ChannelAPI}
}

// Nobody decides: at the deadline the escalation expires, recorded by
// system, told to the conversation, and never approved. (A decision after
// it finds the workflow closed; the API answers 409: internal/app.)
func TestDeadlineExpiresNeverApproves(t *testing.T) {
	h := newHarness(t, withDeadline(time.Hour))
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	ap := h.approval(t)
	if ap.Status != store.StatusExpired || ap.ApprovedBy != nil {
		t.Fatalf("at the deadline the approval expires, undecided: %+v", ap)
	}
	e := h.audit(t)
	if got := actions(e); !slices.Equal(got, []string{"approval.created", "approval.expired"}) {
		t.Fatalf("audit: %v", got)
	}
	if e[1].UserID != "system" || e[1].Channel != store.ChannelSystem || !contains(string(e[1].NewValues), `"status":"expired"`) ||
		!contains(string(e[1].OldValues), "pending") {
		t.Fatalf("expiry entry: %+v old=%s new=%s", e[1], e[1].OldValues, e[1].NewValues)
	}
	if !slices.Equal(h.notes.kinds, []string{"escalated", "expired"}) {
		t.Fatalf("notifications: %v", h.notes.kinds)
	}
	var state contract.EscalationState
	if err := h.env.GetWorkflowResult(&state); err != nil || state.Phase != contract.PhaseClosed {
		t.Fatalf("result: %+v %v", state, err)
	}
}

// A decision and the deadline at the same moment: exactly one outcome.
func TestDecisionRacingTheDeadline(t *testing.T) {
	for _, at := range []time.Duration{time.Hour - time.Millisecond, time.Hour, time.Hour + time.Millisecond} {
		h := newHarness(t, withDeadline(time.Hour))
		decided := h.update(contract.UpdateDecide, at, nil, approve("ceo-1"))
		h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
		if err := h.env.GetWorkflowError(); err != nil {
			t.Fatal(err)
		}
		got := actions(h.audit(t))
		approved, expired := slices.Contains(got, "approval.approved"), slices.Contains(got, "approval.expired")
		if approved == expired || len(got) != 2 {
			t.Fatalf("decision at %s: want exactly one outcome, audit %v", at, got)
		}
		if approved != (decided.accepted && decided.err == nil) {
			t.Fatalf("decision at %s: the update's answer (%v %v) must match the outcome %v", at, decided.rejected, decided.err, got)
		}
	}
}

// Reminders go out at their offsets, each once, audited; the escalation
// then expires at its deadline.
func TestRemindersOnceEach(t *testing.T) {
	h := newHarness(t, withDeadline(time.Hour, 10*time.Minute, 30*time.Minute))
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if got := actions(h.audit(t)); !slices.Equal(got, []string{"approval.created", "approval.reminded", "approval.reminded", "approval.expired"}) {
		t.Fatalf("audit: %v", got)
	}
	if !slices.Equal(h.notes.kinds, []string{"escalated", "reminder", "reminder", "expired"}) {
		t.Fatalf("notifications: %v", h.notes.kinds)
	}
}

// A question pauses the deadline: time spent waiting for the answer moves
// it on, so a decision that would have come too late is taken.
func TestInfoLoopExtendsTheDeadline(t *testing.T) {
	h := newHarness(t, withDeadline(time.Hour, 50*time.Minute))
	asked := h.update(contract.UpdateRequestInfo, 30*time.Minute, nil, change("ceo-1", "Which order?"))
	selfAsk := h.update(contract.UpdateRequestInfo, 31*time.Minute, nil, change("agent-1", "Me?"))
	answered := h.update(contract.UpdateProvideInfo, 2*time.Hour, nil, change("agent-1", "Order 42"))
	decided := h.update(contract.UpdateDecide, 2*time.Hour+25*time.Minute, nil, approve("ceo-1"))
	var during contract.EscalationState
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(contract.QueryState)
		if err == nil {
			_ = v.Get(&during)
		}
	}, time.Hour+10*time.Minute)
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	for name, u := range map[string]*updateResult{"request-info": asked, "provide-info": answered, "decide": decided} {
		if u.rejected != nil || u.err != nil {
			t.Fatalf("%s: %v %v", name, u.rejected, u.err)
		}
	}
	if appType(selfAsk.rejected) != contract.ErrTypeSelfDecision {
		t.Fatalf("the requester asking: %v", selfAsk.rejected)
	}
	if during.Phase != contract.PhaseInfoRequested || during.Approval.Status != store.StatusInfoRequested {
		t.Fatalf("while waiting for the answer: %+v", during)
	}
	ap := h.approval(t)
	want := h.input.Approval.ExpiresAt.Add(90 * time.Minute)
	if ap.Status != store.StatusApproved || ap.ExpiresAt == nil || ap.ExpiresAt.Sub(want).Abs() > time.Second {
		t.Fatalf("the deadline must move on by the 90 minutes spent waiting: %+v (want expiry %s)", ap, want)
	}
	// The reminder at 50 minutes fell inside the wait: it goes out at
	// 50 minutes plus the pause, before the decision.
	if got := actions(h.audit(t)); !slices.Equal(got, []string{"approval.created", "approval.info_requested", "approval.info_provided", "approval.reminded", "approval.approved"}) {
		t.Fatalf("audit: %v", got)
	}
}

// The requester withdraws; nobody else can; nothing after it.
func TestWithdraw(t *testing.T) {
	h := newHarness(t, withDeadline(time.Hour))
	other := h.update(contract.UpdateWithdraw, 5*time.Minute, nil, change("ceo-1", ""))
	mine := h.update(contract.UpdateWithdraw, 10*time.Minute, nil, change("agent-1", "solved by phone"))
	// Sent right after the withdrawal, before the workflow applied it.
	late := h.update(contract.UpdateDecide, 10*time.Minute, nil, approve("ceo-1"))
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if appType(other.rejected) != contract.ErrTypeNotRequester {
		t.Fatalf("someone else withdrawing: %v", other.rejected)
	}
	if mine.err != nil || mine.rejected != nil {
		t.Fatalf("withdraw: %v %v", mine.rejected, mine.err)
	}
	if late.rejected == nil && late.err == nil {
		t.Fatal("a decision after the withdrawal must be refused")
	}
	ap := h.approval(t)
	if ap.Status != store.StatusWithdrawn || ap.Comment == nil || *ap.Comment != "solved by phone" {
		t.Fatalf("withdrawn: %+v", ap)
	}
	if got := actions(h.audit(t)); !slices.Equal(got, []string{"approval.created", "approval.withdrawn"}) {
		t.Fatalf("audit: %v", got)
	}
	if !slices.Equal(h.notes.kinds, []string{"escalated", "withdrawn"}) {
		t.Fatalf("notifications: %v", h.notes.kinds)
	}
}

// A decision the database refuses fails its update, not the escalation,
// which takes the next decision.
func TestRefusedDecisionFailsTheUpdateNotTheWorkflow(t *testing.T) {
	refused := false
	h := newHarness(t, func(h *harness) {
		h.onStep(deciding).Return(
			func(ctx context.Context, in activities.StepInput) (*activities.StepResult, error) {
				if !refused {
					refused = true
					return nil, temporal.NewNonRetryableApplicationError("a value cannot be stored", contract.ErrTypeInvalid, nil)
				}
				return h.acts.Step(ctx, in)
			})
	})
	first := h.update(contract.UpdateDecide, time.Minute, nil, approve("ceo-1"))
	second := h.update(contract.UpdateDecide, 2*time.Minute, nil, contract.DecisionRequest{Status: store.StatusRejected, DeciderID: "ceo-2"})
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("the workflow must not fail: %v", err)
	}
	if appType(first.err) != contract.ErrTypeInvalid {
		t.Fatalf("the refused decision's update: %v", first.err)
	}
	if second.err != nil || second.rejected != nil || h.approval(t).Status != store.StatusRejected {
		t.Fatalf("the next decision: %v %v %+v", second.rejected, second.err, h.approval(t))
	}
}

// An approval the database refuses to record answers the create with the
// cause, not "workflow completed".
func TestFailedRecordAnswersTheCreate(t *testing.T) {
	h := newHarness(t, func(h *harness) {
		h.onStep(recording).Return(nil,
			temporal.NewNonRetryableApplicationError("a value cannot be stored", contract.ErrTypeInvalid, nil))
	})
	created := h.update(contract.UpdateCreated, 0, nil)
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
	if appType(created.err) != contract.ErrTypeInvalid {
		t.Fatalf("the created update must carry the cause: %v", created.err)
	}
}

// A decide accepted while the approval is being recorded, which then turns
// out to be a conflict, is answered; the workflow completes.
func TestDecisionDuringADiscardedRecordIsAnswered(t *testing.T) {
	h := newHarness(t, func(h *harness) {
		h.onStep(recording).After(time.Second).Return(nil,
			temporal.NewNonRetryableApplicationError("the conversation already has a pending escalation", contract.ErrTypeConflict, nil))
	})
	decided := h.update(contract.UpdateDecide, 0, nil, approve("ceo-1"))
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
	if !h.env.IsWorkflowCompleted() || h.env.GetWorkflowError() != nil {
		t.Fatalf("the workflow must complete: %v", h.env.GetWorkflowError())
	}
	if decided.rejected == nil && decided.err == nil {
		t.Fatal("the decide update must be answered with the conflict")
	}
}
