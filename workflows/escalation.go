// Package workflows holds the escalation and consultation workflows. Workflow
// code here is deterministic: no clocks, randomness, goroutines, I/O or map
// iteration that shapes output; everything else happens in activities
// (../activities), which the workflows call with the payloads of contract/.
//
// # From create to consultation
//
// The API starts Escalation with the approval to record
// (contract.EscalationInput) and waits for its created update; the Chatwoot
// webhook starts it without waiting. Escalation's run reads top to bottom
// as the escalation's life:
//
//  1. record the approval and its audit entry (the created update answers);
//  2. tell the conversation (the outbox, beside the main flow: outbox.go);
//  3. wait, while the escalation lives, for the next thing to act on
//     (escalation.next): a decision, a change, a timer coming due, or the
//     history growing long enough to continue as new (continue.go);
//  4. apply the decision in one transaction with, on approval, the
//     consultation's row; a decision the database refuses fails its update
//     and the loop waits on;
//  5. on approval, start the Consultation workflow (consultation.go:
//     scheduled → active → ended, expiring if nobody starts it);
//  6. tell the conversation the decision and the customer the join link;
//  7. complete once every notification is out and every handler answered.
//
// # Where things enter
//
// Everything from outside arrives through the handlers in
// escalation_handlers.go, each beside its rule: the decide update and the
// decision signal (check, then escalation.decision), and the withdraw,
// request-info (a question) and provide-info (its answer) updates
// (checkChange, then escalation.changes). The loop in run takes them from
// there. The deadline comes with the input (Approval.ExpiresAt, set by the
// API from the tenant's policy, moved on by the time a question waits), the
// reminders and a question's time for an answer too (ReminderSeconds,
// AnswerTTLSeconds); each is the one timer of lifecycle.go when it is next
// (nextTimer), and lifecycle.go applies changes and what the timer brings
// (expire, remind, unanswered). The deadline holds without its timer as
// well: check and checkChange refuse what arrives past it.
//
// # Older histories
//
// New runs follow the current generation, which is all escalation.go,
// lifecycle.go, outbox.go and consultation.go spell out. What differs for
// runs recorded by older code (how a write runs, how the decision is
// applied, how the consultation starts, whether a failure of the
// escalation's own doing fails it, how it waits for a time) is picked once,
// at the start of a run, as a set of steps (escalation.steps); the older
// steps, the life of runs from before withdrawals and questions
// (runBeforeLifecycle), the consultation's older record and transitions,
// the version ids and when each branch can go are all in legacy.go. The
// rules (escalation_handlers.go) still read the generation where older
// runs refused what newer ones take. The replay fixtures in
// testdata/histories prove each shape still replays.
//
// The Temporal contract (names, ids, inputs, payloads, start options) is
// in contract/.
package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

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
	// gen is the generation the run follows, for the rules that refuse
	// what older runs could not take; steps is how it does what differs
	// (both picked at the start of the run, legacy.go).
	gen   generation
	steps steps
	// anchored: the run records the audit chain head as it ends (legacy.go,
	// boundedAnchored).
	anchored bool

	// decision is the decision accepted, by update or signal, and not yet
	// applied or refused.
	decision *decision

	// changes are the withdraw, request-info and provide-info updates
	// accepted and not yet applied, in order; life is the deadline and
	// reminder bookkeeping of the waiting escalation.
	changes []*change
	life    life
	timer   *timer

	notifications outbox
}

