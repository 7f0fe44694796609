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

// Where the policy in effect for a tenant comes from: the tenant's own, stored
// with PutPolicy, or the configured default (APPROVAL_TTL, APPROVAL_MAX_TTL,
// APPROVAL_REMINDERS).
const (
	PolicySourceTenant  = "tenant"
	PolicySourceDefault = "default"
)

// Audit vocabulary of policy changes.
const (
	ActionPolicyUpdated = "policy.updated"
	ResourcePolicy      = "policy"
)

// Policy is a tenant's approval policy: how long a new escalation waits for a
// decision unless it names its own deadline (DefaultTTL), the latest deadline
// it may name (MaxTTL), and when the approvers are reminded, as offsets after
// creation (Reminders, ascending), how many questions an escalation takes
// (MaxQuestions; 0 reads as domain.DefaultMaxQuestions) and how long a
// question waits for its answer (AnswerTTL; 0: DefaultTTL). Escalations copy
// the policy when they are created, so a change never moves a running
// escalation's deadline.
type Policy struct {
	TenantID     string
	DefaultTTL   time.Duration
	MaxTTL       time.Duration
	Reminders    []time.Duration
	MaxQuestions int
	AnswerTTL    time.Duration
	// UpdatedAt and UpdatedBy say who stored the policy, and when; zero
	// for the configured default.
	UpdatedAt time.Time
	UpdatedBy string
}

// SameSettings reports whether p and o set the same times, whoever stored
// them and whenever.
func (p Policy) SameSettings(o Policy) bool {
	return p.DefaultTTL == o.DefaultTTL && p.MaxTTL == o.MaxTTL && slices.Equal(p.Reminders, o.Reminders) &&
		p.Questions() == o.Questions() && p.AnswerTTL == o.AnswerTTL
}

// Questions is how many questions an escalation under p takes.
func (p Policy) Questions() int {
	if p.MaxQuestions <= 0 {
		return domain.DefaultMaxQuestions
	}
	return p.MaxQuestions
}

// AnswerWait is how long a question under p waits for its answer.
func (p Policy) AnswerWait() time.Duration {
	if p.AnswerTTL <= 0 {
		return p.DefaultTTL
	}
	return p.AnswerTTL
}

// PolicyView is a policy as the API returns it and the audit trail records
// it: times as Go duration strings ("72h", "1h30m").
type PolicyView struct {
	TenantID   string   `json:"tenantId"`
	DefaultTTL string   `json:"defaultTtl"`
	MaxTTL     string   `json:"maxTtl"`
	Reminders  []string `json:"reminders"`
	// MaxQuestions and AnswerTTL as in effect (AnswerTTL: the default
	// TTL's when the policy sets none).
	MaxQuestions int        `json:"maxQuestions"`
	AnswerTTL    string     `json:"answerTtl"`
	Source       string     `json:"source"`
	UpdatedAt    *time.Time `json:"updatedAt,omitempty"`
	UpdatedBy    string     `json:"updatedBy,omitempty"`
}

// View is p as the API shows it, coming from source (PolicySourceTenant or
// PolicySourceDefault).
func (p Policy) View(source string) PolicyView {
	v := PolicyView{
		TenantID: p.TenantID, DefaultTTL: FormatDuration(p.DefaultTTL), MaxTTL: FormatDuration(p.MaxTTL),
		Reminders: make([]string, len(p.Reminders)), MaxQuestions: p.Questions(), AnswerTTL: FormatDuration(p.AnswerWait()),
		Source: source, UpdatedBy: p.UpdatedBy,
	}
	for i, d := range p.Reminders {
		v.Reminders[i] = FormatDuration(d)
	}
	if !p.UpdatedAt.IsZero() {
		t := p.UpdatedAt.UTC()
		v.UpdatedAt = &t
	}
	return v
}

// FormatDuration writes d as time.Duration.String does, less the zero units
// it ends with: 72h rather than 72h0m0s. time.ParseDuration reads it back.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// policyRow is the approval_policies row: times in whole seconds.
type policyRow struct {
	TenantID          string      `gorm:"column:tenant_id;primaryKey"`
	DefaultTTLSeconds int64       `gorm:"column:default_ttl_seconds"`
	MaxTTLSeconds     int64       `gorm:"column:max_ttl_seconds"`
	Reminders         secondsList `gorm:"column:reminders"`
	MaxQuestions      int         `gorm:"column:max_questions"`
	AnswerTTLSeconds  *int64      `gorm:"column:answer_ttl_seconds"`
	UpdatedAt         time.Time   `gorm:"column:updated_at;autoUpdateTime:false"`
	UpdatedBy         string      `gorm:"column:updated_by"`
}

