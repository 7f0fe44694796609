package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// Events out, written and read beneath the store, as the outbox and the
// subscriptions API would: the dispatcher's tests need subscriptions and
// queued deliveries without going through either. Each statement runs in
// a transaction that declares the tenant to row-level security, as the
// store does.

// exec runs statements (written with ? placeholders) in one transaction in
// tenant's scope; run returns the rows of a SELECT (read them to the end
// before the next statement) and nil for anything else.
func exec(t testing.TB, s *store.Store, tenant string, fn func(run func(q string, args ...any) *sql.Rows)) {
	t.Helper()
	pool, err := s.Pool()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tx, err := pool.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer func() { _ = tx.Rollback() }()
	pg := s.Dialect() == store.Postgres
	if pg {
		if _, err := tx.ExecContext(ctx, "SELECT set_config('app.tenant_ids', $1, true)", tenant); err != nil {
			t.Fatalf("declare tenant: %v", err)
		}
	}
	var open []*sql.Rows
	fn(func(q string, args ...any) *sql.Rows {
		if pg {
			q = dollars(q)
		}
		if !strings.HasPrefix(strings.TrimSpace(q), "SELECT") {
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			return nil
		}
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		open = append(open, rows)
		return rows
	})
	for _, r := range open {
		_ = r.Close()
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

func dollars(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Subscription is what AddSubscription stores.
type Subscription struct {
	TenantID, URL, Secret string
	// PreviousSecret signs beside Secret until PreviousExpiresAt.
	PreviousSecret    string
	PreviousExpiresAt time.Time
	Disabled          bool
}

// AddSubscription stores an enabled subscription and returns its id.
func AddSubscription(t testing.TB, s *store.Store, sub Subscription) string {
	t.Helper()
	id, now := store.NewID(), s.Now()
	var prev *string
	var prevAt *time.Time
	if sub.PreviousSecret != "" {
		prev, prevAt = &sub.PreviousSecret, &sub.PreviousExpiresAt
	}
	exec(t, s, sub.TenantID, func(run func(string, ...any) *sql.Rows) {
		run(`INSERT INTO event_subscriptions (id, tenant_id, url, event_types, description, enabled, secret, previous_secret,
			previous_secret_expires_at, created_by, created_at, updated_at) VALUES (?, ?, ?, '[]', '', ?, ?, ?, ?, 'test', ?, ?)`,
			id, sub.TenantID, sub.URL, !sub.Disabled, sub.Secret, prev, prevAt, now, now)
	})
	return id
}

// Event is what QueueEvent records.
type Event struct {
	TenantID, Type, Resource, ResourceID string
	Sequence                             int64
	Body                                 string
}

// QueueEvent records an event and one pending delivery of it, due now, to
// each subscription; it returns the event's id (its webhook-id).
func QueueEvent(t testing.TB, s *store.Store, e Event, subscriptionIDs ...string) string {
	t.Helper()
	id, now := "msg_"+strings.ReplaceAll(store.NewID(), "-", ""), s.Now()
	exec(t, s, e.TenantID, func(run func(string, ...any) *sql.Rows) {
		run(`INSERT INTO events (id, tenant_id, type, resource, resource_id, sequence, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			id, e.TenantID, e.Type, e.Resource, e.ResourceID, e.Sequence, e.Body, now)
		for _, sub := range subscriptionIDs {
			run(`INSERT INTO event_deliveries (id, subscription_id, event_id, tenant_id, status, attempts, next_attempt_at, created_at, updated_at)
				VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?)`, store.NewID(), sub, id, e.TenantID, now, now, now)
		}
	})
	return id
}

// Delivery is a delivery as the tests look at it, with its attempts.
type Delivery struct {
	store.EventDelivery
	Attempts []store.DeliveryAttempt
}

// Deliveries reads a subscription's deliveries, oldest first, and their
// attempts in order.
func Deliveries(t testing.TB, s *store.Store, tenant, subscriptionID string) []Delivery {
	t.Helper()
	var out []Delivery
	exec(t, s, tenant, func(run func(string, ...any) *sql.Rows) {
		rows := run(`SELECT id, event_id, status, attempts, last_status_code, last_error FROM event_deliveries
			WHERE subscription_id = ? ORDER BY created_at, id`, subscriptionID)
		for rows.Next() {
			var d Delivery
			if err := rows.Scan(&d.ID, &d.EventID, &d.Status, &d.EventDelivery.Attempts, &d.LastStatusCode, &d.LastError); err != nil {
				t.Fatalf("scan delivery: %v", err)
			}
			d.SubscriptionID, d.TenantID = subscriptionID, tenant
			out = append(out, d)
		}
		for i := range out {
			rows := run(`SELECT attempt, status_code, duration_ms, error, response_excerpt FROM event_delivery_attempts
				WHERE delivery_id = ? ORDER BY attempt`, out[i].ID)
			for rows.Next() {
				var a store.DeliveryAttempt
				if err := rows.Scan(&a.Attempt, &a.StatusCode, &a.DurationMS, &a.Error, &a.ResponseExcerpt); err != nil {
					t.Fatalf("scan attempt: %v", err)
				}
				out[i].Attempts = append(out[i].Attempts, a)
			}
		}
	})
	return out
}

// SubscriptionState is whether a subscription is enabled, and why not.
func SubscriptionState(t testing.TB, s *store.Store, tenant, id string) (enabled bool, reason string) {
	t.Helper()
	exec(t, s, tenant, func(run func(string, ...any) *sql.Rows) {
		rows := run(`SELECT enabled, disabled_reason FROM event_subscriptions WHERE id = ?`, id)
		if !rows.Next() {
			t.Fatalf("no subscription %s", id)
		}
		var r sql.NullString
		if err := rows.Scan(&enabled, &r); err != nil {
			t.Fatalf("scan subscription: %v", err)
		}
		reason = r.String
	})
	return enabled, reason
}

// DeleteSubscription removes a subscription (and its deliveries).
func DeleteSubscription(t testing.TB, s *store.Store, tenant, id string) {
	t.Helper()
	exec(t, s, tenant, func(run func(string, ...any) *sql.Rows) {
		run(`DELETE FROM event_subscriptions WHERE id = ?`, id)
	})
}

// String helps error messages.
func (d Delivery) String() string {
	return fmt.Sprintf("%s %s after %d attempts", d.EventID, d.Status, len(d.Attempts))
}

// Count is how many rows of an events table (events, event_deliveries,
// event_delivery_attempts) a tenant has.
func Count(t testing.TB, s *store.Store, tenant, table string) int {
	t.Helper()
	var n int
	exec(t, s, tenant, func(run func(string, ...any) *sql.Rows) {
		rows := run(`SELECT count(*) FROM `+table+` WHERE tenant_id = ?`, tenant)
		if !rows.Next() {
			t.Fatalf("count %s: no row", table)
		}
		if err := rows.Scan(&n); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
	})
	return n
}

// RecordAttempt records one attempt, as a dispatcher's pass of one would
// (store.RecordDeliveryPass), and says whether it was recorded.
func RecordAttempt(ctx context.Context, s *store.Store, tenant string, o store.AttemptOutcome) (bool, error) {
	recorded, err := s.RecordDeliveryPass(ctx, tenant, []store.AttemptOutcome{o}, nil)
	if err != nil {
		return false, err
	}
	return recorded[0], nil
}

// Defer hands pending deliveries back unsent, due at at, as a dispatcher's
// pass does with those waiting behind an earlier event.
func Defer(ctx context.Context, s *store.Store, tenant string, ids []string, at time.Time) error {
	_, err := s.RecordDeliveryPass(ctx, tenant, nil, []store.Deferral{{IDs: ids, At: at}})
	return err
}
