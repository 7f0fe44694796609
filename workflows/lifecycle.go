package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/orchestrator-dev/orchestrator/activities"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// An escalation's life while it waits for its decision (the lifecycle
// generation): it ends at its deadline without one (expired, never
// approved), the requester may withdraw it, an approver may ask the
// requester a question (the deadline and the reminders wait for the
// answer), and the approvers are reminded at the policy's offsets.

// life is the bookkeeping of the waiting escalation.
type life struct {
	// paused is the time spent waiting for answers, by which the deadline
	// and the reminders move on; askedAt is when the open question was asked.
	paused  time.Duration
	askedAt time.Time
	// reminded counts the reminders sent; asked and answered number the
	// questions and answers, for their audit entries and notes.
	reminded, asked, answered int
}

// change is an accepted withdraw, request-info or provide-info update,
// waiting to be applied by live; outcome is the update's answer.
type change struct {
	kind    string
	req     contract.ChangeRequest
	outcome *changeOutcome
}

type changeOutcome struct {
	approval *store.Approval
	err      error
}

// live waits until a decision arrives (false) or the escalation ends without
// one (true), applying what happens meanwhile.
func (e *escalation) live(ctx workflow.Context) (ended bool, err error) {
	waiting := func() bool { return e.decision != nil || len(e.changes) > 0 }
	for {
		switch {
		case e.decision != nil:
			return false, nil
		case len(e.changes) > 0:
			c := e.changes[0]
			e.changes = e.changes[1:]
			ended, err := e.applyChange(ctx, c)
			if ended {
				e.refuseTheRest()
			}
			if ended || err != nil {
				return ended, err
			}
			continue
		}
		wake, what := e.nextTimer(ctx)
		switch {
		case what == "":
			err = workflow.Await(ctx, waiting)
		case !wake.After(workflow.Now(ctx)):
			if what == "deadline" {
				err := e.expire(ctx)
				e.refuseTheRest()
				return true, err
			}
			err = e.remind(ctx)
		default:
			_, err = workflow.AwaitWithTimeout(ctx, wake.Sub(workflow.Now(ctx)), waiting)
		}
		if err != nil {
			return false, err
		}
	}
}

// nextTimer is when the waiting escalation must act by itself: the next
// reminder or the deadline, whichever comes first; nothing while it waits
// for an answer.
func (e *escalation) nextTimer(ctx workflow.Context) (time.Time, string) {
	if e.state.Phase != contract.PhasePending {
		return time.Time{}, ""
	}
	var at time.Time
	what := ""
	if n := e.life.reminded; n < len(e.in.ReminderSeconds) {
		at = e.state.Approval.CreatedAt.Add(time.Duration(e.in.ReminderSeconds[n])*time.Second + e.life.paused)
		what = "reminder"
	}
	if d := e.state.ExpiresAt; d != nil && (what == "" || !d.After(at)) {
		at, what = *d, "deadline"
	}
	return at, what
}

// expire ends the escalation at its deadline: recorded by system, never an
// approval.
func (e *escalation) expire(ctx workflow.Context) error {
	e.state.Phase = contract.PhaseClosed
	ap, err := e.changeStatus(ctx, false, "Expire the escalation", activities.ChangeStatusInput{
		From: store.Waiting, To: store.StatusExpired, Action: activities.ActionExpired, Actor: contract.System,
	})
	if err != nil {
		return err
	}
	return e.closed(ctx, ap, activities.NotifyInput{Kind: activities.NotifyExpired})
}

// remind sends the next reminder, once, and records it.
func (e *escalation) remind(ctx workflow.Context) error {
	e.life.reminded++
	n := e.life.reminded
	err := e.write(ctx, fmt.Sprintf("Record reminder %d", n), a.RecordReminder, activities.ReminderInput{
		ApprovalID: e.state.Approval.ID, TenantID: e.state.Approval.TenantID, Seq: n,
	}, nil)
	if err != nil {
		return fmt.Errorf("record reminder %d: %w", n, err)
	}
	e.notifications.enqueue(&e.state, activities.NotifyInput{Kind: activities.NotifyReminder, Seq: n, Approval: *e.state.Approval})
	return nil
}

