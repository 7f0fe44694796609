package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/orchestrator-dev/orchestrator/internal/domain"
)

// ApprovalQuery selects a page of one tenant's approvals.
type ApprovalQuery struct {
	TenantID string
	Status   string // empty: any
	Limit    int
	Cursor   *Cursor
}

// RecordApproval inserts a new approval, its creation audit entry and its
// approval.created event (outbox.go) in one transaction. It is idempotent on the approval id and the entry's event key:
// a retry returns the row already there, and created says whether this call
// inserted it.
func (s *Store) RecordApproval(ctx context.Context, a *Approval, entry *AuditLog) (out *Approval, created bool, err error) {
	scope := ScopeOf(a.TenantID)
	out = &Approval{}
	err = s.writeEvents(ctx, scope, func(tx *gorm.DB, ob *outbox) error {
		res := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoNothing: true}).Create(a)
		if res.Error != nil {
			if isUniqueViolation(res.Error) {
				return fmt.Errorf("record approval %s: %w: the conversation already has a pending escalation", a.ID, ErrConflict)
			}
			return fmt.Errorf("record approval %s: %w", a.ID, res.Error)
		}
		created = res.RowsAffected > 0
		if entry != nil {
			if err := insertAudit(tx, entry); err != nil {
				return err
			}
		}
		if err := tx.Where("tenant_id = ?", a.TenantID).First(out, "id = ?", a.ID).Error; err != nil {
			return err
		}
		if !created {
			return nil // a retry: its event went with the first write
		}
		ch := approvalChanged(domain.EventApprovalCreated, out)
		ch.at, ch.created = out.CreatedAt, true
		return s.record(tx, ob, ch)
	})
	if err != nil {
		return nil, false, err
	}
	return out, created, nil
}

// GetApproval reads one approval within scope; another tenant's id is
// ErrNotFound, exactly like an id that does not exist.
func (s *Store) GetApproval(ctx context.Context, scope Scope, id string) (*Approval, error) {
	if !ValidID(id) {
		return nil, ErrNotFound
	}
	q := query{table: "approvals", order: "id"}
	q.and("id = ?", id)
	a, err := findOne[Approval](ctx, s, scope, q)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("get approval %s: %w", id, err)
	}
	return a, err
}

// ListApprovals reads a page of one tenant's approvals, newest first.
func (s *Store) ListApprovals(ctx context.Context, scope Scope, q ApprovalQuery) ([]Approval, *Cursor, error) {
	one, ok := scope.Narrow(q.TenantID)
	if !ok {
		return nil, nil, ErrNotFound
	}
	sq := query{table: "approvals"}
	if q.Status != "" {
		sq.and("status = ?", q.Status)
	}
	rows, next, err := findPage(ctx, s, one, sq, q.Limit, q.Cursor, func(a *Approval) Cursor { return Cursor{a.CreatedAt, a.ID} })
	if err != nil {
		return nil, nil, fmt.Errorf("list approvals: %w", err)
	}
	return rows, next, nil
}

// Decision is what DecideApproval applies.
type Decision struct {
	ApprovalID  string
	TenantID    string
	Status      string
	DeciderID   string
	DeciderName string
	Comment     string
	// ConsultationEntry is the `consultation.created` entry of the
	// consultation the decision creates, written with it.
	ConsultationEntry *AuditLog
}

