package api

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/orchestrator-dev/orchestrator/internal/store"
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
