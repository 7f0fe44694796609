package store

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// UnscopedCountForTest is the deliberately broken query of the RLS test: it
// reads a table without declaring any tenant scope.
func (s *Store) UnscopedCountForTest(ctx context.Context, table string) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Raw(fmt.Sprintf("SELECT count(*) FROM %s", table)).Scan(&n).Error
	return n, err
}

// UnscopedInsertForTest writes without a declared scope.
func (s *Store) UnscopedInsertForTest(ctx context.Context, tenant string) error {
	now := s.Now()
	return s.db.WithContext(ctx).Create(&Approval{ID: NewID(), TenantID: tenant, Title: "x", Status: StatusPending,
		Priority: PriorityLow, RequestedBy: "u", Metadata: JSON("{}"), CreatedAt: now, UpdatedAt: now}).Error
}

// gormApprovals is not a type scannerFor knows: GORM reads it.
type gormApprovals []Approval

// ApprovalsThroughGORMForTest reads a tenant's approvals, newest first, the
// way every read went before scannerFor: through GORM's reflection.
func (s *Store) ApprovalsThroughGORMForTest(ctx context.Context, tenant string) ([]Approval, error) {
	q := query{table: "approvals", order: "created_at DESC, id DESC", limit: 100}
	var rows gormApprovals
	err := s.find(ctx, ScopeOf(tenant), q, &rows)
	return rows, err
}

// EventsForTest reads a tenant's events in the order they were written (ids are time-ordered).
func (s *Store) EventsForTest(ctx context.Context, tenant string) ([]Event, error) {
	var rows []Event
	err := s.find(ctx, ScopeOf(tenant), query{table: "events", order: "id"}, &rows)
	return rows, err
}

// FinishDeliveryForTest records one attempt of a delivery and its outcome,
// as the dispatcher does.
func (s *Store) FinishDeliveryForTest(ctx context.Context, tenant, deliveryID, status string, code int) error {
	return s.write(ctx, ScopeOf(tenant), func(tx *gorm.DB) error {
		var d EventDelivery
		if err := tx.Where("tenant_id = ? AND id = ?", tenant, deliveryID).First(&d).Error; err != nil {
			return err
		}
		now := s.Now()
		msg := "test"
		if err := tx.Create(&DeliveryAttempt{ID: NewID(), DeliveryID: d.ID, TenantID: tenant, Attempt: d.Attempts + 1,
			AttemptedAt: now, StatusCode: &code, DurationMS: 12, Error: &msg}).Error; err != nil {
			return err
		}
		return tx.Model(&EventDelivery{}).Where("id = ?", d.ID).Updates(map[string]any{
			"status": status, "attempts": d.Attempts + 1, "last_status_code": code, "next_attempt_at": nil, "updated_at": now,
		}).Error
	})
}
