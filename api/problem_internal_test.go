package api

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/api/serviceerror"
)

// Failures that pass (a backend cut, a timed-out update, Temporal away) are
// 503 with Retry-After, so clients retry; never a bare 500.
func TestTransientFailuresAre503(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("get approval: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}),
		fmt.Errorf("read: %w", &pgconn.PgError{Code: "08006", Message: "connection failure"}),
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
