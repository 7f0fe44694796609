package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// The dispatcher's side of events out (internal/events): what is due for
// one subscription, and what became of each attempt. Every call runs in the
// subscription's tenant's scope, so row-level security holds for the
// dispatcher as for the API.

// Limits of what an attempt keeps of the receiver's answer (the columns'
// sizes): an excerpt, never the body.
const (
	MaxAttemptError   = 500
	MaxAttemptExcerpt = 1024
)

// DueDelivery is a delivery the dispatcher claimed, with the event it
// carries.
type DueDelivery struct {
	ID        string
	EventID   string
	EventType string
	// Resource and ResourceID name what the event is about; deliveries of
	// one resource are sent one after the other, in order.
	Resource   string
	ResourceID string
	Sequence   int64
	Body       string
	// Attempts made before this one.
	Attempts  int
	CreatedAt time.Time
}

// SubscriptionForDelivery reads the subscription the dispatcher delivers
// to, secrets included; ErrNotFound once it is deleted.
func (s *Store) SubscriptionForDelivery(ctx context.Context, tenantID, id string) (*Subscription, error) {
	if !ValidID(id) {
		return nil, ErrNotFound
	}
	q := query{table: "event_subscriptions", order: "id"}
	q.and("id = ?", id)
	sub, err := findOne[Subscription](ctx, s, ScopeOf(tenantID), q)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("read subscription %s: %w", id, err)
	}
	return sub, err
}

