package store_test

import (
	"context"
	"testing"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

func TestMigrationsAreNumberedAlikeInBothDialects(t *testing.T) {
	pg, err := store.Migrations(store.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	lite, err := store.Migrations(store.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if len(pg) != len(lite) {
		t.Fatalf("postgres has %d migrations, sqlite %d: every version needs both", len(pg), len(lite))
	}
	for i := range pg {
		if pg[i].Version != lite[i].Version || pg[i].Name != lite[i].Name {
			t.Errorf("migration %d differs: %04d_%s vs %04d_%s", i, pg[i].Version, pg[i].Name, lite[i].Version, lite[i].Name)
		}
	}
}

func TestMigrateTwiceAppliesNothing(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		applied, err := s.Migrate(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(applied) != 0 {
			t.Fatalf("second migrate applied %v", applied)
		}
	})
}

// With row-level security in force, a query that forgets the tenant scope
// returns nothing instead of every tenant's rows.
func TestRowLevelSecurityHidesUnscopedReads(t *testing.T) {
	s := storetest.Open(t, store.Postgres)
	ctx := context.Background()
	a := newApproval(s, "/teams/engineering", "secret")
	if _, _, err := s.RecordApproval(ctx, a, createdEntry(a)); err != nil {
		t.Fatal(err)
	}
	// A scoped read declares its tenants for its own statement only: the
	// connection it used must not carry them to the next query.
	if got, err := s.GetApproval(ctx, store.ScopeOf("/teams/engineering"), a.ID); err != nil || got.ID != a.ID {
		t.Fatalf("scoped read: %v %v", got, err)
	}
	for _, table := range []string{"approvals", "audit_logs"} {
		n, err := s.UnscopedCountForTest(ctx, table)
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("unscoped SELECT on %s returned %d rows: row-level security is not in force", table, n)
		}
	}
	if err := s.UnscopedInsertForTest(ctx, "/teams/engineering"); err == nil {
		t.Fatal("an unscoped insert must be refused by the policy's WITH CHECK")
	}
}
