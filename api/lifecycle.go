package api

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/orchestrator-dev/orchestrator/activities"
	"github.com/orchestrator-dev/orchestrator/internal/decision"
	"github.com/orchestrator-dev/orchestrator/internal/domain"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// The rest of an escalation's life through the API: the requester withdraws
// it, an approver asks a question, the requester answers. Each asks the
// decision authority and sends the workflow what it allows.

type withdrawRequest struct {
	Comment string `json:"comment"`
}

type requestInfoRequest struct {
	Question string `json:"question"`
}

type provideInfoRequest struct {
	Answer string `json:"answer"`
}

func (s *Server) withdrawApproval(c *gin.Context) error {
	var body withdrawRequest
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	return s.change(c, contract.UpdateWithdraw, "comment", body.Comment)
}

func (s *Server) requestInfo(c *gin.Context) error {
	var body requestInfoRequest
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	return s.change(c, contract.UpdateRequestInfo, "question", body.Question)
}

func (s *Server) provideInfo(c *gin.Context) error {
	var body provideInfoRequest
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	return s.change(c, contract.UpdateProvideInfo, "answer", body.Answer)
}

// change sends one change to the approval's workflow; field names the body's
// text in errors.
func (s *Server) change(c *gin.Context, kind, field, text string) error {
	p := principal(c)
	ap, err := s.d.Store.GetApproval(c.Request.Context(), scopeOf(p), c.Param("id"))
	if err != nil {
		return err
	}
	logTenant(c, ap.TenantID)
	round, err := s.changeRound(c, ap, kind)
	if err != nil {
		return err
	}
	req, err := decision.AuthorizeChange(s.d.DecisionKey, p, ap, kind, text, store.ChannelAPI, round)
	if err == nil {
		err = decision.DeadlineHolds(ap, s.d.Store.Now())
	}
	var fe *contract.FieldError
	switch {
	case errors.As(err, &fe):
		if fe.Field == "text" {
			fe.Field = field
		}
		return invalid(FieldError{fe.Field, fe.Reason})
	case errors.Is(err, domain.ErrNotApprover):
		return errNeedApprover(s.d.ApproverRole)
	case err != nil:
		// A refusal answers with its code (api/problem.go).
		return err
	}
	var res contract.ChangeResult
	err = s.update(c, contract.EscalationWorkflowID(ap.ID), kind, kind+"-"+store.NewID(), req, &res,
		domain.Refused(domain.CodeAlreadyDecided, "the approval has ended meanwhile"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, res.Approval)
	return nil
}

// changeRound is the round a question or an answer to ap will be (see
// contract.DecisionKey.SealChange): one more than those the workflow has
// recorded, counted in the audit trail, which records each with the
// approval's status change in one transaction. The API sends a change only
// once the approval's status allows it, when the workflow has applied every
// earlier one, so both count the same. A withdrawal is round 0.
func (s *Server) changeRound(c *gin.Context, ap *store.Approval, kind string) (int, error) {
	var action string
	switch kind {
	case contract.UpdateRequestInfo:
		action = activities.ActionInfoRequested
	case contract.UpdateProvideInfo:
		action = activities.ActionInfoProvided
	default:
		return 0, nil
	}
	n, err := s.d.Store.CountAudit(c.Request.Context(), store.ScopeOf(ap.TenantID), "approval", ap.ID, action)
	if err != nil {
		return 0, err
	}
	return int(n) + 1, nil
}
