package api

import (
	"context"
	"errors"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// How the API reaches the workflows: it starts them and sends them updates,
// with the contract's names and options, and nothing else.

// escalation is what both ways to escalate (POST /api/approvals and a
// Chatwoot trigger) say about a new escalation.
type escalation struct {
	id, tenantID, title, description, priority string
	requester                                  contract.Actor
	metadata                                   store.JSON
	conversation                               *store.Conversation
	// expiresAt is the deadline asked for; nil takes the policy's default.
	expiresAt    *time.Time
	participants []string
}

// escalationInput is the one assembly of what an escalation starts with:
// its pending row, its deadline within the tenant's policy, and the part of
// the policy the running escalation keeps (reminders, questions, the time
// for an answer).
func (s *Server) escalationInput(ctx context.Context, e escalation) (contract.EscalationInput, error) {
	policy, err := s.policyFor(ctx, e.tenantID)
	if err != nil {
		return contract.EscalationInput{}, err
	}
	expiresAt, err := deadline(s.d.Store.Now(), e.expiresAt, policy)
	if err != nil {
		return contract.EscalationInput{}, err
	}
	ap := store.Approval{
		ID: e.id, TenantID: e.tenantID, Title: e.title, Description: e.description, Status: store.StatusPending,
		Priority: e.priority, RequestedBy: e.requester.ID, RequestedByName: e.requester.Name, Metadata: e.metadata,
		Conversation: e.conversation, ExpiresAt: &expiresAt,
	}
	in := contract.EscalationInput{
		Approval: contract.ApprovalOf(ap), Actor: e.requester, Participants: e.participants,
		ConsultationMaxDurationSeconds:  int64(s.d.ConsultationMaxDuration.Seconds()),
		ConsultationStartTimeoutSeconds: int64(s.d.ConsultationStartTimeout.Seconds()),
		Generation:                      contract.GenerationCompact,
	}
	withPolicy(&in, policy)
	return in, nil
}

// consultationInput is what a consultation created through the API starts with.
func (s *Server) consultationInput(cons store.Consultation, actor contract.Actor) contract.ConsultationInput {
	return contract.ConsultationInput{
		Consultation: contract.ConsultationOf(cons), Actor: actor,
		MaxDurationSeconds:  int64(s.d.ConsultationMaxDuration.Seconds()),
		StartTimeoutSeconds: int64(s.d.ConsultationStartTimeout.Seconds()),
	}
}

// startEscalationWorkflow starts the approval's workflow and waits, in the same call
// (Update-With-Start), until the workflow has stored the approval.
func (s *Server) startEscalationWorkflow(c *gin.Context, in contract.EscalationInput) (*store.Approval, error) {
	opts := contract.EscalationStart(s.d.TaskQueue, in.Approval)
	logWorkflow(c, opts.ID)
	ctx := c.Request.Context()
	return startAndWaitCreated(ctx, s.d.Temporal, opts, contract.EscalationWorkflow, in, func() (*store.Approval, error) {
		return s.d.Store.GetApproval(ctx, store.ScopeOf(in.Approval.TenantID), in.Approval.ID)
	})
}

// startConsultationWorkflow starts a consultation's workflow the same way.
func (s *Server) startConsultationWorkflow(c *gin.Context, in contract.ConsultationInput) (*store.Consultation, error) {
	opts := contract.ConsultationStart(s.d.TaskQueue, in.Consultation)
	logWorkflow(c, opts.ID)
	ctx := c.Request.Context()
	return startAndWaitCreated(ctx, s.d.Temporal, opts, contract.ConsultationWorkflow, in, func() (*store.Consultation, error) {
		return s.d.Store.GetConsultation(ctx, store.ScopeOf(in.Consultation.TenantID), in.Consultation.ID)
	})
}

// startAndWaitCreated starts a workflow (or joins the running one with the
// same id) and waits for its "created" update, which answers with the stored
// row. When the id belongs to a workflow that has already closed (the same
// Idempotency-Key, later), the stored row is read instead.
func startAndWaitCreated[T any](ctx context.Context, tc client.Client, opts client.StartWorkflowOptions, workflowType string, input any,
	stored func() (*T, error)) (*T, error) {
	op := tc.NewWithStartWorkflowOperation(opts, workflowType, input)
	h, err := tc.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: op,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateName: contract.UpdateCreated, UpdateID: "created", WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	var out T
	if err == nil {
		err = h.Get(ctx, &out)
	}
	if err != nil {
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			return stored()
		}
		return nil, err
	}
	return &out, nil
}

// update sends an update and waits for its answer. A workflow that has closed
// since the caller read its row answers closed (the handler says what that
// means for the resource).
func (s *Server) update(c *gin.Context, workflowID, name, updateID string, arg, out any, closed error) error {
	logWorkflow(c, workflowID)
	ctx := c.Request.Context()
	h, err := s.d.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflowID, UpdateName: name, UpdateID: updateID,
		WaitForStage: client.WorkflowUpdateStageCompleted, Args: []any{arg},
	})
	if err == nil {
		err = h.Get(ctx, out)
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return closed
	}
	return err
}
