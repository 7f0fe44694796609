package store

import (
	"context"
	"fmt"
	"strings"
)

// query is a read of tenant-owned rows. find adds the tenant condition
// itself, so no read can leave it out.
type query struct {
	table string
	where []string
	args  []any
	order string
	limit int
}

func (q *query) and(cond string, args ...any) {
	q.where = append(q.where, cond)
	q.args = append(q.args, args...)
}

// find runs q within scope into dest (a pointer to a slice).
//
// On PostgreSQL the read is one statement that first declares the scope to
// row-level security and then scans: the setting is made in a one-row
// subquery that the scan depends on laterally, so it is evaluated before the
// scan starts, and is_local confines it to the statement's own transaction.
// This spares three round trips (BEGIN, set_config, COMMIT) per read. Should
// the order ever not hold, the policy sees no tenants and the read returns
// nothing: it fails closed.
func (s *Store) find(ctx context.Context, scope Scope, q query, dest any) error {
	if scope.empty() {
		return nil
	}
	q.and("tenant_id IN ?", scope.tenants)
	where := strings.Join(q.where, " AND ")
	if s.dialect != Postgres {
		db := s.db.WithContext(ctx).Table(q.table).Where(where, q.args...).Order(q.order)
		if q.limit > 0 {
			db = db.Limit(q.limit)
		}
		return db.Find(dest).Error
	}
	limit := ""
	if q.limit > 0 {
		limit = fmt.Sprintf(" LIMIT %d", q.limit)
	}
	sql := "SELECT t.* FROM (SELECT set_config('app.tenant_ids', ?, true) AS s) AS cfg CROSS JOIN LATERAL (" +
		"SELECT * FROM " + q.table + " WHERE cfg.s IS NOT NULL AND " + where + " ORDER BY " + q.order + limit +
		") AS t ORDER BY " + q.order
	return dataError(s.db.WithContext(ctx).Raw(sql, append([]any{scope.joined()}, q.args...)...).Find(dest).Error)
}

// findOne reads the single row q selects; ErrNotFound when there is none.
func findOne[T any](ctx context.Context, s *Store, scope Scope, q query) (*T, error) {
	q.limit = 1
	var rows []T
	if err := s.find(ctx, scope, q, &rows); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, ErrNotFound
	}
	return &rows[0], nil
}

// findPage reads one keyset page of newest-first rows.
func findPage[T any](ctx context.Context, s *Store, scope Scope, q query, limit int, cur *Cursor, key func(*T) Cursor) ([]T, *Cursor, error) {
	limit = ClampLimit(limit)
	if cur != nil {
		q.and("(created_at, id) < (?, ?)", cur.CreatedAt, cur.ID)
	}
	q.order, q.limit = "created_at DESC, id DESC", limit+1
	rows := make([]T, 0, limit+1)
	if err := s.find(ctx, scope, q, &rows); err != nil {
		return nil, nil, fmt.Errorf("read page: %w", err)
	}
	if len(rows) <= limit {
		return rows, nil, nil
	}
	rows = rows[:limit]
	next := key(&rows[limit-1])
	return rows, &next, nil
}
