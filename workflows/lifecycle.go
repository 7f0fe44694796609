package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/orchestrator-dev/orchestrator/activities"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// An escalation's life while it waits for its decision: it ends at its
// deadline without one (expired, never approved), the requester may
// withdraw it, an approver may ask the requester a question (the deadline
// and the reminders wait for the answer, for as long as the policy's time
// for an answer), and the approvers are reminded at the policy's offsets.
// run's loop (escalation.go) takes each of these as it comes: the changes
// from the update handlers (escalation_handlers.go), the rest from the one
// timer below (nextTimer).

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
// waiting to be applied by run's loop; outcome is the update's answer.
type change struct {
	kind    string
	req     contract.ChangeRequest
	outcome *changeOutcome
}

type changeOutcome struct {
	approval *contract.Approval
	err      error
}

// waitUntil waits until cond holds or t comes, with one timer per target
// time: waiting again for the same time keeps the timer, a new time cancels
// the one it supersedes.
func (e *escalation) waitUntil(ctx workflow.Context, t due, cond func() bool) error {
	if e.timer == nil || !e.timer.at.Equal(t.at) {
		e.stopTimer()
		tctx, cancel := workflow.WithCancel(ctx)
		fired := workflow.NewTimerWithOptions(tctx, t.at.Sub(workflow.Now(ctx)), workflow.TimerOptions{Summary: "Until the " + t.kind.String()})
		e.timer = &timer{at: t.at, fired: fired, cancel: cancel}
	}
	cur := e.timer
	return workflow.Await(ctx, func() bool { return cond() || cur.fired.IsReady() })
}

// stopTimer cancels the timer unless it has fired.
func (e *escalation) stopTimer() {
	if e.timer != nil && !e.timer.fired.IsReady() {
		e.timer.cancel()
	}
	e.timer = nil
}

// timerKind is what the waiting escalation's timer is for.
type timerKind int

const (
	noTimer timerKind = iota
	reminderTimer
	deadlineTimer
	answerTimer
)

func (k timerKind) String() string {
	switch k {
	case reminderTimer:
		return "reminder"
	case deadlineTimer:
		return "deadline"
	case answerTimer:
		return "answer"
	}
	return ""
}

// due is when the waiting escalation must act by itself, and why.
type due struct {
	at   time.Time
	kind timerKind
}

// nextTimer is when the waiting escalation must act by itself: while it
// waits for an answer, the end of the time for it (when the policy sets
// one); while it is pending, the next reminder or the deadline, whichever
// comes first.
func (e *escalation) nextTimer() due {
	if e.state.Phase == contract.PhaseInfoRequested && e.in.AnswerTTLSeconds > 0 && e.life.Overdue < e.life.Asked {
		return due{at: e.answerDue(), kind: answerTimer}
	}
	return e.pendingTimer()
}

// pendingTimer is the next reminder or the deadline of a pending
// escalation, whichever comes first; none in any other phase.
func (e *escalation) pendingTimer() due {
	if e.state.Phase != contract.PhasePending {
		return due{}
	}
	var next due
	if n := e.life.Reminded; n < len(e.in.ReminderSeconds) {
		next = due{at: e.state.Approval.CreatedAt.Add(time.Duration(e.in.ReminderSeconds[n])*time.Second + e.life.Paused), kind: reminderTimer}
	}
	if d := e.state.ExpiresAt; d != nil && (next.kind == noTimer || !d.After(next.at)) {
		next = due{at: *d, kind: deadlineTimer}
	}
	return next
}

// expire ends the escalation at its deadline: recorded by system, never an
// approval.
func (e *escalation) expire(ctx workflow.Context) error {
	e.state.Phase = contract.PhaseClosed
	ap, err := e.changeStatus(ctx, false, "Expire the escalation", activities.ChangeStatusInput{
		From: store.Waiting, To: store.StatusExpired, Action: activities.ActionExpired, Actor: contract.System,
	}, activities.NotifyInput{Kind: activities.NotifyExpired}, true)
	if err != nil {
		// Refused for good (the row moved on): the escalation ends anyway,
		// unless the row was decided (adopt).
		return e.steps.survive(ctx, "expire", err)
	}
	return e.closed(ctx, ap)
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
	out, err := e.changeStatus(ctx, false, fmt.Sprintf("No answer to question %d", n), in,
		activities.NotifyInput{Kind: activities.NotifyInfoUnanswered, Seq: n}, false)
	if err != nil {
		// Refused for good (the row moved on): the escalation waits on as
		// it is; this question's time is not counted again (overdue).
		return e.steps.survive(ctx, "return to pending without an answer", err)
	}
	e.state.Approval, e.state.ExpiresAt, e.state.Phase = out, out.ExpiresAt, phaseOf(out.Status)
	e.details(ctx)
	return e.steps.survive(ctx, "set the approval status attribute", upsertStatus(ctx, out.Status))
}

