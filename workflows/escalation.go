// Package workflows holds the escalation and consultation workflows. Workflow
// code here is deterministic: no clocks, randomness, goroutines, I/O or map
// iteration that shapes output; everything else happens in activities.
//
// Read escalation.go first: run is the escalation's life as a list of steps.
// The Temporal contract (names, ids, inputs, start options) is in contract/;
// branches that only histories recorded by older code take are in legacy.go.
package workflows

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/orchestrator-dev/orchestrator/activities"
	"github.com/orchestrator-dev/orchestrator/internal/jitsi"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// a is a nil receiver for type-safe activity references; the worker registers
// the real struct.
var a *activities.Activities

// Escalation is the workflow of one approval from creation to decision, for
// a deployment whose channels seal their decisions with key.
func Escalation(key contract.DecisionKey) func(workflow.Context, contract.EscalationInput) (*contract.EscalationState, error) {
	return func(ctx workflow.Context, in contract.EscalationInput) (*contract.EscalationState, error) {
		e := &escalation{in: in, key: key, state: contract.EscalationState{Phase: contract.PhaseRecording}}
		if err := e.registerHandlers(ctx); err != nil {
			return nil, err
		}
		return e.run(ctx)
	}
}

type escalation struct {
	in    contract.EscalationInput
	key   contract.DecisionKey
	state contract.EscalationState
	gen   generation

	// decision is the one decision accepted, by update or signal; applied is
	// what applying it came to, which the decide update answers with.
	decision *contract.DecisionRequest
	applied  *applyOutcome

	notifications outbox
}

type applyOutcome struct {
	result *contract.DecisionResult
	err    error
}

// run is the escalation's life. Every step is a method below, in this order.
func (e *escalation) run(ctx workflow.Context) (*contract.EscalationState, error) {
	e.gen = currentGeneration(ctx)
	workflow.Go(ctx, e.receiveSignals)
	workflow.Go(ctx, func(ctx workflow.Context) { e.notifications.deliver(ctx, e.gen, &e.state) })

	// 1. Record the approval and its audit entry.
	approval, discarded, err := e.record(ctx)
	if err != nil || discarded {
		return e.finish(ctx, err)
	}
	// 2. Tell the conversation (beside the main flow, see outbox).
	e.notify(activities.NotifyEscalated, nil)

	// 3. Wait for the decision. (A deadline belongs here: today an
	// escalation waits as long as it takes.)
	d, err := e.awaitDecision(ctx)
	if err != nil {
		return nil, err
	}

	// 4. Apply it: the decided row, its audit entry and, on approval, the
	// consultation's row, in one transaction.
	res, err := e.apply(ctx, approval, d)
	if err != nil {
		return nil, err
	}

	// 5. On approval, start the consultation's own workflow.
	if res.Consultation != nil {
		if err := e.openConsultation(ctx, res.Consultation); err != nil {
			return nil, err
		}
	}

	// 6. Tell the conversation the decision and, on approval, the customer
	// the join link.
	e.notify(activities.NotifyDecided, nil)
	if res.Consultation != nil {
		e.notify(activities.NotifyConsultation, res.Consultation)
	}

	// 7. Drain: complete once every notification is out and every handler
	// has answered.
	return e.finish(ctx, nil)
}

// record stores the approval. A conflict (the conversation already has a
// pending escalation, or the id is taken) discards the escalation: nothing
// was stored and nothing else happens.
func (e *escalation) record(ctx workflow.Context) (approval *store.Approval, discarded bool, err error) {
	var recorded store.Approval
	err = workflow.ExecuteLocalActivity(dbOptions(ctx), a.RecordApproval, activities.RecordApprovalInput{
		Approval: e.in.Approval, Actor: e.in.Actor,
	}).Get(ctx, &recorded)
	var appErr *temporal.ApplicationError
	switch {
	case errors.As(err, &appErr) && appErr.Type() == contract.ErrTypeConflict:
		e.state.Phase, e.state.Error = contract.PhaseDiscarded, appErr.Message()
		workflow.GetLogger(ctx).Info("Escalation discarded", "reason", appErr.Message())
		return nil, true, nil
	case err != nil:
		return nil, false, fmt.Errorf("record approval: %w", err)
	}
	e.state.Approval, e.state.Phase = &recorded, contract.PhasePending
	return &recorded, false, nil
}

// awaitDecision waits until an update or a signal delivers a valid decision.
func (e *escalation) awaitDecision(ctx workflow.Context) (contract.DecisionRequest, error) {
	if err := workflow.Await(ctx, func() bool { return e.decision != nil }); err != nil {
		return contract.DecisionRequest{}, err
	}
	d := *e.decision
	e.state.Phase, e.state.Decision = contract.PhaseDeciding, &d
	return d, nil
}

