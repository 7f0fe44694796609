package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/orchestrator-dev/orchestrator/internal/domain"
)

// ConsultationQuery selects a page of one tenant's consultations.
type ConsultationQuery struct {
	TenantID string
	// ApprovalID, when set, keeps only the consultation that approval opened
	// (at most one: approval_id is unique). An id that is not a UUID matches
	// nothing.
	ApprovalID string
	Limit      int
	Cursor     *Cursor
}

// CreateConsultation inserts a consultation and its audit entry; idempotent on
// the consultation id (created says whether this call inserted it).
func (s *Store) CreateConsultation(ctx context.Context, c *Consultation, entry *AuditLog) (*Consultation, bool, error) {
	var (
		out     Consultation
		created bool
	)
	err := s.writeEvents(ctx, ScopeOf(c.TenantID), func(tx *gorm.DB, ob *outbox) error {
		res := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoNothing: true}).Create(c)
		if res.Error != nil {
			return fmt.Errorf("insert consultation: %w", res.Error)
		}
		created = res.RowsAffected > 0
		if entry != nil {
			if err := insertAudit(tx, entry); err != nil {
				return err
			}
		}
		if err := tx.Where("tenant_id = ?", c.TenantID).First(&out, "id = ?", c.ID).Error; err != nil {
			return err
		}
		if !created {
			return nil
		}
		ch := consultationChanged(domain.EventConsultationCreated, &out)
		ch.at, ch.created = out.CreatedAt, true
		return s.record(tx, ob, ch)
	})
	if err != nil {
		return nil, false, fmt.Errorf("create consultation: %w", err)
	}
	return &out, created, nil
}

// GetConsultation reads one consultation within scope.
func (s *Store) GetConsultation(ctx context.Context, scope Scope, id string) (*Consultation, error) {
	if !ValidID(id) {
		return nil, ErrNotFound
	}
	q := query{table: "consultations", order: "id"}
	q.and("id = ?", id)
	c, err := findOne[Consultation](ctx, s, scope, q)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("get consultation %s: %w", id, err)
	}
	return c, err
}

// ListConsultations reads a page of one tenant's consultations, newest first.
func (s *Store) ListConsultations(ctx context.Context, scope Scope, q ConsultationQuery) ([]Consultation, *Cursor, error) {
	one, ok := scope.Narrow(q.TenantID)
	if !ok {
		return nil, nil, ErrNotFound
	}
	sel := query{table: "consultations"}
	if q.ApprovalID != "" {
		if !ValidID(q.ApprovalID) {
			return []Consultation{}, nil, nil
		}
		// The unique constraint on approval_id is its index on both
		// backends: the lookup reads one index entry, then the tenant scope
		// filters that row like every other read. Ids are stored in lower
		// case; PostgreSQL's uuid compares without case and SQLite's text
		// does not, so the filter is lowered for both to answer alike.
		sel.and("approval_id = ?", strings.ToLower(q.ApprovalID))
	}
	rows, next, err := findPage(ctx, s, one, sel, q.Limit, q.Cursor,
		func(c *Consultation) Cursor { return Cursor{c.CreatedAt, c.ID} })
	if err != nil {
		return nil, nil, fmt.Errorf("list consultations: %w", err)
	}
	return rows, next, nil
}

// Transition is a consultation status change.
type Transition struct {
	ConsultationID string
	TenantID       string
	From, To       string
	At             time.Time
	Reason         string // for ended: "host", "timeout", "expired"
}

// TransitionConsultation applies a status change and its audit entry. Applying
// the same transition twice is a no-op (changed is false); any other mismatch
// is ErrConflict.
func (s *Store) TransitionConsultation(ctx context.Context, t Transition, entry *AuditLog) (*Consultation, bool, error) {
	var (
		out     Consultation
		changed bool
	)
	err := s.writeEvents(ctx, ScopeOf(t.TenantID), func(tx *gorm.DB, ob *outbox) error {
		updates := map[string]any{"status": t.To, "updated_at": t.At}
		switch t.To {
		case ConsultationActive:
			updates["started_at"] = t.At
		case ConsultationEnded:
			updates["ended_at"] = t.At
			updates["end_reason"] = t.Reason
		}
		res := tx.Model(&Consultation{}).Where("id = ? AND tenant_id = ? AND status = ?", t.ConsultationID, t.TenantID, t.From).Updates(updates)
		if res.Error != nil {
			return fmt.Errorf("update consultation: %w", res.Error)
		}
		if err := tx.Where("tenant_id = ?", t.TenantID).First(&out, "id = ?", t.ConsultationID).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return ErrNotFound
			}
			return err
		}
		changed = res.RowsAffected > 0
		if !changed && out.Status != t.To {
			return fmt.Errorf("consultation is %s: %w", out.Status, ErrConflict)
		}
		if entry != nil {
			if err := insertAudit(tx, entry); err != nil {
				return err
			}
		}
		if !changed {
			return nil
		}
		typ := domain.EventConsultationStarted
		if t.To == ConsultationEnded {
			typ = domain.EventConsultationEnded
		}
		return s.record(tx, ob, consultationChanged(typ, &out))
	})
	if err != nil {
		return nil, false, fmt.Errorf("transition consultation %s: %w", t.ConsultationID, err)
	}
	return &out, changed, nil
}
