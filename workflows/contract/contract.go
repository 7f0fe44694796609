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
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"github.com/orchestrator-dev/orchestrator/internal/domain"
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

// Error types of the application errors that validators and handlers return.
// Those of refusals map one to one to the domain's refusal codes
// (RefusalError, RefusalCode), which the API turns into statuses.
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

// refusalTypes pairs the error type of each refusal the workflow sends with
// the domain's code for it. The types are recorded in histories; the codes
// are what clients read.
var refusalTypes = []struct {
	errType string
	code    domain.Code
}{
	{ErrTypeInvalidDecision, domain.CodeInvalidDecision},
	{ErrTypeAlreadyDecided, domain.CodeAlreadyDecided},
	{ErrTypeSelfDecision, domain.CodeSeparationOfDuties},
	{ErrTypeInvalidTransition, domain.CodeInvalidTransition},
	{ErrTypeNotRequester, domain.CodeNotRequester},
	{ErrTypeExpired, domain.CodeExpired},
	{ErrTypeTooManyQuestions, domain.CodeTooManyQuestions},
}

// RefusalError is the application error a workflow's validator or handler
// returns for a refusal of the transition table (nil for nil); refusals
// of a code the workflow never sends are invalid transitions.
func RefusalError(err error) error {
	var r *domain.Refusal
	if !errors.As(err, &r) {
		return err
	}
	t := ErrTypeInvalidTransition
	for _, rt := range refusalTypes {
		if rt.code == r.Code {
			t = rt.errType
		}
	}
	return temporal.NewApplicationError(r.Detail, t)
}

// RefusalCode is the domain's code of a refusal the workflow sent with
// error type errType, if it is one.
func RefusalCode(errType string) (domain.Code, bool) {
	for _, rt := range refusalTypes {
		if rt.errType == errType {
			return rt.code, true
		}
	}
	return "", false
}

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

// ConsultationOwner is the id of the workflow that runs c, where its start
// and end go. A consultation an approval opens in the current generation
// lives in that approval's escalation workflow, whose id its row records
// (workflow_id); one created through the API, or opened by an escalation
// that ran before, has its own workflow, ConsultationWorkflowID, and no
// recorded id.
func ConsultationOwner(c store.Consultation) string {
	if c.WorkflowID != nil && *c.WorkflowID != "" {
		return *c.WorkflowID
	}
	return ConsultationWorkflowID(c.ID)
}

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
		EscalationWorkflow, ApprovalStatusKey.GetName(), domain.StatusPending, domain.StatusInfoRequested)
	if taskQueue != "" && !strings.ContainsAny(taskQueue, `'"\`) {
		q += fmt.Sprintf(" AND TaskQueue = '%s'", taskQueue)
	}
	return q
}
