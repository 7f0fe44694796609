package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

// clock is a store clock the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

func eachDialectWithClock(t *testing.T, fn func(t *testing.T, s *store.Store, c *clock)) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			c := &clock{t: time.Date(2026, 12, 7, 10, 0, 30, 0, time.UTC)}
			s, err := store.Open(context.Background(), storetest.URL(t, d), store.Options{Now: c.now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			if _, err := s.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			fn(t, s, c)
		})
	}
}

func TestCountCreate(t *testing.T) {
	eachDialectWithClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := context.Background()
		count := func(tenant, subject string, wantN int64, wantEnds time.Time) {
			t.Helper()
			n, ends, err := s.CountCreate(ctx, tenant, subject, time.Minute)
			if err != nil || n != wantN || !ends.Equal(wantEnds) {
				t.Fatalf("%s/%s at %s: %d ending %s (%v), want %d ending %s", tenant, subject, c.now(), n, ends, err, wantN, wantEnds)
			}
		}
		w1 := time.Date(2026, 12, 7, 10, 1, 0, 0, time.UTC)
		count("/teams/a", "u1", 1, w1)
		count("/teams/a", "u1", 2, w1)
		count("/teams/a", "u2", 1, w1)
		count("/teams/b", "u1", 1, w1)
		c.set(w1.Add(5 * time.Second)) // the next window starts the count again
		w2 := w1.Add(time.Minute)
		count("/teams/a", "u1", 1, w2)
		c.set(w1.Add(-time.Second)) // a replica whose clock is behind counts in the newer window
		count("/teams/a", "u1", 2, w2)
		// Concurrent creates are each counted once.
		c.set(w2.Add(time.Second))
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, _, err := s.CountCreate(ctx, "/teams/c", "u1", time.Minute); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		count("/teams/c", "u1", 11, w2.Add(time.Minute))
		if _, _, err := s.CountCreate(ctx, "", "u1", time.Minute); err == nil {
			t.Fatal("a count without a tenant")
		}
	})
}

func TestPruneDeliveries(t *testing.T) {
	eachDialectWithClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := context.Background()
		t0 := c.now()
		for i := range 5 {
			if err := s.RecordDelivery(ctx, "chatwoot", fmt.Sprintf("old-%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		c.set(t0.Add(8 * 24 * time.Hour))
		for i := range 3 {
			if err := s.RecordDelivery(ctx, "matrix", fmt.Sprintf("new-%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		before := c.now().Add(-7 * 24 * time.Hour)
		var batches []int64
		for {
			n, err := s.PruneDeliveries(ctx, before, 2)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			batches = append(batches, n)
		}
		if fmt.Sprint(batches) != "[2 2 1]" {
			t.Fatalf("batches %v, want [2 2 1]", batches)
		}
		for i := range 5 {
			if seen, err := s.SeenDelivery(ctx, "chatwoot", fmt.Sprintf("old-%d", i)); err != nil || seen {
				t.Fatalf("old-%d kept past the retention: %v %v", i, seen, err)
			}
		}
		for i := range 3 {
			if seen, err := s.SeenDelivery(ctx, "matrix", fmt.Sprintf("new-%d", i)); err != nil || !seen {
				t.Fatalf("new-%d pruned within the retention: %v %v", i, seen, err)
			}
		}
	})
}

// CountAudit counts one action of one resource, within the scope only.
func TestCountAudit(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		add := func(tenant, resourceID, action string) {
			t.Helper()
			if _, err := s.AppendAudit(ctx, &store.AuditLog{Action: action, Resource: "approval", ResourceID: resourceID, UserID: "ceo-1",
				Channel: store.ChannelAPI, TenantID: tenant, CreatedAt: s.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		add("/teams/a", "ap-1", "approval.info_requested")
		add("/teams/a", "ap-1", "approval.info_requested")
		add("/teams/a", "ap-1", "approval.info_provided")
		add("/teams/a", "ap-2", "approval.info_requested")
		add("/teams/b", "ap-1", "approval.info_requested")
		for _, tc := range []struct {
			scope  store.Scope
			action string
			want   int64
		}{
			{store.ScopeOf("/teams/a"), "approval.info_requested", 2},
			{store.ScopeOf("/teams/a"), "approval.info_provided", 1},
			{store.ScopeOf("/teams/a", "/teams/b"), "approval.info_requested", 3},
			{store.ScopeOf("/teams/c"), "approval.info_requested", 0},
		} {
			n, err := s.CountAudit(ctx, tc.scope, "approval", "ap-1", tc.action)
			if err != nil || n != tc.want {
				t.Errorf("%v %s: %d %v, want %d", tc.scope.Tenants(), tc.action, n, err, tc.want)
			}
		}
	})
}
