package app_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orchestrator-dev/orchestrator/internal/app"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

// `migrate` with DATABASE_OWNER_URL creates the tables as the owner and gives
// DATABASE_URL's role only what the application needs: connected as that
// role, row-level security cannot be switched off. Without the owner URL, the
// application role can neither migrate an empty database (the error says
// what to set) nor needs to for an up-to-date one.
func TestMigrateAsOwnerGrantsTheAppRole(t *testing.T) {
	db := storetest.NewEmptyPostgres(t)
	ctx := context.Background()
	run := func(env map[string]string) (string, error) {
		var out bytes.Buffer
		err := app.RunWithEnv(ctx, []string{"migrate"}, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &out, io.Discard)
		return out.String(), err
	}

	if _, err := run(map[string]string{"DATABASE_URL": db.AppURL}); err == nil || !strings.Contains(err.Error(), "DATABASE_OWNER_URL") {
		t.Fatalf("migrate as the app role on an empty database: want an error pointing at DATABASE_OWNER_URL, got %v", err)
	}
	out, err := run(map[string]string{"DATABASE_URL": db.AppURL, "DATABASE_OWNER_URL": db.OwnerURL})
	if err != nil {
		t.Fatalf("migrate as the owner: %v", err)
	}
	if !strings.Contains(out, "migrations applied: [1 ") {
		t.Fatalf("migrate printed %q", out)
	}
	if out, err := run(map[string]string{"DATABASE_URL": db.AppURL}); err != nil || !strings.Contains(out, "migrations applied: []") {
		t.Fatalf("migrate as the app role on an up-to-date database: %q, %v", out, err)
	}

	conn, err := pgx.Connect(ctx, db.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{
		"ALTER TABLE approvals DISABLE ROW LEVEL SECURITY",
		"ALTER TABLE approvals NO FORCE ROW LEVEL SECURITY",
		"DELETE FROM audit_logs",
	} {
		_, err := conn.Exec(ctx, sql)
		var pg *pgconn.PgError
		if !errors.As(err, &pg) || pg.Code != "42501" {
			t.Errorf("%s as the app role: want insufficient_privilege, got %v", sql, err)
		}
	}
	if _, err := conn.Exec(ctx, "SELECT count(*) FROM approvals"); err != nil {
		t.Errorf("the app role cannot read approvals: %v", err)
	}
}
