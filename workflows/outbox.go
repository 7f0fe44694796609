package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/orchestrator-dev/orchestrator/activities"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// outbox delivers an escalation's notifications in order, one at a time,
// beside the main flow: a slow or down Chatwoot never holds up a decision,
// and the decision note never overtakes the escalation note. Each
// notification's outcome is kept in the escalation's state.
type outbox struct {
	queue   []activities.NotifyInput
	sending bool
}

func (o *outbox) enqueue(state *contract.EscalationState, in activities.NotifyInput) {
	state.Notifications = append(state.Notifications, contract.NotificationState{Kind: in.Key(), Status: contract.NotificationPending})
	o.queue = append(o.queue, in)
}

// sent keeps the outcome of a notification whose first attempt, inside
// the step that caused it, got through (escalation.act).
func (o *outbox) sent(state *contract.EscalationState, in activities.NotifyInput, res activities.NotifyResult) {
	state.Notifications = append(state.Notifications, contract.NotificationState{Kind: in.Key(), Status: res.Status, Reason: res.Reason})
}

// idle reports whether everything enqueued has been delivered.
func (o *outbox) idle() bool { return len(o.queue) == 0 && !o.sending }

// deliver runs for the workflow's lifetime, sending what is enqueued with
// send, and keeps each outcome in state.
func (o *outbox) deliver(ctx workflow.Context, state *contract.EscalationState, send func(workflow.Context, activities.NotifyInput) activities.NotifyResult) {
	for {
		if err := workflow.Await(ctx, func() bool { return len(o.queue) > 0 }); err != nil {
			return
		}
		o.sending = true
		in := o.queue[0]
		res := send(ctx, in)
		for i := range state.Notifications {
			if state.Notifications[i].Kind == in.Key() {
				state.Notifications[i].Status, state.Notifications[i].Reason = res.Status, res.Reason
			}
		}
		o.queue = o.queue[1:]
		o.sending = false
	}
}

// sendInlineFirst gives a notification one quick attempt inside the
// workflow task (a local activity within notifyFastBudget); anything but
// success hands it to a regular activity (sendDurably).
func sendInlineFirst(ctx workflow.Context, in activities.NotifyInput) activities.NotifyResult {
	var res activities.NotifyResult
	if workflow.ExecuteLocalActivity(notifyFastOptions(ctx, "Notify: "+in.Key()), a.Notify, in).Get(ctx, &res) == nil {
		return res
	}
	return sendDurably(ctx, in)
}

// sendDurably sends a notification by a regular activity, retried for as
// long as Chatwoot takes to come back.
func sendDurably(ctx workflow.Context, in activities.NotifyInput) activities.NotifyResult {
	var res activities.NotifyResult
	if err := workflow.ExecuteActivity(notifyOptions(ctx, "Notify: "+in.Key()), a.Notify, in).Get(ctx, &res); err != nil {
		res = activities.NotifyResult{Status: contract.NotificationFailed, Reason: err.Error()}
	}
	return res
}
