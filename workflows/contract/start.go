package contract

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// Both workflows are started idempotently: a start that finds its id running
// joins that run, and an id that has closed is never started again, so a
// retried create never makes a second escalation or consultation.
const (
	conflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
	reusePolicy    = enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE
)

// EscalationStart is how an approval's escalation is started: its id, the
// search attributes ops filter on, and what the Temporal UI shows of it.
func EscalationStart(taskQueue string, ap Approval) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       EscalationWorkflowID(ap.ID),
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: conflictPolicy,
		WorkflowIDReusePolicy:    reusePolicy,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			TenantIDKey.ValueSet(ap.TenantID),
			ApprovalStatusKey.ValueSet(store.StatusPending),
			PriorityKey.ValueSet(ap.Priority),
			RequestedByKey.ValueSet(ap.RequestedBy),
			// The consultation an approval opens is run by this workflow:
			// ApprovalId finds it as it finds a consultation's own.
			ApprovalIDKey.ValueSet(ap.ID),
		),
		Memo:          map[string]any{"title": ap.Title, "tenantId": ap.TenantID, "requestedBy": ap.RequestedBy},
		StaticSummary: "Escalation: " + ap.Title,
		StaticDetails: "Tenant: " + ap.TenantID + "  \nRequested by: " + ap.RequestedBy + "  \nPriority: " + ap.Priority,
	}
}

// ConsultationStart is how a consultation's workflow is started, by the API
// or by the escalation that opens it.
func ConsultationStart(taskQueue string, c Consultation) client.StartWorkflowOptions {
	attrs := []temporal.SearchAttributeUpdate{TenantIDKey.ValueSet(c.TenantID)}
	details := "Tenant: " + c.TenantID + "  \nHost: " + c.HostID
	if c.ApprovalID != nil {
		attrs = append(attrs, ApprovalIDKey.ValueSet(*c.ApprovalID))
		details += "  \nOpened by the approval of workflow " + EscalationWorkflowID(*c.ApprovalID)
	}
	return client.StartWorkflowOptions{
		ID:                       ConsultationWorkflowID(c.ID),
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: conflictPolicy,
		WorkflowIDReusePolicy:    reusePolicy,
		TypedSearchAttributes:    temporal.NewSearchAttributes(attrs...),
		Memo:                     map[string]any{"title": c.Title, "tenantId": c.TenantID, "hostId": c.HostID},
		StaticSummary:            "Consultation: " + c.Title,
		StaticDetails:            details,
	}
}
