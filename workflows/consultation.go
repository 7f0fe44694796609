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

// Consultation runs one consultation's lifecycle: scheduled → active → ended.
// A scheduled consultation nobody starts expires after the start timeout; an
// active one nobody ends is ended after the maximum duration.
func Consultation(ctx workflow.Context, in contract.ConsultationInput) (*contract.ConsultationState, error) {
	c := &consultation{in: in}
	if err := c.setup(ctx); err != nil {
		return nil, err
	}
	return c.run(ctx)
}

type consultation struct {
	in    contract.ConsultationInput
	state contract.ConsultationState

	startReq, endReq *contract.TransitionRequest
	started, ended   bool
	err              error
}

func (c *consultation) setup(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, contract.QueryState, func() (contract.ConsultationState, error) { return c.state, nil }); err != nil {
		return fmt.Errorf("register state query: %w", err)
	}
	if err := workflow.SetUpdateHandler(ctx, contract.UpdateCreated, func(ctx workflow.Context) (*store.Consultation, error) {
		err := workflow.Await(ctx, func() bool { return c.state.Consultation != nil || c.err != nil })
		if err == nil {
			err = c.err
		}
		return c.state.Consultation, err
	}); err != nil {
		return fmt.Errorf("register created update: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateStart, c.onStart,
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, r contract.TransitionRequest) error { return c.checkStart(r) }}); err != nil {
		return fmt.Errorf("register start update: %w", err)
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, contract.UpdateEnd, c.onEnd,
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, r contract.TransitionRequest) error { return c.checkEnd(r) }})
}

func (c *consultation) status() string {
	switch {
	case c.ended || c.endReq != nil:
		return store.ConsultationEnded
	case c.started || c.startReq != nil:
		return store.ConsultationActive
	}
	return store.ConsultationScheduled
}

func transitionError(from, to string) error {
	return temporal.NewApplicationError(fmt.Sprintf("a %s consultation cannot become %s", from, to), contract.ErrTypeInvalidTransition)
}

func (c *consultation) checkStart(r contract.TransitionRequest) error {
	if r.ActorID == "" {
		return temporal.NewApplicationError("a transition must name its actor", contract.ErrTypeInvalidDecision)
	}
	if s := c.status(); s != store.ConsultationScheduled {
		return transitionError(s, store.ConsultationActive)
	}
	return nil
}

func (c *consultation) checkEnd(r contract.TransitionRequest) error {
	if r.ActorID == "" {
		return temporal.NewApplicationError("a transition must name its actor", contract.ErrTypeInvalidDecision)
	}
	if s := c.status(); s != store.ConsultationActive {
		return transitionError(s, store.ConsultationEnded)
	}
	return nil
}

func (c *consultation) onStart(ctx workflow.Context, r contract.TransitionRequest) (*store.Consultation, error) {
	if err := c.checkStart(r); err != nil {
		return nil, err
	}
	c.startReq = &r
	if err := workflow.Await(ctx, func() bool { return c.started || c.err != nil }); err != nil {
		return nil, err
	}
	return c.state.Consultation, c.err
}

func (c *consultation) onEnd(ctx workflow.Context, r contract.TransitionRequest) (*store.Consultation, error) {
	if err := c.checkEnd(r); err != nil {
		return nil, err
	}
	c.endReq = &r
	if err := workflow.Await(ctx, func() bool { return c.ended || c.err != nil }); err != nil {
		return nil, err
	}
	return c.state.Consultation, c.err
}

func (c *consultation) run(ctx workflow.Context) (*contract.ConsultationState, error) {
	dbCtx := dbOptions(ctx)
	var rec store.Consultation
	if err := workflow.ExecuteLocalActivity(dbCtx, a.RecordConsultation, activities.RecordConsultationInput{
		Consultation: c.in.Consultation, Actor: c.in.Actor,
	}).Get(ctx, &rec); err != nil {
		c.err = err
		return nil, fmt.Errorf("record consultation: %w", err)
	}
	c.state.Consultation = &rec
	// A consultation recorded earlier may already be past scheduled (e.g. a
	// workflow reset); continue from where the row is.
	c.started = rec.Status != store.ConsultationScheduled
	c.ended = rec.Status == store.ConsultationEnded

	if !c.started {
		startBy := c.in.StartTimeout()
		ok, err := workflow.AwaitWithTimeout(ctx, startBy, func() bool { return c.startReq != nil })
		if err != nil {
			return nil, err
		}
		if !ok {
			if err := c.transition(ctx, store.ConsultationScheduled, store.ConsultationEnded, "expired",
				contract.System); err != nil {
				return nil, err
			}
			c.ended = true
			return &c.state, workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
		}
		if err := c.transition(ctx, store.ConsultationScheduled, store.ConsultationActive, "",
			contract.Actor{ID: c.startReq.ActorID, Name: c.startReq.ActorName, Channel: store.ChannelAPI}); err != nil {
			return nil, err
		}
		c.started = true
	}
	if !c.ended {
		endBy := c.in.MaxDuration()
		if c.state.Consultation.StartedAt != nil {
			// Measured from the recorded start, so a replayed or reset
			// workflow keeps the original deadline.
			endBy -= workflow.Now(ctx).Sub(*c.state.Consultation.StartedAt)
			if endBy < time.Second {
				endBy = time.Second
			}
		}
		ok, err := workflow.AwaitWithTimeout(ctx, endBy, func() bool { return c.endReq != nil })
		if err != nil {
			return nil, err
		}
		actor, reason := contract.System, "timeout"
		if ok {
			actor, reason = contract.Actor{ID: c.endReq.ActorID, Name: c.endReq.ActorName, Channel: store.ChannelAPI}, "host"
		}
		if err := c.transition(ctx, store.ConsultationActive, store.ConsultationEnded, reason, actor); err != nil {
			return nil, err
		}
		c.ended = true
	}
	return &c.state, workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}

func (c *consultation) transition(ctx workflow.Context, from, to, reason string, actor contract.Actor) error {
	var out store.Consultation
	err := workflow.ExecuteLocalActivity(dbOptions(ctx), a.TransitionConsultation, activities.TransitionInput{
		ConsultationID: c.state.Consultation.ID, TenantID: c.state.Consultation.TenantID,
		From: from, To: to, Reason: reason, Actor: actor,
	}).Get(ctx, &out)
	if err != nil {
		c.err = err
		return fmt.Errorf("consultation %s → %s: %w", from, to, err)
	}
	c.state.Consultation = &out
	return nil
}
