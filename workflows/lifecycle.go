package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/orchestrator-dev/orchestrator/activities"
	"github.com/orchestrator-dev/orchestrator/internal/domain"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// An escalation's life while it waits for its decision (the lifecycle
// generation): it ends at its deadline without one (expired, never
// approved), the requester may withdraw it, an approver may ask the
// requester a question (the deadline and the reminders wait for the
// answer), and the approvers are reminded at the policy's offsets.

// life is the bookkeeping of the waiting escalation; a run that continues
// as new carries it over (exported for that).
type life struct {
	// Paused is the time spent waiting for answers, by which the deadline
	// and the reminders move on; AskedAt is when the open question was asked.
	Paused  time.Duration `json:"paused,omitempty"`
	AskedAt time.Time     `json:"askedAt,omitzero"`
	// Reminded counts the reminders sent; Asked and Answered number the
	// questions and answers, for their audit entries and notes; Overdue is
	// the last question whose time for an answer ran out.
	Reminded int `json:"reminded,omitempty"`
	Asked    int `json:"asked,omitempty"`
	Answered int `json:"answered,omitempty"`
	Overdue  int `json:"overdue,omitempty"`
}

// timer is the waiting escalation's one timer, for the time at; a wait for
// another time cancels it (AwaitWithTimeout would leave one behind per
// wait, each firing later into the history).
type timer struct {
	at     time.Time
	fired  workflow.Future
	cancel workflow.CancelFunc
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
	// Woken also once the run is ready to continue as new.
	wakeUp := func() bool { return waiting() || e.readyToContinueAsNew(ctx) }
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
		if e.readyToContinueAsNew(ctx) {
			if e.takeSignals(ctx); !waiting() {
				return false, e.continueAsNew(ctx)
			}
			continue
		}
		wake, what := e.nextTimer(ctx)
		switch {
		case what == "":
			e.stopTimer()
			err = workflow.Await(ctx, wakeUp)
		case !wake.After(workflow.Now(ctx)):
			switch what {
			case "deadline":
				err := e.expire(ctx)
				e.refuseTheRest()
				return true, err
			case "answer":
				err = e.unanswered(ctx)
			default:
				err = e.remind(ctx)
			}
		case e.gen.bounded:
			err = e.waitUntil(ctx, wake, what, wakeUp)
		default:
			_, err = workflow.AwaitWithTimeout(ctx, wake.Sub(workflow.Now(ctx)), waiting)
		}
		if err != nil {
			return false, err
		}
	}
}

// waitUntil waits until cond holds or at comes, with one timer per target
// time: waiting again for the same time keeps the timer, a new time cancels
// the one it supersedes.
func (e *escalation) waitUntil(ctx workflow.Context, at time.Time, what string, cond func() bool) error {
	if e.timer == nil || !e.timer.at.Equal(at) {
		e.stopTimer()
		tctx, cancel := workflow.WithCancel(ctx)
		fired := workflow.NewTimerWithOptions(tctx, at.Sub(workflow.Now(ctx)), workflow.TimerOptions{Summary: "Until the " + what})
		e.timer = &timer{at: at, fired: fired, cancel: cancel}
	}
	t := e.timer
	return workflow.Await(ctx, func() bool { return cond() || t.fired.IsReady() })
}

// stopTimer cancels the timer unless it has fired.
func (e *escalation) stopTimer() {
	if e.timer != nil && !e.timer.fired.IsReady() {
		e.timer.cancel()
	}
	e.timer = nil
}

// nextTimer is when the waiting escalation must act by itself: the next
// reminder or the deadline, whichever comes first; while it waits for an
// answer, the end of the time for it (from bounded on, when the policy sets
// one).
func (e *escalation) nextTimer(ctx workflow.Context) (time.Time, string) {
	if e.state.Phase == contract.PhaseInfoRequested && e.gen.bounded && e.in.AnswerTTLSeconds > 0 && e.life.Overdue < e.life.Asked {
		return e.answerDue(), "answer"
	}
	if e.state.Phase != contract.PhasePending {
		return time.Time{}, ""
	}
	var at time.Time
	what := ""
	if n := e.life.Reminded; n < len(e.in.ReminderSeconds) {
		at = e.state.Approval.CreatedAt.Add(time.Duration(e.in.ReminderSeconds[n])*time.Second + e.life.Paused)
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
		// Refused for good (the row moved on): the escalation ends anyway.
		return e.survive(ctx, "expire", err)
	}
	return e.closed(ctx, ap, activities.NotifyInput{Kind: activities.NotifyExpired})
}

// answerDue is when the open question's time for an answer ends.
func (e *escalation) answerDue() time.Time {
	return e.life.AskedAt.Add(time.Duration(e.in.AnswerTTLSeconds) * time.Second)
}

