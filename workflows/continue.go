package workflows

import (
	"encoding/json"
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// An escalation that waits long enough (many questions and answers, many
// reminders) would walk into the server's history limits, after which even
// its decision is refused. When the server suggests it
// the run continues as new under the same workflow id: the API, queries and
// the Temporal UI still see one escalation, each run's history stays below
// the suggestion, and the new run takes up where the last one was.

// carried is what a run hands the next (contract.EscalationInput.Continued).
type carried struct {
	State contract.EscalationState `json:"state"`
	Life  life                     `json:"life"`
}

// maxCarriedNotifications is how many settled notification outcomes the
// state carries into the next run (the newest): the list would otherwise
// grow with every question, answer and reminder across runs.
const maxCarriedNotifications = 20

// readyToContinueAsNew reports whether the run should continue as new now:
// the server suggests it, nothing is left to apply, every handler has
// answered and every notification is out (an activity in flight would be
// lost with the run; a notification waiting on Chatwoot holds the run
// back, not its history, as retries add no events).
func (e *escalation) readyToContinueAsNew(ctx workflow.Context) bool {
	return e.steps.continueAsNewSuggested(ctx) &&
		e.decision == nil && len(e.changes) == 0 && e.notifications.idle() && workflow.AllHandlersFinished(ctx)
}

// continueAsNew ends this run with the next one's input: the same
// escalation, with its state.
func (e *escalation) continueAsNew(ctx workflow.Context) error {
	c := carried{State: e.state, Life: e.life}
	if n := len(c.State.Notifications); n > maxCarriedNotifications {
		c.State.Notifications = c.State.Notifications[n-maxCarriedNotifications:]
	}
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("carry the escalation's state: %w", err)
	}
	in := e.in
	in.Continued = b
	info := workflow.GetInfo(ctx)
	workflow.GetLogger(ctx).Info("Escalation continues as new", "historyLength", info.GetCurrentHistoryLength(),
		"historySize", info.GetCurrentHistorySize(), "questions", e.life.Asked, "reminders", e.life.Reminded)
	return workflow.NewContinueAsNewError(ctx, contract.EscalationWorkflow, in)
}

// resume takes up the state the previous run carried over: the approval
// is recorded and the escalation told, it waits for its decision. Only the
// current generation continues as new, so that is this run's, for the
// rules of the updates validated before run starts (run records its
// version marker all the same).
func (e *escalation) resume(ctx workflow.Context) error {
	var c carried
	if err := json.Unmarshal(e.in.Continued, &c); err != nil {
		return fmt.Errorf("take up the carried state: %w", err)
	}
	if c.State.Approval == nil {
		return fmt.Errorf("take up the carried state: no approval")
	}
	e.gen = newest()
	e.state, e.life = c.State, c.Life
	e.details(ctx)
	return nil
}
