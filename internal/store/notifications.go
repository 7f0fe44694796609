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

// GetNotification reads a notification by key; ErrNotFound when none.
func (s *Store) GetNotification(ctx context.Context, key string) (*Notification, error) {
	var n Notification
	err := s.db.WithContext(ctx).First(&n, "key = ?", key).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get notification %s: %w", key, err)
	}
	return &n, nil
}

// BeginNotification marks an attempt: it inserts the row in "sending" or
// counts one more attempt of an unfinished one, and returns the row as it was
// before (nil for the first attempt).
func (s *Store) BeginNotification(ctx context.Context, n Notification) (*Notification, error) {
	var prev *Notification
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var cur Notification
		err := tx.First(&cur, "key = ?", n.Key).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			now := s.Now()
			n.Status, n.Attempts, n.CreatedAt, n.UpdatedAt = NotificationSending, 1, now, now
			return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&n).Error
		case err != nil:
			return err
		}
		prev = &cur
		if cur.Status != NotificationSending {
			return nil
		}
		return tx.Model(&Notification{}).Where("key = ?", n.Key).
			Updates(map[string]any{"attempts": gorm.Expr("attempts + 1"), "updated_at": s.Now()}).Error
	})
	if err != nil {
		return nil, fmt.Errorf("begin notification %s: %w", n.Key, err)
	}
	return prev, nil
}

// FinishNotification records the outcome of an attempt.
func (s *Store) FinishNotification(ctx context.Context, key, status, externalID, lastError string) error {
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
	if err := s.db.WithContext(ctx).Model(&Notification{}).Where("key = ?", key).Updates(updates).Error; err != nil {
		return fmt.Errorf("finish notification %s: %w", key, err)
	}
	return nil
}

// ListNotifications returns an approval's notifications (tests, fault drills).
func (s *Store) ListNotifications(ctx context.Context, approvalID string) ([]Notification, error) {
	var out []Notification
	err := s.db.WithContext(ctx).Where("approval_id = ?", approvalID).Order("created_at, key").Find(&out).Error
	return out, err
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
