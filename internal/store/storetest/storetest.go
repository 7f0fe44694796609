// Package storetest gives tests a freshly migrated store on SQLite or
// PostgreSQL. PostgreSQL tests connect as a role that is neither superuser nor
// BYPASSRLS, so row-level security is in force exactly as in production.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// DefaultPostgresURL is the machine's local server.
const DefaultPostgresURL = "postgres://root@127.0.0.1:5432/test?sslmode=disable"

// appRole is the unprivileged role tests connect as.
const appRole = "orchestrator_test_app"

// Dialects lists the backends every store test runs on.
var Dialects = []store.Dialect{store.SQLite, store.Postgres}

// Open returns a migrated store of the given dialect, removed when t ends.
func Open(t testing.TB, d store.Dialect) *store.Store {
	t.Helper()
	url := URL(t, d)
	s, err := store.Open(context.Background(), url, store.Options{MaxOpenConns: 8})
	if err != nil {
		t.Fatalf("open %s store: %v", d, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate %s store: %v", d, err)
	}
	return s
}

// URL returns a DATABASE_URL for a new, empty database of dialect d.
func URL(t testing.TB, d store.Dialect) string {
	t.Helper()
	if d == store.SQLite {
		return "sqlite://" + filepath.Join(t.TempDir(), "test.db")
	}
	return NewPostgresDatabase(t)
}

// AdminURL is the PostgreSQL server tests use (TEST_DATABASE_URL).
func AdminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// NewPostgresDatabase creates a database owned by an unprivileged role and
// returns its URL for that role. Without a server it fails when CI=true and
// skips loudly otherwise.
func NewPostgresDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required in CI (TEST_DATABASE_URL=%s): %v", AdminURL(), err)
		}
		t.Skipf("SKIPPING PostgreSQL tests: no server at TEST_DATABASE_URL=%s (%v); CI=true makes this a failure", AdminURL(), err)
	}
	defer admin.Close(context.Background())

	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "orch_test_" + hex.EncodeToString(b[:])
	stmts := []string{
		fmt.Sprintf(`DO $$ BEGIN
			IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%s') THEN
				CREATE ROLE %s LOGIN NOSUPERUSER NOBYPASSRLS;
			END IF;
		END $$`, appRole, appRole),
		fmt.Sprintf("CREATE DATABASE %s OWNER %s", name, appRole),
	}
	for _, s := range stmts {
		if _, err := admin.Exec(ctx, s); err != nil && !isDuplicateRole(err) {
			t.Fatalf("prepare test database: %v", err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, AdminURL())
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(AdminURL())
	if err != nil {
		t.Fatalf("parse TEST_DATABASE_URL: %v", err)
	}
	u.User = url.User(appRole)
	u.Path = "/" + name
	return u.String()
}

func isDuplicateRole(err error) bool {
	// Two packages creating the role at once: one of them loses the race.
	return err != nil && (strings.Contains(err.Error(), "23505") || strings.Contains(err.Error(), "already exists"))
}
