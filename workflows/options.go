package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// dbOptions runs database writes as local activities: inside the workflow
// task, with no extra round trip through the server.
func dbOptions(ctx workflow.Context) workflow.Context { return summarized(ctx, "") }

// summarized is dbOptions with a summary, what the Temporal UI shows of the
// call.
func summarized(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 15 * time.Second,
		RetryPolicy:         dbRetryPolicy(),
		Summary:             summary,
	})
}

// boundedDBOptions is dbOptions with an end: a local activity retried for
// as long as the database is down would keep the workflow task, and every
// update waiting on it, from answering. After localBudget the write goes
// on as a regular activity (escalation.db).
func boundedDBOptions(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout:    15 * time.Second,
		ScheduleToCloseTimeout: localBudget,
		RetryPolicy:            dbRetryPolicy(),
		Summary:                summary,
	})
}

// localBudget bounds a database write run as a local activity.
const localBudget = time.Minute

// durableOptions runs a write as a regular activity: for what an update
// asked (see escalation.apply for why), and for a local write past its
// budget.
func durableOptions(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Second,
		RetryPolicy:         dbRetryPolicy(),
		Summary:             summary,
	})
}

// dbRetryPolicy retries database writes for as long as the database is down;
// only errors that can never succeed stop it.
func dbRetryPolicy() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:        100 * time.Millisecond,
		BackoffCoefficient:     2,
		MaximumInterval:        30 * time.Second,
		NonRetryableErrorTypes: []string{contract.ErrTypeConflict, contract.ErrTypeNotFound, contract.ErrTypeInvalid},
	}
}

// notifyFastBudget bounds the inline attempt of a notification, and so how
// much a slow Chatwoot can delay the answer to a create or a decision.
const notifyFastBudget = 2 * time.Second

func notifyFastOptions(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: notifyFastBudget,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
		Summary:             summary,
	})
}

// notifyOptions retries a notification with no attempt limit: Chatwoot being
// down is retried for as long as it takes; failures that can never succeed
// come back as a result, not an error.
func notifyOptions(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		Summary:             summary,
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
		},
	})
}
