package api

import (
	"github.com/gin-gonic/gin"

	"github.com/orchestrator-dev/orchestrator/internal/auth"
	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// Keys of what a request carries through its handlers; the access log reads
// the tenant and the workflow id.
const (
	ctxRequestID  = "requestId"
	ctxLogger     = "logger"
	ctxPrincipal  = "principal"
	ctxTenant     = "tenant"
	ctxWorkflowID = "workflow_id"
)

// principal is the authenticated caller; the auth middleware guarantees it.
func principal(c *gin.Context) *auth.Principal {
	return c.MustGet(ctxPrincipal).(*auth.Principal)
}

// scopeOf is the store scope of everything the caller may see.
func scopeOf(p *auth.Principal) store.Scope { return store.ScopeOf(p.TenantIDs()...) }

// logTenant and logWorkflow name, in the access log, the tenant and the
// workflow a request acted on.
func logTenant(c *gin.Context, tenant string)       { c.Set(ctxTenant, tenant) }
func logWorkflow(c *gin.Context, workflowID string) { c.Set(ctxWorkflowID, workflowID) }
