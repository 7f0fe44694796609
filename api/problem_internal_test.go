package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/orchestrator-dev/orchestrator/internal/domain"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Failures that pass (a backend cut, a timed-out update, Temporal away) are
// 503 with Retry-After, so clients retry; never a bare 500.
func TestTransientFailuresAre503(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("get approval: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}),
		fmt.Errorf("read: %w", &pgconn.PgError{Code: "08006", Message: "connection failure"}),
		fmt.Errorf("read: %w", &pgconn.PgError{Code: "42501", Message: "permission denied for table approvals"}),
		fmt.Errorf("read: %w", &pgconn.PgError{Code: "53300", Message: "too many connections"}),
		serviceerror.NewDeadlineExceeded("deadline"),
		serviceerror.NewUnavailable("down"),
		fmt.Errorf("update: %w", context.DeadlineExceeded),
	} {
		he := toHTTPError(err)
		if he.status != http.StatusServiceUnavailable || he.header["Retry-After"] == "" {
			t.Errorf("%v: want 503 with Retry-After, got %d", err, he.status)
		}
	}
	if he := toHTTPError(fmt.Errorf("boom")); he.status != http.StatusInternalServerError {
		t.Errorf("an unknown error stays 500, got %d", he.status)
	}
}

// What a database or Temporal error says about the schema, the queries or the
// network stays in the log: the client gets a generic sentence, the code and
// the request id to quote. 503s keep Retry-After.
func TestProblemBodiesCarryNoInternalText(t *testing.T) {
	const sql = `INSERT INTO "approvals" ("id","tenant_id") VALUES ($1,$2)`
	pgSyntax := &pgconn.PgError{Severity: "ERROR", Code: "42601", Message: `syntax error at or near "approvals"`,
		InternalQuery: sql, Detail: "Key (tenant_id)=(/teams/secret) already exists.", TableName: "approvals"}
	tests := []struct {
		name       string
		err        error
		status     int
		retryAfter bool
		secrets    []string
	}{
		{"unmapped database error", fmt.Errorf("record approval: %w", pgSyntax), http.StatusInternalServerError, false,
			[]string{"syntax error", "INSERT INTO", "/teams/secret", "42601"}},
		{"backend terminated", fmt.Errorf("list approvals: %w", &pgconn.PgError{Code: "57P01",
			Message: "terminating connection due to administrator command", InternalQuery: sql}), http.StatusServiceUnavailable, true,
			[]string{"terminating connection", "INSERT INTO", "list approvals", "57P01"}},
		{"5xx built with internal text", problem(http.StatusServiceUnavailable, "unavailable",
			"dial tcp 10.0.7.12:5432: connect: connection refused: %s", sql), http.StatusServiceUnavailable, false,
			[]string{"10.0.7.12", "INSERT INTO", "connection refused"}},
		{"data exception from the store", fmt.Errorf("record approval: %w: %s (SQLSTATE %s)", store.ErrInvalid,
			`invalid input syntax for type uuid: "x'); SELECT * FROM audit_logs; --"`, "22P02"), http.StatusBadRequest, false,
			[]string{"SELECT * FROM", "audit_logs", "SQLSTATE", "invalid input syntax", "record approval"}},
		{"data exception through an activity", temporal.NewNonRetryableApplicationError(
			`record decision: invalid value: value too long for type character varying(256) (SQLSTATE 22001)`, "Invalid", nil),
			http.StatusBadRequest, false, []string{"character varying", "SQLSTATE", "record decision"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			c.Request = httptest.NewRequest(http.MethodGet, "/api/approvals", nil)
			c.Set(ctxRequestID, "req-7f3a")
			c.Set(ctxLogger, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))

			writeProblem(c, tt.err)

			if w.Code != tt.status {
				t.Fatalf("status %d, want %d", w.Code, tt.status)
			}
			body := w.Body.String()
			for _, s := range tt.secrets {
				if strings.Contains(body, s) {
					t.Errorf("response body reveals %q:\n%s", s, body)
				}
			}
			var p Problem
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
				t.Fatalf("body is not a problem: %v\n%s", err, body)
			}
			if p.RequestID != "req-7f3a" || p.Detail == "" || p.Code == "" {
				t.Errorf("problem = %+v, want a detail, a code and the request id", p)
			}
			if tt.status >= 500 && !strings.Contains(p.Detail, "req-7f3a") {
				t.Errorf("5xx detail %q does not name the request id", p.Detail)
			}
			if got := w.Header().Get("Retry-After"); (got != "") != (tt.status == http.StatusServiceUnavailable) {
				t.Errorf("Retry-After = %q on a %d", got, tt.status)
			}
			// The first secret is what the error's own text says: the log keeps it.
			if !strings.Contains(logs.String(), tt.secrets[0]) {
				t.Errorf("the log lost the detail %q:\n%s", tt.secrets[0], logs.String())
			}
		})
	}
}

// Every refusal, from the decision authority or from the workflow, becomes
// the same status and code, in the one place (refused): the handlers spell
// none. The codes and statuses are the API's contract.
func TestRefusalsBecomeStatusesInOnePlace(t *testing.T) {
	for _, tc := range []struct {
		refusal *domain.Refusal
		errType string // the workflow's, "" when it never sends it
		status  int
	}{
		{domain.ErrNotVisible, "", http.StatusNotFound},
		{domain.ErrNotApprover, "", http.StatusForbidden},
		{domain.ErrSelfDecision, contract.ErrTypeSelfDecision, http.StatusForbidden},
		{domain.ErrNotRequester, contract.ErrTypeNotRequester, http.StatusForbidden},
		{domain.ErrDecided, contract.ErrTypeAlreadyDecided, http.StatusConflict},
		{domain.ErrNotWaiting, contract.ErrTypeInvalidTransition, http.StatusConflict},
		{domain.ErrExpired, contract.ErrTypeExpired, http.StatusConflict},
		{domain.ErrTooManyQuestions, contract.ErrTypeTooManyQuestions, http.StatusConflict},
		{domain.ErrInvalidDecision, contract.ErrTypeInvalidDecision, http.StatusBadRequest},
	} {
		code := string(tc.refusal.Code)
		if he := toHTTPError(fmt.Errorf("decide: %w", tc.refusal)); he.status != tc.status || he.code != code {
			t.Errorf("%s from the authority: %d %s, want %d %s", tc.refusal.Code, he.status, he.code, tc.status, code)
		}
		if tc.errType == "" {
			continue
		}
		wf := contract.RefusalError(tc.refusal)
		var app *temporal.ApplicationError
		if !errors.As(wf, &app) || app.Type() != tc.errType {
			t.Errorf("%s: the workflow sends %v, want type %s", tc.refusal.Code, wf, tc.errType)
		}
		if he := toHTTPError(wf); he.status != tc.status || he.code != code {
			t.Errorf("%s from the workflow: %d %s, want %d %s", tc.refusal.Code, he.status, he.code, tc.status, code)
		}
	}
}