func (policyRow) TableName() string { return "approval_policies" }

func (r *policyRow) policy() *Policy {
	p := &Policy{
		TenantID: r.TenantID, DefaultTTL: time.Duration(r.DefaultTTLSeconds) * time.Second,
		MaxTTL: time.Duration(r.MaxTTLSeconds) * time.Second, UpdatedAt: r.UpdatedAt.UTC(), UpdatedBy: r.UpdatedBy,
		MaxQuestions: r.MaxQuestions,
	}
	if r.AnswerTTLSeconds != nil {
		p.AnswerTTL = time.Duration(*r.AnswerTTLSeconds) * time.Second
	}
	if len(r.Reminders) > 0 {
		p.Reminders = make([]time.Duration, len(r.Reminders))
		for i, s := range r.Reminders {
			p.Reminders[i] = time.Duration(s) * time.Second
		}
	}
	return p
}

func rowOf(p *Policy) policyRow {
	r := policyRow{
		TenantID: p.TenantID, DefaultTTLSeconds: int64(p.DefaultTTL / time.Second), MaxTTLSeconds: int64(p.MaxTTL / time.Second),
		Reminders: make(secondsList, len(p.Reminders)), UpdatedAt: p.UpdatedAt, UpdatedBy: p.UpdatedBy,
		MaxQuestions: p.Questions(),
	}
	if p.AnswerTTL > 0 {
		s := int64(p.AnswerTTL / time.Second)
		r.AnswerTTLSeconds = &s
	}
	for i, d := range p.Reminders {
		r.Reminders[i] = int64(d / time.Second)
	}
	return r
}

// secondsList is a list of whole seconds stored as a JSON array.
type secondsList = jsonList[int64]

// GetPolicy reads the policy tenantID stored. stored is false, with a nil
// policy, when the tenant stored none: the configured default applies. A
// tenant outside scope is ErrNotFound.
func (s *Store) GetPolicy(ctx context.Context, scope Scope, tenantID string) (p *Policy, stored bool, err error) {
	one, ok := scope.Narrow(tenantID)
	if !ok {
		return nil, false, ErrNotFound
	}
	q := query{table: "approval_policies", order: "tenant_id"}
	q.and("tenant_id = ?", tenantID)
	row, err := findOne[policyRow](ctx, s, one, q)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("get policy of %s: %w", tenantID, err)
	}
	return row.policy(), true, nil
}

// PutPolicy stores p as its tenant's policy and records the change in entry,
// in one transaction, and returns the policy it replaced (nil when the tenant
// had none).
//
// The store writes what the entry is about itself: the action
// policy.updated, the resource policy, the tenant as resource id and tenant,
// the new values and, when a policy was stored, the old values (PolicyView);
// the caller says who changed it (UserID, UserName, Channel) and, in
// OldValues, the default that applied when none was stored. p is refused
// (ErrInvalid) unless it follows domain.CheckApprovalPolicy and names its
// tenant and UpdatedBy. Its reminders are stored in ascending order; its
// UpdatedAt, and the entry's time, are the store's clock as it writes.
//
// Storing the settings already stored changes nothing and writes no entry;
// old is then the stored policy, which stays as it was.
func (s *Store) PutPolicy(ctx context.Context, p Policy, entry *AuditLog) (old *Policy, err error) {
	if err := checkPolicy(&p); err != nil {
		return nil, fmt.Errorf("put policy of %s: %w", p.TenantID, err)
	}
	if entry == nil {
		return nil, fmt.Errorf("put policy of %s: a policy change needs its audit entry", p.TenantID)
	}
	err = s.writeEvents(ctx, ScopeOf(p.TenantID), func(tx *gorm.DB, ob *outbox) error {
		var err error
		if old, err = s.lockPolicy(tx, p.TenantID); err != nil {
			return err
		}
		if old == nil {
			var inserted bool
			if inserted, err = s.insertPolicy(tx, &p, entry); err != nil {
				return err
			}
			if inserted {
				return s.record(tx, ob, policyChanged(&p, true))
			}
			// A concurrent first policy of the tenant won the insert (and
			// has committed, or the insert would still wait): this one
			// replaces it.
			if old, err = s.lockPolicy(tx, p.TenantID); err != nil {
				return err
			}
			if old == nil {
				return fmt.Errorf("policy of %s neither inserted nor found", p.TenantID)
			}
		}
		if old.SameSettings(p) {
			return nil
		}
		p.UpdatedAt = s.Now() // under the lock: successive changes are in order
		row := rowOf(&p)
		res := tx.Model(&policyRow{}).Where("tenant_id = ?", p.TenantID).Updates(map[string]any{
			"default_ttl_seconds": row.DefaultTTLSeconds, "max_ttl_seconds": row.MaxTTLSeconds,
			"reminders": row.Reminders, "max_questions": row.MaxQuestions, "answer_ttl_seconds": row.AnswerTTLSeconds,
			"updated_at": row.UpdatedAt, "updated_by": row.UpdatedBy,
		})
		if res.Error != nil {
			return fmt.Errorf("update policy: %w", res.Error)
		}
		entry.OldValues = MustJSON(old.View(PolicySourceTenant))
		if err := insertPolicyAudit(tx, &p, entry); err != nil {
			return err
		}
		return s.record(tx, ob, policyChanged(&p, false))
	})
	if err != nil {
		return nil, fmt.Errorf("put policy of %s: %w", p.TenantID, err)
	}
	return old, nil
}

