package store_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

// The application role is not the tables' owner: it cannot switch row-level
// security off, drop or change the policies, or rewrite the audit trail.
func TestAppRoleCannotSwitchRowLevelSecurityOff(t *testing.T) {
	_, conn := openPostgres(t)
	ctx := context.Background()

	var super, bypass bool
	var owned int
	if err := conn.QueryRow(ctx, `SELECT r.rolsuper, r.rolbypassrls,
			(SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid AND c.relkind = 'r')
		FROM pg_roles r WHERE r.rolname = current_user`).Scan(&super, &bypass, &owned); err != nil {
		t.Fatal(err)
	}
	if super || bypass || owned != 0 {
		t.Fatalf("the app role is superuser=%v bypassrls=%v and owns %d tables", super, bypass, owned)
	}

	refused := func(sql string) {
		t.Helper()
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		_, err = tx.Exec(ctx, sql)
		var pg *pgconn.PgError
		if !errors.As(err, &pg) || pg.Code != "42501" {
			t.Errorf("%s: want insufficient_privilege (42501), got %v", sql, err)
		}
	}
	for _, table := range []string{"approvals", "audit_logs", "consultations", "notifications"} {
		refused("ALTER TABLE " + table + " DISABLE ROW LEVEL SECURITY")
		refused("ALTER TABLE " + table + " NO FORCE ROW LEVEL SECURITY")
		refused("DROP POLICY tenant_isolation ON " + table)
		refused("ALTER POLICY tenant_isolation ON " + table + " USING (true)")
		refused("CREATE POLICY everything ON " + table + " USING (true)")
		refused("DELETE FROM " + table)
		refused("TRUNCATE " + table)
	}
	// The audit trail is append-only for the application.
	refused("UPDATE audit_logs SET action = 'approval.approved'")
	refused("CREATE TABLE shadow (id int)")
}

// The application still works as that role: a scoped write and read.
func TestAppRoleReadsAndWrites(t *testing.T) {
	s, conn := openPostgres(t)
	ctx := context.Background()
	a := newApproval(s, "/teams/support", "refund")
	if _, _, err := s.RecordApproval(ctx, a, createdEntry(a)); err != nil {
		t.Fatalf("record approval as the app role: %v", err)
	}
	var user string
	if err := conn.QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(user, "owner") {
		t.Fatalf("connected as %s, want the app role", user)
	}
	// migrate as the app role is a no-op on an up-to-date database: it
	// needs no right to create tables.
	if applied, err := s.Migrate(ctx); err != nil || len(applied) != 0 {
		t.Fatalf("migrate as the app role: applied %v, err %v", applied, err)
	}
}

// GrantAppRole refuses roles that row-level security would not bind, and
// tables nobody planned privileges for.
func TestGrantAppRole(t *testing.T) {
	db := storetest.NewPostgres(t)
	ctx := context.Background()
	owner, err := store.Open(ctx, db.OwnerURL, store.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = owner.Close() })
	var self string
	conn, err := pgx.Connect(ctx, db.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	if err := conn.QueryRow(ctx, "SELECT current_user").Scan(&self); err != nil {
		t.Fatal(err)
	}
	if err := owner.GrantAppRole(ctx, self); !errors.Is(err, store.ErrPrivilegedRole) {
		t.Errorf("granting to the migrating role itself: want ErrPrivilegedRole, got %v", err)
	}
	if err := owner.GrantAppRole(ctx, "no_such_role_"+self); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("granting to a missing role: %v", err)
	}
	app, err := url.Parse(db.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE side_notes (tenant_id text)"); err != nil {
		t.Fatal(err)
	}
	err = owner.GrantAppRole(ctx, app.User.Username())
	if err == nil || !strings.Contains(err.Error(), "side_notes") {
		t.Fatalf("a table without planned privileges: want an error naming it, got %v", err)
	}
	if _, err := conn.Exec(ctx, "DROP TABLE side_notes"); err != nil {
		t.Fatal(err)
	}
	if err := owner.GrantAppRole(ctx, app.User.Username()); err != nil {
		t.Fatalf("granting again: %v", err)
	}
}
