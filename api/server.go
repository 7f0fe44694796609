// Package api is the thin HTTP face of the orchestrator: it authenticates the
// caller, validates input, starts workflows and delivers updates to them, and
// reads the database. Business rules live in the workflows.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/client"

	"github.com/orchestrator-dev/orchestrator/internal/auth"
	"github.com/orchestrator-dev/orchestrator/internal/config"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Authenticator verifies bearer tokens.
type Authenticator interface {
	Verify(ctx context.Context, rawToken string) (*auth.Principal, error)
	Ready(ctx context.Context) error
}

// ChatwootNoteFunc posts a private note to a conversation; echoID marks it
// as the orchestrator's, so that its webhook echo is never a trigger.
type ChatwootNoteFunc func(ctx context.Context, conv store.Conversation, echoID, text string) error

// JoinUser is who a join link is for.
type JoinUser struct {
	ID, Name, Email string
	Moderator       bool
}

// JoinURLFunc issues a Jitsi join link for one user of a room.
type JoinURLFunc func(room string, u JoinUser) (string, error)

// Deps is everything the API needs.
type Deps struct {
	Store    *store.Store
	Temporal client.Client
	Auth     Authenticator
	JoinURL  JoinURLFunc
	Log      *slog.Logger

	TaskQueue string
	// ApproverRole names the role in messages; who approves where is the
	// principal's (auth.Approvers).
	ApproverRole string
	// DecisionKey seals the decisions the API sends (contract.DecisionKey).
	DecisionKey              contract.DecisionKey
	ConsultationMaxDuration  time.Duration
	ConsultationStartTimeout time.Duration
	// DefaultPolicy is the approval policy of a tenant that stored none
	// (APPROVAL_TTL, APPROVAL_MAX_TTL, APPROVAL_REMINDERS); unset, the
	// built-in defaults of those variables.
	DefaultPolicy store.Policy
	// PolicyMaxTTLCeiling is the longest maxTtl a tenant may set
	// (POLICY_MAX_TTL_CEILING); unset, config.DefaultPolicyMaxTTLCeiling.
	PolicyMaxTTLCeiling time.Duration
	// CreateRateLimit bounds the escalations one caller creates in one
	// tenant (CREATE_RATE_LIMIT); the zero value is no limit.
	CreateRateLimit config.RateLimit
	// Timeout bounds one request's work (default 30s).
	Timeout time.Duration

	Webhooks Webhooks
	// Directory finds people who send no token (Matrix deciders, Chatwoot
	// agents); nil refuses Matrix decisions and leaves agents unmapped.
	Directory Directory
	// MatrixNotice answers Matrix commands in their room; nil stays silent.
	MatrixNotice MatrixNoticeFunc
	// ChatwootNote posts a private note to a Chatwoot conversation (why an
	// escalation was refused); nil stays silent.
	ChatwootNote ChatwootNoteFunc

	// Events starts the delivery of a subscription's events
	// (internal/events); nil: nothing is started (tests).
	Events EventDelivery
	// EventsAllowPrivate lets subscriptions use http and point at private,
	// loopback and link-local addresses (EVENTS_ALLOW_PRIVATE; dev).
	EventsAllowPrivate bool
	// Resolve looks up the host of a subscription's URL; nil: the system
	// resolver.
	Resolve ResolveFunc

	// Extra routes are added by the caller.
	Extend func(r *gin.Engine, api *gin.RouterGroup)

	// Middleware runs first on every request, before the request id and the
	// access log: the tracing span and the HTTP metrics.
	Middleware []gin.HandlerFunc
	// Metrics, when set, is served at GET /metrics without authentication.
	Metrics http.Handler
}

// Server holds the handlers.
type Server struct {
	d Deps
}

