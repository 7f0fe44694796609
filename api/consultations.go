package api

import (
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/orchestrator-dev/orchestrator/internal/auth"
	"github.com/orchestrator-dev/orchestrator/internal/domain"
	"github.com/orchestrator-dev/orchestrator/internal/jitsi"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Consultation handlers: create starts a consultation's workflow, start and
// end send it updates, list and get read the database. Every consultation
// is shown through view: with the caller's own join link and room name, or
// with neither.

// consultationView is a consultation as one caller may see it, with their
// own join link. The room name is what a link is made of (without Jitsi
// tokens the link is <base>/<room>), so it goes only to those who get a
// link: this JitsiRoom shadows the stored one in JSON, and is empty (left
// out) for everyone else.
type consultationView struct {
	*store.Consultation
	JitsiRoom string `json:"jitsiRoom,omitempty"`
	JoinURL   string `json:"joinUrl"`
}

// takesPart reports whether p may join, start and end c: its host and
// participants, and the approvers of its tenant. Other members of the
// tenant see that it exists, not how to get in.
func takesPart(p *auth.Principal, c *store.Consultation) bool {
	return c.HostID == p.Subject || slices.Contains(c.ParticipantIDs, p.Subject) || p.CanApprove(c.TenantID)
}

func (s *Server) view(p *auth.Principal, c *store.Consultation) (consultationView, error) {
	v := consultationView{Consultation: c}
	if !takesPart(p, c) {
		return v, nil
	}
	v.JitsiRoom = c.JitsiRoom
	if s.d.JoinURL == nil {
		return v, nil
	}
	url, err := s.d.JoinURL(c.JitsiRoom, JoinUser{ID: p.Subject, Name: p.Name, Email: p.Email, Moderator: c.HostID == p.Subject})
	if err != nil {
		return v, err
	}
	v.JoinURL = url
	return v, nil
}

func (s *Server) createConsultation(c *gin.Context) error {
	var req createConsultationRequest
	p, err := bindCreate(c, &req)
	if err != nil {
		return err
	}
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	room, err := jitsi.NewRoomName()
	if err != nil {
		return err
	}
	id := store.NewID()
	if key != "" {
		id = keyedID(keyedConsultation, req.TenantID, p.Subject, key)
	}
	cons := store.Consultation{
		ID: id, Title: req.Title, JitsiRoom: room, Status: store.ConsultationScheduled, HostID: p.Subject,
		ParticipantIDs: contract.Participants([]string{p.Subject}, req.ParticipantIDs...), TenantID: req.TenantID, ScheduledAt: req.ScheduledAt,
	}
	actor := contract.Actor{ID: p.Subject, Name: p.Name, Channel: store.ChannelAPI}
	out, err := s.startConsultationWorkflow(c, s.consultationInput(cons, actor))
	if err != nil {
		return err
	}
	v, err := s.view(p, out)
	if err != nil {
		return err
	}
	c.Header("Location", "/api/consultations/"+out.ID)
	c.JSON(http.StatusCreated, v)
	return nil
}

// listConsultations lists a tenant's consultations; ?approvalId= answers
// "which room did this approval open?" (at most one item, none when the
// approval opened none or belongs to another tenant).
func (s *Server) listConsultations(c *gin.Context) error {
	tenant, limit, cur, err := listParams(c, "approvalId")
	if err != nil {
		return err
	}
	// Present means it must be an id: an empty or malformed value is a
	// client bug to report, not a filter that silently matches nothing.
	approval, filtered := c.GetQuery("approvalId")
	if filtered && !store.ValidID(approval) {
		return invalid(FieldError{"approvalId", "must be an approval id (a UUID)"})
	}
	p := principal(c)
	rows, next, err := s.d.Store.ListConsultations(c.Request.Context(), scopeOf(p),
		store.ConsultationQuery{TenantID: tenant, ApprovalID: approval, Limit: limit, Cursor: cur})
	if err != nil {
		return err
	}
	views := make([]consultationView, len(rows))
	for i := range rows {
		if views[i], err = s.view(p, &rows[i]); err != nil {
			return err
		}
	}
	c.JSON(http.StatusOK, newList(views, next))
	return nil
}

func (s *Server) getConsultation(c *gin.Context) error {
	p := principal(c)
	cons, err := s.d.Store.GetConsultation(c.Request.Context(), scopeOf(p), c.Param("id"))
	if err != nil {
		return err
	}
	v, err := s.view(p, cons)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, v)
	return nil
}

func (s *Server) startConsultation(c *gin.Context) error {
	return s.transition(c, contract.UpdateStart)
}

func (s *Server) endConsultation(c *gin.Context) error { return s.transition(c, contract.UpdateEnd) }

// transition sends start or end to the workflow that runs the consultation
// (its own, or the escalation of the approval that opened it), which
// decides whether the consultation can make that step.
func (s *Server) transition(c *gin.Context, update string) error {
	if err := noBody(c); err != nil {
		return err
	}
	p := principal(c)
	cons, err := s.d.Store.GetConsultation(c.Request.Context(), scopeOf(p), c.Param("id"))
	if err != nil {
		return err
	}
	logTenant(c, cons.TenantID)
	if !takesPart(p, cons) {
		return problem(http.StatusForbidden, "not_a_participant", "only the host, the participants and the tenant's approvers can %s this consultation", update)
	}
	var out store.Consultation
	err = s.update(c, contract.ConsultationOwner(*cons), update, update+"-"+store.NewID(),
		contract.TransitionRequest{ActorID: p.Subject, ActorName: p.Name}, &out,
		domain.Refused(domain.CodeInvalidTransition, "the consultation has "+cons.Status))
	if err != nil {
		return err
	}
	v, err := s.view(p, &out)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, v)
	return nil
}
