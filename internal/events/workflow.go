package events

import (
	"context"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Names running histories refer to.
const (
	WorkflowName = "EventDelivery"
	ActivityName = "DeliverEvents"
)

// WorkflowID is the one delivery workflow of a subscription.
func WorkflowID(subscriptionID string) string { return "events-" + subscriptionID }

// runsPerHistory bounds the loop's runs in one history before it continues
// as new: each run is a handful of events, so a history stays in the
// hundreds of events however long the subscription lives.
const runsPerHistory = 100

// Activity options of the loop: the heartbeat timeout is how soon a loop
// whose worker died is restarted elsewhere; retries are unlimited (a
// database outage pauses deliveries, it does not end them), spaced up to a
// minute.
var loopOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Minute,
	HeartbeatTimeout:    30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 0,
	},
}

// WakeSignal is what the API sends the delivery workflow each time it asks
// for deliveries (EnsureDelivering): a subscription enabled again while its
// loop was ending (it had just read it disabled) must not be left without
// a loop.
const WakeSignal = "wake"

// wakeOnEnd is the change that made the workflow run the loop again when
// woken as it was ending (workflow.GetVersion).
const wakeOnEnd = "wake-on-end"

// Workflow keeps a subscription's delivery loop running: it runs the loop
// activity again each time it hands back, and ends when the subscription
// is disabled or deleted, unless it was woken (WakeSignal) meanwhile, in
// which case the next run reads the subscription again. It is
// deterministic: the loop's state is in the database, none in the history.
func Workflow(ctx workflow.Context, in DeliverInput) error {
	ctx = workflow.WithActivityOptions(ctx, loopOptions)
	wake := workflow.GetSignalChannel(ctx, WakeSignal)
	for range runsPerHistory {
		var res DeliverResult
		if err := workflow.ExecuteActivity(ctx, ActivityName, in).Get(ctx, &res); err != nil {
			return err
		}
		woken := false
		for wake.ReceiveAsync(nil) {
			woken = true
		}
		if res.Ended != "" {
			// Histories recorded before wakeOnEnd have no signal, so
			// they never reach GetVersion and replay as they ran.
			if woken && workflow.GetVersion(ctx, wakeOnEnd, workflow.DefaultVersion, 1) == 1 {
				continue
			}
			workflow.GetLogger(ctx).Info("event delivery ended", "subscription", in.SubscriptionID, "why", res.Ended)
			return nil
		}
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			break
		}
	}
	return workflow.NewContinueAsNewError(ctx, WorkflowName, in)
}

// Register adds the workflow and the loop (d's Deliver) to r: the worker of
// the events task queue.
func Register(r sdkworker.Registry, d *Dispatcher) {
	r.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
	r.RegisterActivityWithOptions(d.Deliver, activity.RegisterOptions{Name: ActivityName})
}

// Starter starts delivery workflows (the API's EnsureDelivering).
type Starter struct {
	Temporal  client.Client
	TaskQueue string
}

// EnsureDelivering makes sure the subscription's delivery workflow runs:
// it starts it, or wakes the one running (WakeSignal), so that a loop that
// was just ending because it read the subscription disabled runs again and
// reads it enabled. A workflow that ended (the subscription was disabled)
// is started anew.
func (s *Starter) EnsureDelivering(ctx context.Context, tenantID, subscriptionID string) error {
	_, err := s.Temporal.SignalWithStartWorkflow(ctx, WorkflowID(subscriptionID), WakeSignal, nil, client.StartWorkflowOptions{
		ID: WorkflowID(subscriptionID), TaskQueue: s.TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}, WorkflowName, DeliverInput{TenantID: tenantID, SubscriptionID: subscriptionID})
	if err != nil {
		return fmt.Errorf("start event delivery of subscription %s: %w", subscriptionID, err)
	}
	return nil
}
