package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

// openPostgres is a migrated store plus a plain connection, both as the
// unprivileged application role.
func openPostgres(t *testing.T) (*store.Store, *pgx.Conn) {
	t.Helper()
	url := storetest.URL(t, store.Postgres)
	ctx := context.Background()
	s, err := store.Open(ctx, url, store.Options{MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return s, conn
}

// Every table that holds tenant rows (it has a tenant_id column) has
// row-level security enabled and forced, with a policy: a table added later
// without it fails here.
func TestEveryTenantTableHasForcedRowLevelSecurity(t *testing.T) {
	_, conn := openPostgres(t)
	rows, err := conn.Query(context.Background(), `
		SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
		       (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
		WHERE c.relkind = 'r' AND EXISTS (
			SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
		ORDER BY c.relname`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var name string
		var enabled, forced bool
		var policies int
		if err := rows.Scan(&name, &enabled, &forced, &policies); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
		if !enabled || !forced || policies == 0 {
			t.Errorf("table %s holds tenant rows but has row-level security enabled=%v forced=%v with %d policies", name, enabled, forced, policies)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(tables) < 4 {
		t.Fatalf("found only the tenant tables %v", tables)
	}
}

func notification(tenant, approvalID, key string) store.Notification {
	return store.Notification{Key: key, TenantID: tenant, ApprovalID: approvalID, Kind: "escalated", Target: "chatwoot"}
}

// The notifications of a tenant are invisible to an unscoped query and to
// another tenant's scope, and the worker's own path (begin, read, finish)
// works under the policy.
func TestRowLevelSecurityCoversNotifications(t *testing.T) {
	s, _ := openPostgres(t)
	ctx := context.Background()
	id := store.NewID()
	if _, err := s.BeginNotification(ctx, notification("/teams/engineering", id, "chatwoot:"+id+":escalated:note")); err != nil {
		t.Fatal(err)
	}
	n, err := s.UnscopedCountForTest(ctx, "notifications")
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("unscoped SELECT on notifications returned %d rows: row-level security is not in force", n)
	}
}

func TestNotificationsAreTenantScoped(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		eng, support := store.ScopeOf("/teams/engineering"), store.ScopeOf("/teams/support")
		id := store.NewID()
		key := "chatwoot:" + id + ":escalated:note"
		n, err := s.BeginNotification(ctx, notification("/teams/engineering", id, key))
		if err != nil || n.Attempts != 1 || n.Status != store.NotificationSending || n.TenantID != "/teams/engineering" || n.ApprovalID != id {
			t.Fatalf("first attempt: %+v %v", n, err)
		}
		if n, err = s.BeginNotification(ctx, notification("/teams/engineering", id, key)); err != nil || n.Attempts != 2 || n.Status != store.NotificationSending {
			t.Fatalf("second attempt: %+v %v", n, err)
		}
		got, err := s.GetNotification(ctx, eng, key)
		if err != nil || got.Attempts != 2 || got.Status != store.NotificationSending {
			t.Fatalf("GetNotification in its tenant: %+v %v", got, err)
		}
		if _, err := s.GetNotification(ctx, support, key); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetNotification in another tenant: want ErrNotFound, got %v", err)
		}
		if err := s.FinishNotification(ctx, support, key, store.NotificationFailed, "", "forged"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("FinishNotification in another tenant: want ErrNotFound, got %v", err)
		}
		if err := s.FinishNotification(ctx, eng, key, store.NotificationSent, "m-17", ""); err != nil {
			t.Fatal(err)
		}
		list, err := s.ListNotifications(ctx, eng, id)
		if err != nil || len(list) != 1 || list[0].Status != store.NotificationSent || list[0].ExternalID == nil || *list[0].ExternalID != "m-17" {
			t.Fatalf("ListNotifications: %+v %v", list, err)
		}
		if list, err := s.ListNotifications(ctx, support, id); err != nil || len(list) != 0 {
			t.Fatalf("ListNotifications in another tenant: %+v %v", list, err)
		}
		// A row begun under one tenant cannot be taken over by a begin
		// naming another: the other tenant sees no row and inserts none.
		if _, err := s.BeginNotification(ctx, notification("/teams/support", id, key)); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("BeginNotification of another tenant's key: want ErrConflict, got %v", err)
		}
		if got, err := s.GetNotification(ctx, eng, key); err != nil || got.TenantID != "/teams/engineering" || got.Status != store.NotificationSent {
			t.Fatalf("the row changed after another tenant's begin: %+v %v", got, err)
		}
	})
}

// A failure's reason is kept to 1000 whole characters: a cut in the middle
// of one, or a NUL, would make PostgreSQL refuse the outcome and the
// notification retry for ever.
func TestNotificationFailureReasonIsClippedToWholeCharacters(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		id := store.NewID()
		key := "chatwoot:" + id + ":decided:note"
		if _, err := s.BeginNotification(ctx, notification("/teams/support", id, key)); err != nil {
			t.Fatal(err)
		}
		reason := strings.Repeat("x", 999) + "é and more\x00"
		if err := s.FinishNotification(ctx, store.ScopeOf("/teams/support"), key, store.NotificationFailed, "", reason); err != nil {
			t.Fatalf("finish with a long reason: %v", err)
		}
		n, err := s.GetNotification(ctx, store.ScopeOf("/teams/support"), key)
		if err != nil || n.LastError == nil || *n.LastError != strings.Repeat("x", 999)+"é" {
			t.Fatalf("reason kept: %v %v", n, err)
		}
	})
}
