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
// as the escalation's life; each step is one activity (escalation.act:
// its write in one transaction, the first attempt of the notifications it
// causes, the audit anchor when it ends the escalation), and whatever
// notification does not get through goes on in the outbox (outbox.go):
//
//  1. record the approval and its audit entry, and tell the conversation
//     (the created update answers);
//  2. wait, while the escalation lives, for the next thing to act on
//     (escalation.next): a decision, a change, a timer coming due, or the
//     history growing long enough to continue as new (continue.go);
//  3. apply the decision in the workflow task that accepted it: the row,
//     on approval the consultation's, and the notes to the conversation
//     and the customer; a decision the database refuses fails its update
//     and the loop waits on (escalation.apply says why writing it there
//     is safe);
//  4. on approval, run the consultation it opened (consult.go: scheduled
//     → active → ended, expiring if nobody starts it);
//  5. complete once every notification is out and every handler answered.
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
// lifecycle.go, outbox.go, consult.go and consultation.go spell out; the
// starter names it in the input (contract.EscalationInput.Generation). What
// differs for runs recorded by older code (how a step and the decision are
// written, what follows the decision, whether a failure of the
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

	// adopted is a decision the escalation found written when a step was
	// refused because the row had moved on (escalation.adopt); run goes on
	// from it as from its own.
	adopted *activities.ApplyDecisionResult
	// consultation is the consultation the approval opened, run by this
	// workflow (consult.go).
	consultation *consultation
}

