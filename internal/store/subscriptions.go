package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/orchestrator-dev/orchestrator/internal/domain"
)

// Subscriptions of a tenant to its events, and what was delivered to them.
// The API checks who may do what; the store keeps each tenant's rows to
// itself (Scope) and the count of subscriptions within its limit.

// ErrLimitReached: the tenant already has as many of something as it may.
var ErrLimitReached = errors.New("limit reached")

// Why a subscription is disabled (disabled_reason).
const (
	// DisabledByUser: someone set enabled to false.
	DisabledByUser = "user"
	// DisabledGone: the receiver answered 410 Gone.
	DisabledGone = "gone"
)

// Audit actions of subscription changes: who pointed the tenant's events
// where, and when, is on the audit trail (the subscription as the API shows
// it, never its secret), as a webhook endpoint's changes are in GitHub's
// audit log. They are not events.
const (
	ResourceSubscription      = "subscription"
	ActionSubscriptionCreated = "subscription.created"
	ActionSubscriptionUpdated = "subscription.updated"
	ActionSubscriptionDeleted = "subscription.deleted"
	ActionSubscriptionRotated = "subscription.secret_rotated"
)

// auditSubscription writes entry, when given, about sub: the caller says
// who (UserID, UserName, Channel); the action, resource, tenant, time and
// values are the store's. Secret and PreviousSecret are json:"-", so
// neither reaches the trail.
func auditSubscription(tx *gorm.DB, entry *AuditLog, action string, at time.Time, old, sub *Subscription) error {
	if entry == nil {
		return nil
	}
	entry.Action, entry.Resource, entry.ResourceID, entry.TenantID, entry.CreatedAt = action, ResourceSubscription, sub.ID, sub.TenantID, at
	if old != nil {
		entry.OldValues = MustJSON(old)
	}
	if action != ActionSubscriptionDeleted {
		entry.NewValues = MustJSON(sub)
	}
	return insertAudit(tx, entry)
}

// secretBytes is the size of a signing key: 32 random bytes, the most
// Standard Webhooks allows (24 to 64).
const secretBytes = 32

// NewSigningSecret returns a new Standard Webhooks signing secret:
// "whsec_" and the base64 of 32 random bytes.
func NewSigningSecret() (string, error) {
	var b [secretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new signing secret: %w", err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b[:]), nil
}

// CreateSubscription stores sub as a new, enabled subscription of its
// tenant, with a new signing secret unless it names one, and returns it as
// stored (its Secret included: the only time anyone sees it besides a
// rotation). A tenant with limit subscriptions already is ErrLimitReached
// (limit <= 0: no limit). entry, when given, is its audit entry
// (auditSubscription).
func (s *Store) CreateSubscription(ctx context.Context, sub Subscription, limit int, entry *AuditLog) (*Subscription, error) {
	if !ValidTenantID(sub.TenantID) || sub.URL == "" {
		return nil, fmt.Errorf("create subscription: %w: a tenant and a url are required", ErrInvalid)
	}
	for _, p := range sub.EventTypes {
		if !domain.ValidEventPattern(p) {
			return nil, fmt.Errorf("create subscription: %w: unknown event type %q", ErrInvalid, p)
		}
	}
	if sub.Secret == "" {
		secret, err := NewSigningSecret()
		if err != nil {
			return nil, err
		}
		sub.Secret = secret
	}
	now := s.Now()
	sub.ID, sub.Enabled, sub.DisabledReason = NewID(), true, nil
	sub.PreviousSecret, sub.PreviousSecretExpiresAt = nil, nil
	sub.CreatedAt, sub.UpdatedAt = now, now
	if sub.EventTypes == nil {
		sub.EventTypes = StringList{}
	}
	err := s.write(ctx, ScopeOf(sub.TenantID), func(tx *gorm.DB) error {
		if s.dialect == Postgres {
			// Two creates at once must not both pass the count.
			if err := tx.Exec("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", "event_subscriptions:"+sub.TenantID).Error; err != nil {
				return fmt.Errorf("lock the tenant's subscriptions: %w", err)
			}
		}
		if limit > 0 {
			var n int64
			if err := tx.Model(&Subscription{}).Where("tenant_id = ?", sub.TenantID).Count(&n).Error; err != nil {
				return fmt.Errorf("count subscriptions: %w", err)
			}
			if n >= int64(limit) {
				return fmt.Errorf("%w: tenant %s has %d subscriptions, the most it may have", ErrLimitReached, sub.TenantID, n)
			}
		}
		if err := tx.Create(&sub).Error; err != nil {
			return err
		}
		return auditSubscription(tx, entry, ActionSubscriptionCreated, now, nil, tidySubscription(&sub))
	})
	if err != nil {
		return nil, fmt.Errorf("create subscription: %w", err)
	}
	return &sub, nil
}

// GetSubscription reads one subscription within scope; another tenant's id
// is ErrNotFound, like an id that does not exist.
func (s *Store) GetSubscription(ctx context.Context, scope Scope, id string) (*Subscription, error) {
	if !ValidID(id) {
		return nil, ErrNotFound
	}
	q := query{table: "event_subscriptions", order: "id"}
	q.and("id = ?", id)
	sub, err := findOne[Subscription](ctx, s, scope, q)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("get subscription %s: %w", id, err)
	}
	return tidySubscription(sub), nil
}