// steps are what the escalation does differently from one generation to
// the next, picked once at the start of a run (legacy.go): new runs take
// currentSteps, below; runs recorded by older code the steps of theirs.
type steps struct {
	// write runs a database write of the escalation and waits for it.
	write func(ctx workflow.Context, summary string, fn, in, out any) error
	// apply writes the decision (escalation.apply).
	apply func(ctx workflow.Context, ap *contract.Approval, d contract.DecisionRequest) (*activities.ApplyDecisionResult, error)
	// startConsultation starts the consultation's own workflow.
	startConsultation func(ctx workflow.Context, in contract.ConsultationInput) error
	// survive is what becomes of a failure of something the escalation
	// does on its own that no retry cured (nil: it goes on).
	survive func(ctx workflow.Context, what string, err error) error
	// nextTimer is when the waiting escalation must act by itself, and
	// waitUntil waits for cond or that time.
	nextTimer func() due
	waitUntil func(ctx workflow.Context, t due, cond func() bool) error
	// continueAsNewSuggested reports whether the run should hand over to a
	// new one (continue.go).
	continueAsNewSuggested func(ctx workflow.Context) bool
	// send delivers one notification (outbox).
	send func(ctx workflow.Context, in activities.NotifyInput) activities.NotifyResult
}

// currentSteps are the steps of the current generation: no fault kills or
// hangs an escalation, deadlines hold without their timer, and the history
// stays bounded.
func (e *escalation) currentSteps() steps {
	return steps{
		write:                  boundedWrite,
		apply:                  e.apply,
		startConsultation:      startConsultation,
		survive:                goOn,
		nextTimer:              e.nextTimer,
		waitUntil:              e.waitUntil,
		continueAsNewSuggested: func(ctx workflow.Context) bool { return workflow.GetInfo(ctx).GetContinueAsNewSuggested() },
		send:                   sendInlineFirst,
	}
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

// What the waiting escalation acts on next (escalation.next).
type (
	// decisionArrived: e.decision holds a decision to apply.
	decisionArrived struct{}
	// changeArrived: a withdrawal, a question or an answer to apply.
	changeArrived struct{ change *change }
	// timerDue: the deadline, a reminder or the end of a question's time
	// for an answer has come.
	timerDue struct{ kind timerKind }
	// historyLong: the run hands over to a new one (continue.go).
	historyLong struct{}
)

// run is the escalation's life. Every step is a method below, in this order.
func (e *escalation) run(ctx workflow.Context) (*contract.EscalationState, error) {
	if e.pickGeneration(ctx) == beforeLifecycle {
		return e.runBeforeLifecycle(ctx)
	}
	workflow.Go(ctx, e.receiveSignals)
	workflow.Go(ctx, func(ctx workflow.Context) { e.notifications.deliver(ctx, &e.state, e.steps.send) })

	// A run that continued as new took up steps 1 and 2 with the state of
	// the run before it (continue.go).
	approval := e.state.Approval
	if len(e.in.Continued) == 0 {
		// 1. Record the approval and its audit entry.
		var discarded bool
		var err error
		approval, discarded, err = e.record(ctx)
		if err != nil {
			return e.finish(ctx, err)
		}
		if discarded {
			// Not left matching ApprovalStatus='pending': it never was.
			return e.finish(ctx, e.steps.survive(ctx, "unset the approval status attribute", unsetStatus(ctx)))
		}
		if !slices.Contains(store.Waiting, approval.Status) {
			// Recorded earlier and settled since (a reset workflow): what
			// the row says stands.
			return e.finish(ctx, nil)
		}
		// 2. Tell the conversation (beside the main flow, see outbox).
		e.notify(activities.NotifyEscalated, nil)
	}

	// 3. Wait, while the escalation lives, for what comes next: a decision
	// (4), a withdrawal, a question or its answer (lifecycle.go applies
	// them), the deadline, a reminder or a question's time running out
	// (the one timer, lifecycle.go), or a history long enough to continue
	// as new (continue.go).
	var res *activities.ApplyDecisionResult
	for res == nil {
		ev, err := e.next(ctx)
		if err != nil {
			return nil, err
		}
		switch ev := ev.(type) {
		case decisionArrived:
			// 4. Apply it: the decided row, its audit entry and, on
			// approval, the consultation's row, in one transaction.
			if res, err = e.steps.apply(ctx, approval, e.deciding(ctx)); err != nil {
				// Refused and answered (nothing was written): the
				// escalation waits for the next decision.
				e.decision = nil
			}
		case changeArrived:
			ended, err := e.applyChange(ctx, ev.change)
			if ended {
				e.refuseTheRest()
			}
			if err != nil {
				return nil, err
			}
			if ended {
				return e.finish(ctx, nil)
			}
		case timerDue:
			if ev.kind == deadlineTimer {
				err := e.expire(ctx)
				e.refuseTheRest()
				if err != nil {
					return nil, err
				}
				return e.finish(ctx, nil)
			}
			if ev.kind == answerTimer {
				err = e.unanswered(ctx)
			} else {
				err = e.remind(ctx)
			}
			if err != nil {
				return nil, err
			}
		case historyLong:
			return nil, e.continueAsNew(ctx)
		}
	}

	// 5. On approval, start the consultation's own workflow.
	if res.Consultation != nil {
		if err := e.steps.survive(ctx, "start the consultation", e.openConsultation(ctx, res.Consultation)); err != nil {
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

// next waits until there is something for the waiting escalation to act
// on, and says what: a decision comes first, then the changes in the order
// they were accepted, then a hand-over to a new run, then the timer.
func (e *escalation) next(ctx workflow.Context) (any, error) {
	waiting := func() bool { return e.decision != nil || len(e.changes) > 0 }
	// Woken also once the run is ready to continue as new.
	wakeUp := func() bool { return waiting() || e.readyToContinueAsNew(ctx) }
	for {
		switch {
		case e.decision != nil:
			return decisionArrived{}, nil
		case len(e.changes) > 0:
			c := e.changes[0]
			e.changes = e.changes[1:]
			return changeArrived{change: c}, nil
		}
		if e.readyToContinueAsNew(ctx) {
			if e.takeSignals(ctx); !waiting() {
				return historyLong{}, nil
			}
			continue
		}
		var err error
		switch t := e.steps.nextTimer(); {
		case t.kind == noTimer:
			e.stopTimer()
			err = workflow.Await(ctx, wakeUp)
		case !t.at.After(workflow.Now(ctx)):
			return timerDue{kind: t.kind}, nil
		default:
			err = e.steps.waitUntil(ctx, t, wakeUp)
		}
		if err != nil {
			return nil, err
		}
	}
}

// record stores the approval. A conflict (the conversation already has a
// pending escalation, or the id is taken) discards the escalation: nothing
// was stored and nothing else happens.
func (e *escalation) record(ctx workflow.Context) (approval *contract.Approval, discarded bool, err error) {
	var recorded contract.Approval
	err = e.steps.write(ctx, "Record the approval", a.RecordApproval, activities.RecordApprovalInput{
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

// deciding marks the accepted decision as being applied and returns it.
func (e *escalation) deciding(ctx workflow.Context) contract.DecisionRequest {
	d := e.decision.req
	e.state.Phase, e.state.Decision = contract.PhaseDeciding, &d
	e.details(ctx)
	return d
}

// apply writes the decision and, on approval, the consultation it opens, then
// answers the decide update. An error means the decision was not written
// and is refused: its update has its answer. Once the write succeeded the
// decision stands, whatever follows.
func (e *escalation) apply(ctx workflow.Context, ap *contract.Approval, d contract.DecisionRequest) (*activities.ApplyDecisionResult, error) {
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
	_ = e.steps.survive(ctx, "set the approval status attribute", upsertStatus(ctx, d.Status))
	return &res, nil
}

func decisionInput(ap *contract.Approval, d contract.DecisionRequest) activities.ApplyDecisionInput {
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

// refuse answers the decision being applied with err: nothing was written,
// and the escalation is back where it was.
func (e *escalation) refuse(ctx workflow.Context, err error) error {
	workflow.GetLogger(ctx).Warn("Decision not applied", "error", err.Error())
	e.decision.outcome = &applyOutcome{err: err}
	e.state.Decision, e.state.Phase = nil, phaseOf(e.state.Approval.Status)
	e.details(ctx)
	return fmt.Errorf("apply decision: %w", err)
}

// newConsultation builds the consultation an approval opens. Its id derives
// from the approval id (a retry makes the same one); its room name is random,
// drawn once and kept in history by a side effect.
func (e *escalation) newConsultation(ctx workflow.Context, ap *contract.Approval, d contract.DecisionRequest) (*contract.Consultation, error) {
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
	return &contract.Consultation{
		ID: contract.ApprovalConsultationID(ap.ID), Title: ap.Title, JitsiRoom: room, Status: store.ConsultationScheduled,
		HostID: d.DeciderID, ParticipantIDs: contract.Participants([]string{ap.RequestedBy, d.DeciderID}, e.in.Participants...),
		ApprovalID: &approvalID, TenantID: ap.TenantID,
	}, nil
}

// openConsultation starts the consultation's own workflow, which outlives
// this one. (The consultation's row is written with the decision: a start
// that fails for good leaves it scheduled without a workflow, which the log
// says.)
func (e *escalation) openConsultation(ctx workflow.Context, c *contract.Consultation) error {
	in := contract.ConsultationInput{
		Consultation:        *c,
		Actor:               contract.Actor{ID: c.HostID, Channel: store.ChannelSystem},
		MaxDurationSeconds:  e.in.ConsultationMaxDurationSeconds,
		StartTimeoutSeconds: e.in.ConsultationStartTimeoutSeconds,
	}
	if err := e.steps.startConsultation(ctx, in); err != nil {
		return fmt.Errorf("start consultation workflow: %w", err)
	}
	e.state.ConsultationID = c.ID
	return nil
}

// startConsultation starts it from a local activity rather than as a
// child: that spares a round trip through the server to learn that the
// child started. It is bounded like a write: Temporal refusing the start
// must not keep the workflow task, and the updates waiting on it, forever.
func startConsultation(ctx workflow.Context, in contract.ConsultationInput) error {
	return boundedWrite(ctx, "Start the consultation workflow", a.StartConsultation, in, nil)
}

func (e *escalation) notify(kind string, c *contract.Consultation) {
	e.notifications.enqueue(&e.state, activities.NotifyInput{Kind: kind, Approval: *e.state.Approval, Consultation: c})
}

// finish completes the workflow once every notification is out and every
// handler has answered (an update must not be left without its answer, nor
// a create without the cause of a failure).
func (e *escalation) finish(ctx workflow.Context, err error) (*contract.EscalationState, error) {
	if err != nil {
		_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
		return nil, err
	}
	if err := workflow.Await(ctx, func() bool {
		return e.notifications.idle() && workflow.AllHandlersFinished(ctx)
	}); err != nil {
		return &e.state, err
	}
	e.anchorAudit(ctx)
	return &e.state, nil
}

// anchorAudit records the tenant's audit chain head, as the escalation
// ends, in its result: Temporal's history then holds an anchor the
// database's owner cannot rewrite, and `audit verify` compares the chain
// with it. A failure to read it costs the anchor, never the escalation.
func (e *escalation) anchorAudit(ctx workflow.Context) {
	if !e.anchored {
		return
	}
	tenant := e.in.Approval.TenantID
	if e.state.Approval != nil {
		tenant = e.state.Approval.TenantID
	}
	var head store.AuditHead
	opts := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout:    10 * time.Second,
		ScheduleToCloseTimeout: localBudget,
		RetryPolicy:            dbRetryPolicy(),
		Summary:                "Anchor the audit chain",
	})
	err := workflow.ExecuteLocalActivity(opts, a.AuditHead, tenant).Get(ctx, &head)
	if err != nil {
		_ = goOn(ctx, "read the audit chain head", err)
		return
	}
	e.state.AuditHead = &head
}

// goOn is what the escalation does with a failure of something it does on
// its own (the expiry, a reminder, starting the consultation, the search
// attribute after a write) that no retry cured: it logs it and goes on,
// since failing the workflow would leave the row waiting with nothing
// behind it.
func goOn(ctx workflow.Context, what string, err error) error {
	if err != nil {
		workflow.GetLogger(ctx).Error("Escalation goes on despite a failure", "step", what, "error", err.Error())
	}
	return nil
}
