// Package contract is the escalation's Temporal contract, in one place: the
// names of workflows, updates, signals and queries, workflow ids, search
// attributes, inputs, results and start options. The API, the activities,
// the worker and the workflows import it; none of them spells a key, an id
// pattern or a payload of their own.
//
// Everything here is recorded in running workflows' histories or registered
// on the namespace: renaming a value breaks running escalations.
package contract

import (
	"fmt"
	"strings"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// Workflow types.
const (
	EscalationWorkflow   = "Escalation"
	ConsultationWorkflow = "Consultation"
)

// Updates, signals and queries.
const (
	// UpdateCreated completes once the workflow has stored its row; the API
	// sends it with the start (Update-With-Start) to answer with that row.
	UpdateCreated = "created"
	// UpdateDecide delivers a decision and answers with the decided approval.
	UpdateDecide = "decide"
	// SignalDecision delivers a decision from ops (Temporal UI or CLI); it
	// has no answer, so an invalid one is logged and ignored.
	SignalDecision = "decision"
	// UpdateWithdraw (the requester takes the escalation back),
	// UpdateRequestInfo (an approver asks a question) and UpdateProvideInfo
	// (the requester answers) change a waiting escalation.
	UpdateWithdraw    = "withdraw"
	UpdateRequestInfo = "request-info"
	UpdateProvideInfo = "provide-info"
	// UpdateStart and UpdateEnd move a consultation on.
	UpdateStart = "start"
	UpdateEnd   = "end"
	// QueryState answers with the workflow's current state.
	QueryState = "state"
)

// Error types of the application errors that validators and handlers return;
// the API maps each to a status code.
const (
	ErrTypeInvalidDecision   = "InvalidDecision"
	ErrTypeAlreadyDecided    = "AlreadyDecided"
	ErrTypeSelfDecision      = "SelfDecision"
	ErrTypeInvalidTransition = "InvalidTransition"
	// ErrTypeNotRequester: only the requester may withdraw or answer.
	ErrTypeNotRequester = "NotRequester"
	// ErrTypeExpired: the escalation's deadline (or the open question's
	// time for an answer) has passed, even if its timer has not fired yet.
	ErrTypeExpired = "Expired"
	// ErrTypeTooManyQuestions: the escalation has had every question its
	// policy allows (EscalationInput.MaxQuestions).
	ErrTypeTooManyQuestions = "TooManyQuestions"

	// Activities fail with these when the same input can never succeed;
	// they are never retried.
	ErrTypeConflict = "Conflict"
	ErrTypeNotFound = "NotFound"
	ErrTypeInvalid  = "Invalid"
)

// Search attributes, registered on the namespace as Keyword. Values are ids
// and enums only: visibility stores them in clear, so no personal data.
var (
	TenantIDKey       = temporal.NewSearchAttributeKeyKeyword("TenantId")
	ApprovalStatusKey = temporal.NewSearchAttributeKeyKeyword("ApprovalStatus")
	PriorityKey       = temporal.NewSearchAttributeKeyKeyword("Priority")
	RequestedByKey    = temporal.NewSearchAttributeKeyKeyword("RequestedBy")
	// ApprovalIDKey marks the consultation an approval opened.
	ApprovalIDKey = temporal.NewSearchAttributeKeyKeyword("ApprovalId")
)

// SearchAttributes lists every custom attribute, for registration.
func SearchAttributes() []temporal.SearchAttributeKeyKeyword {
	return []temporal.SearchAttributeKeyKeyword{TenantIDKey, ApprovalStatusKey, PriorityKey, RequestedByKey, ApprovalIDKey}
}

// SearchAttributeNames are the names of SearchAttributes.
func SearchAttributeNames() []string {
	keys := SearchAttributes()
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.GetName()
	}
	return names
}

// EscalationWorkflowID is the workflow id of an approval's escalation.
func EscalationWorkflowID(approvalID string) string { return "approval-" + approvalID }

// ConsultationWorkflowID is the workflow id of a consultation.
func ConsultationWorkflowID(consultationID string) string { return "consultation-" + consultationID }

var approvalConsultationNamespace = uuid.MustParse("3f1f9d8e-4b7a-4c2e-9a51-6f0e2d7c8b91")

// ApprovalConsultationID is the id of the consultation an approval opens. It
// derives from the approval id, so every retry arrives at the same one.
func ApprovalConsultationID(approvalID string) string {
	return uuid.NewSHA1(approvalConsultationNamespace, []byte(approvalID)).String()
}

// WaitingQuery is the visibility query of the escalations waiting for a
// decision (pending, or waiting for an answer), on taskQueue when it is
// safe to quote. Visibility is the truth across replicas (a per-process
// counter is not), and unlike a database count it needs no tenant scope.
func WaitingQuery(taskQueue string) string {
	q := fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running' AND %s IN ('%s', '%s')",
		EscalationWorkflow, ApprovalStatusKey.GetName(), store.StatusPending, store.StatusInfoRequested)
	if taskQueue != "" && !strings.ContainsAny(taskQueue, `'"\`) {
		q += fmt.Sprintf(" AND TaskQueue = '%s'", taskQueue)
	}
	return q
}
