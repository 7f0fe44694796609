package activities_test

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/activities"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// statementCounts is a store.StatementCounter that keeps the counts by kind.
type statementCounts struct {
	mu    sync.Mutex
	kinds map[string]int
}

func (c *statementCounts) count(_ context.Context, kind string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.kinds[kind]++
}

func (c *statementCounts) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.kinds
	c.kinds = map[string]int{}
	return k
}

// The bookkeeping of a Chatwoot step is one statement to begin it and one to
// finish it, with no transaction (issue 22's budget): on SQLite an insert and
// an update, on PostgreSQL two inserts (the finish is an upsert of the row
// read back, which declares the tenant scope in the same statement). A
// replay of a finished step costs as much and sends nothing.
func TestNotificationStatementBudget(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			counts := &statementCounts{kinds: map[string]int{}}
			ctx := context.Background()
			st, err := store.Open(ctx, storetest.URL(t, d), store.Options{MaxOpenConns: 2, CountStatement: counts.count})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			f := newFixtureOn(t, 2*time.Second, st)
			perStep := map[string]int{store.StatementInsert: 1, store.StatementUpdate: 1}
			if d == store.Postgres {
				perStep = map[string]int{store.StatementInsert: 2}
			}
			times := func(n int) map[string]int {
				out := map[string]int{}
				for k, v := range perStep {
					out[k] = n * v
				}
				return out
			}
			notify := func(name string, in activities.NotifyInput, want map[string]int) {
				t.Helper()
				counts.take()
				if res, err := f.out.Notify(ctx, in); err != nil || res.Status != "sent" {
					t.Fatalf("%s: %+v %v", name, res, err)
				}
				if got := counts.take(); !maps.Equal(got, want) {
					t.Errorf("%s: %v, want %v", name, got, want)
				}
			}
			dec := activities.NotifyInput{Kind: activities.NotifyDecided, Approval: contract.ApprovalOf(decided(f.ap))}
			notify("decided (one note)", dec, times(1))
			notify("decided again (a replay)", dec, times(1))
			if n := len(f.notes(t, true)); n != 1 {
				t.Fatalf("the replay posted again: %d notes", n)
			}
			notify("escalated (note, label, priority)", activities.NotifyInput{Kind: activities.NotifyEscalated, Approval: contract.ApprovalOf(f.ap)}, times(3))
		})
	}
}
