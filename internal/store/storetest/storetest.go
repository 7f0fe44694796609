// Package storetest gives tests a freshly migrated store on SQLite or
// PostgreSQL. PostgreSQL databases are set up as in production: an owner role
// owns them and runs the migrations, and tests connect as an application role
// that is neither superuser nor BYPASSRLS nor the tables' owner and holds only
// the grants GrantAppRole gives, so row-level security is in force exactly as
// in production and cannot be switched off.
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

// Roles of the test databases: appRole is the unprivileged role tests
// connect as, ownerRole owns the databases and migrates them.
const (
	appRole   = "orchestrator_test_app"
	ownerRole = "orchestrator_test_owner"
)

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

// Postgres is a test database and the URLs of its two roles.
type Postgres struct {
	// AppURL connects as the application role.
	AppURL string
	// OwnerURL connects as the role that owns the database and its tables
	// and runs the migrations (production's DATABASE_OWNER_URL).
	OwnerURL string
	// Name is the database's name.
	Name string
}

// NewPostgresDatabase creates and migrates a database and returns its URL for
// the application role; see NewPostgres.
func NewPostgresDatabase(t testing.TB) string {
	t.Helper()
	return NewPostgres(t).AppURL
}

// NewPostgres creates a database owned by the owner role, migrates it as that
// role, grants the application role its privileges and returns both URLs.
// The application role can run migrate on it as a no-op. Without a server it
// fails when CI=true and skips loudly otherwise.
func NewPostgres(t testing.TB) Postgres {
	t.Helper()
	db := NewEmptyPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	owner, err := store.Open(ctx, db.OwnerURL, store.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatalf("open the test database as its owner: %v", err)
	}
	defer owner.Close()
	if _, err := owner.Migrate(ctx); err != nil {
		t.Fatalf("migrate the test database as its owner: %v", err)
	}
	if err := owner.GrantAppRole(ctx, appRole); err != nil {
		t.Fatalf("grant the application role: %v", err)
	}
	return db
}

// NewEmptyPostgres is NewPostgres without the migrations and grants: the
// application role can connect but not create anything.
func NewEmptyPostgres(t testing.TB) Postgres {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
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
	var stmts []string
	for _, role := range []string{appRole, ownerRole} {
		stmts = append(stmts, fmt.Sprintf(`DO $$ BEGIN
			IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%s') THEN
				CREATE ROLE %s LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
			END IF;
		END $$`, role, role))
	}
	stmts = append(stmts,
		fmt.Sprintf("CREATE DATABASE %s OWNER %s", name, ownerRole),
		fmt.Sprintf("REVOKE ALL ON DATABASE %s FROM PUBLIC", name),
		fmt.Sprintf("GRANT CONNECT ON DATABASE %s TO %s", name, appRole),
	)
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
	return Postgres{AppURL: roleURL(t, appRole, name), OwnerURL: roleURL(t, ownerRole, name), Name: name}
}

// roleURL is TEST_DATABASE_URL for role on database name. Roles authenticate
// as the server's trust rules allow (no passwords).
func roleURL(t testing.TB, role, name string) string {
	t.Helper()
	u, err := url.Parse(AdminURL())
	if err != nil {
		t.Fatalf("parse TEST_DATABASE_URL: %v", err)
	}
	u.User = url.User(role)
	u.Path = "/" + name
	return u.String()
}

func isDuplicateRole(err error) bool {
	// Two packages creating the role at once: one of them loses the race.
	return err != nil && (strings.Contains(err.Error(), "23505") || strings.Contains(err.Error(), "already exists"))
}
