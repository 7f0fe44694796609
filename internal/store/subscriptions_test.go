package store_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/store"
)

func TestSubscriptionLifecycle(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		scope := store.ScopeOf(evSupport)
		sub, err := s.CreateSubscription(ctx, store.Subscription{TenantID: evSupport, URL: "https://a.example/hook",
			EventTypes: []string{"approval.*"}, Description: "tickets", CreatedBy: "ceo-1"}, 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		key, ok := strings.CutPrefix(sub.Secret, "whsec_")
		if raw, err := base64.StdEncoding.DecodeString(key); !ok || err != nil || len(raw) != 32 {
			t.Fatalf("secret %q: want whsec_ and the base64 of 32 bytes", sub.Secret)
		}
		if !sub.Enabled || sub.DisabledReason != nil || !store.ValidID(sub.ID) {
			t.Fatalf("new subscription %+v", sub)
		}
		got, err := s.GetSubscription(ctx, scope, sub.ID)
		if err != nil || got.Secret != sub.Secret || got.URL != sub.URL || len(got.EventTypes) != 1 || got.Description != "tickets" ||
			!got.CreatedAt.Equal(sub.CreatedAt) {
			t.Fatalf("read back %+v (%v), want %+v", got, err, sub)
		}
		if _, err := s.GetSubscription(ctx, store.ScopeOf(evEngineering), sub.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another tenant reads it: %v", err)
		}
		if _, err := s.UpdateSubscription(ctx, store.ScopeOf(evEngineering), sub.ID, store.SubscriptionUpdate{Enabled: ptr(false)}, nil); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another tenant changes it: %v", err)
		}
		if err := s.DeleteSubscription(ctx, store.ScopeOf(evEngineering), sub.ID, nil); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another tenant deletes it: %v", err)
		}

		// The limit counts per tenant.
		second, err := s.CreateSubscription(ctx, store.Subscription{TenantID: evSupport, URL: "https://b.example/hook"}, 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(second.EventTypes) != 0 || second.EventTypes == nil {
			t.Fatalf("no events listed: want [], got %#v", second.EventTypes)
		}
		if _, err := s.CreateSubscription(ctx, store.Subscription{TenantID: evSupport, URL: "https://c.example/hook"}, 2, nil); !errors.Is(err, store.ErrLimitReached) {
			t.Fatalf("third of at most 2: %v, want ErrLimitReached", err)
		}
		if _, err := s.CreateSubscription(ctx, store.Subscription{TenantID: evEngineering, URL: "https://c.example/hook"}, 2, nil); err != nil {
			t.Fatalf("another tenant's first: %v", err)
		}
		if _, err := s.CreateSubscription(ctx, store.Subscription{TenantID: evSupport, URL: "https://c.example/hook", EventTypes: []string{"approval.nope"}}, 0, nil); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("unknown event type: %v, want ErrInvalid", err)
		}

		// Pages, newest first.
		page, next, err := s.ListSubscriptions(ctx, scope, store.SubscriptionQuery{TenantID: evSupport, Limit: 1})
		if err != nil || len(page) != 1 || page[0].ID != second.ID || next == nil {
			t.Fatalf("first page %v next %v err %v", page, next, err)
		}
		page, next, err = s.ListSubscriptions(ctx, scope, store.SubscriptionQuery{TenantID: evSupport, Limit: 1, Cursor: next})
		if err != nil || len(page) != 1 || page[0].ID != sub.ID || next != nil {
			t.Fatalf("second page %v next %v err %v", page, next, err)
		}
		if _, _, err := s.ListSubscriptions(ctx, scope, store.SubscriptionQuery{TenantID: evEngineering}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("listing a tenant outside the scope: %v", err)
		}

		// Updates: disabled by the user, enabled again, other fields.
		off, err := s.UpdateSubscription(ctx, scope, sub.ID, store.SubscriptionUpdate{Enabled: ptr(false)}, nil)
		if err != nil || off.Enabled || off.DisabledReason == nil || *off.DisabledReason != store.DisabledByUser {
			t.Fatalf("disable: %+v %v", off, err)
		}
		url, events := "https://new.example/hook", []string{"policy.updated"}
		on, err := s.UpdateSubscription(ctx, scope, sub.ID, store.SubscriptionUpdate{Enabled: ptr(true), URL: &url, EventTypes: &events}, nil)
		if err != nil || !on.Enabled || on.DisabledReason != nil || on.URL != url || len(on.EventTypes) != 1 || on.EventTypes[0] != "policy.updated" ||
			on.Description != "tickets" || on.Secret != sub.Secret {
			t.Fatalf("enable and change: %+v %v", on, err)
		}

		// Rotation: the old secret signs beside the new one for the overlap.
		before := s.Now()
		rotated, err := s.RotateSecret(ctx, scope, sub.ID, 24*time.Hour, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rotated.Secret == sub.Secret || !strings.HasPrefix(rotated.Secret, "whsec_") || rotated.PreviousSecret == nil ||
			*rotated.PreviousSecret != sub.Secret || rotated.PreviousSecretExpiresAt == nil ||
			rotated.PreviousSecretExpiresAt.Before(before.Add(24*time.Hour)) || rotated.PreviousSecretExpiresAt.After(s.Now().Add(24*time.Hour)) {
			t.Fatalf("rotated %+v", rotated)
		}
		if got, _ := s.GetSubscription(ctx, scope, sub.ID); got.Secret != rotated.Secret {
			t.Fatal("the new secret was not stored")
		}

		if err := s.DeleteSubscription(ctx, scope, sub.ID, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetSubscription(ctx, scope, sub.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted, then read: %v", err)
		}
		if err := s.DeleteSubscription(ctx, scope, sub.ID, nil); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted twice: %v", err)
		}
	})
}