// New builds the HTTP handler.
func New(d Deps) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Timeout <= 0 {
		d.Timeout = 30 * time.Second
	}
	s := &Server{d: d}
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.RemoveExtraSlash = true
	// Redirects answer in HTML; a path that doesn't match is a problem+json 404.
	r.RedirectTrailingSlash = false
	s.registerMetrics(r) // before the middleware: see registerMetrics
	r.Use(slices.Concat(d.Middleware, []gin.HandlerFunc{s.requestContext, s.recover})...)
	r.NoRoute(func(c *gin.Context) { writeProblem(c, errNotFound) })
	r.NoMethod(func(c *gin.Context) {
		writeProblem(c, problem(http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed here", c.Request.Method))
	})

	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	r.GET("/api/openapi.json", func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=300")
		c.Data(http.StatusOK, "application/json", OpenAPIDocument())
	})

	// Webhook receivers authenticate by signature, not by bearer token.
	s.registerWebhooks(r, r.Group("/api"))

	api := r.Group("/api", s.authenticate)
	api.GET("/me", s.handle(s.me))
	api.POST("/approvals", s.handle(s.createApproval))
	api.GET("/approvals", s.handle(s.listApprovals))
	api.GET("/approvals/:id", s.handle(s.getApproval))
	api.PATCH("/approvals/:id", s.handle(s.decideApproval))
	api.POST("/approvals/:id/withdraw", s.handle(s.withdrawApproval))
	api.POST("/approvals/:id/request-info", s.handle(s.requestInfo))
	api.POST("/approvals/:id/provide-info", s.handle(s.provideInfo))
	api.POST("/audit", s.handle(s.createAudit))
	api.GET("/audit", s.handle(s.listAudit))
	api.GET("/audit/resource/:type/:id", s.handle(s.resourceAudit))
	api.GET("/audit/verify", s.handle(s.verifyAudit))
	api.GET("/audit/export", s.handle(s.exportAudit))
	api.POST("/consultations", s.handle(s.createConsultation))
	api.GET("/consultations", s.handle(s.listConsultations))
	api.GET("/consultations/:id", s.handle(s.getConsultation))
	api.POST("/consultations/:id/start", s.handle(s.startConsultation))
	api.POST("/consultations/:id/end", s.handle(s.endConsultation))
	api.GET("/policies", s.handle(s.getPolicy))
	api.PUT("/policies", s.handle(s.putPolicy))
	api.POST("/subscriptions", s.handle(s.createSubscription))
	api.GET("/subscriptions", s.handle(s.listSubscriptions))
	api.GET("/subscriptions/:id", s.handle(s.getSubscription))
	api.PATCH("/subscriptions/:id", s.handle(s.updateSubscription))
	api.DELETE("/subscriptions/:id", s.handle(s.deleteSubscription))
	api.POST("/subscriptions/:id/rotate-secret", s.handle(s.rotateSecret))
	api.GET("/subscriptions/:id/deliveries", s.handle(s.listDeliveries))
	api.POST("/subscriptions/:id/deliveries/:deliveryId/redeliver", s.handle(s.redeliver))
	if d.Extend != nil {
		d.Extend(r, api)
	}
	return r
}

// handle adapts a handler that returns an error.
func (s *Server) handle(fn func(c *gin.Context) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), s.d.Timeout)
		defer cancel()
		c.Request = c.Request.WithContext(ctx)
		if err := fn(c); err != nil {
			writeProblem(c, err)
		}
	}
}

func (s *Server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	checks := map[string]string{}
	ok := true
	check := func(name string, err error) {
		if err != nil {
			ok = false
			checks[name] = "unavailable"
			loggerFrom(c).Warn("readiness check failed", "check", name, "error", err.Error())
			return
		}
		checks[name] = "ok"
	}
	check("database", s.d.Store.Ping(ctx))
	_, err := s.d.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{})
	check("temporal", err)
	if s.d.Auth != nil {
		check("oidc", s.d.Auth.Ready(ctx))
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	c.JSON(status, gin.H{"status": map[bool]string{true: "ready", false: "not ready"}[ok], "checks": checks})
}
