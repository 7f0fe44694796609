package api

import (
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/orchestrator-dev/orchestrator/internal/auth"
	"github.com/orchestrator-dev/orchestrator/internal/jitsi"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// consultationView is a consultation with the caller's own join link.
type consultationView struct {
	*store.Consultation
	JoinURL string `json:"joinUrl"`
}

func (s *Server) view(p *auth.Principal, c *store.Consultation) (consultationView, error) {
	v := consultationView{Consultation: c}
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

type createConsultationRequest struct {
	TenantID       string     `json:"tenantId"`
	Title          string     `json:"title"`
	ParticipantIDs []string   `json:"participantIds"`
	ScheduledAt    *time.Time `json:"scheduledAt"`
	ApprovalID     *string    `json:"approvalId"`
}

func (r *createConsultationRequest) validate() error {
	var fe []FieldError
	add := func(f, d string) { fe = append(fe, FieldError{f, d}) }
	if r.TenantID == "" || !store.ValidTenantID(r.TenantID) {
		add("tenantId", "is required and must be a valid tenant id")
	}
	r.Title = strings.TrimSpace(r.Title)
	if n := utf8.RuneCountInString(r.Title); n == 0 || n > maxTitle || !cleanText(r.Title, false) {
		add("title", "is required: at most 200 characters, no control characters")
	}
	if len(r.ParticipantIDs) > maxParticipants {
		add("participantIds", "must list at most 20 users")
	}
	for _, p := range r.ParticipantIDs {
		if p == "" || len(p) > maxIDLength || !cleanText(p, false) {
			add("participantIds", "every participant must be a user id of 1 to 256 printable bytes")
			break
		}
	}
	if r.ApprovalID != nil {
		add("approvalId", "is set by the escalation that creates the consultation, not by the caller")
	}
	if len(fe) > 0 {
		return invalid(fe...)
	}
	return nil
}

func (r *createConsultationRequest) tenant() string { return r.TenantID }

func (s *Server) createConsultation(c *gin.Context) error {
	var req createConsultationRequest
	p, err := bindCreate(c, &req)
	if err != nil {
		return err
	}
	room, err := jitsi.NewRoomName()
	if err != nil {
		return err
	}
	id := store.NewID()
	if key := c.GetHeader("Idempotency-Key"); key != "" && len(key) <= maxIdemKey {
		id = uuid.NewSHA1(idempotencyNamespace, []byte("consultation\x00"+req.TenantID+"\x00"+p.Subject+"\x00"+key)).String()
	}
	participants := []string{p.Subject}
	for _, x := range req.ParticipantIDs {
		if !contains(participants, x) {
			participants = append(participants, x)
		}
	}
	cons := store.Consultation{
		ID: id, Title: req.Title, JitsiRoom: room, Status: store.ConsultationScheduled, HostID: p.Subject,
		ParticipantIDs: participants, TenantID: req.TenantID, ScheduledAt: req.ScheduledAt,
	}
	ctx := c.Request.Context()
	wfID := contract.ConsultationWorkflowID(id)
	c.Set("workflow_id", wfID)
	out, err := startAndWaitCreated(ctx, s.d.Temporal, client.StartWorkflowOptions{
		ID: wfID, TaskQueue: s.d.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes:    temporal.NewSearchAttributes(contract.TenantIDKey.ValueSet(req.TenantID)),
		Memo:                     map[string]any{"title": req.Title, "tenantId": req.TenantID, "hostId": p.Subject},
		StaticSummary:            "Consultation: " + req.Title,
	}, contract.ConsultationWorkflow, contract.ConsultationInput{
		Consultation: cons, Actor: contract.Actor{ID: p.Subject, Name: p.Name, Channel: store.ChannelAPI},
		MaxDurationSeconds:  int64(s.d.ConsultationMaxDuration.Seconds()),
		StartTimeoutSeconds: int64(s.d.ConsultationStartTimeout.Seconds()),
	}, func() (*store.Consultation, error) {
		return s.d.Store.GetConsultation(ctx, store.ScopeOf(req.TenantID), id)
	})
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

func (s *Server) listConsultations(c *gin.Context) error {
	tenant, limit, cur, err := listParams(c)
	if err != nil {
		return err
	}
	p := principal(c)
	rows, next, err := s.d.Store.ListConsultations(c.Request.Context(), scopeOf(p), store.ConsultationQuery{TenantID: tenant, Limit: limit, Cursor: cur})
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

func (s *Server) transition(c *gin.Context, update string) error {
	if c.Request.ContentLength > 0 {
		// No body is expected; read it to enforce the limits and refuse junk.
		var empty struct{}
		if err := decodeJSON(c, &empty); err != nil {
			return err
		}
	}
	p := principal(c)
	ctx := c.Request.Context()
	cons, err := s.d.Store.GetConsultation(ctx, scopeOf(p), c.Param("id"))
	if err != nil {
		return err
	}
	c.Set("tenant", cons.TenantID)
	wfID := contract.ConsultationWorkflowID(cons.ID)
	c.Set("workflow_id", wfID)
	h, err := s.d.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: wfID, UpdateName: update, UpdateID: update + "-" + uuid.NewString(),
		WaitForStage: client.WorkflowUpdateStageCompleted,
		Args:         []any{contract.TransitionRequest{ActorID: p.Subject, ActorName: p.Name}},
	})
	var out store.Consultation
	if err == nil {
		err = h.Get(ctx, &out)
	}
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return problem(http.StatusConflict, "invalid_transition", "the consultation has %s", cons.Status)
		}
		return err
	}
	v, err := s.view(p, &out)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, v)
	return nil
}