// apply writes the decision and, on approval, the consultation it opens, then
// answers the decide update.
func (e *escalation) apply(ctx workflow.Context, ap *store.Approval, d contract.DecisionRequest) (*activities.ApplyDecisionResult, error) {
	durable := e.gen.durableDecision(ctx)
	in := activities.ApplyDecisionInput{
		ApprovalID: ap.ID, TenantID: ap.TenantID, Status: d.Status, Comment: d.Comment,
		Decider: contract.Actor{ID: d.DeciderID, Name: d.DeciderName, Channel: d.Channel},
	}
	if d.Status == store.StatusApproved {
		c, err := e.newConsultation(ctx, ap, d)
		if err != nil {
			return nil, err
		}
		in.Consultation = c
	}
	// The decision is applied by a regular activity: an update lives only in
	// the server's memory until the workflow task that accepts it completes,
	// so applying it inside that task (a local activity) could write the
	// decision to the database and then lose it with a server restart.
	// Scheduling an activity completes the task first, making the decision
	// part of the history.
	var apply workflow.Future
	if durable {
		apply = workflow.ExecuteActivity(decisionOptions(ctx), a.ApplyDecision, in)
	} else {
		apply = workflow.ExecuteLocalActivity(dbOptions(ctx), a.ApplyDecision, in)
	}
	var res activities.ApplyDecisionResult
	if err := apply.Get(ctx, &res); err != nil {
		e.applied = &applyOutcome{err: err}
		return nil, fmt.Errorf("apply decision: %w", err)
	}
	e.state.Approval = res.Approval
	if err := workflow.UpsertTypedSearchAttributes(ctx, contract.ApprovalStatusKey.ValueSet(d.Status)); err != nil {
		return nil, fmt.Errorf("upsert search attributes: %w", err)
	}
	e.state.Phase = contract.PhaseDecided
	e.applied = &applyOutcome{result: &contract.DecisionResult{Approval: res.Approval, Consultation: res.Consultation}}
	return &res, nil
}

// newConsultation builds the consultation an approval opens. Its id derives
// from the approval id (a retry makes the same one); its room name is random,
// drawn once and kept in history by a side effect.
func (e *escalation) newConsultation(ctx workflow.Context, ap *store.Approval, d contract.DecisionRequest) (*store.Consultation, error) {
	var room string
	if err := workflow.SideEffect(ctx, func(workflow.Context) any {
		r, err := jitsi.NewRoomName()
		if err != nil {
			panic(err) // crypto/rand failing is not recoverable
		}
		return r
	}).Get(&room); err != nil {
		return nil, fmt.Errorf("draw room name: %w", err)
	}
	approvalID := ap.ID
	return &store.Consultation{
		ID: contract.ApprovalConsultationID(ap.ID), Title: ap.Title, JitsiRoom: room, Status: store.ConsultationScheduled,
		HostID: d.DeciderID, ParticipantIDs: contract.Participants([]string{ap.RequestedBy, d.DeciderID}, e.in.Participants...),
		ApprovalID: &approvalID, TenantID: ap.TenantID,
	}, nil
}

// openConsultation starts the consultation's own workflow, which outlives
// this one. It starts from a local activity rather than as a child: that
// spares a round trip through the server to learn that the child started.
func (e *escalation) openConsultation(ctx workflow.Context, c *store.Consultation) error {
	in := contract.ConsultationInput{
		Consultation:        *c,
		Actor:               contract.Actor{ID: c.HostID, Channel: store.ChannelSystem},
		MaxDurationSeconds:  e.in.ConsultationMaxDurationSeconds,
		StartTimeoutSeconds: e.in.ConsultationStartTimeoutSeconds,
	}
	var err error
	if e.gen.inlineEffects {
		err = workflow.ExecuteLocalActivity(dbOptions(ctx), a.StartConsultation, in).Get(ctx, nil)
	} else {
		err = startConsultationAsChild(ctx, in)
	}
	if err != nil {
		return fmt.Errorf("start consultation workflow: %w", err)
	}
	e.state.ConsultationID = c.ID
	return nil
}

func (e *escalation) notify(kind string, c *store.Consultation) {
	e.notifications.enqueue(&e.state, activities.NotifyInput{Kind: kind, Approval: *e.state.Approval, Consultation: c})
}

// finish completes the workflow once every notification is out and every
// handler has answered (an update must not be left without its answer).
func (e *escalation) finish(ctx workflow.Context, err error) (*contract.EscalationState, error) {
	if err != nil {
		return nil, err
	}
	return &e.state, workflow.Await(ctx, func() bool {
		return e.notifications.idle() && workflow.AllHandlersFinished(ctx)
	})
}
