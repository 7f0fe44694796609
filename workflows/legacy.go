package workflows

import (
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Generations of the escalation. New runs take the newest path; the other
// branches exist only so that escalations started by older code replay
// (workflows/testdata/histories/v0-* to v4-* are such histories).
//
// A branch can be deleted once no workflow that took it is open. Ask the
// namespace, for each change id below, e.g.:
//
//	temporal workflow count --query "WorkflowType='Escalation' AND ExecutionStatus='Running' AND TemporalChangeVersion NOT IN ('inline-effects-1', 'lifecycle-1')"
//
// (TemporalChangeVersion lists "<change id>-<version>" for the versions a run
// recorded; runs started since lifecycle record only 'lifecycle-1', which
// implies the others, so name it beside the change id you ask about.) When
// it answers 0 for a change id, delete its branch, keep the GetVersion call
// with the old version as the minimum, and drop the matching fixtures.
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
)

// generation is which of the escalation's generations a run follows.
type generation struct {
	inlineEffects bool
	lifecycle     bool
}

// currentGeneration is decided once, at the start of a run.
//
// Each generation came after the ones before it, so a run that recorded
// lifecycle follows the other two as well, and a new run records lifecycle
// alone: every GetVersion costs a marker and a TemporalChangeVersion upsert
// (two events, one visibility write) that a new run would only repeat. The
// markers of the other change ids that runs started by earlier code hold
// are skipped on replay (the SDK matches version markers by change id, not
// by position); the replay fixtures prove both shapes.
func currentGeneration(ctx workflow.Context) generation {
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
