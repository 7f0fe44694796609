package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Notification statuses.
const (
	NotificationSending = "sending"
	NotificationSent    = "sent"
	NotificationFailed  = "failed"
	NotificationSkipped = "skipped"
)

// Notification records one outgoing message or call. A row in "sending"
// means an attempt began and may have reached the other side: the next
// attempt reconciles before sending again.
type Notification struct {
	Key        string `gorm:"primaryKey"`
	TenantID   string
	ApprovalID string
	Kind       string
	Target     string
	Status     string
	ExternalID *string
	Attempts   int
	LastError  *string
	CreatedAt  time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt  time.Time `gorm:"autoUpdateTime:false"`
}

// GetNotification reads the notification key of a tenant in scope;
// ErrNotFound when there is none.
func (s *Store) GetNotification(ctx context.Context, scope Scope, key string) (*Notification, error) {
	n, err := findOne[Notification](ctx, s, scope, query{table: "notifications", where: []string{"key = ?"}, args: []any{key}, order: "key"})
	if err != nil {
		return nil, fmt.Errorf("get notification %s: %w", key, err)
	}
	return n, nil
}

// BeginNotification marks an attempt: it inserts the row in "sending" or
// counts one more attempt of an unfinished one, and returns the row as it was
// before (nil for the first attempt). It runs in n.TenantID's scope; a key
// already used by another tenant is ErrConflict.
func (s *Store) BeginNotification(ctx context.Context, n Notification) (*Notification, error) {
	var prev *Notification
	err := s.write(ctx, ScopeOf(n.TenantID), func(tx *gorm.DB) error {
		var cur Notification
		read := func() error {
			// The tenant condition repeats the policy for SQLite, which has none.
			return tx.Where("key = ? AND tenant_id = ?", n.Key, n.TenantID).First(&cur).Error
		}
		err := read()
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			now := s.Now()
			n.Status, n.Attempts, n.CreatedAt, n.UpdatedAt = NotificationSending, 1, now, now
			res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&n)
			if res.Error != nil || res.RowsAffected == 1 {
				return res.Error
			}
			// The key exists but was not visible: another tenant's row
			// (the policy hides it), or one inserted since the read.
			if err := read(); err != nil {
				if errors.Is(err, gorm.ErrRecordNotFound) {
					return fmt.Errorf("the key is another tenant's: %w", ErrConflict)
				}
				return err
			}
			prev = &cur
			return nil
		case err != nil:
			return err
		}
		prev = &cur
		if cur.Status != NotificationSending {
			return nil
		}
		return tx.Model(&Notification{}).Where("key = ? AND tenant_id = ?", n.Key, n.TenantID).
			Updates(map[string]any{"attempts": gorm.Expr("attempts + 1"), "updated_at": s.Now()}).Error
	})
	if err != nil {
		return nil, fmt.Errorf("begin notification %s: %w", n.Key, err)
	}
	return prev, nil
}

// FinishNotification records the outcome of an attempt of a notification of
// a tenant in scope; ErrNotFound when there is none.
func (s *Store) FinishNotification(ctx context.Context, scope Scope, key, status, externalID, lastError string) error {
	updates := map[string]any{"status": status, "updated_at": s.Now()}
	if externalID != "" {
		updates["external_id"] = externalID
	}
	if lastError != "" {
		if len(lastError) > 1000 {
			lastError = lastError[:1000]
		}
		updates["last_error"] = lastError
	}
	err := s.write(ctx, scope, func(tx *gorm.DB) error {
		res := tx.Model(&Notification{}).Where("key = ? AND tenant_id IN ?", key, scope.tenants).Updates(updates)
		if res.Error == nil && res.RowsAffected == 0 {
			return ErrNotFound
		}
		return res.Error
	})
	if err != nil {
		return fmt.Errorf("finish notification %s: %w", key, err)
	}
	return nil
}

// ListNotifications returns an approval's notifications within scope (tests,
// fault drills).
func (s *Store) ListNotifications(ctx context.Context, scope Scope, approvalID string) ([]Notification, error) {
	var out []Notification
	q := query{table: "notifications", where: []string{"approval_id = ?"}, args: []any{approvalID}, order: "created_at, key"}
	if err := s.find(ctx, scope, q, &out); err != nil {
		return nil, fmt.Errorf("list notifications of %s: %w", approvalID, err)
	}
	return out, nil
}

// WebhookDelivery is a delivery already handled.
type WebhookDelivery struct {
	Source     string `gorm:"primaryKey"`
	DeliveryID string `gorm:"primaryKey"`
	ReceivedAt time.Time
}

// SeenDelivery reports whether a webhook delivery was already handled.
func (s *Store) SeenDelivery(ctx context.Context, source, id string) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&WebhookDelivery{}).Where("source = ? AND delivery_id = ?", source, id).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("check delivery: %w", err)
	}
	return n > 0, nil
}

// RecordDelivery remembers a handled delivery; recording it twice is fine.
func (s *Store) RecordDelivery(ctx context.Context, source, id string) error {
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).
		Create(&WebhookDelivery{Source: source, DeliveryID: id, ReceivedAt: s.Now()}).Error
	if err != nil {
		return fmt.Errorf("record delivery: %w", err)
	}
	return nil
}
