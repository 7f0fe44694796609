package workflows

import (
	"errors"
	"slices"
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
// on as a regular activity (boundedWrite).
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

// boundedWrite runs fn as a local activity within localBudget and, when it
// fails there with anything a retry could cure (a timeout, and as much a
// database that refuses connections, is locked or denies the role its
// table: a local activity that fails fast returns its own error at the
// budget, not a timeout), goes on as a regular activity, retried for as
// long as it takes. The workflow task completes meanwhile, so updates get
// their answers. Only a refusal that can never succeed (dbRetryPolicy's
// non-retryable types) or a cancellation returns.
//
// The escalation's writes, the consultation's start and the consultation's
// own record go through here.
func boundedWrite(ctx workflow.Context, summary string, fn, in, out any) error {
	err := workflow.ExecuteLocalActivity(boundedDBOptions(ctx, summary), fn, in).Get(ctx, out)
	if err == nil || final(err) {
		return err
	}
	workflow.GetLogger(ctx).Warn("Local write failed within its budget; going on as a regular activity", "write", summary, "error", err.Error())
	return workflow.ExecuteActivity(durableOptions(ctx, summary), fn, in).Get(ctx, out)
}

// final reports whether err is an answer no retry changes: a cancellation,
// or an application error that is non-retryable or of a type dbRetryPolicy
// never retries.
func final(err error) bool {
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) {
		return true
	}
	var app *temporal.ApplicationError
	return errors.As(err, &app) && (app.NonRetryable() || slices.Contains(dbRetryPolicy().NonRetryableErrorTypes, app.Type()))
}

// durableOptions runs a write as a regular activity: for what an update
// asked (see escalation.apply for why: a decision, a change, a
// consultation's start or end), and for a local write past its budget.
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