// SubscriptionQuery selects a page of one tenant's subscriptions.
type SubscriptionQuery struct {
	TenantID string
	Limit    int
	Cursor   *Cursor
}

// ListSubscriptions reads a page of one tenant's subscriptions, newest first.
func (s *Store) ListSubscriptions(ctx context.Context, scope Scope, q SubscriptionQuery) ([]Subscription, *Cursor, error) {
	one, ok := scope.Narrow(q.TenantID)
	if !ok {
		return nil, nil, ErrNotFound
	}
	rows, next, err := findPage(ctx, s, one, query{table: "event_subscriptions"}, q.Limit, q.Cursor,
		func(sub *Subscription) Cursor { return Cursor{sub.CreatedAt, sub.ID} })
	if err != nil {
		return nil, nil, fmt.Errorf("list subscriptions: %w", err)
	}
	for i := range rows {
		tidySubscription(&rows[i])
	}
	return rows, next, nil
}

// SubscriptionUpdate is a change of a subscription; nil fields stay as
// they are.
type SubscriptionUpdate struct {
	URL         *string
	EventTypes  *[]string
	Description *string
	// Enabled true enables it again (whatever disabled it); false disables
	// it by the user's wish (DisabledByUser).
	Enabled *bool
}

// UpdateSubscription applies u to the subscription id within scope and
// returns it as stored; entry, when given, is its audit entry.
func (s *Store) UpdateSubscription(ctx context.Context, scope Scope, id string, u SubscriptionUpdate, entry *AuditLog) (*Subscription, error) {
	if u.EventTypes != nil {
		for _, p := range *u.EventTypes {
			if !domain.ValidEventPattern(p) {
				return nil, fmt.Errorf("update subscription %s: %w: unknown event type %q", id, ErrInvalid, p)
			}
		}
	}
	var out *Subscription
	err := s.changeSubscription(ctx, scope, id, func(tx *gorm.DB, sub *Subscription) error {
		now := s.Now()
		updates := map[string]any{"updated_at": now}
		if u.URL != nil {
			updates["url"] = *u.URL
		}
		if u.EventTypes != nil {
			updates["event_types"] = StringList(slices.Clone(*u.EventTypes))
		}
		if u.Description != nil {
			updates["description"] = *u.Description
		}
		switch {
		case u.Enabled == nil:
		case *u.Enabled:
			updates["enabled"], updates["disabled_reason"] = true, nil
		case sub.Enabled:
			// Disabled already (by a 410, say), it keeps its reason.
			updates["enabled"], updates["disabled_reason"] = false, DisabledByUser
		}
		if err := tx.Model(&Subscription{}).Where("tenant_id = ? AND id = ?", sub.TenantID, sub.ID).Updates(updates).Error; err != nil {
			return fmt.Errorf("update: %w", err)
		}
		var err error
		if out, err = readSubscription(tx, sub.TenantID, sub.ID); err != nil {
			return err
		}
		return auditSubscription(tx, entry, ActionSubscriptionUpdated, now, sub, out)
	})
	if err != nil {
		return nil, fmt.Errorf("update subscription %s: %w", id, err)
	}
	return out, nil
}

