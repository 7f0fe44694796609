package activities

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// ConsultationArgs is the input of the Consultation workflow.
type ConsultationArgs struct {
	Consultation        store.Consultation `json:"consultation"`
	Actor               Actor              `json:"actor"`
	MaxDurationSeconds  int64              `json:"maxDurationSeconds,omitempty"`
	StartTimeoutSeconds int64              `json:"startTimeoutSeconds,omitempty"`
}

// StartWorkflowInput starts a workflow that outlives the caller.
type StartWorkflowInput struct {
	WorkflowID   string           `json:"workflowId"`
	WorkflowType string           `json:"workflowType"`
	Summary      string           `json:"summary,omitempty"`
	TenantID     string           `json:"tenantId"`
	Args         ConsultationArgs `json:"args"`
}

// StartConsultation starts a consultation's own workflow on the caller's
// task queue. Starting it from a local activity, instead of as a child,
// spares the escalation a round trip through the server to learn that the
// child started. The workflow id makes it idempotent: an id already started
// (running or closed) is success.
func (a *Activities) StartConsultation(ctx context.Context, in StartWorkflowInput) error {
	if a.Temporal == nil {
		return temporal.NewNonRetryableApplicationError("the worker has no Temporal client", ErrTypeInvalid, nil)
	}
	_, err := a.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       in.WorkflowID,
		TaskQueue:                activity.GetInfo(ctx).TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes:    temporal.NewSearchAttributes(temporal.NewSearchAttributeKeyKeyword("TenantId").ValueSet(in.TenantID)),
		StaticSummary:            in.Summary,
	}, in.WorkflowType, in.Args)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) {
		return fmt.Errorf("start %s: %w", in.WorkflowID, err)
	}
	return nil
}
