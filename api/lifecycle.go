package api

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/orchestrator-dev/orchestrator/internal/decision"
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
	req, err := decision.AuthorizeChange(s.d.DecisionKey, p, ap, kind, text, store.ChannelAPI)
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
	case errors.Is(err, decision.ErrNotVisible):
		return errNotFound
	case errors.Is(err, decision.ErrNotApprover):
		return errNeedApprover(s.d.ApproverRole)
	case errors.Is(err, decision.ErrSelfDecision):
		return problem(http.StatusForbidden, "separation_of_duties", "the requester cannot ask themselves")
	case errors.Is(err, decision.ErrNotRequester):
		return problem(http.StatusForbidden, "not_requester", "only the requester can %s this escalation", kind)
	case errors.Is(err, decision.ErrDecided):
		return problem(http.StatusConflict, "already_decided", "the approval is already %s", ap.Status)
	case errors.Is(err, decision.ErrNotWaiting):
		return problem(http.StatusConflict, "invalid_transition", "the approval is %s", ap.Status)
	case err != nil:
		return err
	}
	var res contract.ChangeResult
	err = s.update(c, contract.EscalationWorkflowID(ap.ID), kind, kind+"-"+store.NewID(), req, &res,
		problem(http.StatusConflict, "already_decided", "the approval has ended meanwhile"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, res.Approval)
	return nil
}
