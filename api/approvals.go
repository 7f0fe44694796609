package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/orchestrator-dev/orchestrator/internal/decision"
	"github.com/orchestrator-dev/orchestrator/internal/domain"
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
	if conv := req.Conversation; conv != nil && !s.conversationInTenant(*conv, req.TenantID) {
		// Otherwise anyone could post into, relabel and send join links to
		// another tenant's customer conversation.
		return problem(http.StatusForbidden, "conversation_forbidden",
			"the conversation's Chatwoot account is not mapped to tenant %s (CHATWOOT_ACCOUNT_TENANTS)", req.TenantID)
	}
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	if err := s.limitCreate(c.Request.Context(), req.TenantID, p.Subject); err != nil {
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
	in, err := s.escalationInput(c.Request.Context(), escalation{
		id: id, tenantID: req.TenantID, title: req.Title, description: req.Description, priority: req.Priority,
		requester: contract.Actor{ID: p.Subject, Name: p.Name, Channel: store.ChannelAPI},
		metadata:  meta, conversation: req.Conversation, expiresAt: req.ExpiresAt, participants: req.Participants,
	})
	if err != nil {
		return err
	}
	out, err := s.startEscalationWorkflow(c, in)
	if err != nil {
		return err
	}
	if key != "" && (out.Title != in.Approval.Title || out.Priority != in.Approval.Priority || out.Description != in.Approval.Description) {
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
	if status != "" && !slices.Contains(store.Statuses, status) {
		return invalid(FieldError{"status", "must be one of " + strings.Join(store.Statuses, ", ")})
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

// decideApproval asks the decision authority whether the caller may decide,
// and sends the decision it allows to the workflow, which checks it again
// under its own rules and applies it.
func (s *Server) decideApproval(c *gin.Context) error {
	p := principal(c)
	var body decideRequest
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	d, err := decision.New(p, decision.Request{Status: body.Status, Comment: body.Comment, Channel: store.ChannelAPI})
	if fe := (*contract.FieldError)(nil); errors.As(err, &fe) {
		return invalid(FieldError{fe.Field, fe.Reason})
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
	d, err = decision.Authorize(s.d.DecisionKey, p, ap, d)
	if err == nil {
		err = decision.DeadlineHolds(ap, s.d.Store.Now())
	}
	// Refusals answer with their codes (api/problem.go); two need what only
	// this handler knows.
	switch {
	case errors.Is(err, domain.ErrNotApprover):
		return errNeedApprover(s.d.ApproverRole)
	case errors.Is(err, domain.ErrDecided) && decision.Retried(p, ap, body.Status):
		// The caller's own decision, retried (say after a 503): the
		// answer it would have had.
		c.JSON(http.StatusOK, ap)
		return nil
	case err != nil:
		return err
	}
	updateID := store.NewID()
	if key != "" {
		// Scoped to the caller: two approvers sending the same key are two
		// decisions, of which the workflow accepts one.
		updateID = keyedID(keyedDecision, ap.ID, p.Subject, key)
	}
	var res contract.DecisionResult
	err = s.update(c, contract.EscalationWorkflowID(ap.ID), contract.UpdateDecide, "decide-"+updateID, d, &res,
		domain.Refused(domain.CodeAlreadyDecided, "the approval was decided meanwhile"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, res.Approval)
	return nil
}

// conversationInTenant reports whether a Chatwoot conversation belongs to the
// tenant: its account is mapped there.
func (s *Server) conversationInTenant(conv store.Conversation, tenant string) bool {
	t, ok := s.d.Webhooks.ChatwootAccountTenants[strconv.FormatInt(conv.AccountID, 10)]
	return ok && t == tenant
}

// deadline is when an escalation created now expires: the one asked for, in
// the future and within the tenant's maximum, or the policy's default.
func deadline(now time.Time, asked *time.Time, p store.Policy) (time.Time, error) {
	if asked == nil {
		return now.Add(p.DefaultTTL).Truncate(time.Second), nil
	}
	at := asked.UTC()
	switch {
	case !at.After(now):
		return at, invalid(FieldError{"expiresAt", "must be in the future"})
	case at.Sub(now) > p.MaxTTL:
		return at, invalid(FieldError{"expiresAt", fmt.Sprintf("must be at most %s from now (the tenant's maximum)", p.MaxTTL)})
	}
	return at, nil
}

// withPolicy copies what of the tenant's policy a running escalation
// applies itself (reminders, questions, the time for an answer) into its
// input: every route that creates an escalation goes through it, so none is
// left without the bounds (a question nobody answers would otherwise keep
// it waiting past its deadline).
func withPolicy(in *contract.EscalationInput, p store.Policy) {
	in.ReminderSeconds = reminderSeconds(p)
	in.MaxQuestions, in.AnswerTTLSeconds = p.Questions(), int64(p.AnswerWait()/time.Second)
}

func reminderSeconds(p store.Policy) []int64 {
	out := make([]int64, 0, len(p.Reminders))
	for _, r := range p.Reminders {
		out = append(out, int64(r/time.Second))
	}
	return out
}
