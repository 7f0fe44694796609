package store_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite" // the driver under the store's SQLite dialect

	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// The lifecycle migration rebuilds approvals on SQLite (a CHECK constraint
// cannot change in place) under a table consultations reference: a database
// migrated before it keeps every row and every reference.
func TestSQLiteLifecycleMigrationKeepsRowsAndReferences(t *testing.T) {
	path := filepath.Join(t.TempDir(), "upgrade.db")
	db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	all, err := store.Migrations(store.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version integer PRIMARY KEY, name varchar(200) NOT NULL, applied_at varchar(40) NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if m.Version >= 6 {
			break
		}
		if _, err := db.Exec(m.SQL); err != nil {
			t.Fatalf("migration %d: %v", m.Version, err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations VALUES (?, ?, ?)`, m.Version, m.Name, "2026-01-01T00:00:00Z"); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC().Format("2006-01-02 15:04:05.999999999-07:00")
	if _, err := db.Exec(`INSERT INTO approvals (id, tenant_id, title, status, priority, requested_by, created_at, updated_at)
		VALUES ('0190d0c8-7d2b-7c3e-9f00-5b2f1c3d4e5f', '/teams/support', 'Before the upgrade', 'approved', 'high', 'agent-1', ?, ?)`, now, now); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO consultations (id, title, jitsi_room, status, host_id, participant_ids, approval_id, tenant_id, created_at, updated_at)
		VALUES ('0190d0c8-7d2b-7c3e-9f00-5b2f1c3d4e60', 'Call', 'room', 'scheduled', 'ceo-1', '[]', '0190d0c8-7d2b-7c3e-9f00-5b2f1c3d4e5f', '/teams/support', ?, ?)`, now, now); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := store.Open(context.Background(), "sqlite://"+path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	applied, err := s.Migrate(context.Background())
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if !slices.Contains(applied, 6) {
		t.Fatalf("applied %v, want 6 among them", applied)
	}
	scope := store.ScopeOf("/teams/support")
	ap, err := s.GetApproval(context.Background(), scope, "0190d0c8-7d2b-7c3e-9f00-5b2f1c3d4e5f")
	if err != nil || ap.Title != "Before the upgrade" || ap.Status != store.StatusApproved {
		t.Fatalf("the approval after the upgrade: %+v %v", ap, err)
	}
	c, err := s.GetConsultation(context.Background(), scope, "0190d0c8-7d2b-7c3e-9f00-5b2f1c3d4e60")
	if err != nil || c.ApprovalID == nil || *c.ApprovalID != "0190d0c8-7d2b-7c3e-9f00-5b2f1c3d4e5f" {
		t.Fatalf("the consultation after the upgrade: %+v %v", c, err)
	}
	// Foreign keys are on again, and the new statuses are accepted.
	db, err = sql.Open("sqlite", path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO consultations (id, title, jitsi_room, status, host_id, participant_ids, approval_id, tenant_id, created_at, updated_at)
		VALUES ('0190d0c8-7d2b-7c3e-9f00-5b2f1c3d4e61', 'Call', 'room2', 'scheduled', 'ceo-1', '[]', 'nope', '/teams/support', ?, ?)`, now, now); err == nil {
		t.Fatal("a consultation of a missing approval must be refused: foreign keys are off")
	}
	if _, err := db.Exec(`UPDATE approvals SET status = 'expired' WHERE id = '0190d0c8-7d2b-7c3e-9f00-5b2f1c3d4e5f'`); err != nil {
		t.Fatalf("the new statuses: %v", err)
	}
}
