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
	"slices"

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
		if len(in.Continued) > 0 {
			// Taken up before the handlers are registered: the updates
			// waiting for this run are validated as soon as they are.
			if err := e.resume(ctx); err != nil {
				return nil, err
			}
		}
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

	// decision is the decision accepted, by update or signal, and not
	// refused by the database (from the lifecycle generation on, a refused
	// one makes room for the next).
	decision *decision

	// changes are the withdraw, request-info and provide-info updates
	// accepted and not yet applied, in order; life is the deadline and
	// reminder bookkeeping of the waiting escalation.
	changes []*change
	life    life
	timer   *timer

	notifications outbox
}

// decision is an accepted decision; outcome is what applying it came to,
// which the decide update that sent it answers with.
type decision struct {
	req     contract.DecisionRequest
	outcome *applyOutcome
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

	// A run that continued as new took up steps 1 and 2 with the state of
	// the run before it (continue.go).
	approval := e.state.Approval
	if len(e.in.Continued) == 0 {
		// 1. Record the approval and its audit entry.
		var discarded bool
		var err error
		approval, discarded, err = e.record(ctx)
		if err != nil || discarded {
			return e.finish(ctx, err)
		}
		if e.gen.lifecycle && !slices.Contains(store.Waiting, approval.Status) {
			// Recorded earlier and settled since (a reset workflow): what
			// the row says stands.
			return e.finish(ctx, nil)
		}
		// 2. Tell the conversation (beside the main flow, see outbox).
		e.notify(activities.NotifyEscalated, nil)
	}

	// 3. Wait for the decision, while the escalation lives: it may be
	// withdrawn, wait for an answer to a question, remind the approvers,
	// end at its deadline without one (lifecycle.go), or continue as new
	// when its history grows long (continue.go: awaitDecision's error).
	// 4. Apply it: the decided row, its audit entry and, on approval, the
	// consultation's row, in one transaction. A decision the database
	// refuses fails its update and the escalation waits on.
	// Each turn of the loop takes a decision sent from outside, so it turns
	// at most once per decision: a refused one (apply's error) has been
	// answered and cleared.
	var res *activities.ApplyDecisionResult
	for res == nil {
		d, ended, err := e.awaitDecision(ctx)
		if err != nil {
			return nil, err
		}
		if ended {
			return e.finish(ctx, nil)
		}
		if res, err = e.apply(ctx, approval, d); err != nil && !e.gen.lifecycle {
			return nil, err
		}
	}

	// 5. On approval, start the consultation's own workflow.
	if res.Consultation != nil {
		if err := e.survive(ctx, "start the consultation", e.openConsultation(ctx, res.Consultation)); err != nil {
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
	err = e.write(ctx, "Record the approval", a.RecordApproval, activities.RecordApprovalInput{
		Approval: e.in.Approval, Actor: e.in.Actor,
	}, &recorded)
	var appErr *temporal.ApplicationError
	switch {
	case errors.As(err, &appErr) && appErr.Type() == contract.ErrTypeConflict:
		e.state.Phase, e.state.Error = contract.PhaseDiscarded, appErr.Message()
		workflow.GetLogger(ctx).Info("Escalation discarded", "reason", appErr.Message())
		if e.decision != nil && e.decision.outcome == nil {
			// A decide accepted while recording (sent to Temporal
			// directly) must not wait forever for an approval that is not.
			e.decision.outcome = &applyOutcome{err: temporal.NewNonRetryableApplicationError(appErr.Message(), contract.ErrTypeConflict, nil)}
		}
		if e.gen.lifecycle {
			// Not left matching ApprovalStatus='pending': it never was.
			if err := workflow.UpsertTypedSearchAttributes(ctx, contract.ApprovalStatusKey.ValueUnset()); err != nil {
				return nil, false, e.survive(ctx, "unset the approval status attribute", fmt.Errorf("upsert search attributes: %w", err))
			}
		}
		return nil, true, nil
	case err != nil:
		// The created update answers with the cause rather than "workflow
		// completed", and so does a decide accepted meanwhile.
		e.state.Phase, e.state.Error = contract.PhaseFailed, err.Error()
		if e.decision != nil && e.decision.outcome == nil {
			e.decision.outcome = &applyOutcome{err: err}
		}
		return nil, false, fmt.Errorf("record approval: %w", err)
	}
	e.state.Approval, e.state.Phase = &recorded, phaseOf(recorded.Status)
	e.state.ExpiresAt = recorded.ExpiresAt
	e.details(ctx)
	return &recorded, false, nil
}

// awaitDecision waits until an update or a signal delivers a valid decision,
// or, from the lifecycle generation on, until the escalation ends without
// one (ended).
func (e *escalation) awaitDecision(ctx workflow.Context) (d contract.DecisionRequest, ended bool, err error) {
	if e.gen.lifecycle {
		ended, err = e.live(ctx)
	} else {
		err = workflow.Await(ctx, func() bool { return e.decision != nil })
	}
	if err != nil || ended {
		return d, ended, err
	}
	d = e.decision.req
	e.state.Phase, e.state.Decision = contract.PhaseDeciding, &d
	e.details(ctx)
	return d, false, nil
}

// apply writes the decision and, on approval, the consultation it opens, then
// answers the decide update. An error means the decision was not written
// and is refused: its update has its answer and the escalation waits for
// the next one. Once the write succeeded the decision stands, whatever
// follows.
func (e *escalation) apply(ctx workflow.Context, ap *store.Approval, d contract.DecisionRequest) (*activities.ApplyDecisionResult, error) {
	if !e.gen.bounded {
		return e.applyBefore(ctx, ap, d)
	}
	in := decisionInput(ap, d)
	if d.Status == store.StatusApproved {
		c, err := e.newConsultation(ctx, ap, d)
		if err != nil {
			return nil, e.refuse(ctx, temporal.NewApplicationErrorWithCause("the consultation the approval opens could not be built", contract.ErrTypeInvalid, err))
		}
		in.Consultation = c
	}
	// The decision is applied by a regular activity: an update lives only in
	// the server's memory until the workflow task that accepts it completes,
	// so applying it inside that task (a local activity) could write the
	// decision to the database and then lose it with a server restart.
	// Scheduling an activity completes the task first, making the decision
	// part of the history. It retries for as long as the database is down:
	// only a refusal comes back.
	var res activities.ApplyDecisionResult
	if err := workflow.ExecuteActivity(durableOptions(ctx, "Apply the decision: "+d.Status), a.ApplyDecision, in).Get(ctx, &res); err != nil {
		return nil, e.refuse(ctx, err)
	}
	e.decided(ctx, d, &res)
	// A search attribute is for ops' queries: it never undoes the decision.
	_ = e.survive(ctx, "set the approval status attribute", upsertStatus(ctx, d.Status))
	return &res, nil
}

func decisionInput(ap *store.Approval, d contract.DecisionRequest) activities.ApplyDecisionInput {
	return activities.ApplyDecisionInput{
		ApprovalID: ap.ID, TenantID: ap.TenantID, Status: d.Status, Comment: d.Comment,
		Decider: contract.Actor{ID: d.DeciderID, Name: d.DeciderName, Channel: d.Channel},
	}
}

// decided records the decision res wrote and answers its update.
func (e *escalation) decided(ctx workflow.Context, d contract.DecisionRequest, res *activities.ApplyDecisionResult) {
	e.state.Approval, e.state.Phase = res.Approval, contract.PhaseDecided
	e.decision.outcome = &applyOutcome{result: &contract.DecisionResult{Approval: res.Approval, Consultation: res.Consultation}}
	e.details(ctx)
}

// refuse answers the decision being applied with err, and the escalation
// waits for another: nothing was written.
func (e *escalation) refuse(ctx workflow.Context, err error) error {
	workflow.GetLogger(ctx).Warn("Decision not applied", "error", err.Error())
	e.decision.outcome = &applyOutcome{err: err}
	e.decision, e.state.Decision, e.state.Phase = nil, nil, phaseOf(e.state.Approval.Status)
	e.details(ctx)
	return fmt.Errorf("apply decision: %w", err)
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
// (The consultation's row is written with the decision: a start that fails
// for good leaves it scheduled without a workflow, which the log says.)
func (e *escalation) openConsultation(ctx workflow.Context, c *store.Consultation) error {
	in := contract.ConsultationInput{
		Consultation:        *c,
		Actor:               contract.Actor{ID: c.HostID, Channel: store.ChannelSystem},
		MaxDurationSeconds:  e.in.ConsultationMaxDurationSeconds,
		StartTimeoutSeconds: e.in.ConsultationStartTimeoutSeconds,
	}
	var err error
	if e.gen.bounded {
		// Bounded like a write: Temporal refusing the start must not keep
		// the workflow task, and the updates waiting on it, forever.
		err = boundedWrite(ctx, "Start the consultation workflow", a.StartConsultation, in, nil)
	} else {
		err = e.startConsultationBefore(ctx, in)
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
// handler has answered (an update must not be left without its answer, nor
// a create without the cause of a failure).
func (e *escalation) finish(ctx workflow.Context, err error) (*contract.EscalationState, error) {
	if err != nil {
		if e.gen.lifecycle {
			_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
		}
		return nil, err
	}
	return &e.state, workflow.Await(ctx, func() bool {
		return e.notifications.idle() && workflow.AllHandlersFinished(ctx)
	})
}

// write runs a database write of the escalation and waits for it: a local
// activity within its budget, then a regular one (boundedWrite).
func (e *escalation) write(ctx workflow.Context, summary string, fn, in, out any) error {
	if !e.gen.bounded {
		return e.writeBefore(ctx, summary, fn, in, out)
	}
	return boundedWrite(ctx, summary, fn, in, out)
}
