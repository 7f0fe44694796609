package workflows

import (
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/orchestrator-dev/orchestrator/activities"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Generations of the escalation. New runs take the newest path; the other
// branches exist only so that escalations started by older code replay
// (workflows/testdata/histories/v0-* to v5-* are such histories).
//
// A branch can be deleted once no workflow that took it is open. Ask the
// namespace, for each change id below, e.g.:
//
//	temporal workflow count --query "WorkflowType='Escalation' AND ExecutionStatus='Running' AND TemporalChangeVersion NOT IN ('inline-effects-1', 'lifecycle-1', 'bounded-1')"
//
// (TemporalChangeVersion lists "<change id>-<version>" for the versions a run
// recorded; runs started since lifecycle record only the newest marker,
// which implies the others, so name the newer ones beside the change id you
// ask about.) When it answers 0 for a change id, delete its branch, keep
// the GetVersion call with the old version as the minimum, and drop the
// matching fixtures.
const (
	// inlineEffects (v0 → 1): notifications first try a local activity, and
	// the consultation starts from a local activity. Before it: regular
	// activities only, and the consultation was a child workflow.
	inlineEffects = "inline-effects"
	// durableDecision (v0 → 1): the decision is applied by a regular
	// activity. Before it: a local activity inside the task that accepted
	// the update (see escalation.apply for why that was unsafe).
	durableDecision = "durable-decision"
	// lifecycle (v0 → 1): the escalation ends in time (a deadline that
	// never approves, reminders), can be withdrawn or wait for an answer, a
	// decision the database refuses fails its update instead of the
	// workflow, and a local activity that cannot finish in time falls back
	// to a regular one. Before it: the escalation waited for a decision
	// alone, as long as it took.
	lifecycle = "lifecycle"
	// bounded (v0 → 1): no fault kills or hangs an escalation (a local
	// write falls back to a regular activity on every error a retry could
	// cure, not only its timeout; the expiry, a reminder, the consultation's
	// start and what follows the decision's write never fail the workflow),
	// deadlines hold without the timer (validators refuse what arrives past
	// them; a question's answer has its own), and the history stays bounded
	// (a cap on questions, one timer per target time, continue-as-new).
	// Before it: the lifecycle generation (the branches below, and
	// AwaitWithTimeout in escalation.live).
	bounded = "bounded"
)

// generation is which of the escalation's generations a run follows.
type generation struct {
	inlineEffects bool
	lifecycle     bool
	bounded       bool
}

// currentGeneration is decided once, at the start of a run.
//
// Each generation came after the ones before it, so a run that recorded
// bounded follows the other three as well, and a new run records bounded
// alone: every GetVersion costs a marker and a TemporalChangeVersion upsert
// (two events, one visibility write) that a new run would only repeat. The
// markers of the other change ids that runs started by earlier code hold
// are skipped on replay (the SDK matches version markers by change id, not
// by position); the replay fixtures prove both shapes.
func currentGeneration(ctx workflow.Context) generation {
	if workflow.GetVersion(ctx, bounded, workflow.DefaultVersion, 1) == 1 {
		return generation{inlineEffects: true, lifecycle: true, bounded: true}
	}
	if workflow.GetVersion(ctx, lifecycle, workflow.DefaultVersion, 1) == 1 {
		return generation{inlineEffects: true, lifecycle: true}
	}
	return generation{inlineEffects: workflow.GetVersion(ctx, inlineEffects, workflow.DefaultVersion, 1) == 1}
}

// durableDecision is decided when the decision arrives, which is where the
// histories of runs before lifecycle recorded it; lifecycle implies it.
func (g generation) durableDecision(ctx workflow.Context) bool {
	if g.lifecycle {
		return true
	}
	return workflow.GetVersion(ctx, durableDecision, workflow.DefaultVersion, 1) == 1
}

// startConsultationAsChild is how the first generation started the
// consultation: a child workflow, abandoned when the escalation closes.
func startConsultationAsChild(ctx workflow.Context, in contract.ConsultationInput) error {
	opts := contract.ConsultationStart("", in.Consultation)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            opts.ID,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: opts.TypedSearchAttributes,
		StaticSummary:         opts.StaticSummary,
	})
	var started workflow.Execution
	err := workflow.ExecuteChildWorkflow(cctx, contract.ConsultationWorkflow, in).GetChildWorkflowExecution().Get(ctx, &started)
	var already *temporal.ChildWorkflowExecutionAlreadyStartedError
	if err != nil && !errors.As(err, &already) {
		return fmt.Errorf("child workflow: %w", err)
	}
	return nil
}

