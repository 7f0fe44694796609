package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/trace"

	"github.com/orchestrator-dev/orchestrator/internal/auth"
)

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// requestContext gives every request an id (the caller's, if sane) and a
// logger carrying it, and writes one access log line.
func (s *Server) requestContext(c *gin.Context) {
	start := time.Now()
	id := c.GetHeader("X-Request-Id")
	if !requestIDPattern.MatchString(id) {
		id = newRequestID()
	}
	c.Set(ctxRequestID, id)
	c.Header("X-Request-Id", id)
	log := s.d.Log.With("request_id", id)
	if sc := trace.SpanContextFromContext(c.Request.Context()); sc.HasTraceID() {
		log = log.With("trace_id", sc.TraceID().String())
	}
	c.Set(ctxLogger, log)
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	attrs := []any{"method", c.Request.Method, "route", route, "status", c.Writer.Status(),
		"duration_ms", float64(time.Since(start).Microseconds()) / 1000, "bytes", c.Writer.Size()}
	if t := c.GetString(ctxTenant); t != "" {
		attrs = append(attrs, "tenant", t)
	}
	if w := c.GetString(ctxWorkflowID); w != "" {
		attrs = append(attrs, "workflow_id", w)
	}
	// The caller's sub is already on the logger (authenticate adds it).
	loggerFrom(c).Info("http request", attrs...)
}

func (s *Server) recover(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			writeProblem(c, fmt.Errorf("panic: %v", r))
		}
	}()
	c.Next()
}

// authenticate verifies the bearer token and stores the principal.
func (s *Server) authenticate(c *gin.Context) {
	raw, err := auth.ParseBearer(c.GetHeader("Authorization"))
	if err == nil {
		var p *auth.Principal
		p, err = s.d.Auth.Verify(c.Request.Context(), raw)
		if err == nil {
			c.Set(ctxPrincipal, p)
			c.Set(ctxLogger, loggerFrom(c).With("sub", p.Subject))
			c.Next()
			return
		}
	}
	var ae *auth.Error
	if !errors.As(err, &ae) {
		// Discovery or key fetch failed: not the caller's fault.
		loggerFrom(c).Error("token verification unavailable", "error", err.Error())
		writeProblem(c, problem(http.StatusServiceUnavailable, "auth_unavailable", "the identity provider cannot be reached; retry later"))
		return
	}
	writeProblem(c, err)
}