// applyChange applies a withdrawal, a question or an answer, and answers
// its update.
func (e *escalation) applyChange(ctx workflow.Context, c *change) (ended bool, err error) {
	ap := e.state.Approval
	actor := contract.Actor{ID: c.req.ActorID, Name: c.req.ActorName, Channel: c.req.Channel}
	in := activities.ChangeStatusInput{Actor: actor, Text: c.req.Text}
	note := activities.NotifyInput{ActorName: c.req.ActorName, Text: c.req.Text}
	now := workflow.Now(ctx)
	switch c.kind {
	case contract.UpdateWithdraw:
		e.state.Phase = contract.PhaseClosed
		in.From, in.To, in.Action = store.Waiting, store.StatusWithdrawn, activities.ActionWithdrawn
		note.Kind = activities.NotifyWithdrawn
	case contract.UpdateRequestInfo:
		e.life.asked++
		e.life.askedAt = now
		in.From, in.To, in.Action, in.Seq = []string{store.StatusPending}, store.StatusInfoRequested, activities.ActionInfoRequested, e.life.asked
		note.Kind, note.Seq = activities.NotifyInfoRequested, e.life.asked
	case contract.UpdateProvideInfo:
		e.life.answered++
		spent := now.Sub(e.life.askedAt)
		e.life.paused += spent
		in.From, in.To, in.Action, in.Seq = []string{store.StatusInfoRequested}, store.StatusPending, activities.ActionInfoProvided, e.life.answered
		if ap.ExpiresAt != nil {
			moved := ap.ExpiresAt.Add(spent)
			in.ExpiresAt = &moved
		}
		note.Kind, note.Seq = activities.NotifyInfoProvided, e.life.answered
	}
	out, err := e.changeStatus(ctx, true, "Apply "+c.kind, in)
	if err != nil {
		// Refused by the database (the row moved on): the update fails,
		// the escalation waits on as it was.
		c.outcome = &changeOutcome{err: err}
		e.state.Phase = phaseOf(ap.Status)
		return false, nil
	}
	c.outcome = &changeOutcome{approval: out}
	if c.kind == contract.UpdateWithdraw {
		return true, e.closed(ctx, out, note)
	}
	e.state.Approval, e.state.ExpiresAt, e.state.Phase = out, out.ExpiresAt, phaseOf(out.Status)
	note.Approval = *out
	e.notifications.enqueue(&e.state, note)
	e.details(ctx)
	return false, upsertStatus(ctx, out.Status)
}

// changeStatus writes a status change; durable for what an update asked
// (applied by a regular activity, for the reason escalation.apply gives).
func (e *escalation) changeStatus(ctx workflow.Context, durable bool, summary string, in activities.ChangeStatusInput) (*store.Approval, error) {
	in.ApprovalID, in.TenantID = e.state.Approval.ID, e.state.Approval.TenantID
	var out store.Approval
	var err error
	if durable {
		err = workflow.ExecuteActivity(durableOptions(ctx, summary), a.ChangeStatus, in).Get(ctx, &out)
	} else {
		err = e.write(ctx, summary, a.ChangeStatus, in, &out)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.Action, err)
	}
	return &out, nil
}

// closed records an escalation that ended without a decision.
func (e *escalation) closed(ctx workflow.Context, ap *store.Approval, note activities.NotifyInput) error {
	e.state.Approval, e.state.Phase = ap, contract.PhaseClosed
	note.Approval = *ap
	e.notifications.enqueue(&e.state, note)
	e.details(ctx)
	return upsertStatus(ctx, ap.Status)
}

func upsertStatus(ctx workflow.Context, status string) error {
	if err := workflow.UpsertTypedSearchAttributes(ctx, contract.ApprovalStatusKey.ValueSet(status)); err != nil {
		return fmt.Errorf("upsert search attributes: %w", err)
	}
	return nil
}

// phaseOf is the phase of an escalation whose row has status.
func phaseOf(status string) string {
	switch status {
	case store.StatusInfoRequested:
		return contract.PhaseInfoRequested
	case store.StatusApproved, store.StatusRejected:
		return contract.PhaseDecided
	case store.StatusExpired, store.StatusWithdrawn:
		return contract.PhaseClosed
	}
	return contract.PhasePending
}

