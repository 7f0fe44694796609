package store

import (
	"context"
	"errors"
	"fmt"
	"time"

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

// notificationColumns is the notifications table's row, in Notification's
// field order, for the statements that return it.
const notificationColumns = "key, tenant_id, approval_id, kind, target, status, external_id, attempts, last_error, created_at, updated_at"

// insertNotification inserts a first attempt and returns it, or nothing when
// the key exists. On PostgreSQL the row is selected from a one-row subquery
// that first declares the tenant scope to row-level security, so the policy
// sees the scope when it checks the row, and is_local confines it to the
// statement's own transaction, as in reads (find). A key of another tenant
// is passed over too: DO NOTHING does not check the row it finds against the
// policy, where DO UPDATE would fail on it.
var (
	insertNotificationSQLite = "INSERT INTO notifications (key, tenant_id, approval_id, kind, target, status, attempts, created_at, updated_at) " +
		"VALUES (?, ?, ?, ?, ?, 'sending', 1, ?, ?) ON CONFLICT (key) DO NOTHING RETURNING " + notificationColumns
	insertNotificationPostgres = "INSERT INTO notifications (key, tenant_id, approval_id, kind, target, status, attempts, created_at, updated_at) " +
		"SELECT CAST(? AS varchar), CAST(? AS varchar), CAST(? AS uuid), CAST(? AS varchar), CAST(? AS varchar), 'sending', 1, " +
		"CAST(? AS timestamptz), CAST(? AS timestamptz) FROM (SELECT set_config('app.tenant_ids', ?, true) AS s) AS cfg " +
		"WHERE cfg.s IS NOT NULL ON CONFLICT (key) DO NOTHING RETURNING " + notificationColumns
)

// BeginNotification marks an attempt of n and returns the row as the attempt
// left it: a first attempt finds it in "sending" with one attempt, a retry of
// an unfinished one in "sending" with one more, and a replay of a finished
// one its outcome. A first attempt is one statement, any other two, and
// neither a transaction. It runs in n.TenantID's scope; a key already used
// by another tenant is ErrConflict.
func (s *Store) BeginNotification(ctx context.Context, n Notification) (*Notification, error) {
	scope := ScopeOf(n.TenantID)
	if scope.empty() {
		return nil, fmt.Errorf("begin notification %s: %w", n.Key, ErrNotFound)
	}
	now := s.Now()
	sql, args := insertNotificationSQLite, []any{n.Key, n.TenantID, n.ApprovalID, n.Kind, n.Target, now, now}
	if s.dialect == Postgres {
		sql, args = insertNotificationPostgres, append(args, scope.joined())
	}
	var rows []Notification
	if err := Classify(s.db.WithContext(ctx).Raw(sql, args...).Find(&rows).Error); err != nil {
		return nil, fmt.Errorf("begin notification %s: %w", n.Key, err)
	}
	if len(rows) == 1 {
		return &rows[0], nil
	}
	// The key exists: count the attempt if it is unfinished; a finished row
	// is written back as it was, to be returned in the same statement.
	cur, err := s.updateNotification(ctx, scope, n.Key,
		"attempts = CASE WHEN notifications.status = 'sending' THEN notifications.attempts + 1 ELSE notifications.attempts END, "+
			"updated_at = CASE WHEN notifications.status = 'sending' THEN ? ELSE notifications.updated_at END", now)
	if errors.Is(err, ErrNotFound) {
		// Not in the tenant's scope: the policy (and the condition) hides it.
		err = fmt.Errorf("the key is another tenant's: %w", ErrConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("begin notification %s: %w", n.Key, err)
	}
	return cur, nil
}

// FinishNotification records the outcome of an attempt of a notification of
// a tenant in scope, in one statement; ErrNotFound when there is none.
func (s *Store) FinishNotification(ctx context.Context, scope Scope, key, status, externalID, lastError string) error {
	set, args := "status = ?, updated_at = ?", []any{status, s.Now()}
	if externalID != "" {
		set, args = set+", external_id = ?", append(args, externalID)
	}
	if lastError != "" {
		// Whole characters, no NUL: a cut rune would make PostgreSQL refuse
		// the outcome, and the notification would retry for ever.
		lastError = clipText(lastError, 1000)
		set, args = set+", last_error = ?", append(args, lastError)
	}
	if _, err := s.updateNotification(ctx, scope, key, set, args...); err != nil {
		return fmt.Errorf("finish notification %s: %w", key, err)
	}
	return nil
}

// updateNotification applies set (assignments to the columns, which refer to
// the row as notifications.column) to the notification key of a tenant in
// scope and returns the row; ErrNotFound when there is none. It is one
// statement: an UPDATE on SQLite. On PostgreSQL an UPDATE's scan would check
// the row against the policy before anything in the statement could declare
// the scope, so the statement reads the row as reads do (find: the scope is
// declared first, the row read laterally) and inserts it back, which
// conflicts on its own key and so updates it. A key not in scope reads no
// row and inserts nothing; no row is ever deleted (grants.go), so the row
// read is still there to conflict with.
func (s *Store) updateNotification(ctx context.Context, scope Scope, key, set string, args ...any) (*Notification, error) {
	if scope.empty() {
		return nil, ErrNotFound
	}
	var sql string
	if s.dialect == Postgres {
		sql = "INSERT INTO notifications (" + notificationColumns + ") SELECT n.* " +
			"FROM (SELECT set_config('app.tenant_ids', ?, true) AS s) AS cfg CROSS JOIN LATERAL (" +
			"SELECT " + notificationColumns + " FROM notifications WHERE cfg.s IS NOT NULL AND key = ? AND tenant_id IN ?) AS n " +
			"ON CONFLICT (key) DO UPDATE SET " + set + " RETURNING " + notificationColumns
		args = append([]any{scope.joined(), key, scope.tenants}, args...)
	} else {
		sql = "UPDATE notifications SET " + set + " WHERE key = ? AND tenant_id IN ? RETURNING " + notificationColumns
		args = append(args, key, scope.tenants)
	}
	var rows []Notification
	if err := Classify(s.db.WithContext(ctx).Raw(sql, args...).Find(&rows).Error); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, ErrNotFound
	}
	return &rows[0], nil
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
