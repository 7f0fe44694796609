package store

import (
	"context"
	"fmt"
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
