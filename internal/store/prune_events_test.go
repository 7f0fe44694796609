package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

// Pruning events out: a subscription's finished deliveries older than the
// retention go with their attempts, then the tenant's old events nothing
// references; pending deliveries (however old), recent ones, events another
// delivery still holds and other tenants' rows stay. Batches are bounded.
func TestPruneEventDeliveries(t *testing.T) {
	eachDialectWithClock(t, func(t *testing.T, s *store.Store, c *clock) {
		ctx := context.Background()
		const otherTenant = "/teams/other"
		add := func(tenant string) string {
			return storetest.AddSubscription(t, s, storetest.Subscription{TenantID: tenant, URL: "https://example.com/hook", Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
		}
		sub, sub2, otherSub := add(deliveryTenant), add(deliveryTenant), add(otherTenant)
		// finish records one attempt leaving sub's delivery of event in status.
		finish := func(tenant, sub, event, status string) {
			t.Helper()
			for _, d := range storetest.Deliveries(t, s, tenant, sub) {
				if d.EventID != event {
					continue
				}
				ok, err := storetest.RecordAttempt(ctx, s, tenant, store.AttemptOutcome{DeliveryID: d.ID, Attempt: 1, AttemptedAt: s.Now(), Status: status})
				if err != nil || !ok {
					t.Fatalf("record %s: %v, %v", status, ok, err)
				}
				return
			}
			t.Fatalf("no delivery of %s to %s", event, sub)
		}
		ev := func(tenant string, seq int64, subs ...string) string {
			return storetest.QueueEvent(t, s, storetest.Event{TenantID: tenant, Type: "approval.created", Resource: "approval",
				ResourceID: "a1", Sequence: seq, Body: `{}`}, subs...)
		}

		delivered := ev(deliveryTenant, 1, sub)
		finish(deliveryTenant, sub, delivered, store.DeliveryDelivered)
		failed := ev(deliveryTenant, 2, sub)
		finish(deliveryTenant, sub, failed, store.DeliveryFailed)
		pending := ev(deliveryTenant, 3, sub)
		shared := ev(deliveryTenant, 4, sub, sub2) // delivered to sub, still pending for sub2
		finish(deliveryTenant, sub, shared, store.DeliveryDelivered)
		ev(deliveryTenant, 5) // matched no subscription
		otherEv := ev(otherTenant, 1, otherSub)
		finish(otherTenant, otherSub, otherEv, store.DeliveryDelivered)

		c.set(c.now().Add(40 * 24 * time.Hour))
		recent := ev(deliveryTenant, 6, sub)
		finish(deliveryTenant, sub, recent, store.DeliveryDelivered)
		before := s.Now().Add(-30 * 24 * time.Hour)

		// Another tenant's subscription id in this tenant's scope finds nothing.
		if p, err := s.PruneEventDeliveries(ctx, otherTenant, sub, before, 500, 10); err != nil || p.Deliveries != 0 {
			t.Fatalf("prune across tenants: %+v, %v", p, err)
		}
		// One row a statement, two statements a table: the pass stops there.
		p, err := s.PruneEventDeliveries(ctx, deliveryTenant, sub, before, 1, 2)
		if err != nil || p.Deliveries != 2 || p.Events != 2 {
			t.Fatalf("first bounded pass: %+v, %v, want 2 deliveries and 2 events", p, err)
		}
		p, err = s.PruneEventDeliveries(ctx, deliveryTenant, sub, before, 500, 10)
		if err != nil || p.Deliveries != 1 || p.Events != 1 {
			t.Fatalf("second pass: %+v, %v, want the last delivery and event", p, err)
		}
		if p, err := s.PruneEventDeliveries(ctx, deliveryTenant, sub, before, 500, 10); err != nil || p != (store.Pruned{}) {
			t.Fatalf("nothing left to prune: %+v, %v", p, err)
		}

		left := storetest.Deliveries(t, s, deliveryTenant, sub)
		if len(left) != 2 || left[0].EventID != pending || left[0].Status != store.DeliveryPending || left[1].EventID != recent || len(left[1].Attempts) != 1 {
			t.Fatalf("deliveries left to sub: %v, want the pending and the recent one", left)
		}
		if left := storetest.Deliveries(t, s, deliveryTenant, sub2); len(left) != 1 || left[0].EventID != shared {
			t.Fatalf("deliveries left to sub2: %v", left)
		}
		for table, want := range map[string]int{"events": 3, "event_deliveries": 3, "event_delivery_attempts": 1} {
			if n := storetest.Count(t, s, deliveryTenant, table); n != want {
				t.Errorf("%s: %d rows left, want %d", table, n, want)
			}
		}
		for _, table := range []string{"events", "event_deliveries", "event_delivery_attempts"} {
			if n := storetest.Count(t, s, otherTenant, table); n != 1 {
				t.Errorf("other tenant's %s: %d rows, want 1", table, n)
			}
		}
	})
}
