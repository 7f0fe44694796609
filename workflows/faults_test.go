package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/orchestrator-dev/orchestrator/activities"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Faults no escalation may die or hang of (issue 17): a database that
// refuses (fails fast, not slowly) past the local budget, a failed record
// under a waiting decide, a failure after the decision's write.

// refusedLocally fails every local attempt fast, as a database refusing
// connections or locked does, and lets the regular activity through.
type refusedLocally struct{ local, regular atomic.Int32 }

func (r *refusedLocally) try(ctx context.Context) error {
	if activity.GetInfo(ctx).IsLocalActivity {
		r.local.Add(1)
		return errors.New("permission denied for table approvals (SQLSTATE 42501)")
	}
	r.regular.Add(1)
	return nil
}

func (r *refusedLocally) check(t *testing.T, what string) {
	t.Helper()
	if r.local.Load() < 2 || r.regular.Load() < 1 {
		t.Fatalf("%s: want local attempts until the budget, then the regular activity; local=%d regular=%d", what, r.local.Load(), r.regular.Load())
	}
}

// A record the database refuses for longer than the local budget goes on
// as a regular activity and the escalation lives on.
func TestRecordRefusedPastTheLocalBudgetFallsBack(t *testing.T) {
	var r refusedLocally
	h := newHarness(t, func(h *harness) {
		h.onStep(recording).Return(
			func(ctx context.Context, in activities.StepInput) (*activities.StepResult, error) {
				if err := r.try(ctx); err != nil {
					return nil, err
				}
				return h.acts.Step(ctx, in)
			})
	})
	decided := h.update(contract.UpdateDecide, 2*time.Hour, nil, approve("ceo-1"))
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("the workflow must not fail: %v", err)
	}
	r.check(t, "record")
	if decided.err != nil || h.approval(t).Status != store.StatusApproved {
		t.Fatalf("decide after the refusal: %v %+v", decided.err, h.approval(t))
	}
}

// The expiry and the reminders are written by the workflow on its own: a
// refusal there retries, it never fails the escalation.
func TestExpiryAndReminderRefusedPastTheLocalBudgetRetry(t *testing.T) {
	var expire, remind refusedLocally
	h := newHarness(t, withDeadline(time.Hour, 10*time.Minute), func(h *harness) {
		h.onStep(changing).Return(
			func(ctx context.Context, in activities.StepInput) (*activities.StepResult, error) {
				if err := expire.try(ctx); err != nil {
					return nil, err
				}
				return h.acts.Step(ctx, in)
			})
		h.onStep(reminding).Return(
			func(ctx context.Context, in activities.StepInput) (*activities.StepResult, error) {
				if err := remind.try(ctx); err != nil {
					return nil, err
				}
				return h.acts.Step(ctx, in)
			})
	})
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("the workflow must not fail: %v", err)
	}
	expire.check(t, "expiry")
	remind.check(t, "reminder")
	if got := actions(h.audit(t)); !slices.Equal(got, []string{"approval.created", "approval.reminded", "approval.expired"}) {
		t.Fatalf("audit: %v", got)
	}
	if h.approval(t).Status != store.StatusExpired {
		t.Fatalf("approval: %+v", h.approval(t))
	}
}

// A refusal that can never succeed (the row moved on) ends the expiry and
// skips the reminder without failing the workflow.
func TestFinalRefusalOfExpiryOrReminderDoesNotFailTheWorkflow(t *testing.T) {
	h := newHarness(t, withDeadline(time.Hour, 10*time.Minute), func(h *harness) {
		h.onStep(changing).Return(nil,
			temporal.NewNonRetryableApplicationError("the approval is not waiting", contract.ErrTypeConflict, nil))
		h.onStep(reminding).Return(nil,
			temporal.NewNonRetryableApplicationError("no such approval", contract.ErrTypeNotFound, nil))
	})
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
	if !h.env.IsWorkflowCompleted() || h.env.GetWorkflowError() != nil {
		t.Fatalf("the workflow must complete: %v", h.env.GetWorkflowError())
	}
}

