// Package workflows holds the escalation and consultation workflows. Workflow
// code here is deterministic: no clocks, randomness, goroutines, I/O or map
// iteration that shapes output; everything else happens in activities.
package workflows

import (
	"go.temporal.io/sdk/temporal"

	"github.com/orchestrator-dev/orchestrator/activities"
	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// Names ops and the API use; changing one breaks running workflows.
const (
	EscalationWorkflow   = "Escalation"
	ConsultationWorkflow = "Consultation"

	// UpdateCreated completes once the workflow has recorded its row; the API
	// sends it with the start (Update-With-Start) to answer with the stored row.
	UpdateCreated = "created"
	// UpdateDecide delivers a decision with a synchronous answer.
	UpdateDecide = "decide"
	// SignalDecision delivers a decision from ops (Temporal UI or CLI).
	SignalDecision = "decision"
	// QueryState returns the workflow's current state.
	QueryState = "state"

	UpdateStart = "start"
	UpdateEnd   = "end"
)

// Error types returned by update validators and handlers.
const (
	ErrTypeInvalidDecision = "InvalidDecision"
	ErrTypeAlreadyDecided  = "AlreadyDecided"
	ErrTypeSelfDecision    = "SelfDecision"
	ErrTypeInvalidState    = "InvalidTransition"
)

// Search attribute keys, registered on the namespace (Keyword). Values are ids
// and enums only: no personal data goes into visibility.
var (
	TenantIDKey       = temporal.NewSearchAttributeKeyKeyword("TenantId")
	ApprovalStatusKey = temporal.NewSearchAttributeKeyKeyword("ApprovalStatus")
	PriorityKey       = temporal.NewSearchAttributeKeyKeyword("Priority")
	RequestedByKey    = temporal.NewSearchAttributeKeyKeyword("RequestedBy")
)

// SearchAttributeNames lists the custom attributes to register.
var SearchAttributeNames = []string{"TenantId", "ApprovalStatus", "Priority", "RequestedBy"}

// EscalationID is the workflow id of an approval.
func EscalationID(approvalID string) string { return "approval-" + approvalID }

// ConsultationID is the workflow id of a consultation.
func ConsultationIDFor(consultationID string) string { return "consultation-" + consultationID }

// EscalationInput starts an escalation.
type EscalationInput struct {
	Approval store.Approval   `json:"approval"`
	Actor    activities.Actor `json:"actor"`
	// Participants are extra consultation participants named by the request.
	Participants []string `json:"participants,omitempty"`
	// Consultation settings for the consultation an approval creates.
	ConsultationMaxDurationSeconds  int64 `json:"consultationMaxDurationSeconds,omitempty"`
	ConsultationStartTimeoutSeconds int64 `json:"consultationStartTimeoutSeconds,omitempty"`
}

// DecisionRequest is the payload of the decide update and the decision signal.
type DecisionRequest struct {
	Status      string `json:"status"`
	Comment     string `json:"comment,omitempty"`
	DeciderID   string `json:"deciderId"`
	DeciderName string `json:"deciderName,omitempty"`
	// Channel is api or webhook for updates; signals are always ops-signal.
	Channel string `json:"channel,omitempty"`
}

// DecisionResult answers the decide update.
type DecisionResult struct {
	Approval     *store.Approval     `json:"approval"`
	Consultation *store.Consultation `json:"consultation,omitempty"`
}

// Phases of an escalation.
const (
	PhaseRecording = "recording"
	PhasePending   = "pending"
	PhaseDeciding  = "deciding"
	PhaseDecided   = "decided"
	PhaseDiscarded = "discarded"
)

// NotificationState is one notification's outcome.
type NotificationState struct {
	Kind   string `json:"kind"`
	Status string `json:"status"` // pending, sent, skipped, failed
	Reason string `json:"reason,omitempty"`
}

// EscalationState answers the state query and is the workflow's result.
type EscalationState struct {
	Phase          string              `json:"phase"`
	Approval       *store.Approval     `json:"approval,omitempty"`
	Decision       *DecisionRequest    `json:"decision,omitempty"`
	ConsultationID string              `json:"consultationId,omitempty"`
	Notifications  []NotificationState `json:"notifications,omitempty"`
	Error          string              `json:"error,omitempty"`
}
