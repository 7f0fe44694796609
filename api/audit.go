package api

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/orchestrator-dev/orchestrator/internal/store"
)

var (
	actionPattern   = regexp.MustCompile(`^[a-z][a-z0-9_.:-]{0,99}$`)
	resourcePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,99}$`)
)

type createAuditRequest struct {
	TenantID   string          `json:"tenantId"`
	Action     string          `json:"action"`
	Resource   string          `json:"resource"`
	ResourceID string          `json:"resourceId"`
	OldValues  json.RawMessage `json:"oldValues"`
	NewValues  json.RawMessage `json:"newValues"`
	Metadata   json.RawMessage `json:"metadata"`
}

func (r *createAuditRequest) validate() error {
	var fe []FieldError
	add := func(f, d string) { fe = append(fe, FieldError{f, d}) }
	if !store.ValidTenantID(r.TenantID) {
		add("tenantId", "is required and must be a valid tenant id")
	}
	if !actionPattern.MatchString(r.Action) {
		add("action", "is required: lower-case letters, digits and . _ : - (at most 100), e.g. ticket.updated")
	}
	if !resourcePattern.MatchString(r.Resource) {
		add("resource", "is required: lower-case letters, digits, _ and - (at most 100)")
	}
	if r.ResourceID == "" || len(r.ResourceID) > maxIDLength || !cleanText(r.ResourceID, false) {
		add("resourceId", "is required: 1 to 256 printable bytes")
	}
	for _, f := range []struct {
		name string
		v    json.RawMessage
	}{{"oldValues", r.OldValues}, {"newValues", r.NewValues}, {"metadata", r.Metadata}} {
		if msg := checkMetadata(f.v); msg != "" {
			add(f.name, msg)
		}
	}
	if len(fe) > 0 {
		return invalid(fe...)
	}
	return nil
}

func rawOrNil(m json.RawMessage) store.JSON {
	if len(m) == 0 || string(m) == "null" {
		return nil
	}
	return store.JSON(m)
}

func (r *createAuditRequest) tenant() string { return r.TenantID }

func (s *Server) createAudit(c *gin.Context) error {
	var req createAuditRequest
	p, err := bindCreate(c, &req)
	if err != nil {
		return err
	}
	entry := &store.AuditLog{
		Action: req.Action, Resource: req.Resource, ResourceID: req.ResourceID, UserID: p.Subject, UserName: p.Name,
		Channel: store.ChannelAPI, TenantID: req.TenantID, OldValues: rawOrNil(req.OldValues),
		NewValues: rawOrNil(req.NewValues), Metadata: rawOrNil(req.Metadata), CreatedAt: s.d.Store.Now(),
	}
	if key := c.GetHeader("Idempotency-Key"); key != "" {
		if len(key) > maxIdemKey {
			return invalid(FieldError{"Idempotency-Key", "must be at most 200 bytes"})
		}
		// Hashed: the key is the caller's text, and event keys are bounded
		// and NUL-free for PostgreSQL.
		k := "api:" + uuid.NewSHA1(idempotencyNamespace, []byte(req.TenantID+"\x00"+p.Subject+"\x00"+key)).String()
		entry.EventKey = &k
	}
	out, err := s.d.Store.AppendAudit(c.Request.Context(), entry)
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, out)
	return nil
}

func (s *Server) listAudit(c *gin.Context) error {
	tenant, limit, cur, err := listParams(c)
	if err != nil {
		return err
	}
	rows, next, err := s.d.Store.ListAudit(c.Request.Context(), scopeOf(principal(c)),
		store.AuditQuery{TenantID: tenant, Limit: limit, Cursor: cur})
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, newList(rows, next))
	return nil
}

func (s *Server) resourceAudit(c *gin.Context) error {
	typ, id := c.Param("type"), c.Param("id")
	if !resourcePattern.MatchString(typ) || id == "" || len(id) > maxIDLength {
		return errNotFound
	}
	limit := 0
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxLimit {
			return invalid(FieldError{"limit", "must be a whole number from 1 to 200"})
		}
		limit = n
	}
	rows, err := s.d.Store.ResourceAudit(c.Request.Context(), scopeOf(principal(c)), typ, id, limit)
	if err != nil {
		return err
	}
	if rows == nil {
		rows = []store.AuditLog{}
	}
	c.JSON(http.StatusOK, gin.H{"items": rows})
	return nil
}