// A decide accepted while the approval is being recorded, and a record that
// then fails, answers the decide with the failure; the workflow finishes.
func TestDecisionDuringAFailedRecordIsAnswered(t *testing.T) {
	h := newHarness(t, func(h *harness) {
		h.onStep(recording).After(time.Second).Return(nil,
			temporal.NewNonRetryableApplicationError("a value cannot be stored", contract.ErrTypeInvalid, nil))
	})
	h.env.SetTestTimeout(10 * time.Second)
	decided := h.update(contract.UpdateDecide, 0, nil, approve("ceo-1"))
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
	if !h.env.IsWorkflowCompleted() {
		t.Fatal("the workflow must finish")
	}
	if !strings.Contains(fmt.Sprint(h.env.GetWorkflowError()), "a value cannot be stored") {
		t.Fatalf("the workflow fails with the record's cause: %v", h.env.GetWorkflowError())
	}
	if !decided.accepted || appType(decided.err) != contract.ErrTypeInvalid {
		t.Fatalf("the decide update must be answered with the cause: accepted=%v %v %v", decided.accepted, decided.rejected, decided.err)
	}
}

// A decision whose consultation cannot be built (a failure of apply outside
// its activity: the room name's side effect) is answered with the failure
// and the escalation takes the next one: nothing loops. (Before, the same
// decision was applied again and again; here the side effect fails three
// times, so that loop ends by approving.)
func TestFailureBeforeTheDecisionIsWrittenAnswersIt(t *testing.T) {
	var applied, drawn atomic.Int32
	h := newHarness(t, boundedGeneration, func(h *harness) {
		h.env.OnActivity(h.acts.ApplyDecision, mock.Anything, mock.Anything).Return(
			func(ctx context.Context, in activities.ApplyDecisionInput) (*activities.ApplyDecisionResult, error) {
				applied.Add(1)
				return h.acts.ApplyDecision(ctx, in)
			})
		// A number where the room name's string is expected: its Get fails.
		h.env.OnSideEffect().Return(func() any {
			if drawn.Add(1) <= 3 {
				return 42
			}
			return "consult-abcdefghijklmnopqrstuvwxyz"
		})
	})
	h.env.SetTestTimeout(10 * time.Second)
	first := h.update(contract.UpdateDecide, time.Minute, nil, approve("ceo-1"))
	second := h.update(contract.UpdateDecide, 2*time.Minute, nil, contract.DecisionRequest{Status: store.StatusRejected, DeciderID: "ceo-2"})
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
	if !h.env.IsWorkflowCompleted() || h.env.GetWorkflowError() != nil {
		t.Fatalf("the workflow must complete: %v", h.env.GetWorkflowError())
	}
	if first.err == nil || second.err != nil || applied.Load() != 1 || h.approval(t).Status != store.StatusRejected {
		t.Fatalf("first %v, second %v, applied %d, %+v", first.err, second.err, applied.Load(), h.approval(t))
	}
}

// Starting the consultation's workflow (Temporal refusing) is bounded like
// the database writes: past the budget it goes on as a regular activity.
func TestConsultationStartRefusedFallsBack(t *testing.T) {
	var r refusedLocally
	var started atomic.Int32
	h := newHarness(t, boundedGeneration, func(h *harness) {
		h.env.OnActivity(h.acts.StartConsultation, mock.Anything, mock.Anything).Return(
			func(ctx context.Context, in contract.ConsultationInput) error {
				if err := r.try(ctx); err != nil {
					return err
				}
				started.Add(1)
				return nil
			})
	})
	h.env.SetTestTimeout(10 * time.Second)
	h.update(contract.UpdateDecide, time.Minute, nil, approve("ceo-1"))
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
	if !h.env.IsWorkflowCompleted() || h.env.GetWorkflowError() != nil {
		t.Fatalf("the workflow must complete: %v", h.env.GetWorkflowError())
	}
	r.check(t, "consultation start")
	if started.Load() != 1 {
		t.Fatalf("the consultation workflow must be started once: %d", started.Load())
	}
}

// The consultation's own record takes the same bounded write.
func TestConsultationRecordRefusedFallsBack(t *testing.T) {
	var r refusedLocally
	h := newHarness(t, func(h *harness) {
		h.env.OnActivity(h.acts.RecordConsultation, mock.Anything, mock.Anything).Return(
			func(ctx context.Context, in activities.RecordConsultationInput) (*contract.Consultation, error) {
				if err := r.try(ctx); err != nil {
					return nil, err
				}
				return h.acts.RecordConsultation(ctx, in)
			})
	})
	in := consultationInput(h)
	h.env.ExecuteWorkflow(contract.ConsultationWorkflow, in)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("the workflow must not fail: %v", err)
	}
	r.check(t, "consultation record")
	if c := h.consultation(t, in.Consultation.ID); c.Status != store.ConsultationEnded {
		t.Fatalf("consultation: %+v", c)
	}
}