// policyChanged reports a change of p, stored: the policy as the API
// returns it and the audit entry records it. The first policy a tenant
// stores starts its sequence.
func policyChanged(p *Policy, first bool) change {
	return change{tenantID: p.TenantID, typ: domain.EventPolicyUpdated, resource: ResourcePolicy, resourceID: p.TenantID,
		at: p.UpdatedAt, data: p.View(PolicySourceTenant), created: first}
}

// insertPolicy inserts the tenant's first policy and its audit entry, unless
// a concurrent first policy of the same tenant is already there.
func (s *Store) insertPolicy(tx *gorm.DB, p *Policy, entry *AuditLog) (inserted bool, err error) {
	p.UpdatedAt = s.Now()
	row := rowOf(p)
	res := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "tenant_id"}}, DoNothing: true}).Create(&row)
	if res.Error != nil {
		return false, fmt.Errorf("insert policy: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return false, nil
	}
	return true, insertPolicyAudit(tx, p, entry)
}

// insertPolicyAudit writes what entry says about the change to p: the
// action, resource, tenant, time and new values.
func insertPolicyAudit(tx *gorm.DB, p *Policy, entry *AuditLog) error {
	entry.Action, entry.Resource, entry.ResourceID, entry.TenantID = ActionPolicyUpdated, ResourcePolicy, p.TenantID, p.TenantID
	entry.NewValues = MustJSON(p.View(PolicySourceTenant))
	entry.CreatedAt = p.UpdatedAt
	return insertAudit(tx, entry)
}

// lockPolicy reads the tenant's stored policy, nil when there is none, and
// on PostgreSQL locks its row until the transaction ends, so that two
// changes record each other as old values instead of both recording the
// same one. SQLite runs one transaction at a time.
func (s *Store) lockPolicy(tx *gorm.DB, tenantID string) (*Policy, error) {
	q := tx.Where("tenant_id = ?", tenantID)
	if s.dialect == Postgres {
		q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	var rows []policyRow
	if err := q.Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return rows[0].policy(), nil
}

// checkPolicy refuses what PutPolicy must not store and sorts the reminders.
func checkPolicy(p *Policy) error {
	var why []string
	if !ValidTenantID(p.TenantID) {
		why = append(why, "tenant: not a valid tenant id")
	}
	if !domain.ValidUserID(p.UpdatedBy) {
		why = append(why, "updatedBy: 1 to 256 characters of text without control characters")
	}
	for _, pr := range domain.CheckApprovalPolicy(p.DefaultTTL, p.MaxTTL, p.Reminders) {
		why = append(why, pr.Field+": "+pr.Detail)
	}
	for _, pr := range domain.CheckQuestionPolicy(p.Questions(), p.AnswerTTL, p.MaxTTL) {
		why = append(why, pr.Field+": "+pr.Detail)
	}
	if len(why) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(why, "; "))
	}
	p.Reminders = slices.Clone(p.Reminders)
	slices.Sort(p.Reminders)
	return nil
}
