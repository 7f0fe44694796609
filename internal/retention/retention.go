// Package retention deletes webhook deliveries older than their retention
// (WEBHOOK_DEDUPE_RETENTION). The job is a Temporal schedule, so it runs on
// time whichever worker is up and however often they restart: the worker
// creates the schedule at start if it is missing (EnsureSchedule), and the
// schedule starts a small workflow whose one activity deletes in batches.
package retention

import (
	"context"
	"errors"
	"fmt"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// Names running schedules and histories refer to.
const (
	WorkflowName = "webhook-deliveries-retention"
	ActivityName = "PruneWebhookDeliveries"
)

// Every is how often the schedule runs. Deliveries expire by the day; an
// hourly run keeps each batch small.
const Every = time.Hour

// Batch bounds one delete statement, and MaxBatches one run: a backlog (the
// first run after an upgrade) is worked off over several runs rather than in
// one long transaction or activity.
const (
	Batch      = 1000
	MaxBatches = 200
)

// Input is what the schedule passes the workflow.
type Input struct {
	// RetentionSeconds: deliveries received longer ago than this go.
	RetentionSeconds int64 `json:"retentionSeconds"`
}

// Result says what a run deleted.
type Result struct {
	Deleted int64 `json:"deleted"`
	// More is true when the run stopped at MaxBatches with rows left.
	More bool `json:"more,omitempty"`
}

// ScheduleID is the schedule of a deployment's task queue: deployments that
// share a namespace keep one each.
func ScheduleID(taskQueue string) string { return WorkflowName + "-" + taskQueue }

// Workflow runs the activity once. It is deterministic: the cutoff is taken
// from the database's clock inside the activity.
func Workflow(ctx workflow.Context, in Input) (Result, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 10 * time.Second, MaximumAttempts: 5},
	})
	var out Result
	err := workflow.ExecuteActivity(ctx, ActivityName, in).Get(ctx, &out)
	return out, err
}

// Activity deletes through the store.
type Activity struct {
	Store *store.Store
}

// Prune deletes the deliveries received before now minus the retention, a
// batch at a time, heartbeating between batches. Deleting is idempotent: a
// retry deletes what is left.
func (a *Activity) Prune(ctx context.Context, in Input) (Result, error) {
	if in.RetentionSeconds <= 0 {
		return Result{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("retention of %d seconds", in.RetentionSeconds), "InvalidInput", nil)
	}
	before := a.Store.Now().Add(-time.Duration(in.RetentionSeconds) * time.Second)
	var out Result
	for range MaxBatches {
		n, err := a.Store.PruneDeliveries(ctx, before, Batch)
		if err != nil {
			return out, err
		}
		out.Deleted += n
		if n < Batch {
			return out, nil
		}
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, out.Deleted)
		}
	}
	out.More = true
	return out, nil
}

// Register adds the workflow and its activity to r.
func Register(r sdkworker.Registry, s *store.Store) {
	r.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
	r.RegisterActivityWithOptions((&Activity{Store: s}).Prune, activity.RegisterOptions{Name: ActivityName})
}

// EnsureSchedule creates the schedule of taskQueue, or brings an existing
// one to retention; it changes nothing when the schedule is as wanted, so
// every worker can call it at every start. It reports what it did: created,
// updated or unchanged.
func EnsureSchedule(ctx context.Context, sc client.ScheduleClient, taskQueue string, retention time.Duration) (string, error) {
	in := Input{RetentionSeconds: int64(retention / time.Second)}
	if in.RetentionSeconds <= 0 {
		return "", fmt.Errorf("retention schedule: retention %s is under a second", retention)
	}
	id := ScheduleID(taskQueue)
	_, err := sc.Create(ctx, client.ScheduleOptions{
		ID:   id,
		Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: Every}}},
		Action: &client.ScheduleWorkflowAction{
			ID: id, Workflow: WorkflowName, Args: []any{in}, TaskQueue: taskQueue,
			WorkflowRunTimeout: 30 * time.Minute,
		},
		// A run still going (a backlog) is not joined by a second.
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Note:    "Deletes webhook deliveries older than WEBHOOK_DEDUPE_RETENTION; created by the orchestrator's worker.",
	})
	if err == nil {
		return "created", nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return "", fmt.Errorf("create schedule %s: %w", id, err)
	}
	changed := false
	err = sc.GetHandle(ctx, id).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(u client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			act, ok := u.Description.Schedule.Action.(*client.ScheduleWorkflowAction)
			if !ok {
				return nil, fmt.Errorf("schedule %s does not start a workflow", id)
			}
			if act.TaskQueue == taskQueue && sameInput(act.Args, in) {
				return nil, temporal.ErrSkipScheduleUpdate
			}
			act.Workflow, act.Args, act.TaskQueue = WorkflowName, []any{in}, taskQueue
			changed = true
			return &client.ScheduleUpdate{Schedule: &u.Description.Schedule}, nil
		},
	})
	if err != nil {
		return "", fmt.Errorf("update schedule %s: %w", id, err)
	}
	if changed {
		return "updated", nil
	}
	return "unchanged", nil
}

// sameInput reports whether a described schedule's arguments are in.
func sameInput(args []any, in Input) bool {
	if len(args) != 1 {
		return false
	}
	p, ok := args[0].(*commonpb.Payload)
	var got Input
	if !ok || converter.GetDefaultDataConverter().FromPayload(p, &got) != nil {
		return false
	}
	return got == in
}