// DeleteSubscription removes the subscription id within scope, with its
// deliveries and their attempts. The events stay: other subscriptions may
// be delivering them. entry, when given, is its audit entry.
func (s *Store) DeleteSubscription(ctx context.Context, scope Scope, id string, entry *AuditLog) error {
	err := s.changeSubscription(ctx, scope, id, func(tx *gorm.DB, sub *Subscription) error {
		// Explicitly rather than by the foreign keys' cascade, which
		// SQLite applies only with its foreign_keys pragma on.
		if err := tx.Exec(`DELETE FROM event_delivery_attempts WHERE tenant_id = ? AND delivery_id IN
				(SELECT id FROM event_deliveries WHERE tenant_id = ? AND subscription_id = ?)`, sub.TenantID, sub.TenantID, sub.ID).Error; err != nil {
			return fmt.Errorf("delete attempts: %w", err)
		}
		if err := tx.Where("tenant_id = ? AND subscription_id = ?", sub.TenantID, sub.ID).Delete(&EventDelivery{}).Error; err != nil {
			return fmt.Errorf("delete deliveries: %w", err)
		}
		if err := tx.Where("tenant_id = ? AND id = ?", sub.TenantID, sub.ID).Delete(&Subscription{}).Error; err != nil {
			return err
		}
		return auditSubscription(tx, entry, ActionSubscriptionDeleted, s.Now(), sub, sub)
	})
	if err != nil {
		return fmt.Errorf("delete subscription %s: %w", id, err)
	}
	return nil
}

// RotateSecret gives the subscription id a new signing secret and keeps the
// current one signing beside it for overlap, so that receivers can switch
// without missing a delivery. A secret kept from an earlier rotation is
// dropped. It returns the subscription with the new Secret. entry, when
// given, is its audit entry (without either secret).
func (s *Store) RotateSecret(ctx context.Context, scope Scope, id string, overlap time.Duration, entry *AuditLog) (*Subscription, error) {
	secret, err := NewSigningSecret()
	if err != nil {
		return nil, err
	}
	var out *Subscription
	err = s.changeSubscription(ctx, scope, id, func(tx *gorm.DB, sub *Subscription) error {
		now := s.Now()
		updates := map[string]any{
			"secret": secret, "previous_secret": sub.Secret, "previous_secret_expires_at": now.Add(overlap), "updated_at": now,
		}
		if err := tx.Model(&Subscription{}).Where("tenant_id = ? AND id = ?", sub.TenantID, sub.ID).Updates(updates).Error; err != nil {
			return fmt.Errorf("update: %w", err)
		}
		var err error
		if out, err = readSubscription(tx, sub.TenantID, sub.ID); err != nil {
			return err
		}
		return auditSubscription(tx, entry, ActionSubscriptionRotated, now, nil, out)
	})
	if err != nil {
		return nil, fmt.Errorf("rotate secret of subscription %s: %w", id, err)
	}
	return out, nil
}

// changeSubscription runs fn on the subscription id, locked (PostgreSQL),
// in a transaction restricted to its tenant.
func (s *Store) changeSubscription(ctx context.Context, scope Scope, id string, fn func(tx *gorm.DB, sub *Subscription) error) error {
	sub, err := s.GetSubscription(ctx, scope, id)
	if err != nil {
		return err
	}
	return s.write(ctx, ScopeOf(sub.TenantID), func(tx *gorm.DB) error {
		q := tx.Where("tenant_id = ? AND id = ?", sub.TenantID, sub.ID)
		if s.dialect == Postgres {
			q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
		}
		var rows []Subscription
		if err := q.Limit(1).Find(&rows).Error; err != nil {
			return fmt.Errorf("read subscription: %w", err)
		}
		if len(rows) == 0 {
			return ErrNotFound // deleted meanwhile
		}
		return fn(tx, tidySubscription(&rows[0]))
	})
}

func readSubscription(tx *gorm.DB, tenant, id string) (*Subscription, error) {
	var sub Subscription
	if err := tx.Where("tenant_id = ? AND id = ?", tenant, id).First(&sub).Error; err != nil {
		return nil, fmt.Errorf("read subscription: %w", err)
	}
	return tidySubscription(&sub), nil
}

// tidySubscription puts times in UTC and makes an empty event list [].
func tidySubscription(sub *Subscription) *Subscription {
	sub.CreatedAt, sub.UpdatedAt = sub.CreatedAt.UTC(), sub.UpdatedAt.UTC()
	if sub.PreviousSecretExpiresAt != nil {
		t := sub.PreviousSecretExpiresAt.UTC()
		sub.PreviousSecretExpiresAt = &t
	}
	if sub.EventTypes == nil {
		sub.EventTypes = StringList{}
	}
	return sub
}

// DeliveryQuery selects a page of one subscription's deliveries.
type DeliveryQuery struct {
	SubscriptionID string
	// Status keeps only deliveries in it (DeliveryPending, ...); empty: any.
	Status string
	Limit  int
	Cursor *Cursor
}

// DeliveryRecord is a delivery as the API lists it: with its event's type
// and body (what was signed and sent) and every attempt, oldest first.
type DeliveryRecord struct {
	EventDelivery
	EventType    string            `json:"eventType"`
	Event        json.RawMessage   `json:"event"`
	AttemptsMade []DeliveryAttempt `json:"attempts"`
}

