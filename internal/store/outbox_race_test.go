package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

// A subscription deleted while a change is being recorded does not make
// the change fail: the change's transaction, which read the subscription
// before the delete committed, records no delivery for it instead of
// tripping over the foreign key (an escalation's write refused because an
// approver removed a webhook at that moment). SQLite runs one transaction
// at a time; the race is PostgreSQL's.
func TestOutboxSurvivesAConcurrentSubscriptionDelete(t *testing.T) {
	s := storetest.Open(t, store.Postgres)
	ctx := context.Background()
	sub := subscribe(t, s, evSupport)
	pool, err := s.Pool()
	if err != nil {
		t.Fatal(err)
	}
	tx, err := pool.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, "SELECT set_config('app.tenant_ids', $1, true)", evSupport); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM event_subscriptions WHERE id = $1", sub.ID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	a := newApproval(s, evSupport, "refund")
	go func() {
		_, _, err := s.RecordApproval(ctx, a, createdEntry(a))
		done <- err
	}()
	select {
	case err := <-done:
		// Not blocked: it read the subscription's row as it was; the delete
		// commits below either way.
		if err != nil {
			t.Fatalf("record while the delete is open: %v", err)
		}
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the approval was not recorded because a subscription was deleted meanwhile: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the record did not finish")
	}
	if got, err := s.GetApproval(ctx, store.ScopeOf(evSupport), a.ID); err != nil || got.ID != a.ID {
		t.Fatalf("approval after the race: %v, %v", got, err)
	}
}
