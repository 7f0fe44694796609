package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/orchestrator-dev/orchestrator/activities"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// consult is the escalation's life once its decision is written: on
// approval it runs the consultation the approval opened (scheduled →
// active → ended, expiring if nobody starts it in time, ended after its
// maximum duration) with the start and end updates of a consultation's own
// workflow, then it completes. One workflow for both saves a workflow
// start, its first task and its own record of a row the decision already
// wrote (issue 22); the API sends the consultation's updates here
// (contract.ConsultationOwner), and ops find the workflow by ApprovalId as
// they found the consultation's. Consultations created on their own, and
// those older runs opened, keep their own workflow (Consultation).
func (e *escalation) consult(ctx workflow.Context, res *activities.ApplyDecisionResult) (*contract.EscalationState, error) {
	if res.Consultation == nil {
		return e.finish(ctx, nil)
	}
	// The deadline is past its use: its timer goes, rather than firing
	// into the history later.
	e.stopTimer()
	c := &consultation{in: contract.ConsultationInput{
		Consultation:        *res.Consultation,
		MaxDurationSeconds:  e.in.ConsultationMaxDurationSeconds,
		StartTimeoutSeconds: e.in.ConsultationStartTimeoutSeconds,
	}}
	t := currentTransitions()
	c.transitions = &t
	c.state.Consultation = res.Consultation
	c.changed = func() { e.details(ctx) }
	e.consultation = c
	e.state.ConsultationID = res.Consultation.ID
	if err := c.registerTransitions(ctx); err != nil {
		return nil, err
	}
	e.details(ctx)
	return e.finish(ctx, c.live(ctx))
}