// steps are what the escalation does differently from one generation to
// the next, picked once at the start of a run (legacy.go): new runs take
// currentSteps, below; runs recorded by older code the steps of theirs.
type steps struct {
	// act does one step of the escalation (escalation.act says what).
	act func(ctx workflow.Context, durable bool, summary string, in activities.StepInput) (*activities.StepResult, error)
	// apply writes the decision (escalation.apply).
	apply func(ctx workflow.Context, ap *contract.Approval, d contract.DecisionRequest) (*activities.ApplyDecisionResult, error)
	// afterDecision is the escalation's life once its decision is written:
	// the consultation an approval opens, then the end (escalation.consult).
	afterDecision func(ctx workflow.Context, res *activities.ApplyDecisionResult) (*contract.EscalationState, error)
	// write runs a database write of the escalation and waits for it, and
	// startConsultation starts the consultation's own workflow (the steps
	// of older runs, legacy.go).
	write             func(ctx workflow.Context, summary string, fn, in, out any) error
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

// currentSteps are the steps of the current generation: one activity a
// step, the decision written in the workflow task that accepts it, the
// consultation run by this workflow; no fault kills or hangs an
// escalation, deadlines hold without their timer, and the history stays
// bounded.
func (e *escalation) currentSteps() steps {
	return steps{
		act:                    doStep,
		apply:                  e.apply,
		afterDecision:          e.consult,
		survive:                goOn,
		nextTimer:              e.nextTimer,
		waitUntil:              e.waitUntil,
		continueAsNewSuggested: func(ctx workflow.Context) bool { return workflow.GetInfo(ctx).GetContinueAsNewSuggested() },
		// The first attempt was the step's own.
		send: sendDurably,
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

	// A run that continued as new took up step 1 with the state of the run
	// before it (continue.go).
	approval := e.state.Approval
	if len(e.in.Continued) == 0 {
		// 1. Record the approval and its audit entry, and tell the
		// conversation.
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
	}

	// 2. Wait, while the escalation lives, for what comes next: a decision
	// (3), a withdrawal, a question or its answer (lifecycle.go applies
	// them), the deadline, a reminder or a question's time running out
	// (the one timer, lifecycle.go), or a history long enough to continue
	// as new (continue.go).
	var res *activities.ApplyDecisionResult
	for res == nil {
		if e.adopted != nil {
			// A step found the row decided (adopt): that is the decision.
			res = e.adopted
			break
		}
		ev, err := e.next(ctx)
		if err != nil {
			return nil, err
		}
		switch ev := ev.(type) {
		case decisionArrived:
			// 3. Apply it: the decided row, its audit entry and, on
			// approval, the consultation's row, in one transaction,
			// then the notes.
			if res, err = e.steps.apply(ctx, approval, e.deciding(ctx)); err != nil {
				// Refused and answered (nothing was written): the
				// escalation waits for the next decision.
				e.decision = nil
			}
		case changeArrived:
			ended, err := e.applyChange(ctx, ev.change)
			if ended || e.adopted != nil {
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
				if e.adopted == nil {
					return e.finish(ctx, nil)
				}
				continue
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

	// 4. On approval, run the consultation it opened (scheduled → active →
	// ended), then 5. complete once every notification is out and every
	// handler has answered.
	return e.steps.afterDecision(ctx, res)
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
	step, err := e.act(ctx, false, "Record the approval", activities.StepInput{
		Record: &activities.RecordApprovalInput{Approval: e.in.Approval, Actor: e.in.Actor},
		Notify: []activities.NotifyInput{{Kind: activities.NotifyEscalated}},
	})
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
	recorded := step.Approval
	e.state.Approval, e.state.Phase = recorded, phaseOf(recorded.Status)
	e.state.ExpiresAt = recorded.ExpiresAt
	e.details(ctx)
	return recorded, false, nil
}

// deciding marks the accepted decision as being applied and returns it.
func (e *escalation) deciding(ctx workflow.Context) contract.DecisionRequest {
	d := e.decision.req
	e.state.Phase, e.state.Decision = contract.PhaseDeciding, &d
	e.details(ctx)
	return d
}

// apply writes the decision and, on approval, the consultation it opens,
// tells the conversation (and the customer the join link), then answers
// the decide update, all in the workflow task that accepted it. An error
// means the decision was not written and is refused: its update has its
// answer. Once the write succeeded the decision stands, whatever follows.
//
// Written inside that task (a local activity), the decision reaches the
// database before the server has made the update part of the history; a
// server that loses the task then loses the update, not the write. Two
// things close that gap: the write is idempotent (the same decision sent
// again, as the API's caller does when its update fails, finds it written
// and answers with it), and whatever the escalation writes next is
// refused by a row that has moved on and follows it instead (adopt). The
// older runs' regular activity (applyDurably, legacy.go) cost the
// escalation a workflow task and five events for the same guarantee.
func (e *escalation) apply(ctx workflow.Context, ap *contract.Approval, d contract.DecisionRequest) (*activities.ApplyDecisionResult, error) {
	in := decisionInput(ap, d)
	notify := []activities.NotifyInput{{Kind: activities.NotifyDecided}}
	step := activities.StepInput{Decide: &in, Notify: notify}
	if d.Status == store.StatusApproved {
		c := e.newConsultation(ap, d)
		c.WorkflowID = workflow.GetInfo(ctx).WorkflowExecution.ID
		in.Consultation = c
		step.Notify = append(step.Notify, activities.NotifyInput{Kind: activities.NotifyConsultation})
	} else {
		// A rejection ends the escalation: the step anchors the chain.
		step.Anchor = ap.TenantID
	}
	res, err := e.act(ctx, false, "Apply the decision: "+d.Status, step)
	if err != nil {
		return nil, e.refuse(ctx, err)
	}
	if res.Settled {
		err := e.refuse(ctx, e.settle(ctx, res))
		if e.adopted != nil {
			return e.adopted, nil
		}
		return nil, err
	}
	out := &activities.ApplyDecisionResult{Approval: res.Approval, Consultation: res.Consultation}
	e.decided(ctx, d, out)
	// A search attribute is for ops' queries: it never undoes the decision.
	_ = e.steps.survive(ctx, "set the approval status attribute", upsertStatus(ctx, d.Status))
	return out, nil
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
// from the approval id (a retry makes the same one); its room name is drawn
// by the activity that writes it (older runs drew it here: legacy.go).
func (e *escalation) newConsultation(ap *contract.Approval, d contract.DecisionRequest) *contract.Consultation {
	approvalID := ap.ID
	return &contract.Consultation{
		ID: contract.ApprovalConsultationID(ap.ID), Title: ap.Title, Status: store.ConsultationScheduled,
		HostID: d.DeciderID, ParticipantIDs: contract.Participants([]string{ap.RequestedBy, d.DeciderID}, e.in.Participants...),
		ApprovalID: &approvalID, TenantID: ap.TenantID,
	}
}

// act does one step of the escalation: its write and, once written, the
// notifications it causes and, when it ends the escalation, the audit
// chain head (e.steps.act: for new runs one activity, doStep). Whatever
// notification did not get through is left to the outbox, in order; so
// is every notification of a step taken while the outbox still has some
// to send, which must not be overtaken. A settled result (the row had
// moved on) is the caller's to handle.
func (e *escalation) act(ctx workflow.Context, durable bool, summary string, in activities.StepInput) (*activities.StepResult, error) {
	notify := in.Notify
	if !e.notifications.idle() {
		in.Notify = nil
	}
	res, err := e.steps.act(ctx, durable, summary, in)
	if err != nil || res.Settled {
		return res, err
	}
	ap := res.Approval
	if ap == nil {
		ap = e.state.Approval // a reminder writes no row
	}
	for i, n := range notify {
		n.Approval = *ap
		if n.Kind == activities.NotifyConsultation {
			n.Consultation = res.Consultation
		}
		if i < len(res.Notified) {
			e.notifications.sent(&e.state, n, res.Notified[i])
		} else {
			e.notifications.enqueue(&e.state, n)
		}
	}
	if res.AuditHead != nil {
		e.state.AuditHead = res.AuditHead
	}
	return res, nil
}

// doStep runs a step as one activity a.Step: local, within localBudget and
// then as a regular activity (boundedWrite), or regular for what an update
// asked (durable: see escalation.apply for why the decision is not).
func doStep(ctx workflow.Context, durable bool, summary string, in activities.StepInput) (*activities.StepResult, error) {
	var res activities.StepResult
	var err error
	if durable {
		err = workflow.ExecuteActivity(durableOptions(ctx, summary), a.Step, in).Get(ctx, &res)
	} else {
		err = boundedWrite(ctx, summary, a.Step, in, &res)
	}
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// adopt follows a row that a step found decided when the escalation had no
// decision of its own: written by a decide whose workflow task the server
// lost (escalation.apply). The escalation goes on from that decision as
// from its own (e.adopted): the conversation is told (again, if the lost
// task had told it: the notifications are idempotent) and, on approval,
// the consultation is run. A row that ended otherwise (which only a hand
// on the database makes) is left to the caller's refusal.
func (e *escalation) adopt(ctx workflow.Context, res *activities.StepResult) {
	st := res.Approval.Status
	if st != store.StatusApproved && st != store.StatusRejected {
		return
	}
	workflow.GetLogger(ctx).Warn("The approval was decided outside this run's history; the escalation follows the row",
		"status", st, "approvalId", res.Approval.ID)
	e.state.Approval, e.state.ExpiresAt, e.state.Phase = res.Approval, res.Approval.ExpiresAt, contract.PhaseDecided
	e.adopted = &activities.ApplyDecisionResult{Approval: res.Approval, Consultation: res.Consultation}
	e.notifications.enqueue(&e.state, activities.NotifyInput{Kind: activities.NotifyDecided, Approval: *res.Approval})
	if res.Consultation != nil {
		e.notifications.enqueue(&e.state, activities.NotifyInput{Kind: activities.NotifyConsultation, Approval: *res.Approval, Consultation: res.Consultation})
	}
	e.details(ctx)
	_ = e.steps.survive(ctx, "set the approval status attribute", upsertStatus(ctx, st))
}

// settle is what a step refused by a row that moved on comes to: the
// refusal, after adopting the row when it is decided.
func (e *escalation) settle(ctx workflow.Context, res *activities.StepResult) error {
	e.adopt(ctx, res)
	return temporal.NewNonRetryableApplicationError(res.Refused, contract.ErrTypeConflict, nil)
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
	if !e.anchored || e.state.AuditHead != nil {
		// Not anchored, or anchored by the step that ended it.
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
