package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// transitionOptions runs a consultation's start or end as a regular activity
// (see consultation.transition for why), retried for as long as the
// database is down; summary is what the Temporal UI shows of the call.
func transitionOptions(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Second,
		RetryPolicy:         dbRetryPolicy(),
		Summary:             summary,
	})
}
