package workflows

import (
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/orchestrator-dev/orchestrator/activities"
	"github.com/orchestrator-dev/orchestrator/internal/jitsi"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Generations of the escalation and the consultation. New runs take the
// newest path, which the other files spell out; everything here exists only
// so that workflows started by older code replay
// (workflows/testdata/histories/v0-* to v7-* are such histories).
//
// New escalations name their generation in the input
// (contract.EscalationInput.Generation) and record no version marker: every
// open escalation with a TemporalChangeVersion is of an older generation.
// The bounded generation's steps (boundedSteps, the v7 fixtures) can go
// once
//
//	temporal workflow count --query "WorkflowType='Escalation' AND ExecutionStatus='Running' AND TemporalChangeVersion IS NOT NULL"
//
// answers 0 (and no starter of an older release is left to start one
// without a generation).
//
// A branch can be deleted once no workflow that took it is open. Ask the
// namespace, for each change id below, e.g.:
//
//	temporal workflow count --query "WorkflowType='Escalation' AND ExecutionStatus='Running' AND TemporalChangeVersion NOT IN ('inline-effects-1', 'lifecycle-1', 'bounded-1', 'bounded-2')"
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
	// alone, as long as it took (runBeforeLifecycle).
	lifecycle = "lifecycle"
	// bounded (v0 → 1): no fault kills or hangs an escalation (a local
	// write falls back to a regular activity on every error a retry could
	// cure, not only its timeout; the expiry, a reminder, the consultation's
	// start and what follows the decision's write never fail the workflow),
	// deadlines hold without the timer (validators refuse what arrives past
	// them; a question's answer has its own), and the history stays bounded
	// (a cap on questions, one timer per target time, continue-as-new).
	// Before it: the lifecycle generation (olderSteps).
	bounded = "bounded"
	// boundedAnchored is bounded's version 2: also, an escalation that ends
	// reads its tenant's audit chain head (a local activity) and returns it
	// in its result (escalation.anchorAudit). Version 1 runs end without.
	// A version of bounded rather than a change id of its own, because a
	// new run records one marker either way: a second change id would cost
	// every escalation another marker and a visibility write.
	boundedAnchored = 2
)

// generation is which of the escalation's generations a run follows.
type generation struct {
	inlineEffects bool
	lifecycle     bool
	bounded       bool
}

// newest is the generation of every new run.
func newest() generation { return generation{inlineEffects: true, lifecycle: true, bounded: true} }

// currentGeneration is decided once, at the start of a run.
//
// Each generation came after the ones before it, so a run that recorded
// bounded follows the other three as well, and a new run records bounded
// alone: every GetVersion costs a marker and a TemporalChangeVersion upsert
// (two events, one visibility write) that a new run would only repeat. The
// markers of the other change ids that runs started by earlier code hold
// are skipped on replay (the SDK matches version markers by change id, not
// by position); the replay fixtures prove both shapes.
//
// anchored says whether the run records the audit chain head as it ends
// (boundedAnchored).
func currentGeneration(ctx workflow.Context) (g generation, anchored bool) {
	if v := workflow.GetVersion(ctx, bounded, workflow.DefaultVersion, boundedAnchored); v >= 1 {
		return newest(), v >= boundedAnchored
	}
	if workflow.GetVersion(ctx, lifecycle, workflow.DefaultVersion, 1) == 1 {
		return generation{inlineEffects: true, lifecycle: true}, false
	}
	return generation{inlineEffects: workflow.GetVersion(ctx, inlineEffects, workflow.DefaultVersion, 1) == 1}, false
}

// durableDecision is decided when the decision arrives, which is where the
// histories of runs before lifecycle recorded it; lifecycle implies it.
func (g generation) durableDecision(ctx workflow.Context) bool {
	if g.lifecycle {
		return true
	}
	return workflow.GetVersion(ctx, durableDecision, workflow.DefaultVersion, 1) == 1
}

// lifeShape is which life a run lives: run's, or, for runs from before
// lifecycle, runBeforeLifecycle's.
type lifeShape int

const (
	withLifecycle lifeShape = iota
	beforeLifecycle
)