// DecideApproval moves a pending approval to its decision, writes the audit
// entry and, when given, the consultation that approval creates, with their
// events (outbox.go), all in one transaction, so there is never a consultation without a decided approval.
// Applying the same decision again (an activity retry) changes nothing and
// returns the stored rows; a different decision on a decided approval is
// ErrConflict. decided says whether this call made the change (and created
// the consultation).
func (s *Store) DecideApproval(ctx context.Context, d Decision, entry *AuditLog, c *Consultation) (*Approval, *Consultation, bool, error) {
	scope := ScopeOf(d.TenantID)
	var (
		out     Approval
		cons    *Consultation
		decided bool
	)
	now := s.Now()
	err := s.writeEvents(ctx, scope, func(tx *gorm.DB, ob *outbox) error {
		updates := map[string]any{
			"status": d.Status, "approved_by": d.DeciderID, "approved_by_name": d.DeciderName,
			"decided_at": now, "updated_at": now,
		}
		if d.Comment != "" {
			updates["comment"] = d.Comment
		}
		res := tx.Model(&Approval{}).
			Where("id = ? AND tenant_id = ? AND status IN ?", d.ApprovalID, d.TenantID, Waiting).
			Updates(updates)
		if res.Error != nil {
			return fmt.Errorf("update approval: %w", res.Error)
		}
		if err := tx.Where("tenant_id = ?", d.TenantID).First(&out, "id = ?", d.ApprovalID).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return ErrNotFound
			}
			return fmt.Errorf("read approval: %w", err)
		}
		decided = res.RowsAffected > 0
		if !decided && (out.Status != d.Status || out.ApprovedBy == nil || *out.ApprovedBy != d.DeciderID) {
			return fmt.Errorf("approval %s is already %s: %w", d.ApprovalID, out.Status, ErrConflict)
		}
		if entry != nil {
			if err := insertAudit(tx, entry); err != nil {
				return err
			}
		}
		if decided {
			if err := s.record(tx, ob, approvalChanged("approval."+d.Status, &out)); err != nil {
				return err
			}
		}
		if c != nil {
			res := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoNothing: true}).Create(c)
			if res.Error != nil {
				return fmt.Errorf("create consultation: %w", res.Error)
			}
			if res.RowsAffected == 0 {
				// A retry: the row the first attempt wrote is the one.
				cons = &Consultation{}
				if err := tx.Where("tenant_id = ?", d.TenantID).First(cons, "id = ?", c.ID).Error; err != nil {
					return fmt.Errorf("read consultation: %w", err)
				}
			} else {
				cons = c
				if d.ConsultationEntry != nil {
					if err := insertAudit(tx, d.ConsultationEntry); err != nil {
						return err
					}
				}
				ch := consultationChanged(domain.EventConsultationCreated, cons)
				ch.at, ch.created = cons.CreatedAt, true
				return s.record(tx, ob, ch)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, false, fmt.Errorf("decide approval %s: %w", d.ApprovalID, err)
	}
	return &out, cons, decided, nil
}

// Statuses are every status an approval can have (domain.Statuses).
var Statuses = domain.Statuses

// Waiting are the statuses of an escalation that can still be decided
// (domain.Waiting).
var Waiting = domain.Waiting

// StatusChange moves an approval from one of From to To without deciding it:
// expiry, withdrawal, a question and its answer.
type StatusChange struct {
	ApprovalID, TenantID string
	From                 []string
	To                   string
	// ExpiresAt, when set, is the new deadline.
	ExpiresAt *time.Time
	// Comment, when set, is stored as the approval's comment (a
	// withdrawal's reason).
	Comment string
}

// ChangeStatus applies c with its audit entry and its event (the entry's
// action, e.g. approval.expired; outbox.go) in one transaction. Applied
// again after it succeeded (a retried activity) it changes nothing and
// reports changed false; from a status not in From it is ErrConflict.
func (s *Store) ChangeStatus(ctx context.Context, c StatusChange, entry *AuditLog) (out *Approval, changed bool, err error) {
	out = &Approval{}
	err = s.writeEvents(ctx, ScopeOf(c.TenantID), func(tx *gorm.DB, ob *outbox) error {
		updates := map[string]any{"status": c.To, "updated_at": s.Now()}
		if c.ExpiresAt != nil {
			updates["expires_at"] = *c.ExpiresAt
		}
		if c.Comment != "" {
			updates["comment"] = c.Comment
		}
		res := tx.Model(&Approval{}).Where("id = ? AND tenant_id = ? AND status IN ?", c.ApprovalID, c.TenantID, c.From).Updates(updates)
		if res.Error != nil {
			return fmt.Errorf("update approval: %w", res.Error)
		}
		if err := tx.Where("tenant_id = ?", c.TenantID).First(out, "id = ?", c.ApprovalID).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return ErrNotFound
			}
			return fmt.Errorf("read approval: %w", err)
		}
		changed = res.RowsAffected > 0
		if !changed && out.Status != c.To {
			return fmt.Errorf("approval %s is %s, not %v: %w", c.ApprovalID, out.Status, c.From, ErrConflict)
		}
		if entry != nil {
			if err := insertAudit(tx, entry); err != nil {
				return err
			}
		}
		if !changed {
			return nil
		}
		return s.record(tx, ob, approvalChanged(statusEvent(c, entry), out))
	})
	if err != nil {
		return nil, false, fmt.Errorf("change approval %s to %s: %w", c.ApprovalID, c.To, err)
	}
	return out, changed, nil
}

// PendingForConversation finds the pending escalation of a conversation, if any.
func (s *Store) PendingForConversation(ctx context.Context, scope Scope, conv Conversation) (*Approval, error) {
	q := query{table: "approvals", order: "created_at"}
	q.and("conversation_account_id = ? AND conversation_id = ? AND status IN ?", conv.AccountID, conv.ConversationID, Waiting)
	a, err := findOne[Approval](ctx, s, scope, q)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("find pending escalation: %w", err)
	}
	return a, err
}

func isUniqueViolation(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505"
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}
