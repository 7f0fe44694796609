package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Audit handlers: services append their own entries; everyone reads the
// trail of their tenants.

func (s *Server) createAudit(c *gin.Context) error {
	var req createAuditRequest
	p, err := bindCreate(c, &req)
	if err != nil {
		return err
	}
	if store.ReservedAction(req.Action) {
		return problem(http.StatusBadRequest, "reserved_action",
			"actions under %q are written by the orchestrator itself; name yours after your service (e.g. ticket.updated)", strings.SplitN(req.Action, ".", 2)[0]+".")
	}
	if store.ReservedResource(req.Resource) {
		return problem(http.StatusBadRequest, "reserved_resource",
			"%q entries are written by the orchestrator itself; name your service's own resources (e.g. ticket)", req.Resource)
	}
	// api-client: the API vouches for who wrote the entry, not for what it
	// says, and a reader can tell it from what the orchestrator recorded.
	entry := &store.AuditLog{
		Action: req.Action, Resource: req.Resource, ResourceID: req.ResourceID, UserID: p.Subject, UserName: p.Name,
		Channel: store.ChannelAPIClient, TenantID: req.TenantID, OldValues: rawOrNil(req.OldValues),
		NewValues: rawOrNil(req.NewValues), Metadata: rawOrNil(req.Metadata), CreatedAt: s.d.Store.Now(),
	}
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	if key != "" {
		// Hashed: the key is the caller's text, and event keys are bounded
		// and NUL-free for PostgreSQL.
		k := "api:" + keyedID(keyedAudit, req.TenantID, p.Subject, key)
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
	limit, err := limitParam(c)
	if err != nil {
		return err
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

// auditorTenant reads the tenant of the chain routes (verify, export): the
// caller must be a member and hold approver authority there, as for any
// other act of oversight of the tenant. Only the named query parameters are
// accepted.
func auditorTenant(c *gin.Context, allowed ...string) (string, error) {
	if err := onlyQuery(c, append([]string{"tenantId"}, allowed...)...); err != nil {
		return "", err
	}
	tenant := c.Query("tenantId")
	var f fields
	if f.tenantID("tenantId", tenant); len(f) > 0 {
		return "", f.err()
	}
	caller := principal(c)
	switch {
	case !caller.MemberOf(tenant):
		return "", errNotMember
	case !caller.CanApprove(tenant):
		return "", problem(http.StatusForbidden, "role_required", "checking the audit trail of %s requires approver authority there", tenant)
	}
	logTenant(c, tenant)
	return tenant, nil
}

// verifyAudit walks the tenant's hash chain and compares it with the
// anchors its escalations recorded in Temporal.
func (s *Server) verifyAudit(c *gin.Context) error {
	tenant, err := auditorTenant(c)
	if err != nil {
		return err
	}
	ctx := c.Request.Context()
	scope := scopeOf(principal(c))
	v, err := s.d.Store.VerifyAudit(ctx, scope, tenant)
	if err != nil {
		return err
	}
	if s.d.Temporal == nil {
		v.AnchorsSkipped = "no Temporal client"
	} else if anchors, err := contract.AuditAnchors(ctx, s.d.Temporal, s.d.TaskQueue, tenant, contract.MaxAnchors); err != nil {
		// The chain itself was checked; say plainly that the anchors were not.
		loggerFrom(c).Warn("Audit anchors unavailable", "error", err.Error())
		v.AnchorsSkipped = "Temporal did not answer"
	} else if err := s.d.Store.CheckAnchors(ctx, scope, v, anchors); err != nil {
		return err
	}
	c.JSON(http.StatusOK, v)
	return nil
}

// exportAudit streams the tenant's chain as JSON Lines, one AuditRecord per
// line, in seq order (docs/audit.md tells how to verify it offline).
func (s *Server) exportAudit(c *gin.Context) error {
	tenant, err := auditorTenant(c, "from", "to")
	if err != nil {
		return err
	}
	var from, to time.Time
	var f fields
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := c.Query(p.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				f = append(f, FieldError{p.name, "must be an RFC 3339 time"})
				continue
			}
			*p.dst = t
		}
	}
	if len(f) == 0 && !from.IsZero() && !to.IsZero() && !from.Before(to) {
		f = append(f, FieldError{"to", "must be after from"})
	}
	if len(f) > 0 {
		return f.err()
	}
	w := c.Writer
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	started := false
	err = s.d.Store.ExportAudit(c.Request.Context(), scopeOf(principal(c)), tenant, from, to, func(r *store.AuditRecord) error {
		if !started {
			started = true
			w.Header().Set("Content-Type", "application/jsonl")
			w.Header().Set("Content-Disposition", `attachment; filename="audit.jsonl"`)
			w.WriteHeader(http.StatusOK)
		}
		return enc.Encode(r)
	})
	switch {
	case err != nil && started:
		// Half an export must not pass for a whole one (a prefix of a
		// chain verifies): break the response off so the client sees it.
		loggerFrom(c).Error("Audit export broken off", "error", err.Error())
		panic(http.ErrAbortHandler)
	case err != nil:
		return err
	case !started:
		w.Header().Set("Content-Type", "application/jsonl")
		w.Header().Set("Content-Disposition", `attachment; filename="audit.jsonl"`)
		w.WriteHeader(http.StatusOK)
	}
	return nil
}
