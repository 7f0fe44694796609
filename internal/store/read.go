package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"gorm.io/gorm"
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
	columns, scan := "t.*", scannerFor(dest)
	if scan != nil {
		columns = scan.columns
	}
	sql := "SELECT " + columns + " FROM (SELECT set_config('app.tenant_ids', ?, true) AS s) AS cfg CROSS JOIN LATERAL (" +
		"SELECT * FROM " + q.table + " WHERE cfg.s IS NOT NULL AND " + where + " ORDER BY " + q.order + limit +
		") AS t ORDER BY " + q.order
	db := s.db.WithContext(ctx).Raw(sql, append([]any{scope.joined()}, q.args...)...)
	if scan == nil {
		return Classify(db.Find(dest).Error)
	}
	rows, err := db.Rows()
	if err != nil {
		return Classify(err)
	}
	defer rows.Close()
	return Classify(scan.rows(rows))
}

// rowScan reads a result into a slice of one row type with the columns
// named in its select list, in that order.
type rowScan struct {
	columns string
	rows    func(*sql.Rows) error
}

// scannerFor returns how to read dest without GORM, or nil to let GORM do
// it. Approvals are read this way on PostgreSQL: in a profile of the list
// endpoint (50-row pages), GORM's reflective scanning was a sixth of the
// process's CPU, more than the driver's own decoding beneath it.
func scannerFor(dest any) *rowScan {
	switch d := dest.(type) {
	case *[]Approval:
		return &rowScan{columns: approvalColumns, rows: func(r *sql.Rows) error { return scanAll(r, d) }}
	}
	return nil
}

// scanned is a row type that names its scan targets and tidies itself up
// afterwards, as GORM's AfterFind hook does when GORM reads it.
type scanned[T any] interface {
	*T
	scanTargets() []any
	AfterFind(*gorm.DB) error
}

func scanAll[T any, P scanned[T]](rows *sql.Rows, dest *[]T) error {
	for rows.Next() {
		*dest = append(*dest, *new(T))
		row := P(&(*dest)[len(*dest)-1])
		if err := rows.Scan(row.scanTargets()...); err != nil {
			return fmt.Errorf("scan row: %w", err)
		}
		if err := row.AfterFind(nil); err != nil {
			return err
		}
	}
	return rows.Err()
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