// ClaimDueDeliveries takes up to limit pending deliveries of a
// subscription whose time has come, oldest first, and moves their next
// attempt lease ahead: a dispatcher that dies while sending them leaves
// them due again once the lease has passed, to be sent again (at least
// once, with the same webhook-id). On PostgreSQL rows another dispatcher
// holds are skipped, not waited for.
func (s *Store) ClaimDueDeliveries(ctx context.Context, tenantID, subscriptionID string, limit int, lease time.Duration) ([]DueDelivery, error) {
	if !ValidID(subscriptionID) || limit <= 0 {
		return nil, nil
	}
	var out []DueDelivery
	err := s.write(ctx, ScopeOf(tenantID), func(tx *gorm.DB) error {
		now := s.Now()
		lock := ""
		if s.dialect == Postgres {
			lock = " FOR UPDATE OF d SKIP LOCKED"
		}
		rows, err := tx.Raw(`SELECT d.id, d.event_id, e.type, e.resource, e.resource_id, e.sequence, e.body, d.attempts, d.created_at
			FROM event_deliveries d JOIN events e ON e.id = d.event_id AND e.tenant_id = d.tenant_id
			WHERE d.subscription_id = ? AND d.tenant_id = ? AND d.status = ? AND d.next_attempt_at <= ?
			ORDER BY d.created_at, e.sequence, d.id LIMIT ?`+lock,
			subscriptionID, tenantID, DeliveryPending, now, limit).Rows()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d DueDelivery
			if err := rows.Scan(&d.ID, &d.EventID, &d.EventType, &d.Resource, &d.ResourceID, &d.Sequence, &d.Body, &d.Attempts, &d.CreatedAt); err != nil {
				return fmt.Errorf("scan delivery: %w", err)
			}
			d.CreatedAt = d.CreatedAt.UTC()
			out = append(out, d)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(out) == 0 {
			return nil
		}
		ids := make([]string, len(out))
		for i, d := range out {
			ids[i] = d.ID
		}
		return tx.Model(&EventDelivery{}).Where("id IN ? AND tenant_id = ?", ids, tenantID).
			Updates(map[string]any{"next_attempt_at": now.Add(lease), "updated_at": now}).Error
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries of %s: %w", subscriptionID, err)
	}
	return out, nil
}

// AttemptOutcome is one attempt of a delivery and what it leaves the
// delivery in.
type AttemptOutcome struct {
	DeliveryID string
	// Attempt is this attempt's number: the delivery's attempts before it,
	// plus one.
	Attempt     int
	AttemptedAt time.Time
	// StatusCode is nil when nothing was answered (refused, timed out).
	StatusCode *int
	Duration   time.Duration
	Error      string
	Excerpt    string
	// Status is the delivery's state after the attempt: pending (with
	// NextAttemptAt), delivered or failed.
	Status        string
	NextAttemptAt *time.Time
	// DisableSubscription, when set, disables the delivery's subscription
	// in the same transaction, for this reason (DisabledGone).
	DisableSubscription string
	SubscriptionID      string
}

// Deferral moves pending deliveries' next attempt to At.
type Deferral struct {
	IDs []string
	At  time.Time
}

// RecordDeliveryPass stores what one pass of the dispatcher did, in one
// transaction: every attempt with its delivery's new state, and the
// deliveries it handed back unsent (they wait behind an earlier event of
// the same resource; no attempt counted). For each attempt it says whether
// it was recorded: not when the delivery is no longer the pending one with
// Attempt-1 attempts the dispatcher claimed (another dispatcher recorded
// this attempt already, or it was deleted with its subscription). One transaction
// per pass rather than per attempt keeps the dispatcher's writes few when
// events come fast (SQLite has a single writer).
func (s *Store) RecordDeliveryPass(ctx context.Context, tenantID string, outcomes []AttemptOutcome, deferred []Deferral) ([]bool, error) {
	recorded := make([]bool, len(outcomes))
	if len(outcomes) == 0 && len(deferred) == 0 {
		return recorded, nil
	}
	err := s.write(ctx, ScopeOf(tenantID), func(tx *gorm.DB) error {
		now := s.Now()
		for i, o := range outcomes {
			ok, err := recordAttempt(tx, now, tenantID, o)
			if err != nil {
				return fmt.Errorf("record attempt %d of delivery %s: %w", o.Attempt, o.DeliveryID, err)
			}
			recorded[i] = ok
		}
		for _, d := range deferred {
			if err := deferDeliveries(tx, now, tenantID, d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("record deliveries: %w", err)
	}
	return recorded, nil
}

func recordAttempt(tx *gorm.DB, now time.Time, tenantID string, o AttemptOutcome) (bool, error) {
	lastErr := clipText(o.Error, MaxAttemptError)
	updates := map[string]any{
		"status": o.Status, "attempts": o.Attempt, "next_attempt_at": nil, "last_status_code": o.StatusCode,
		"last_error": optionalText(lastErr), "updated_at": now,
	}
	if o.Status == DeliveryPending && o.NextAttemptAt != nil {
		updates["next_attempt_at"] = o.NextAttemptAt.UTC()
	}
	if o.Status == DeliveryDelivered {
		updates["delivered_at"] = now
	}
	res := tx.Model(&EventDelivery{}).
		Where("id = ? AND tenant_id = ? AND status = ? AND attempts = ?", o.DeliveryID, tenantID, DeliveryPending, o.Attempt-1).
		Updates(updates)
	if res.Error != nil || res.RowsAffected == 0 {
		return false, res.Error
	}
	a := DeliveryAttempt{
		ID: NewID(), DeliveryID: o.DeliveryID, TenantID: tenantID, Attempt: o.Attempt, AttemptedAt: o.AttemptedAt.UTC().Truncate(time.Microsecond),
		StatusCode: o.StatusCode, DurationMS: int(o.Duration / time.Millisecond), Error: optionalText(lastErr),
		ResponseExcerpt: optionalText(clipText(o.Excerpt, MaxAttemptExcerpt)),
	}
	if err := tx.Create(&a).Error; err != nil {
		return false, fmt.Errorf("insert attempt: %w", err)
	}
	if o.DisableSubscription != "" {
		err := tx.Model(&Subscription{}).Where("id = ? AND tenant_id = ?", o.SubscriptionID, tenantID).
			Updates(map[string]any{"enabled": false, "disabled_reason": o.DisableSubscription, "updated_at": now}).Error
		if err != nil {
			return false, fmt.Errorf("disable subscription: %w", err)
		}
	}
	return true, nil
}

func deferDeliveries(tx *gorm.DB, now time.Time, tenantID string, d Deferral) error {
	if len(d.IDs) == 0 {
		return nil
	}
	err := tx.Model(&EventDelivery{}).Where("id IN ? AND tenant_id = ? AND status = ?", d.IDs, tenantID, DeliveryPending).
		Updates(map[string]any{"next_attempt_at": d.At.UTC(), "updated_at": now}).Error
	if err != nil {
		return fmt.Errorf("defer deliveries: %w", err)
	}
	return nil
}

// OldestPendingDelivery is when the oldest delivery of a subscription still
// pending was queued; nil when none is.
func (s *Store) OldestPendingDelivery(ctx context.Context, tenantID, subscriptionID string) (*time.Time, error) {
	if !ValidID(subscriptionID) {
		return nil, nil
	}
	q := query{table: "event_deliveries", order: "created_at", limit: 1}
	q.and("subscription_id = ? AND status = ?", subscriptionID, DeliveryPending)
	var rows []EventDelivery
	if err := s.find(ctx, ScopeOf(tenantID), q, &rows); err != nil {
		return nil, fmt.Errorf("oldest pending delivery of %s: %w", subscriptionID, err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	t := rows[0].CreatedAt.UTC()
	return &t, nil
}

// clip keeps at most n characters of valid UTF-8 without NUL bytes (which
// PostgreSQL's text refuses): what a receiver answers is not ours to trust.
func clipText(v string, n int) string {
	v = strings.ToValidUTF8(strings.ReplaceAll(v, "\x00", ""), "\uFFFD")
	if r := []rune(v); len(r) > n {
		return string(r[:n])
	}
	return v
}

func optionalText(v string) *string {
	if v == "" {
		return nil
	}
	return &v
}

// Pruned is what one PruneEventDeliveries removed.
type Pruned struct {
	Deliveries, Events int64
}

// PruneEventDeliveries deletes a subscription's finished (delivered or failed)
// deliveries last changed before before, with their attempts (ON DELETE
// CASCADE), then the tenant's events created before before that no delivery
// references any more; a pending delivery and its event stay, whatever
// their age. It runs in the tenant's scope (row-level security allows no
// other: the dispatcher, which knows the tenant, calls it), batch rows per
// statement and at most batches statements per table, each in its own
// short transaction, so a first prune of a long history neither holds
// locks long nor stalls SQLite's single writer; what is left goes on the
// next call.
func (s *Store) PruneEventDeliveries(ctx context.Context, tenantID, subscriptionID string, before time.Time, batch, batches int) (Pruned, error) {
	var p Pruned
	if !ValidID(subscriptionID) || batch <= 0 || batches <= 0 {
		return p, nil
	}
	before = before.UTC()
	run := func(what string, n *int64, q string, args ...any) error {
		for range batches {
			var affected int64
			err := s.write(ctx, ScopeOf(tenantID), func(tx *gorm.DB) error {
				res := tx.Exec(q, args...)
				affected = res.RowsAffected
				return res.Error
			})
			if err != nil {
				return fmt.Errorf("prune %s of %s: %w", what, subscriptionID, err)
			}
			*n += affected
			if affected < int64(batch) {
				return nil
			}
		}
		return nil
	}
	// The conditions are repeated outside the subquery: on PostgreSQL a
	// row changed meanwhile (a failed delivery redelivered, pending again)
	// is checked again in its new state, and kept.
	err := run("deliveries", &p.Deliveries, `DELETE FROM event_deliveries WHERE id IN (
			SELECT id FROM event_deliveries WHERE subscription_id = ? AND tenant_id = ? AND status IN (?, ?) AND updated_at < ? LIMIT ?)
			AND status IN (?, ?) AND updated_at < ?`,
		subscriptionID, tenantID, DeliveryDelivered, DeliveryFailed, before, batch, DeliveryDelivered, DeliveryFailed, before)
	if err != nil {
		return p, err
	}
	// Deliveries reference events of their own tenant only, so what the
	// tenant's scope shows of event_deliveries is all that can hold one.
	err = run("events", &p.Events, `DELETE FROM events WHERE id IN (
			SELECT e.id FROM events e WHERE e.tenant_id = ? AND e.created_at < ?
			AND NOT EXISTS (SELECT 1 FROM event_deliveries d WHERE d.event_id = e.id) LIMIT ?)`,
		tenantID, before, batch)
	return p, err
}
