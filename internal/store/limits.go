package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// CountCreate counts one create by subject in tenant in the fixed window of
// length window that holds now, and returns the count so far (this one
// included) and when the window ends. The count is one atomic upsert, so API
// replicas sharing the database count together. A create stamped with an
// earlier window than the row's (a replica whose clock is behind) counts in
// the row's window instead of starting it over.
func (s *Store) CountCreate(ctx context.Context, tenant, subject string, window time.Duration) (n int64, ends time.Time, err error) {
	secs := int64(window / time.Second)
	if secs <= 0 {
		return 0, time.Time{}, fmt.Errorf("count create: %w: window %s is under a second", ErrInvalid, window)
	}
	start := s.Now().Unix() / secs * secs
	var row struct {
		Count       int64
		WindowStart int64
	}
	err = s.write(ctx, ScopeOf(tenant), func(tx *gorm.DB) error {
		return tx.Raw(`INSERT INTO create_rate_limits AS t (tenant_id, subject, window_start, count) VALUES (?, ?, ?, 1)
			ON CONFLICT (tenant_id, subject) DO UPDATE SET
				count = CASE WHEN t.window_start >= excluded.window_start THEN t.count + 1 ELSE 1 END,
				window_start = CASE WHEN t.window_start >= excluded.window_start THEN t.window_start ELSE excluded.window_start END
			RETURNING count, window_start`, tenant, subject, start).Scan(&row).Error
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("count create of %s in %s: %w", subject, tenant, err)
	}
	return row.Count, time.Unix(row.WindowStart+secs, 0).UTC(), nil
}

// PruneDeliveries deletes up to batch webhook deliveries received before
// before, and returns how many it deleted. A delivery older than the
// retention can no longer be sent again (every receiver refuses stale
// signatures long before), so its dedupe key is of no more use.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time, batch int) (int64, error) {
	if batch <= 0 {
		return 0, fmt.Errorf("prune deliveries: %w: batch %d", ErrInvalid, batch)
	}
	res := s.db.WithContext(ctx).Exec(`DELETE FROM webhook_deliveries WHERE (source, delivery_id) IN
		(SELECT source, delivery_id FROM webhook_deliveries WHERE received_at < ? LIMIT ?)`, before.UTC(), batch)
	if res.Error != nil {
		return 0, fmt.Errorf("prune deliveries before %s: %w", before.Format(time.RFC3339), res.Error)
	}
	return res.RowsAffected, nil
}
