package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/orchestrator-dev/orchestrator/internal/domain"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// How the outside reaches an escalation, each way beside its rule: the
// state query, the created update (answers the create), the decide update
// and the decision signal (ops) with check, and the withdraw, request-info
// and provide-info updates with checkChange. A handler that accepts puts
// what it brings where run's loop takes it (escalation.decision,
// escalation.changes) and answers once the loop has applied it.

func (e *escalation) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandlerWithOptions(ctx, contract.QueryState, func() (contract.EscalationState, error) { return e.state, nil },
		workflow.QueryHandlerOptions{Description: "The escalation's phase, approval row, deadline, what it waits for and its notifications."}); err != nil {
		return fmt.Errorf("register state query: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateCreated, e.onCreated, workflow.UpdateHandlerOptions{
		Description: "Answers with the stored approval once it is recorded (the API sends it with the start).",
	}); err != nil {
		return fmt.Errorf("register created update: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateDecide, e.onDecide, workflow.UpdateHandlerOptions{
		Validator:   func(ctx workflow.Context, req contract.DecisionRequest) error { return e.check(workflow.Now(ctx), req) },
		Description: "Approve or reject: {status, comment, deciderId, deciderName}. Sent here rather than through the API, it is recorded with channel ops.",
	}); err != nil {
		return fmt.Errorf("register decide update: %w", err)
	}
	for _, u := range []struct{ name, description string }{
		{contract.UpdateWithdraw, "The requester takes the escalation back: {actorId, text (comment)}."},
		{contract.UpdateRequestInfo, "An approver asks the requester a question: {actorId, text}; the deadline waits for the answer."},
		{contract.UpdateProvideInfo, "The requester answers the open question: {actorId, text}."},
	} {
		kind := u.name
		if err := workflow.SetUpdateHandlerWithOptions(ctx, kind, e.onChange(kind), workflow.UpdateHandlerOptions{
			Validator: func(ctx workflow.Context, req contract.ChangeRequest) error {
				return e.checkChange(workflow.Now(ctx), kind, req)
			},
			Description: u.description,
		}); err != nil {
			return fmt.Errorf("register %s update: %w", kind, err)
		}
	}
	return nil
}

// onCreated answers once the approval is stored, so the API can return the
// stored row and a GET right after sees it.
func (e *escalation) onCreated(ctx workflow.Context) (*contract.Approval, error) {
	if err := workflow.Await(ctx, func() bool { return e.state.Phase != contract.PhaseRecording }); err != nil {
		return nil, err
	}
	switch e.state.Phase {
	case contract.PhaseDiscarded:
		return nil, temporal.NewApplicationError(e.state.Error, contract.ErrTypeConflict)
	case contract.PhaseFailed:
		return nil, temporal.NewApplicationError(e.state.Error, contract.ErrTypeInvalid)
	}
	return e.state.Approval, nil
}

// check is the one set of rules for a decision arriving at now, whichever
// way it arrives: what it says (contract.DecisionRequest.Validate), then
// whether this escalation can still take it.
func (e *escalation) check(now time.Time, req contract.DecisionRequest) error {
	var fe *contract.FieldError
	if err := req.Validate(); errors.As(err, &fe) {
		return temporal.NewApplicationError(fe.Error(), contract.ErrTypeInvalidDecision)
	}
	switch {
	case e.state.Phase == contract.PhaseDiscarded:
		return temporal.NewApplicationError("the escalation was discarded", contract.ErrTypeAlreadyDecided)
	case e.state.Phase == contract.PhaseClosed || e.withdrawing():
		return temporal.NewApplicationError("the escalation has ended without a decision", contract.ErrTypeAlreadyDecided)
	case e.decision != nil:
		return temporal.NewApplicationError(fmt.Sprintf("the approval is already %s", e.decision.req.Status), contract.ErrTypeAlreadyDecided)
	case e.expired(e.state.Phase, now):
		return errExpired()
	}
	// Who may decide: the transition table, for an escalation the phases
	// above left waiting (the authority, or ops, vouched for the decider's
	// authority).
	requester := req.DeciderID == e.in.Approval.RequestedBy
	return contract.RefusalError(domain.Check(domain.Decide, domain.StatusPending, domain.RoleOf(requester, true)))
}

// onDecide takes the decision and answers once run has applied it.
func (e *escalation) onDecide(ctx workflow.Context, req contract.DecisionRequest) (*contract.DecisionResult, error) {
	// Checked again: another update accepted in the same task may have won.
	if err := e.check(workflow.Now(ctx), req); err != nil {
		return nil, err
	}
	// Recorded as the channel that sent it only if it proves it: anything
	// else came through Temporal (UI, CLI) and is ops.
	req.Channel, req.Proof = e.key.Channel(e.in.Approval.ID, req), ""
	d := &decision{req: req}
	e.decision = d
	if err := workflow.Await(ctx, func() bool { return d.outcome != nil }); err != nil {
		return nil, err
	}
	return d.outcome.result, d.outcome.err
}

// receiveSignals takes decisions sent as signals by ops. A signal has no
// answer, so an invalid one is logged and ignored.
func (e *escalation) receiveSignals(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, contract.SignalDecision)
	for {
		var req contract.DecisionRequest
		ch.Receive(ctx, &req)
		e.takeSignal(ctx, req)
	}
}

// takeSignals takes the decision signals already delivered, before the run
// continues as new: one left in the channel would be lost with the run.
func (e *escalation) takeSignals(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, contract.SignalDecision)
	for {
		var req contract.DecisionRequest
		if !ch.ReceiveAsync(&req) {
			return
		}
		e.takeSignal(ctx, req)
	}
}

func (e *escalation) takeSignal(ctx workflow.Context, req contract.DecisionRequest) {
	req.Channel, req.Proof = store.ChannelOpsSignal, ""
	if err := e.check(workflow.Now(ctx), req); err != nil {
		workflow.GetLogger(ctx).Warn("Ignoring invalid decision signal", "error", err.Error(), "deciderId", req.DeciderID, "status", req.Status)
		return
	}
	e.decision = &decision{req: req}
}

// withdrawing reports whether a withdrawal was accepted and not applied yet.
func (e *escalation) withdrawing() bool {
	for _, c := range e.changes {
		if c.kind == contract.UpdateWithdraw {
			return true
		}
	}
	return false
}

// expired reports whether the deadline has passed at now for an escalation
// in phase (from bounded on): a decision, withdrawal or question arriving
// then is refused even when the timer has not fired yet (a busy worker, or
// the same workflow task), and the timer expires the escalation. While a
// question waits for its answer the deadline is paused (the answer moves it
// on), so only a pending escalation's counts.
func (e *escalation) expired(phase string, now time.Time) bool {
	return e.gen.bounded && phase == contract.PhasePending && e.state.ExpiresAt != nil && !now.Before(*e.state.ExpiresAt)
}

func errExpired() error {
	return temporal.NewApplicationError("the escalation's deadline has passed", contract.ErrTypeExpired)
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
// answers once run's loop has applied it.
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