// unanswered returns the escalation to pending when no answer came in
// time: recorded by system, the deadline moved on by the time spent
// waiting (as an answer would), and the approvers told that it waits for
// them again.
func (e *escalation) unanswered(ctx workflow.Context) error {
	n := e.life.Asked
	e.life.Overdue = n
	spent := workflow.Now(ctx).Sub(e.life.AskedAt)
	e.life.Paused += spent
	in := activities.ChangeStatusInput{
		From: []string{store.StatusInfoRequested}, To: store.StatusPending, Action: activities.ActionInfoUnanswered,
		Actor: contract.System, Seq: n,
	}
	if d := e.state.Approval.ExpiresAt; d != nil {
		moved := d.Add(spent)
		in.ExpiresAt = &moved
	}
	out, err := e.changeStatus(ctx, false, fmt.Sprintf("No answer to question %d", n), in)
	if err != nil {
		// Refused for good (the row moved on): the escalation waits on as
		// it is; this question's time is not counted again (overdue).
		return e.survive(ctx, "return to pending without an answer", err)
	}
	e.state.Approval, e.state.ExpiresAt, e.state.Phase = out, out.ExpiresAt, phaseOf(out.Status)
	e.notifications.enqueue(&e.state, activities.NotifyInput{Kind: activities.NotifyInfoUnanswered, Seq: n, Approval: *out})
	e.details(ctx)
	return e.survive(ctx, "set the approval status attribute", upsertStatus(ctx, out.Status))
}

// remind sends the next reminder, once, and records it.
func (e *escalation) remind(ctx workflow.Context) error {
	e.life.Reminded++
	n := e.life.Reminded
	err := e.write(ctx, fmt.Sprintf("Record reminder %d", n), a.RecordReminder, activities.ReminderInput{
		ApprovalID: e.state.Approval.ID, TenantID: e.state.Approval.TenantID, Seq: n,
	}, nil)
	if err != nil {
		// Refused for good: the reminder is skipped, the escalation waits on.
		return e.survive(ctx, "remind", fmt.Errorf("record reminder %d: %w", n, err))
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
		e.life.Asked++
		e.life.AskedAt = now
		in.From, in.To, in.Action, in.Seq = []string{store.StatusPending}, store.StatusInfoRequested, activities.ActionInfoRequested, e.life.Asked
		note.Kind, note.Seq = activities.NotifyInfoRequested, e.life.Asked
	case contract.UpdateProvideInfo:
		e.life.Answered++
		spent := now.Sub(e.life.AskedAt)
		e.life.Paused += spent
		in.From, in.To, in.Action, in.Seq = []string{store.StatusInfoRequested}, store.StatusPending, activities.ActionInfoProvided, e.life.Answered
		if ap.ExpiresAt != nil {
			moved := ap.ExpiresAt.Add(spent)
			in.ExpiresAt = &moved
		}
		note.Kind, note.Seq = activities.NotifyInfoProvided, e.life.Answered
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
	return false, e.survive(ctx, "set the approval status attribute", upsertStatus(ctx, out.Status))
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
	return e.survive(ctx, "set the approval status attribute", upsertStatus(ctx, ap.Status))
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
	if len(e.in.Continued) > 0 {
		// A continued run has no summary of its own (the server does not
		// carry it over); the memo still names the escalation.
		d += "  \nContinued as new: the first run of this workflow id holds the escalation's start"
	}
	workflow.SetCurrentDetails(ctx, d)
}

// checkChange is the rule for a withdraw, request-info or provide-info
// update, whoever sends it: what it says, and whether this escalation can
// take it from this actor now.
func (e *escalation) checkChange(now time.Time, kind string, req contract.ChangeRequest) error {
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
	case e.expired(phase, now):
		return errExpired()
	}
	// Who may make which change in which status: the transition table
	// (the phases left are pending and info_requested; the authority, or
	// ops, vouched for an approver's authority).
	status := domain.StatusPending
	if phase == contract.PhaseInfoRequested {
		status = domain.StatusInfoRequested
	}
	if err := domain.Check(domain.Change(kind), status, domain.RoleOf(requester, true)); err != nil {
		return contract.RefusalError(err)
	}
	switch {
	case kind == contract.UpdateRequestInfo && e.gen.bounded && e.in.MaxQuestions > 0 && e.life.Asked >= e.in.MaxQuestions:
		// Bounds the question loop, and so the history; the escalation can
		// still be decided, withdrawn or expire.
		return temporal.NewApplicationError(fmt.Sprintf("the escalation has had the %d questions its policy allows", e.in.MaxQuestions), contract.ErrTypeTooManyQuestions)
	case kind == contract.UpdateProvideInfo && e.gen.bounded && e.in.AnswerTTLSeconds > 0 && e.state.Phase == contract.PhaseInfoRequested && !now.Before(e.answerDue()):
		return temporal.NewApplicationError("the question's time for an answer has passed", contract.ErrTypeExpired)
	}
	return nil
}

// onChange takes a withdraw, request-info or provide-info update and
// answers once live has applied it.
func (e *escalation) onChange(kind string) func(workflow.Context, contract.ChangeRequest) (*contract.ChangeResult, error) {
	return func(ctx workflow.Context, req contract.ChangeRequest) (*contract.ChangeResult, error) {
		if err := e.checkChange(workflow.Now(ctx), kind, req); err != nil {
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
