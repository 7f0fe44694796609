package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

const deliveryTenant = "/teams/events"

func queue(t *testing.T, s *store.Store, sub string, resourceID string, seq int64) string {
	return storetest.QueueEvent(t, s, storetest.Event{TenantID: deliveryTenant, Type: "approval.created", Resource: "approval",
		ResourceID: resourceID, Sequence: seq, Body: `{"type":"approval.created"}`}, sub)
}

// The dispatcher's queries: a claim takes what is due, oldest first, and
// leases it; an attempt and the delivery's new state are stored together,
// once; a 410 disables the subscription in the same transaction.
func TestDispatcherQueries(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sub := storetest.AddSubscription(t, s, storetest.Subscription{TenantID: deliveryTenant, URL: "https://example.com/hook", Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
		other := storetest.AddSubscription(t, s, storetest.Subscription{TenantID: "/teams/other", URL: "https://example.com/hook", Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
		first := queue(t, s, sub, "a1", 1)
		second := queue(t, s, sub, "a1", 2)

		got, err := s.SubscriptionForDelivery(ctx, deliveryTenant, sub)
		if err != nil || got.URL != "https://example.com/hook" || !got.Enabled || got.Secret == "" {
			t.Fatalf("subscription for delivery: %+v, %v", got, err)
		}
		if _, err := s.SubscriptionForDelivery(ctx, deliveryTenant, other); err != store.ErrNotFound {
			t.Fatalf("another tenant's subscription: %v, want not found", err)
		}

		due, err := s.ClaimDueDeliveries(ctx, deliveryTenant, sub, 10, time.Minute)
		if err != nil || len(due) != 2 || due[0].EventID != first || due[1].EventID != second || due[0].Body == "" || due[0].Sequence != 1 {
			t.Fatalf("claim: %+v, %v", due, err)
		}
		if again, err := s.ClaimDueDeliveries(ctx, deliveryTenant, sub, 10, time.Minute); err != nil || len(again) != 0 {
			t.Fatalf("claimed twice within the lease: %+v, %v", again, err)
		}
		oldest, err := s.OldestPendingDelivery(ctx, deliveryTenant, sub)
		if err != nil || oldest == nil {
			t.Fatalf("oldest pending: %v, %v", oldest, err)
		}

		code := 500
		next := s.Now().Add(-time.Second) // due again at once
		ok, err := storetest.RecordAttempt(ctx, s, deliveryTenant, store.AttemptOutcome{
			DeliveryID: due[0].ID, Attempt: 1, AttemptedAt: s.Now(), StatusCode: &code, Duration: 12 * time.Millisecond,
			Error: "500 Internal Server Error", Excerpt: strings.Repeat("é", 2000) + "\x00", Status: store.DeliveryPending, NextAttemptAt: &next,
		})
		if err != nil || !ok {
			t.Fatalf("record: %v, %v", ok, err)
		}
		// The same attempt recorded a second time (a dispatcher that lost its lease) stores nothing.
		if ok, err := storetest.RecordAttempt(ctx, s, deliveryTenant, store.AttemptOutcome{
			DeliveryID: due[0].ID, Attempt: 1, AttemptedAt: s.Now(), Status: store.DeliveryDelivered,
		}); err != nil || ok {
			t.Fatalf("recorded twice: %v, %v", ok, err)
		}
		if err := storetest.Defer(ctx, s, deliveryTenant, []string{due[1].ID}, s.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		due, err = s.ClaimDueDeliveries(ctx, deliveryTenant, sub, 10, time.Minute)
		if err != nil || len(due) != 2 || due[0].EventID != first || due[0].Attempts != 1 {
			t.Fatalf("claim after a retry: %+v, %v", due, err)
		}
		ok, err = storetest.RecordAttempt(ctx, s, deliveryTenant, store.AttemptOutcome{
			DeliveryID: due[0].ID, Attempt: 2, AttemptedAt: s.Now(), StatusCode: new(int), Status: store.DeliveryDelivered,
		})
		if err != nil || !ok {
			t.Fatalf("record delivered: %v, %v", ok, err)
		}
		gone := 410
		ok, err = storetest.RecordAttempt(ctx, s, deliveryTenant, store.AttemptOutcome{
			DeliveryID: due[1].ID, Attempt: 1, AttemptedAt: s.Now(), StatusCode: &gone, Error: "410 Gone", Status: store.DeliveryFailed,
			DisableSubscription: store.DisabledGone, SubscriptionID: sub,
		})
		if err != nil || !ok {
			t.Fatalf("record gone: %v, %v", ok, err)
		}

		ds := storetest.Deliveries(t, s, deliveryTenant, sub)
		if len(ds) != 2 || ds[0].Status != store.DeliveryDelivered || len(ds[0].Attempts) != 2 || ds[1].Status != store.DeliveryFailed {
			t.Fatalf("deliveries: %v", ds)
		}
		if ex := ds[0].Attempts[0].ResponseExcerpt; ex == nil || len([]rune(*ex)) != store.MaxAttemptExcerpt || strings.Contains(*ex, "\x00") {
			t.Errorf("excerpt not clipped to %d characters", store.MaxAttemptExcerpt)
		}
		if c := ds[0].Attempts[0].StatusCode; c == nil || *c != 500 || ds[0].Attempts[0].DurationMS != 12 {
			t.Errorf("first attempt %+v", ds[0].Attempts[0])
		}
		if enabled, reason := storetest.SubscriptionState(t, s, deliveryTenant, sub); enabled || reason != store.DisabledGone {
			t.Errorf("after 410: enabled %v, reason %q", enabled, reason)
		}
		if oldest, err := s.OldestPendingDelivery(ctx, deliveryTenant, sub); err != nil || oldest != nil {
			t.Errorf("oldest pending after all ended: %v, %v", oldest, err)
		}
	})
}

// A claim joins a delivery only to an event of the delivery's own tenant:
// a delivery row pointing at another tenant's event (no write of the store
// makes one; a bad migration or a hand-made fix might) never hands that
// tenant's body to this tenant's receiver. PostgreSQL's row-level security
// hides the event already; SQLite has only the query.
func TestClaimNeverJoinsAnotherTenantsEvent(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	sub := storetest.AddSubscription(t, s, storetest.Subscription{TenantID: deliveryTenant, URL: "https://example.com/hook", Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
	pool, err := s.Pool()
	if err != nil {
		t.Fatal(err)
	}
	now := s.Now()
	if _, err := pool.ExecContext(ctx, `INSERT INTO events (id, tenant_id, type, resource, resource_id, sequence, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		"msg_other", "/teams/other", "approval.created", "approval", "b1", 1, `{"secret of":"/teams/other"}`, now); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.ExecContext(ctx, `INSERT INTO event_deliveries (id, subscription_id, event_id, tenant_id, status, attempts, next_attempt_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?)`, store.NewID(), sub, "msg_other", deliveryTenant, now, now, now); err != nil {
		t.Fatal(err)
	}
	due, err := s.ClaimDueDeliveries(ctx, deliveryTenant, sub, 10, time.Minute)
	if err != nil || len(due) != 0 {
		t.Fatalf("claimed %+v (%v): another tenant's event", due, err)
	}
}