// pickGeneration decides, once at the start of a run, the generation it
// follows and so its steps: the current ones (escalation.currentSteps) for
// new runs, olderSteps for runs recorded by older code.
func (e *escalation) pickGeneration(ctx workflow.Context) lifeShape {
	if e.in.Generation >= contract.GenerationCompact {
		// Started by code that names the generation in the input: no
		// version marker (contract.EscalationInput.Generation).
		e.gen, e.anchored, e.steps = newest(), true, e.currentSteps()
		return withLifecycle
	}
	e.gen, e.anchored = currentGeneration(ctx)
	if e.gen == newest() {
		e.steps = e.boundedSteps()
		return withLifecycle
	}
	e.steps = e.olderSteps()
	if !e.gen.lifecycle {
		return beforeLifecycle
	}
	return withLifecycle
}

// boundedSteps are the steps of runs that recorded bounded (inputs without
// a generation): a write, the decision and each notification are an
// activity of their own, the decision is written by a regular activity
// after the task that accepted it, and the consultation gets its own
// workflow.
func (e *escalation) boundedSteps() steps {
	return steps{
		act:                    e.actSeparately,
		apply:                  e.applyDurably,
		afterDecision:          e.openConsultationAndFinish,
		write:                  boundedWrite,
		startConsultation:      startConsultation,
		survive:                goOn,
		nextTimer:              e.nextTimer,
		waitUntil:              e.waitUntil,
		continueAsNewSuggested: func(ctx workflow.Context) bool { return workflow.GetInfo(ctx).GetContinueAsNewSuggested() },
		send:                   sendInlineFirst,
	}
}

// olderSteps are the steps of the generations before bounded: a failure of
// the escalation's own doing failed the workflow, a question's answer had
// no time of its own, a wait for a time left its timer behind, and the run
// never continued as new.
func (e *escalation) olderSteps() steps {
	s := steps{
		act:               e.actSeparately,
		afterDecision:     e.openConsultationAndFinish,
		write:             e.writeBefore,
		apply:             e.applyBefore,
		startConsultation: e.startConsultationBefore,
		survive:           func(_ workflow.Context, _ string, err error) error { return err },
		nextTimer:         e.pendingTimer,
		waitUntil: func(ctx workflow.Context, t due, cond func() bool) error {
			_, err := workflow.AwaitWithTimeout(ctx, t.at.Sub(workflow.Now(ctx)), cond)
			return err
		},
		continueAsNewSuggested: func(workflow.Context) bool { return false },
		send:                   sendDurably,
	}
	if e.gen.inlineEffects {
		s.send = sendInlineFirst
	}
	return s
}

// runBeforeLifecycle is the life of an escalation started before
// lifecycle: recorded, it waited for a decision alone, as long as it took;
// a decision the database refused, like any failure, failed the workflow.
// (Its withdrawals and questions were refused: checkChange.)
func (e *escalation) runBeforeLifecycle(ctx workflow.Context) (*contract.EscalationState, error) {
	workflow.Go(ctx, e.receiveSignals)
	workflow.Go(ctx, func(ctx workflow.Context) { e.notifications.deliver(ctx, &e.state, e.steps.send) })
	approval, discarded, err := e.record(ctx)
	if err != nil {
		return nil, err
	}
	if discarded {
		return e.finish(ctx, nil)
	}
	if err := workflow.Await(ctx, func() bool { return e.decision != nil }); err != nil {
		return nil, err
	}
	res, err := e.steps.apply(ctx, approval, e.deciding(ctx))
	if err != nil {
		return nil, err
	}
	if res.Consultation != nil {
		if err := e.openConsultation(ctx, res.Consultation); err != nil {
			return nil, err
		}
	}
	e.notify(activities.NotifyDecided, nil)
	if res.Consultation != nil {
		e.notify(activities.NotifyConsultation, res.Consultation)
	}
	return e.finish(ctx, nil)
}

