package store_test

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// The store names what the driver says, so that no caller reads SQLSTATEs:
// failures that pass are ErrUnavailable, data exceptions ErrInvalid, and
// anything else comes back as it was.
func TestClassifyNamesDatabaseErrors(t *testing.T) {
	pg := func(code string) error {
		return fmt.Errorf("get approval: %w", &pgconn.PgError{Code: code, Message: "m"})
	}
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"connection failure", pg("08006"), store.ErrUnavailable},
		{"too many connections", pg("53300"), store.ErrUnavailable},
		{"backend terminated", pg("57P01"), store.ErrUnavailable},
		{"grants withdrawn", pg("42501"), store.ErrUnavailable},
		{"bad connection", fmt.Errorf("read: %w", driver.ErrBadConn), store.ErrUnavailable},
		{"data exception", pg("22001"), store.ErrInvalid},
		{"syntax error", pg("42601"), nil},
		{"unique violation", pg("23505"), nil},
		{"not found", fmt.Errorf("get: %w", store.ErrNotFound), store.ErrNotFound},
	} {
		got := store.Classify(tc.err)
		switch {
		case tc.want == nil && got != tc.err:
			t.Errorf("%s: %v came back as %v, want it unchanged", tc.name, tc.err, got)
		case tc.want != nil && !errors.Is(got, tc.want):
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
		if again := store.Classify(got); again != got {
			t.Errorf("%s: classifying twice changed %v into %v", tc.name, got, again)
		}
	}
	if store.Classify(nil) != nil {
		t.Error("nil must stay nil")
	}
}
