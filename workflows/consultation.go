package workflows

import (
	"errors"
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

	// startReq and endReq are the start and end accepted and not yet
	// answered; started and ended say what is applied.
	startReq, endReq *transitionCall
	started, ended   bool
	// err fails every handler: the workflow is failing.
	err error
	// transitions is how this run writes its transitions, picked at its
	// first (legacy.go).
	transitions *transitionSteps
	// changed, when set, hears of every transition written (the
	// escalation that runs the consultation updates what ops see).
	changed func()
}

// transitionCall is an accepted start or end; once done, err is what its
// update answers (nil: applied).
type transitionCall struct {
	req  contract.TransitionRequest
	done bool
	err  error
}

func (t *transitionCall) finish(err error) { t.done, t.err = true, err }

func (c *consultation) setup(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, contract.QueryState, func() (contract.ConsultationState, error) { return c.state, nil }); err != nil {
		return fmt.Errorf("register state query: %w", err)
	}
	if err := workflow.SetUpdateHandler(ctx, contract.UpdateCreated, func(ctx workflow.Context) (*contract.Consultation, error) {
		err := workflow.Await(ctx, func() bool { return c.state.Consultation != nil || c.err != nil })
		if err == nil {
			err = c.err
		}
		return c.state.Consultation, err
	}); err != nil {
		return fmt.Errorf("register created update: %w", err)
	}
	return c.registerTransitions(ctx)
}

