package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/orchestrator-dev/orchestrator/internal/auth"
	"github.com/orchestrator-dev/orchestrator/internal/domain"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Problem is an RFC 9457 problem details document. Code is a stable,
// machine-readable extension member; Errors lists field problems.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	Instance  string       `json:"instance,omitempty"`
	Code      string       `json:"code"`
	RequestID string       `json:"requestId,omitempty"`
	Errors    []FieldError `json:"errors,omitempty"`
}

// FieldError names one invalid field of a request.
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// httpError is an error that already knows its response.
type httpError struct {
	status int
	code   string
	detail string
	fields []FieldError
	header map[string]string
}

func (e *httpError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.detail) }

func problem(status int, code, format string, args ...any) *httpError {
	return &httpError{status: status, code: code, detail: fmt.Sprintf(format, args...)}
}

func invalid(fields ...FieldError) *httpError {
	detail := "the request is not valid"
	if len(fields) == 1 {
		detail = fields[0].Field + ": " + fields[0].Detail
	} else if len(fields) > 1 {
		detail = fmt.Sprintf("%d fields are not valid; see errors", len(fields))
	}
	return &httpError{status: http.StatusBadRequest, code: "validation_failed", detail: detail, fields: fields}
}

var (
	errNotFound = problem(http.StatusNotFound, "not_found", "no such resource")
	// errInvalidValue stands for a value the database refused (PostgreSQL
	// data exceptions): its message quotes the database and, through an
	// activity, the operation, so the detail stays in the log.
	errInvalidValue = problem(http.StatusBadRequest, "invalid_value",
		"a value does not fit what the database stores (too long, out of range or malformed)")
	errNotMember    = problem(http.StatusForbidden, "tenant_forbidden", "you are not a member of this tenant")
	errNeedApprover = func(role string) *httpError {
		return problem(http.StatusForbidden, "role_required", "deciding an escalation requires the %q role", role)
	}
)

// toHTTPError maps every error a handler can return to its response: the one
// place where errors become statuses.
func toHTTPError(err error) *httpError {
	var he *httpError
	if errors.As(err, &he) {
		return he
	}
	// Errors that reached here without passing the store's reads and
	// writes (a connection that failed before any query) may still carry
	// the driver's: the store names them.
	err = store.Classify(err)
	var ae *auth.Error
	if errors.As(err, &ae) {
		return &httpError{status: http.StatusUnauthorized, code: "invalid_token", detail: ae.Reason,
			header: map[string]string{"WWW-Authenticate": `Bearer error="invalid_token"`}}
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errNotFound
	case errors.Is(err, store.ErrBadCursor):
		return invalid(FieldError{"cursor", "is not a cursor this API returned"})
	case errors.Is(err, store.ErrInvalid):
		return errInvalidValue
	case errors.Is(err, store.ErrLimitReached):
		return problem(http.StatusConflict, "limit_reached", "%s", conflictDetail(err))
	case errors.Is(err, store.ErrConflict):
		return problem(http.StatusConflict, "conflict", "%s", conflictDetail(err))
	}
	var refusal *domain.Refusal
	if errors.As(err, &refusal) {
		return refused(refusal.Code, err.Error())
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		if code, ok := contract.RefusalCode(app.Type()); ok {
			return refused(code, app.Message())
		}
		switch app.Type() {
		case contract.ErrTypeConflict:
			return problem(http.StatusConflict, "conflict", "%s", app.Message())
		case contract.ErrTypeNotFound:
			return errNotFound
		case contract.ErrTypeInvalid:
			return errInvalidValue
		}
	}
	var completed *serviceerror.NotFound
	if errors.As(err, &completed) {
		return problem(http.StatusConflict, "closed", "the resource can no longer change")
	}
	var (
		unavailable   *serviceerror.Unavailable
		deadline      *serviceerror.DeadlineExceeded
		updateTimeout *client.WorkflowUpdateServiceTimeoutOrCanceledError
	)
	// The database gone (store.Classify says which of its failures pass)
	// is as much a 503 as Temporal gone: the client's request was fine.
	if errors.As(err, &unavailable) || errors.As(err, &deadline) || errors.As(err, &updateTimeout) ||
		errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		return &httpError{status: http.StatusServiceUnavailable, code: "unavailable",
			detail: "a backing service did not answer in time", header: map[string]string{"Retry-After": retryAfterSeconds}}
	}
	return &httpError{status: http.StatusInternalServerError, code: "internal", detail: "unclassified error"}
}

// refused is the response to a refusal of the domain's rules, by its code:
// the one place a refusal code becomes a status.
func refused(code domain.Code, detail string) *httpError {
	status := http.StatusConflict
	switch code {
	case domain.CodeNotFound:
		return errNotFound
	case domain.CodeInvalidDecision:
		status = http.StatusBadRequest
	case domain.CodeRoleRequired, domain.CodeSeparationOfDuties, domain.CodeNotRequester:
		status = http.StatusForbidden
	}
	return &httpError{status: status, code: string(code), detail: detail}
}

func conflictDetail(err error) string {
	msg := err.Error()
	if i := len(msg); i > 300 {
		msg = msg[:300]
	}
	return msg
}

// writeProblem sends err as problem+json, logging server errors with detail.
//
// A 5xx never carries its error's text: whatever failed (a database, Temporal,
// the issuer) may have put queries, schema names or addresses into it. The
// client gets a generic sentence with the request id to quote; the log line
// with the same request id gets the rest.
func writeProblem(c *gin.Context, err error) {
	he := toHTTPError(err)
	log := loggerFrom(c)
	requestID := c.GetString(ctxRequestID)
	detail := he.detail
	if he.status >= 500 {
		log.Error("request failed", "error", err.Error(), "status", he.status, "code", he.code, "detail", he.detail)
		detail = serverErrorDetail(he.status, requestID)
	} else {
		log.Debug("request refused", "error", err.Error(), "status", he.status)
	}
	for k, v := range he.header {
		c.Header(k, v)
	}
	if he.status == http.StatusServiceUnavailable && he.header["Retry-After"] == "" {
		// Every 503 is worth retrying: say when.
		c.Header("Retry-After", retryAfterSeconds)
	}
	p := Problem{
		Type: "about:blank", Title: http.StatusText(he.status), Status: he.status, Detail: detail,
		Code: he.code, Instance: c.Request.URL.Path, RequestID: requestID, Errors: he.fields,
	}
	c.Header("Content-Type", "application/problem+json")
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(he.status, p)
}

// retryAfterSeconds is what a 503 asks clients to wait.
const retryAfterSeconds = "2"

// serverErrorDetail is the whole detail a client sees of a 5xx.
func serverErrorDetail(status int, requestID string) string {
	msg := "internal error"
	if status == http.StatusServiceUnavailable {
		msg = "a backing service is unavailable; retry later"
	}
	if requestID == "" {
		return msg
	}
	return msg + " (request id " + requestID + ")"
}

func loggerFrom(c *gin.Context) *slog.Logger {
	if l, ok := c.Get(ctxLogger); ok {
		return l.(*slog.Logger)
	}
	return slog.Default()
}
