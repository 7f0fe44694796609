package store

import (
	"context"
	"fmt"
	"time"
)

// DeadlineCounts counts the waiting escalations (pending or info_requested)
// of every tenant whose deadline falls within the next within (near), and
// those whose deadline has passed (overdue: the workflow should have expired
// them). It returns counts only, for the deadline gauges, so it takes no
// Scope. On PostgreSQL row-level security hides other tenants' rows from the
// application role, so the count runs in orchestrator_deadline_counts (0010),
// which runs as the tables' owner and returns the two numbers alone; it uses
// the database's clock there, the store's on SQLite.
func (s *Store) DeadlineCounts(ctx context.Context, within time.Duration) (near, overdue int64, err error) {
	if within <= 0 {
		return 0, 0, fmt.Errorf("count deadlines: %w: window %s", ErrInvalid, within)
	}
	var row struct{ Near, Overdue int64 }
	if s.dialect == Postgres {
		err = s.db.WithContext(ctx).Raw("SELECT near, overdue FROM orchestrator_deadline_counts(make_interval(secs => ?))",
			within.Seconds()).Scan(&row).Error
	} else {
		now := s.Now()
		err = s.db.WithContext(ctx).Raw(`SELECT
				COALESCE(SUM(CASE WHEN expires_at > ? AND expires_at <= ? THEN 1 ELSE 0 END), 0) AS near,
				COALESCE(SUM(CASE WHEN expires_at <= ? THEN 1 ELSE 0 END), 0) AS overdue
			FROM approvals WHERE status IN (?, ?) AND expires_at IS NOT NULL`,
			now, now.Add(within), now, StatusPending, StatusInfoRequested).Scan(&row).Error
	}
	if err != nil {
		return 0, 0, fmt.Errorf("count deadlines within %s: %w", within, err)
	}
	return row.Near, row.Overdue, nil
}
