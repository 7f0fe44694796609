package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/orchestrator-dev/orchestrator/internal/domain"
)

// AuditQuery selects a page of one tenant's audit trail.
type AuditQuery struct {
	TenantID string
	Limit    int
	Cursor   *Cursor
}

// AppendAudit writes one entry; approval.reminded, the one change that
// updates no row, is also an event (outbox.go). An entry with an EventKey that is already
// recorded is not written again; the recorded one is returned.
func (s *Store) AppendAudit(ctx context.Context, entry *AuditLog) (*AuditLog, error) {
	var out AuditLog
	err := s.writeEvents(ctx, ScopeOf(entry.TenantID), func(tx *gorm.DB, ob *outbox) error {
		inserted, err := insertAuditRow(tx, entry)
		if err != nil {
			return err
		}
		if inserted && entry.Action == domain.EventApprovalReminded && entry.Resource == ResourceApproval {
			// A reminder changes no row; its entry is the change.
			if err := s.recordReminder(tx, ob, entry); err != nil {
				return err
			}
		}
		if entry.EventKey == nil {
			out = *entry
			return nil
		}
		return tx.Where("tenant_id = ?", entry.TenantID).First(&out, "event_key = ?", *entry.EventKey).Error
	})
	if errors.Is(err, gorm.ErrRecordNotFound) {
		// The key belongs to another tenant's entry: refuse rather than reveal it.
		return nil, fmt.Errorf("append audit: %w: idempotency key already used", ErrConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("append audit: %w", err)
	}
	return &out, nil
}

func insertAudit(tx *gorm.DB, entry *AuditLog) error {
	_, err := insertAuditRow(tx, entry)
	return err
}

// insertAuditRow writes one entry into its tenant's chain and reports
// whether it was inserted (false: already recorded under its event key).
func insertAuditRow(tx *gorm.DB, entry *AuditLog) (bool, error) {
	if entry.ID == "" {
		entry.ID = NewID()
	}
	if entry.CreatedAt.IsZero() {
		return false, errors.New("audit entry has no time")
	}
	// Stored as hashed: the time at the precision both databases keep, the
	// JSON columns in their canonical form (auditchain.go).
	entry.CreatedAt = entry.CreatedAt.UTC().Truncate(time.Microsecond)
	for _, col := range []*JSON{&entry.OldValues, &entry.NewValues, &entry.Metadata} {
		c, err := canonicalJSON(*col)
		if err != nil {
			return false, fmt.Errorf("insert audit %s: %w", entry.Action, err)
		}
		*col = c
	}
	if err := chain(tx, entry); err != nil {
		return false, fmt.Errorf("insert audit %s: %w", entry.Action, err)
	}
	q := tx
	if entry.EventKey != nil {
		q = q.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "event_key"}}, DoNothing: true})
	}
	res := q.Create(entry)
	if res.Error != nil {
		return false, fmt.Errorf("insert audit %s: %w", entry.Action, res.Error)
	}
	if res.RowsAffected == 0 {
		// Already recorded under its event key: the seq was not taken, and
		// the chain stays gapless.
		entry.Seq, entry.PrevHash, entry.Hash = 0, "", ""
		return false, nil
	}
	return true, nil
}

// ListAudit reads a page of one tenant's audit trail, newest first.
func (s *Store) ListAudit(ctx context.Context, scope Scope, q AuditQuery) ([]AuditLog, *Cursor, error) {
	one, ok := scope.Narrow(q.TenantID)
	if !ok {
		return nil, nil, ErrNotFound
	}
	rows, next, err := findPage(ctx, s, one, query{table: "audit_logs"}, q.Limit, q.Cursor,
		func(l *AuditLog) Cursor { return Cursor{l.CreatedAt, l.ID} })
	if err != nil {
		return nil, nil, fmt.Errorf("list audit: %w", err)
	}
	return rows, next, nil
}

// ResourceAudit lists the entries about one resource that fall in scope, oldest
// first (a timeline), at most limit of them.
func (s *Store) ResourceAudit(ctx context.Context, scope Scope, resource, resourceID string, limit int) ([]AuditLog, error) {
	q := query{table: "audit_logs", order: "created_at, id", limit: ClampLimit(limit)}
	q.and("resource = ? AND resource_id = ?", resource, resourceID)
	var rows []AuditLog
	if err := s.find(ctx, scope, q, &rows); err != nil {
		return nil, fmt.Errorf("resource audit: %w", err)
	}
	return rows, nil
}

// systemActions are the namespaces of the actions the orchestrator itself
// writes. Nobody else may write into them: an entry there must mean the
// system did it.
var systemActions = []string{"approval", "consultation", "chatwoot", "matrix", "jitsi", "webhook", "policy", "system", ResourceSubscription}

// ReservedAction reports whether action is in a namespace the orchestrator
// writes itself ("approval.approved", "chatwoot.failed", ...).
func ReservedAction(action string) bool {
	ns, _, _ := strings.Cut(action, ".")
	ns, _, _ = strings.Cut(ns, ":")
	return slices.Contains(systemActions, ns)
}

// systemResources are the resources the orchestrator writes audit entries
// about. A timeline of one of them (GET /api/audit/resource/…) must hold
// only what the orchestrator recorded, so nobody else may name them, under
// any action.
var systemResources = []string{"approval", "consultation", ResourcePolicy, "webhook", ResourceSubscription}

// ReservedResource reports whether resource is one the orchestrator writes
// its own entries about.
func ReservedResource(resource string) bool { return slices.Contains(systemResources, resource) }

// CountAudit counts the entries of action about one resource that fall in
// scope (e.g. the questions asked of an approval so far).
func (s *Store) CountAudit(ctx context.Context, scope Scope, resource, resourceID, action string) (int64, error) {
	var n int64
	err := s.write(ctx, scope, func(tx *gorm.DB) error {
		return tx.Raw("SELECT count(*) FROM audit_logs WHERE tenant_id IN ? AND resource = ? AND resource_id = ? AND action = ?",
			scope.tenants, resource, resourceID, action).Scan(&n).Error
	})
	if err != nil {
		return 0, fmt.Errorf("count audit %s of %s %s: %w", action, resource, resourceID, err)
	}
	return n, nil
}
