package workflows

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// How the outside reaches an escalation: the state query, the created update
// (answers the create), the decide update and the decision signal (ops).

func (e *escalation) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, contract.QueryState, func() (contract.EscalationState, error) { return e.state, nil }); err != nil {
		return fmt.Errorf("register state query: %w", err)
	}
	if err := workflow.SetUpdateHandler(ctx, contract.UpdateCreated, e.onCreated); err != nil {
		return fmt.Errorf("register created update: %w", err)
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateDecide, e.onDecide,
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req contract.DecisionRequest) error { return e.check(req) }})
}

// onCreated answers once the approval is stored, so the API can return the
// stored row and a GET right after sees it.
func (e *escalation) onCreated(ctx workflow.Context) (*store.Approval, error) {
	if err := workflow.Await(ctx, func() bool { return e.state.Phase != contract.PhaseRecording }); err != nil {
		return nil, err
	}
	if e.state.Phase == contract.PhaseDiscarded {
		return nil, temporal.NewApplicationError(e.state.Error, contract.ErrTypeConflict)
	}
	return e.state.Approval, nil
}

// check is the one set of rules for a decision, whichever way it arrives:
// what it says (contract.DecisionRequest.Validate), then whether this
// escalation can still take it.
func (e *escalation) check(req contract.DecisionRequest) error {
	var fe *contract.FieldError
	if err := req.Validate(); errors.As(err, &fe) {
		return temporal.NewApplicationError(fe.Error(), contract.ErrTypeInvalidDecision)
	}
	switch {
	case e.state.Phase == contract.PhaseDiscarded:
		return temporal.NewApplicationError("the escalation was discarded", contract.ErrTypeAlreadyDecided)
	case e.decision != nil:
		return temporal.NewApplicationError(fmt.Sprintf("the approval is already %s", e.decision.Status), contract.ErrTypeAlreadyDecided)
	case req.DeciderID == e.in.Approval.RequestedBy:
		return temporal.NewApplicationError("the requester cannot decide their own escalation", contract.ErrTypeSelfDecision)
	}
	return nil
}

// onDecide takes the decision and answers once run has applied it.
func (e *escalation) onDecide(ctx workflow.Context, req contract.DecisionRequest) (*contract.DecisionResult, error) {
	// Checked again: another update accepted in the same task may have won.
	if err := e.check(req); err != nil {
		return nil, err
	}
	// Recorded as the channel that sent it only if it proves it: anything
	// else came through Temporal (UI, CLI) and is ops.
	req.Channel, req.Proof = e.key.Channel(e.in.Approval.ID, req), ""
	e.decision = &req
	if err := workflow.Await(ctx, func() bool { return e.applied != nil }); err != nil {
		return nil, err
	}
	return e.applied.result, e.applied.err
}

// receiveSignals takes decisions sent as signals by ops. A signal has no
// answer, so an invalid one is logged and ignored.
func (e *escalation) receiveSignals(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, contract.SignalDecision)
	for {
		var req contract.DecisionRequest
		ch.Receive(ctx, &req)
		req.Channel, req.Proof = store.ChannelOpsSignal, ""
		if err := e.check(req); err != nil {
			workflow.GetLogger(ctx).Warn("Ignoring invalid decision signal", "error", err.Error(), "deciderId", req.DeciderID, "status", req.Status)
			continue
		}
		e.decision = &req
	}
}