// remind sends the next reminder, once, and records it.
func (e *escalation) remind(ctx workflow.Context) error {
	e.life.Reminded++
	n := e.life.Reminded
	_, err := e.act(ctx, false, fmt.Sprintf("Record reminder %d", n), activities.StepInput{
		Reminder: &activities.ReminderInput{ApprovalID: e.state.Approval.ID, TenantID: e.state.Approval.TenantID, Seq: n},
		// A reminder writes no row: its note tells of the approval as it is.
		Notify: []activities.NotifyInput{{Kind: activities.NotifyReminder, Seq: n, Approval: *e.state.Approval}},
	})
	if err != nil {
		// Refused for good: the reminder is skipped, the escalation waits on.
		return e.steps.survive(ctx, "remind", fmt.Errorf("record reminder %d: %w", n, err))
	}
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
	out, err := e.changeStatus(ctx, true, "Apply "+c.kind, in, note, c.kind == contract.UpdateWithdraw)
	if err != nil {
		// Refused by the database (the row moved on): the update fails,
		// the escalation waits on as it was.
		c.outcome = &changeOutcome{err: err}
		e.state.Phase = phaseOf(ap.Status)
		return false, nil
	}
	c.outcome = &changeOutcome{approval: out}
	if c.kind == contract.UpdateWithdraw {
		return true, e.closed(ctx, out)
	}
	e.state.Approval, e.state.ExpiresAt, e.state.Phase = out, out.ExpiresAt, phaseOf(out.Status)
	e.details(ctx)
	return false, e.steps.survive(ctx, "set the approval status attribute", upsertStatus(ctx, out.Status))
}

// changeStatus writes a status change and tells of it with note, as one
// step (escalation.act) that anchors the audit chain when it ends the
// escalation; durable for what an update asked (a regular activity: unlike
// a decision, a change is not retried by its caller, so it is not written
// before the update is part of the history).
func (e *escalation) changeStatus(ctx workflow.Context, durable bool, summary string, in activities.ChangeStatusInput,
	note activities.NotifyInput, ends bool) (*contract.Approval, error) {
	in.ApprovalID, in.TenantID = e.state.Approval.ID, e.state.Approval.TenantID
	step := activities.StepInput{Change: &in, Notify: []activities.NotifyInput{note}}
	if ends {
		step.Anchor = in.TenantID
	}
	res, err := e.act(ctx, durable, summary, step)
	if err == nil && res.Settled {
		err = e.settle(ctx, res)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.Action, err)
	}
	return res.Approval, nil
}

// closed records an escalation that ended without a decision.
func (e *escalation) closed(ctx workflow.Context, ap *contract.Approval) error {
	e.state.Approval, e.state.Phase = ap, contract.PhaseClosed
	e.details(ctx)
	return e.steps.survive(ctx, "set the approval status attribute", upsertStatus(ctx, ap.Status))
}

func upsertStatus(ctx workflow.Context, status string) error {
	if err := workflow.UpsertTypedSearchAttributes(ctx, contract.ApprovalStatusKey.ValueSet(status)); err != nil {
		return fmt.Errorf("upsert search attributes: %w", err)
	}
	return nil
}

// unsetStatus leaves a discarded escalation out of every ApprovalStatus
// query: it never was pending.
func unsetStatus(ctx workflow.Context) error {
	if err := workflow.UpsertTypedSearchAttributes(ctx, contract.ApprovalStatusKey.ValueUnset()); err != nil {
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
	c := e.consultation
	if c != nil {
		// Decided: what the escalation waits for is its consultation.
		e.state.Consultation = c.state.Consultation
		switch c.state.Consultation.Status {
		case store.ConsultationScheduled:
			e.state.WaitingFor = "the consultation to start"
		case store.ConsultationActive:
			e.state.WaitingFor = "the consultation to end"
		}
	}
	d := "Phase: " + e.state.Phase
	if e.state.WaitingFor != "" {
		d += "  \nWaiting for: " + e.state.WaitingFor
	}
	if e.state.ExpiresAt != nil && e.state.WaitingFor != "" && c == nil {
		d += "  \nDeadline: " + e.state.ExpiresAt.UTC().Format(time.RFC3339)
	}
	if c != nil {
		d += "  \nConsultation " + c.state.Consultation.ID + ": " + c.state.Consultation.Status
	}
	if len(e.in.Continued) > 0 {
		// A continued run has no summary of its own (the server does not
		// carry it over); the memo still names the escalation.
		d += "  \nContinued as new: the first run of this workflow id holds the escalation's start"
	}
	workflow.SetCurrentDetails(ctx, d)
}