// registerTransitions registers the start and end updates.
func (c *consultation) registerTransitions(ctx workflow.Context) error {
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

func (c *consultation) onStart(ctx workflow.Context, r contract.TransitionRequest) (*contract.Consultation, error) {
	if err := c.checkStart(r); err != nil {
		return nil, err
	}
	c.startReq = &transitionCall{req: r}
	return c.answer(ctx, c.startReq)
}

func (c *consultation) onEnd(ctx workflow.Context, r contract.TransitionRequest) (*contract.Consultation, error) {
	if err := c.checkEnd(r); err != nil {
		return nil, err
	}
	c.endReq = &transitionCall{req: r}
	return c.answer(ctx, c.endReq)
}

// answer waits until run has applied or refused call, or the workflow fails.
func (c *consultation) answer(ctx workflow.Context, call *transitionCall) (*contract.Consultation, error) {
	if err := workflow.Await(ctx, func() bool { return call.done || c.err != nil }); err != nil {
		return nil, err
	}
	switch {
	case c.err != nil:
		return c.state.Consultation, c.err
	case call.err != nil:
		return nil, call.err
	}
	return c.state.Consultation, nil
}

func (c *consultation) run(ctx workflow.Context) (*contract.ConsultationState, error) {
	in := activities.RecordConsultationInput{Consultation: c.in.Consultation, Actor: c.in.Actor}
	var rec contract.Consultation
	// Bounded like the escalation's writes (boundedWrite); runs recorded
	// by older code write it their way (legacy.go).
	write := recordWrite(ctx)
	err := write(ctx, "Record the consultation", a.RecordConsultation, in, &rec)
	if err != nil {
		c.err = err
		return nil, fmt.Errorf("record consultation: %w", err)
	}
	c.state.Consultation = &rec
	if err := c.live(ctx); err != nil {
		return nil, err
	}
	return &c.state, workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}

// live takes a recorded consultation from where its row is (one recorded
// earlier may already be past scheduled, e.g. after a workflow reset) to
// ended: started, or expired because nobody started it in time.
func (c *consultation) live(ctx workflow.Context) error {
	c.started = c.state.Consultation.Status != store.ConsultationScheduled
	c.ended = c.state.Consultation.Status == store.ConsultationEnded
	if !c.started {
		if err := c.awaitStart(ctx); err != nil {
			return err
		}
	}
	if !c.ended {
		return c.awaitEnd(ctx)
	}
	return nil
}

// awaitStart waits for a start and applies it; a consultation nobody starts
// within the start timeout expires (ended). A start the database refuses is
// answered with the refusal, and the consultation waits on.
func (c *consultation) awaitStart(ctx workflow.Context) error {
	deadline := workflow.Now(ctx).Add(c.in.StartTimeout())
	for {
		ok, err := awaitUntil(ctx, deadline, func() bool { return c.startReq != nil })
		if err != nil {
			return err
		}
		if !ok {
			if err := c.transition(ctx, store.ConsultationScheduled, store.ConsultationEnded, "expired",
				contract.System); err != nil {
				return c.fail(err, store.ConsultationScheduled, store.ConsultationEnded)
			}
			c.ended = true
			return nil
		}
		call := c.startReq
		err = c.transition(ctx, store.ConsultationScheduled, store.ConsultationActive, "", requester(call.req))
		if refused := c.refusal(ctx, err); refused != nil {
			workflow.GetLogger(ctx).Warn("Consultation start refused", "error", refused.Error())
			call.finish(refused)
			c.startReq = nil
			if c.endReq != nil {
				// Accepted while the start was on its way: there is
				// nothing to end.
				c.endReq.finish(transitionError(store.ConsultationScheduled, store.ConsultationEnded))
				c.endReq = nil
			}
			continue
		}
		if err != nil {
			return c.fail(err, store.ConsultationScheduled, store.ConsultationActive)
		}
		c.started = true
		call.finish(nil)
		return nil
	}
}

// awaitEnd waits for an end and applies it; an active consultation nobody
// ends within the maximum duration (measured from the recorded start) is
// ended. An end the database refuses is answered with the refusal, and the
// consultation waits on.
func (c *consultation) awaitEnd(ctx workflow.Context) error {
	for {
		ok, err := workflow.AwaitWithTimeout(ctx, c.endIn(ctx), func() bool { return c.endReq != nil })
		if err != nil {
			return err
		}
		if !ok {
			if err := c.transition(ctx, store.ConsultationActive, store.ConsultationEnded, "timeout", contract.System); err != nil {
				return c.fail(err, store.ConsultationActive, store.ConsultationEnded)
			}
			c.ended = true
			return nil
		}
		call := c.endReq
		err = c.transition(ctx, store.ConsultationActive, store.ConsultationEnded, "host", requester(call.req))
		if refused := c.refusal(ctx, err); refused != nil {
			workflow.GetLogger(ctx).Warn("Consultation end refused", "error", refused.Error())
			call.finish(refused)
			c.endReq = nil
			continue
		}
		if err != nil {
			return c.fail(err, store.ConsultationActive, store.ConsultationEnded)
		}
		c.ended = true
		call.finish(nil)
		return nil
	}
}

// endIn is how long an active consultation has left.
func (c *consultation) endIn(ctx workflow.Context) time.Duration {
	endBy := c.in.MaxDuration()
	if c.state.Consultation.StartedAt != nil {
		// Measured from the recorded start, so a replayed or reset
		// workflow keeps the original deadline.
		endBy -= workflow.Now(ctx).Sub(*c.state.Consultation.StartedAt)
		if endBy < time.Second {
			endBy = time.Second
		}
	}
	return endBy
}

// awaitUntil waits for cond until deadline; ok reports whether cond held.
func awaitUntil(ctx workflow.Context, deadline time.Time, cond func() bool) (ok bool, err error) {
	if left := deadline.Sub(workflow.Now(ctx)); left > 0 {
		return workflow.AwaitWithTimeout(ctx, left, cond)
	}
	return cond(), nil
}

func requester(r contract.TransitionRequest) contract.Actor {
	return contract.Actor{ID: r.ActorID, Name: r.ActorName, Channel: store.ChannelAPI}
}

// fail makes every waiting handler answer with err, what the transition
// from → to failed with, and returns the error the workflow fails with.
func (c *consultation) fail(err error, from, to string) error {
	c.err = err
	return fmt.Errorf("consultation %s → %s: %w", from, to, err)
}

// refusal is what a start or end update answers when the database refused
// it for good (a conflict with what the row says, a value it cannot store):
// the activity's application error, without the activity's wrapping. Nil
// when err is not such a refusal, or the run fails on it instead (runs
// recorded by older code, legacy.go).
func (c *consultation) refusal(ctx workflow.Context, err error) error {
	if err == nil {
		return nil
	}
	return c.pickTransitions(ctx).refusal(err)
}

// transitionSteps are how a run writes a consultation's transitions and
// what a refused one comes to.
type transitionSteps struct {
	write   func(ctx workflow.Context, in activities.TransitionInput) workflow.Future
	refusal func(err error) error
}

// currentTransitions are how new runs write transitions. The write is a regular
// activity: an update exists only in the server's memory until the
// workflow task that accepts it completes, so a write inside that task (a
// local activity) could reach the database and then be lost with a
// Temporal restart, leaving the row active while the workflow is still
// scheduled and every end refused. Scheduling an activity completes the
// accepting task first, making the update part of the history before
// anything is written. A refusal answers its update with the activity's
// application error, and the consultation stays where it was.
func currentTransitions() transitionSteps {
	return transitionSteps{
		write: func(ctx workflow.Context, in activities.TransitionInput) workflow.Future {
			summary := "Consultation " + in.From + " → " + in.To
			if in.Reason != "" {
				summary += " (" + in.Reason + ")"
			}
			return workflow.ExecuteActivity(durableOptions(ctx, summary), a.TransitionConsultation, in)
		},
		refusal: func(err error) error {
			var app *temporal.ApplicationError
			if !errors.As(err, &app) {
				return nil
			}
			return app
		},
	}
}

// transition writes the change of status and its audit entry
// (currentTransitions says how).
func (c *consultation) transition(ctx workflow.Context, from, to, reason string, actor contract.Actor) error {
	in := activities.TransitionInput{
		ConsultationID: c.state.Consultation.ID, TenantID: c.state.Consultation.TenantID,
		From: from, To: to, Reason: reason, Actor: actor,
	}
	var out contract.Consultation
	if err := c.pickTransitions(ctx).write(ctx, in).Get(ctx, &out); err != nil {
		return err
	}
	c.state.Consultation = &out
	if c.changed != nil {
		c.changed()
	}
	return nil
}
