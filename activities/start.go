package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// StartConsultation starts the consultation's own workflow on the caller's
// task queue, with the same options as a consultation the API starts. The
// workflow id makes it idempotent: an id already started (running or
// closed) is success.
func (a *Activities) StartConsultation(ctx context.Context, in contract.ConsultationInput) error {
	if a.Temporal == nil {
		return temporal.NewNonRetryableApplicationError("the worker has no Temporal client", contract.ErrTypeInvalid, nil)
	}
	opts := contract.ConsultationStart(activity.GetInfo(ctx).TaskQueue, in.Consultation)
	_, err := a.Temporal.ExecuteWorkflow(ctx, opts, contract.ConsultationWorkflow, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) {
		return fmt.Errorf("start %s: %w", opts.ID, err)
	}
	return nil
}