// writeBefore is escalation.write before bounded: from lifecycle on, a
// local activity that timed out went on as a regular activity, but one that
// failed fast (the database refusing connections) returned its error at the
// budget; before lifecycle, the write retried inline for as long as it took.
func (e *escalation) writeBefore(ctx workflow.Context, summary string, fn, in, out any) error {
	if !e.gen.lifecycle {
		return workflow.ExecuteLocalActivity(summarized(ctx, summary), fn, in).Get(ctx, out)
	}
	err := workflow.ExecuteLocalActivity(boundedDBOptions(ctx, summary), fn, in).Get(ctx, out)
	var timeout *temporal.TimeoutError
	if errors.As(err, &timeout) {
		return workflow.ExecuteActivity(durableOptions(ctx, summary), fn, in).Get(ctx, out)
	}
	return err
}

// survive is what the escalation does with a failure of something it does
// on its own (the expiry, a reminder, starting the consultation, the
// search attribute after a write) that no retry cured: from bounded on, it
// logs it and goes on, since failing the workflow would leave the row
// waiting with nothing behind it; before it, the workflow failed.
func (e *escalation) survive(ctx workflow.Context, what string, err error) error {
	if err == nil || !e.gen.bounded {
		return err
	}
	workflow.GetLogger(ctx).Error("Escalation goes on despite a failure", "step", what, "error", err.Error())
	return nil
}

// startConsultationBefore is how runs before bounded started the
// consultation: from a local activity retried inline for as long as it
// took (inline effects), or as a child workflow before that.
func (e *escalation) startConsultationBefore(ctx workflow.Context, in contract.ConsultationInput) error {
	if e.gen.inlineEffects {
		return workflow.ExecuteLocalActivity(summarized(ctx, "Start the consultation workflow"), a.StartConsultation, in).Get(ctx, nil)
	}
	return startConsultationAsChild(ctx, in)
}

// applyBefore is escalation.apply before bounded. A failure after the
// decision's write (the search attribute) or before it (building the
// consultation) returned without answering the update or clearing the
// decision, so a lifecycle run applied the same decision again, for ever.
func (e *escalation) applyBefore(ctx workflow.Context, ap *store.Approval, d contract.DecisionRequest) (*activities.ApplyDecisionResult, error) {
	durable := e.gen.durableDecision(ctx)
	in := decisionInput(ap, d)
	if d.Status == store.StatusApproved {
		c, err := e.newConsultation(ctx, ap, d)
		if err != nil {
			return nil, err
		}
		in.Consultation = c
	}
	var apply workflow.Future
	if durable {
		apply = workflow.ExecuteActivity(durableOptions(ctx, "Apply the decision: "+d.Status), a.ApplyDecision, in)
	} else {
		apply = workflow.ExecuteLocalActivity(summarized(ctx, "Apply the decision: "+d.Status), a.ApplyDecision, in)
	}
	var res activities.ApplyDecisionResult
	if err := apply.Get(ctx, &res); err != nil {
		if e.gen.lifecycle {
			// The decision fails, not the escalation: it waits for another.
			return nil, e.refuse(ctx, err)
		}
		e.decision.outcome = &applyOutcome{err: err}
		return nil, fmt.Errorf("apply decision: %w", err)
	}
	e.state.Approval = res.Approval
	if err := workflow.UpsertTypedSearchAttributes(ctx, contract.ApprovalStatusKey.ValueSet(d.Status)); err != nil {
		return nil, fmt.Errorf("upsert search attributes: %w", err)
	}
	e.decided(ctx, d, &res)
	return &res, nil
}
