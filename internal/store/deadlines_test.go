package store_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

// recordWithDeadline stores an approval of tenant in status whose deadline
// is offset from now (none when offset is 0). Deadlines sit minutes away
// from every window edge, so the database's clock and the store's agree.
func recordWithDeadline(t *testing.T, s *store.Store, tenant, status string, offset time.Duration) {
	t.Helper()
	a := newApproval(s, tenant, status)
	a.Status = status
	if offset != 0 {
		exp := s.Now().Add(offset)
		a.ExpiresAt = &exp
	}
	if _, _, err := s.RecordApproval(context.Background(), a, createdEntry(a)); err != nil {
		t.Fatalf("record %s approval of %s: %v", status, tenant, err)
	}
}

// Deadline counts take every tenant's waiting escalations and nothing else:
// decided, expired and withdrawn ones, and those without a deadline, are
// left out. On PostgreSQL this runs as the application role, under
// row-level security.
func TestDeadlineCounts(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		eng, support := "/teams/engineering", "/teams/support"
		counts := func(within time.Duration, wantNear, wantOverdue int64) {
			t.Helper()
			near, overdue, err := s.DeadlineCounts(ctx, within)
			if err != nil || near != wantNear || overdue != wantOverdue {
				t.Fatalf("within %s: near %d, overdue %d (%v), want %d and %d", within, near, overdue, err, wantNear, wantOverdue)
			}
		}
		counts(time.Hour, 0, 0)

		recordWithDeadline(t, s, eng, store.StatusPending, 30*time.Minute)           // near
		recordWithDeadline(t, s, support, store.StatusInfoRequested, 10*time.Minute) // near, another tenant
		recordWithDeadline(t, s, support, store.StatusPending, 2*time.Hour)          // beyond the window
		recordWithDeadline(t, s, eng, store.StatusPending, -5*time.Minute)           // overdue
		recordWithDeadline(t, s, support, store.StatusInfoRequested, -3*time.Hour)   // overdue, another tenant
		recordWithDeadline(t, s, eng, store.StatusPending, 0)                        // no deadline
		for _, ended := range []string{store.StatusApproved, store.StatusRejected, store.StatusExpired, store.StatusWithdrawn} {
			recordWithDeadline(t, s, eng, ended, 20*time.Minute)
			recordWithDeadline(t, s, support, ended, -20*time.Minute)
		}
		counts(time.Hour, 2, 2)
		counts(3*time.Hour, 3, 2)
		counts(15*time.Minute, 1, 2)

		if _, _, err := s.DeadlineCounts(ctx, 0); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("a zero window: want ErrInvalid, got %v", err)
		}
	})
}

// The function behind the PostgreSQL count reveals nothing but the two
// counts, to the application role only: PUBLIC cannot call it, its
// search_path is fixed, and calling it leaves the caller's reads scoped, even
// when the caller sets the setting the function uses.
func TestDeadlineCountsExposeNothingElse(t *testing.T) {
	s, conn := openPostgres(t)
	ctx := context.Background()
	recordWithDeadline(t, s, "/teams/engineering", store.StatusPending, 30*time.Minute)
	recordWithDeadline(t, s, "/teams/support", store.StatusPending, -30*time.Minute)

	if near, overdue, err := s.DeadlineCounts(ctx, time.Hour); err != nil || near != 1 || overdue != 1 {
		t.Fatalf("as the app role: near %d, overdue %d (%v), want 1 and 1", near, overdue, err)
	}
	if n, err := s.UnscopedCountForTest(ctx, "approvals"); err != nil || n != 0 {
		t.Fatalf("unscoped SELECT as the app role returned %d rows (%v): row-level security is not in force", n, err)
	}

	rows, err := conn.Query(ctx, "SELECT * FROM orchestrator_deadline_counts(interval '1 hour')")
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, f := range rows.FieldDescriptions() {
		cols = append(cols, f.Name)
	}
	n := 0
	for rows.Next() {
		n++
	}
	rows.Close()
	if err := rows.Err(); err != nil || strings.Join(cols, ",") != "near,overdue" || n != 1 {
		t.Fatalf("the function returns columns %v in %d rows (%v), want near,overdue in one row", cols, n, err)
	}

	// In one transaction with the call, and with the function's setting
	// forged, the app role still reads no other tenant's row.
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var near int64
	if err := tx.QueryRow(ctx, "SELECT near FROM orchestrator_deadline_counts(interval '1 hour')").Scan(&near); err != nil || near != 1 {
		t.Fatalf("near in a transaction: %d (%v), want 1", near, err)
	}
	for _, stmt := range []string{
		"SELECT count(*) FROM approvals",
		"SELECT count(*) FROM (SELECT set_config('app.deadline_counts', 'on', true)) AS forged, approvals",
		"SELECT count(*) FROM approvals WHERE current_setting('app.deadline_counts', true) = 'on'",
	} {
		var seen int64
		if err := tx.QueryRow(ctx, stmt).Scan(&seen); err != nil || seen != 0 {
			t.Fatalf("%s as the app role: %d rows (%v), want none", stmt, seen, err)
		}
	}

	var owner, user string
	var config, acl []string
	if err := conn.QueryRow(ctx, `SELECT p.proowner::regrole::text, current_user, coalesce(p.proconfig, '{}'),
			coalesce((SELECT array_agg(CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END || ':' || a.privilege_type)
			          FROM aclexplode(p.proacl) a), '{PUBLIC:EXECUTE}')
		FROM pg_proc p WHERE p.oid = 'orchestrator_deadline_counts(interval)'::regprocedure`).Scan(&owner, &user, &config, &acl); err != nil {
		t.Fatal(err)
	}
	if len(config) != 1 || config[0] != "search_path=pg_catalog, pg_temp" {
		t.Errorf("function settings %v, want the fixed search_path alone", config)
	}
	want := []string{owner + ":EXECUTE", user + ":EXECUTE"}
	slices.Sort(want)
	slices.Sort(acl)
	if strings.Join(acl, " ") != strings.Join(want, " ") {
		t.Errorf("privileges on the function: %v, want %v (no PUBLIC)", acl, want)
	}
}

// GrantAppRole refuses a SECURITY DEFINER function nobody planned: one that
// runs as the owner must be looked at before the application may call it.
func TestGrantAppRoleRefusesUnplannedDefinerFunctions(t *testing.T) {
	db := storetest.NewPostgres(t)
	ctx := context.Background()
	owner, err := store.Open(ctx, db.OwnerURL, store.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = owner.Close() })
	conn, err := pgx.Connect(ctx, db.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	appURL, err := url.Parse(db.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	app := appURL.User.Username()
	if _, err := conn.Exec(ctx, "CREATE FUNCTION peek() RETURNS bigint LANGUAGE sql SECURITY DEFINER AS 'SELECT 1::bigint'"); err != nil {
		t.Fatal(err)
	}
	if err := owner.GrantAppRole(ctx, app); err == nil || !strings.Contains(err.Error(), "peek()") {
		t.Fatalf("an unplanned SECURITY DEFINER function: want an error naming it, got %v", err)
	}
	if _, err := conn.Exec(ctx, "DROP FUNCTION peek()"); err != nil {
		t.Fatal(err)
	}
	if err := owner.GrantAppRole(ctx, app); err != nil {
		t.Fatalf("granting without it: %v", err)
	}
}