// ListDeliveries reads a page of a subscription's deliveries, newest first,
// with their attempts. A subscription outside scope is ErrNotFound.
func (s *Store) ListDeliveries(ctx context.Context, scope Scope, q DeliveryQuery) ([]DeliveryRecord, *Cursor, error) {
	sub, err := s.GetSubscription(ctx, scope, q.SubscriptionID)
	if err != nil {
		return nil, nil, err
	}
	one := ScopeOf(sub.TenantID)
	sel := query{table: "event_deliveries"}
	sel.and("subscription_id = ?", sub.ID)
	if q.Status != "" {
		sel.and("status = ?", q.Status)
	}
	rows, next, err := findPage(ctx, s, one, sel, q.Limit, q.Cursor,
		func(d *EventDelivery) Cursor { return Cursor{d.CreatedAt, d.ID} })
	if err != nil {
		return nil, nil, fmt.Errorf("list deliveries: %w", err)
	}
	out := make([]DeliveryRecord, len(rows))
	if len(rows) == 0 {
		return out, next, nil
	}
	ids, eventIDs := make([]string, len(rows)), make([]string, len(rows))
	for i, d := range rows {
		ids[i], eventIDs[i] = d.ID, d.EventID
	}
	var attempts []DeliveryAttempt
	aq := query{table: "event_delivery_attempts", order: "delivery_id, attempt"}
	aq.and("delivery_id IN ?", ids)
	if err := s.find(ctx, one, aq, &attempts); err != nil {
		return nil, nil, fmt.Errorf("list delivery attempts: %w", err)
	}
	var events []Event
	eq := query{table: "events", order: "id"}
	eq.and("id IN ?", slices.Compact(slices.Sorted(slices.Values(eventIDs))))
	if err := s.find(ctx, one, eq, &events); err != nil {
		return nil, nil, fmt.Errorf("list delivered events: %w", err)
	}
	byEvent := make(map[string]*Event, len(events))
	for i := range events {
		byEvent[events[i].ID] = &events[i]
	}
	byDelivery := make(map[string][]DeliveryAttempt, len(rows))
	for _, a := range attempts {
		a.AttemptedAt = a.AttemptedAt.UTC()
		byDelivery[a.DeliveryID] = append(byDelivery[a.DeliveryID], a)
	}
	for i, d := range rows {
		tidyDelivery(&d)
		out[i] = DeliveryRecord{EventDelivery: d, AttemptsMade: byDelivery[d.ID]}
		if out[i].AttemptsMade == nil {
			out[i].AttemptsMade = []DeliveryAttempt{}
		}
		if ev := byEvent[d.EventID]; ev != nil {
			out[i].EventType, out[i].Event = ev.Type, json.RawMessage(ev.Body)
		}
	}
	return out, next, nil
}

// Redeliver sends the delivery deliveryID of the subscription again: back to
// pending, due now, its attempts kept (the next one is numbered after them).
// The subscription must be enabled (ErrConflict otherwise: nothing would
// send it). It returns the delivery as stored.
func (s *Store) Redeliver(ctx context.Context, scope Scope, subscriptionID, deliveryID string) (*EventDelivery, error) {
	if !ValidID(deliveryID) {
		return nil, ErrNotFound
	}
	var out EventDelivery
	err := s.changeSubscription(ctx, scope, subscriptionID, func(tx *gorm.DB, sub *Subscription) error {
		if !sub.Enabled {
			return fmt.Errorf("%w: the subscription is disabled; enable it first", ErrConflict)
		}
		now := s.Now()
		res := tx.Model(&EventDelivery{}).Where("tenant_id = ? AND subscription_id = ? AND id = ?", sub.TenantID, sub.ID, deliveryID).
			Updates(map[string]any{"status": DeliveryPending, "next_attempt_at": now, "delivered_at": nil, "updated_at": now})
		if res.Error != nil {
			return fmt.Errorf("update delivery: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return tx.Where("tenant_id = ? AND id = ?", sub.TenantID, deliveryID).First(&out).Error
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("redeliver %s: %w", deliveryID, err)
	}
	tidyDelivery(&out)
	s.deliveriesQueued([]string{out.SubscriptionID})
	return &out, nil
}

// tidyDelivery puts a delivery's times in UTC.
func tidyDelivery(d *EventDelivery) {
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	for _, p := range []**time.Time{&d.NextAttemptAt, &d.DeliveredAt} {
		if *p != nil {
			t := (*p).UTC()
			*p = &t
		}
	}
}