// details tells ops in the Temporal UI what the escalation waits on.
func (e *escalation) details(ctx workflow.Context) {
	switch e.state.Phase {
	case contract.PhasePending:
		e.state.WaitingFor = "a decision"
	case contract.PhaseInfoRequested:
		e.state.WaitingFor = "the requester's answer"
	case contract.PhaseDeciding:
		e.state.WaitingFor = "the decision to be stored"
	default:
		e.state.WaitingFor = ""
	}
	d := "Phase: " + e.state.Phase
	if e.state.WaitingFor != "" {
		d += "  \nWaiting for: " + e.state.WaitingFor
	}
	if e.state.ExpiresAt != nil && e.state.WaitingFor != "" {
		d += "  \nDeadline: " + e.state.ExpiresAt.UTC().Format(time.RFC3339)
	}
	workflow.SetCurrentDetails(ctx, d)
}

// checkChange is the rule for a withdraw, request-info or provide-info
// update, whoever sends it: what it says, and whether this escalation can
// take it from this actor now.
func (e *escalation) checkChange(kind string, req contract.ChangeRequest) error {
	if err := req.Validate(kind != contract.UpdateWithdraw); err != nil {
		return temporal.NewApplicationError(err.Error(), contract.ErrTypeInvalidDecision)
	}
	phase := e.state.Phase
	for _, c := range e.changes {
		// Accepted and not applied yet: check against where it leads.
		switch c.kind {
		case contract.UpdateWithdraw:
			phase = contract.PhaseClosed
		case contract.UpdateRequestInfo:
			phase = contract.PhaseInfoRequested
		case contract.UpdateProvideInfo:
			phase = contract.PhasePending
		}
	}
	requester := req.ActorID == e.in.Approval.RequestedBy
	switch {
	case !e.gen.lifecycle:
		return temporal.NewApplicationError("this escalation was started before withdrawals and questions existed", contract.ErrTypeInvalidTransition)
	case e.decision != nil || phase == contract.PhaseDecided || phase == contract.PhaseDeciding:
		return temporal.NewApplicationError("the approval is already decided", contract.ErrTypeAlreadyDecided)
	case phase == contract.PhaseClosed || phase == contract.PhaseDiscarded || phase == contract.PhaseFailed:
		return temporal.NewApplicationError("the escalation has ended", contract.ErrTypeAlreadyDecided)
	case phase == contract.PhaseRecording:
		return temporal.NewApplicationError("the escalation is still being recorded", contract.ErrTypeInvalidTransition)
	case kind == contract.UpdateWithdraw && !requester, kind == contract.UpdateProvideInfo && !requester:
		return temporal.NewApplicationError("only the requester can "+kind, contract.ErrTypeNotRequester)
	case kind == contract.UpdateRequestInfo && requester:
		return temporal.NewApplicationError("the requester cannot ask themselves", contract.ErrTypeSelfDecision)
	case kind == contract.UpdateRequestInfo && phase != contract.PhasePending:
		return temporal.NewApplicationError("a question is already waiting for its answer", contract.ErrTypeInvalidTransition)
	case kind == contract.UpdateProvideInfo && phase != contract.PhaseInfoRequested:
		return temporal.NewApplicationError("no question is waiting for an answer", contract.ErrTypeInvalidTransition)
	}
	return nil
}

// onChange takes a withdraw, request-info or provide-info update and
// answers once live has applied it.
func (e *escalation) onChange(kind string) func(workflow.Context, contract.ChangeRequest) (*contract.ChangeResult, error) {
	return func(ctx workflow.Context, req contract.ChangeRequest) (*contract.ChangeResult, error) {
		if err := e.checkChange(kind, req); err != nil {
			return nil, err
		}
		req.Channel, req.Proof = e.key.ChangeChannel(e.in.Approval.ID, kind, e.round(kind), req), ""
		c := &change{kind: kind, req: req}
		e.changes = append(e.changes, c)
		if err := workflow.Await(ctx, func() bool { return c.outcome != nil }); err != nil {
			return nil, err
		}
		if c.outcome.err != nil {
			return nil, c.outcome.err
		}
		return &contract.ChangeResult{Approval: c.outcome.approval}, nil
	}
}

// refuseTheRest answers, once the escalation has ended, every update still
// waiting on it, so none waits forever.
func (e *escalation) refuseTheRest() {
	ended := temporal.NewNonRetryableApplicationError("the escalation has ended without a decision", contract.ErrTypeAlreadyDecided, nil)
	for _, c := range e.changes {
		c.outcome = &changeOutcome{err: ended}
	}
	e.changes = nil
	if e.decision != nil && e.decision.outcome == nil {
		e.decision.outcome = &applyOutcome{err: ended}
	}
}