// actSeparately is a step as runs before the current generation took it:
// the write by its own activity (e.steps.write, or a regular activity for
// what an update asked), each notification by its own from the outbox, and
// the audit anchor by its own as the escalation ends (anchorAudit). A write
// refused by a row that moved on fails the step.
func (e *escalation) actSeparately(ctx workflow.Context, durable bool, summary string, in activities.StepInput) (*activities.StepResult, error) {
	var (
		fn, arg any
		res     activities.StepResult
	)
	switch {
	case in.Record != nil:
		fn, arg, res.Approval = a.RecordApproval, *in.Record, &contract.Approval{}
	case in.Change != nil:
		fn, arg, res.Approval = a.ChangeStatus, *in.Change, &contract.Approval{}
	case in.Reminder != nil:
		fn, arg = a.RecordReminder, *in.Reminder // writes no row
	default:
		return nil, fmt.Errorf("%s: no write an older run takes as a step", summary)
	}
	var out any
	if res.Approval != nil {
		out = res.Approval
	}
	var err error
	if durable {
		err = workflow.ExecuteActivity(durableOptions(ctx, summary), fn, arg).Get(ctx, out)
	} else {
		err = e.steps.write(ctx, summary, fn, arg, out)
	}
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// applyDurably is escalation.apply of bounded runs: the room name drawn by
// a side effect, the decision written by a regular activity once the task
// that accepted it completed, and the consultation's own workflow started
// by openConsultationAndFinish.
func (e *escalation) applyDurably(ctx workflow.Context, ap *contract.Approval, d contract.DecisionRequest) (*activities.ApplyDecisionResult, error) {
	in := decisionInput(ap, d)
	if d.Status == store.StatusApproved {
		c, err := e.newConsultationWithRoom(ctx, ap, d)
		if err != nil {
			return nil, e.refuse(ctx, temporal.NewApplicationErrorWithCause("the consultation the approval opens could not be built", contract.ErrTypeInvalid, err))
		}
		in.Consultation = c
	}
	var res activities.ApplyDecisionResult
	if err := workflow.ExecuteActivity(durableOptions(ctx, "Apply the decision: "+d.Status), a.ApplyDecision, in).Get(ctx, &res); err != nil {
		return nil, e.refuse(ctx, err)
	}
	e.decided(ctx, d, &res)
	_ = e.steps.survive(ctx, "set the approval status attribute", upsertStatus(ctx, d.Status))
	return &res, nil
}

// newConsultationWithRoom is newConsultation with its room name drawn in
// the workflow, once, kept in history by a side effect (runs before the
// current generation).
func (e *escalation) newConsultationWithRoom(ctx workflow.Context, ap *contract.Approval, d contract.DecisionRequest) (*contract.Consultation, error) {
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
	c := e.newConsultation(ap, d)
	c.JitsiRoom = room
	return c, nil
}

// openConsultationAndFinish is what followed the decision in runs before
// the current generation: on approval, start the consultation's own
// workflow; tell the conversation the decision and the customer the join
// link; complete once every notification is out and every handler
// answered.
func (e *escalation) openConsultationAndFinish(ctx workflow.Context, res *activities.ApplyDecisionResult) (*contract.EscalationState, error) {
	if res.Consultation != nil {
		if err := e.steps.survive(ctx, "start the consultation", e.openConsultation(ctx, res.Consultation)); err != nil {
			return nil, err
		}
	}
	e.notify(activities.NotifyDecided, nil)
	if res.Consultation != nil {
		e.notify(activities.NotifyConsultation, res.Consultation)
	}
	return e.finish(ctx, nil)
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

// writeBefore is the escalation's write before bounded: from lifecycle on,
// a local activity that timed out went on as a regular activity, but one
// that failed fast (the database refusing connections) returned its error
// at the budget; before lifecycle, the write retried inline for as long as
// it took.
func (e *escalation) writeBefore(ctx workflow.Context, summary string, fn, in, out any) error {
	if !e.gen.lifecycle {
		return workflow.ExecuteLocalActivity(summarized(ctx, summary), fn, in).Get(ctx, out)
	}
	return writeFallingBackOnTimeout(ctx, summary, fn, in, out)
}

// writeFallingBackOnTimeout is a local write within its budget that goes on
// as a regular activity only when it timed out (boundedWrite before it
// fell back on every error a retry could cure).
func writeFallingBackOnTimeout(ctx workflow.Context, summary string, fn, in, out any) error {
	err := workflow.ExecuteLocalActivity(boundedDBOptions(ctx, summary), fn, in).Get(ctx, out)
	var timeout *temporal.TimeoutError
	if errors.As(err, &timeout) {
		return workflow.ExecuteActivity(durableOptions(ctx, summary), fn, in).Get(ctx, out)
	}
	return err
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
// consultation) neither answered the update nor made room for another
// decision: a run before lifecycle failed, a lifecycle run applied the same
// decision again, for ever.
func (e *escalation) applyBefore(ctx workflow.Context, ap *contract.Approval, d contract.DecisionRequest) (*activities.ApplyDecisionResult, error) {
	durable := e.gen.durableDecision(ctx)
	for {
		res, refused, err := e.applyOnceBefore(ctx, durable, ap, d)
		if err == nil || refused || !e.gen.lifecycle {
			return res, err
		}
		d = e.deciding(ctx)
	}
}

func (e *escalation) applyOnceBefore(ctx workflow.Context, durable bool, ap *contract.Approval, d contract.DecisionRequest) (res *activities.ApplyDecisionResult, refused bool, err error) {
	in := decisionInput(ap, d)
	if d.Status == store.StatusApproved {
		c, err := e.newConsultationWithRoom(ctx, ap, d)
		if err != nil {
			return nil, false, err
		}
		in.Consultation = c
	}
	var apply workflow.Future
	if durable {
		apply = workflow.ExecuteActivity(durableOptions(ctx, "Apply the decision: "+d.Status), a.ApplyDecision, in)
	} else {
		apply = workflow.ExecuteLocalActivity(summarized(ctx, "Apply the decision: "+d.Status), a.ApplyDecision, in)
	}
	var out activities.ApplyDecisionResult
	if err := apply.Get(ctx, &out); err != nil {
		if e.gen.lifecycle {
			// The decision fails, not the escalation: it waits for another.
			return nil, true, e.refuse(ctx, err)
		}
		e.decision.outcome = &applyOutcome{err: err}
		return nil, false, fmt.Errorf("apply decision: %w", err)
	}
	e.state.Approval = out.Approval
	if err := workflow.UpsertTypedSearchAttributes(ctx, contract.ApprovalStatusKey.ValueSet(d.Status)); err != nil {
		return nil, false, fmt.Errorf("upsert search attributes: %w", err)
	}
	e.decided(ctx, d, &out)
	return &out, false, nil
}

// The consultation's generations.
const (
	// durableTransition (v0 → 1): start and end are written by a regular
	// activity, and a start or end the database refuses answers its update
	// with the refusal while the consultation stays where it was
	// (currentTransitions). Before it: a local activity inside the workflow
	// task that accepted the update (see currentTransitions for why that
	// was unsafe), and a refused write failed the workflow.
	//
	// The version is decided at a run's first transition, so consultations
	// already waiting when this code is deployed take the new path too;
	// only runs that made a transition under older code keep the old one.
	// Its branch can go, like the escalation's, once
	//
	//	temporal workflow count --query "WorkflowType='Consultation' AND ExecutionStatus='Running' AND TemporalChangeVersion NOT IN ('consultation-durable-transition-1')"
	//
	// answers 0 (it also counts consultations not yet started, which take
	// the new path: an upper bound), keeping the GetVersion call with
	// version 1 as the minimum, and dropping the fixtures recorded before it.
	durableTransition = "consultation-durable-transition"
	// boundedRecord: the consultation's record is a local activity with a
	// budget that goes on as a regular activity past it, instead of
	// retrying inside the workflow task for as long as the database is down
	// (v0 → 1); and it goes on as a regular activity after any failure a
	// retry could cure, not only a timeout (v1 → 2, boundedWrite, as the
	// escalation's writes). Delete the old branches as durableTransition
	// says.
	boundedRecord = "consultation-bounded-record"
)

// recordWrite is how this run writes the consultation's record, decided
// at the start of the run: boundedWrite for new runs.
func recordWrite(ctx workflow.Context) func(ctx workflow.Context, summary string, fn, in, out any) error {
	switch workflow.GetVersion(ctx, boundedRecord, workflow.DefaultVersion, 2) {
	case 2:
		return boundedWrite
	case 1:
		return writeFallingBackOnTimeout
	}
	return func(ctx workflow.Context, _ string, fn, in, out any) error {
		return workflow.ExecuteLocalActivity(dbOptions(ctx), fn, in).Get(ctx, out)
	}
}

// pickTransitions is how this run writes its transitions, decided at its
// first transition: currentTransitions for new runs, and for runs whose
// first transition older code made, a local activity whose refusal fails
// the run.
func (c *consultation) pickTransitions(ctx workflow.Context) transitionSteps {
	if c.transitions == nil {
		t := currentTransitions()
		if workflow.GetVersion(ctx, durableTransition, workflow.DefaultVersion, 1) != 1 {
			t = transitionSteps{
				write: func(ctx workflow.Context, in activities.TransitionInput) workflow.Future {
					return workflow.ExecuteLocalActivity(dbOptions(ctx), a.TransitionConsultation, in)
				},
				refusal: func(error) error { return nil },
			}
		}
		c.transitions = &t
	}
	return *c.transitions
}