// Deliveries are listed with their attempts and can be sent again; a
// deletion takes them with it.
func TestDeliveriesListAndRedeliver(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		scope := store.ScopeOf(evSupport)
		sub := subscribe(t, s, evSupport)
		other := subscribe(t, s, evSupport, "policy.updated")
		for i := range 3 {
			a := newApproval(s, evSupport, "refund "+string(rune('a'+i)))
			if _, _, err := s.RecordApproval(ctx, a, createdEntry(a)); err != nil {
				t.Fatal(err)
			}
		}
		all := deliveries(t, s, evSupport, sub.ID, "")
		if len(all) != 3 {
			t.Fatalf("%d deliveries, want 3", len(all))
		}
		failed, delivered := all[0], all[1]
		if err := s.FinishDeliveryForTest(ctx, evSupport, failed.ID, store.DeliveryFailed, 500); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishDeliveryForTest(ctx, evSupport, delivered.ID, store.DeliveryDelivered, 204); err != nil {
			t.Fatal(err)
		}
		for status, want := range map[string]int{store.DeliveryPending: 1, store.DeliveryFailed: 1, store.DeliveryDelivered: 1, "": 3} {
			if got := deliveries(t, s, evSupport, sub.ID, status); len(got) != want {
				t.Fatalf("status %q: %d deliveries, want %d", status, len(got), want)
			}
		}
		got := deliveries(t, s, evSupport, sub.ID, store.DeliveryFailed)[0]
		if got.ID != failed.ID || len(got.AttemptsMade) != 1 || got.AttemptsMade[0].Attempt != 1 ||
			got.AttemptsMade[0].StatusCode == nil || *got.AttemptsMade[0].StatusCode != 500 || got.Attempts != 1 {
			t.Fatalf("failed delivery %+v", got)
		}

		// Pages, newest first.
		page, _, err := s.ListDeliveries(ctx, scope, store.DeliveryQuery{SubscriptionID: sub.ID, Limit: 2})
		if err != nil || len(page) != 2 {
			t.Fatal(page, err)
		}
		_, next, _ := s.ListDeliveries(ctx, scope, store.DeliveryQuery{SubscriptionID: sub.ID, Limit: 2})
		rest, next2, err := s.ListDeliveries(ctx, scope, store.DeliveryQuery{SubscriptionID: sub.ID, Limit: 2, Cursor: next})
		if err != nil || len(rest) != 1 || next2 != nil || rest[0].ID == page[0].ID || rest[0].ID == page[1].ID {
			t.Fatalf("second page %v %v", rest, err)
		}
		if _, _, err := s.ListDeliveries(ctx, store.ScopeOf(evEngineering), store.DeliveryQuery{SubscriptionID: sub.ID}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another tenant lists them: %v", err)
		}

		// Sent again: pending, due now, its attempt kept.
		again, err := s.Redeliver(ctx, scope, sub.ID, failed.ID)
		if err != nil || again.Status != store.DeliveryPending || again.NextAttemptAt == nil || again.Attempts != 1 {
			t.Fatalf("redeliver: %+v %v", again, err)
		}
		if got := deliveries(t, s, evSupport, sub.ID, store.DeliveryPending); len(got) != 2 {
			t.Fatalf("%d pending after the redelivery, want 2", len(got))
		}
		if _, err := s.Redeliver(ctx, scope, other.ID, delivered.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("redeliver through another subscription: %v", err)
		}
		if _, err := s.Redeliver(ctx, store.ScopeOf(evEngineering), sub.ID, delivered.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("redeliver from another tenant: %v", err)
		}
		if _, err := s.UpdateSubscription(ctx, scope, sub.ID, store.SubscriptionUpdate{Enabled: ptr(false)}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Redeliver(ctx, scope, sub.ID, delivered.ID); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("redeliver to a disabled subscription: %v, want ErrConflict", err)
		}

		if err := s.DeleteSubscription(ctx, scope, sub.ID, nil); err != nil {
			t.Fatal(err)
		}
		if evs := events(t, s, evSupport); len(evs) != 3 {
			t.Fatalf("the events went with the subscription: %d left", len(evs))
		}
	})
}
