package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Approval handlers: create starts an escalation, decide delivers the
// decision to it, list and get read the database.

func (s *Server) createApproval(c *gin.Context) error {
	var req createApprovalRequest
	p, err := bindCreate(c, &req)
	if err != nil {
		return err
	}
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	id := store.NewID()
	if key != "" {
		// A retried create finds the same workflow instead of starting a second.
		id = keyedID(keyedApproval, req.TenantID, p.Subject, key)
	}
	meta := store.JSON(req.Metadata)
	if len(meta) == 0 || string(meta) == "null" {
		meta = store.JSON("{}")
	}
	ap := store.Approval{
		ID: id, TenantID: req.TenantID, Title: req.Title, Description: req.Description, Status: store.StatusPending,
		Priority: req.Priority, RequestedBy: p.Subject, RequestedByName: p.Name, Metadata: meta, Conversation: req.Conversation,
	}
	actor := contract.Actor{ID: p.Subject, Name: p.Name, Channel: store.ChannelAPI}
	out, err := s.startEscalationWorkflow(c, s.escalationInput(ap, actor, req.Participants))
	if err != nil {
		return err
	}
	if key != "" && (out.Title != ap.Title || out.Priority != ap.Priority || out.Description != ap.Description) {
		return problem(http.StatusUnprocessableEntity, "idempotency_key_reused", "the Idempotency-Key was already used for a different escalation")
	}
	c.Header("Location", "/api/approvals/"+out.ID)
	c.JSON(http.StatusCreated, out)
	return nil
}

func (s *Server) listApprovals(c *gin.Context) error {
	tenant, limit, cur, err := listParams(c, "status")
	if err != nil {
		return err
	}
	status := c.Query("status")
	if status != "" && status != store.StatusPending && status != store.StatusApproved && status != store.StatusRejected {
		return invalid(FieldError{"status", "must be pending, approved or rejected"})
	}
	rows, next, err := s.d.Store.ListApprovals(c.Request.Context(), scopeOf(principal(c)),
		store.ApprovalQuery{TenantID: tenant, Status: status, Limit: limit, Cursor: cur})
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, newList(rows, next))
	return nil
}

func (s *Server) getApproval(c *gin.Context) error {
	ap, err := s.d.Store.GetApproval(c.Request.Context(), scopeOf(principal(c)), c.Param("id"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, ap)
	return nil
}

// decideApproval checks what the API knows (the caller's tenant and role,
// separation of duties, the stored status) and sends the decision to the
// workflow, which checks it again under its own rules and applies it.
func (s *Server) decideApproval(c *gin.Context) error {
	p := principal(c)
	d, err := bindDecision(c, p)
	if err != nil {
		return err
	}
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	ap, err := s.d.Store.GetApproval(c.Request.Context(), scopeOf(p), c.Param("id"))
	if err != nil {
		return err
	}
	logTenant(c, ap.TenantID)
	if !p.HasRole(s.d.ApproverRole) {
		return errNeedApprover(s.d.ApproverRole)
	}
	if ap.RequestedBy == p.Subject {
		return problem(http.StatusForbidden, "separation_of_duties", "the requester cannot decide their own escalation")
	}
	if ap.Status != store.StatusPending {
		if ap.Status == d.Status && ap.ApprovedBy != nil && *ap.ApprovedBy == p.Subject {
			// The caller's own decision, retried (say after a 503): the
			// answer it would have had.
			c.JSON(http.StatusOK, ap)
			return nil
		}
		return problem(http.StatusConflict, "already_decided", "the approval is already %s", ap.Status)
	}
	updateID := store.NewID()
	if key != "" {
		// Scoped to the caller: two approvers sending the same key are two
		// decisions, of which the workflow accepts one.
		updateID = keyedID(keyedDecision, ap.ID, p.Subject, key)
	}
	var res contract.DecisionResult
	err = s.update(c, contract.EscalationWorkflowID(ap.ID), contract.UpdateDecide, "decide-"+updateID, d, &res,
		problem(http.StatusConflict, "already_decided", "the approval was decided meanwhile"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, res.Approval)
	return nil
}
