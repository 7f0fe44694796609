package store

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/orchestrator-dev/orchestrator/internal/domain"
)

// The domain's words, under the names the store's callers have always used
// (internal/domain holds them).
const (
	StatusPending       = domain.StatusPending
	StatusInfoRequested = domain.StatusInfoRequested
	StatusApproved      = domain.StatusApproved
	StatusRejected      = domain.StatusRejected
	StatusExpired       = domain.StatusExpired
	StatusWithdrawn     = domain.StatusWithdrawn

	PriorityLow    = domain.PriorityLow
	PriorityMedium = domain.PriorityMedium
	PriorityHigh   = domain.PriorityHigh

	ConsultationScheduled = domain.ConsultationScheduled
	ConsultationActive    = domain.ConsultationActive
	ConsultationEnded     = domain.ConsultationEnded

	ChannelAPI       = domain.ChannelAPI
	ChannelAPIClient = domain.ChannelAPIClient
	ChannelMatrix    = domain.ChannelMatrix
	ChannelChatwoot  = domain.ChannelChatwoot
	ChannelOps       = domain.ChannelOps
	ChannelOpsSignal = domain.ChannelOpsSignal
	ChannelWebhook   = domain.ChannelWebhook
	ChannelSystem    = domain.ChannelSystem
)

// Conversation names a Chatwoot conversation by account and display id.
type Conversation struct {
	AccountID      int64 `json:"accountId"`
	ConversationID int64 `json:"conversationId"`
}

// Approval is one escalation. JSON names are the API's contract.
type Approval struct {
	ID              string        `json:"id" gorm:"primaryKey"`
	TenantID        string        `json:"tenantId"`
	Title           string        `json:"title"`
	Description     string        `json:"description"`
	Status          string        `json:"status"`
	Priority        string        `json:"priority"`
	RequestedBy     string        `json:"requestedBy"`
	RequestedByName string        `json:"requestedByName,omitempty"`
	ApprovedBy      *string       `json:"approvedBy"`
	ApprovedByName  *string       `json:"approvedByName,omitempty"`
	Comment         *string       `json:"comment"`
	Metadata        JSON          `json:"metadata"`
	Conversation    *Conversation `json:"conversation,omitempty" gorm:"-"`
	ConvAccountID   *int64        `json:"-" gorm:"column:conversation_account_id"`
	ConvID          *int64        `json:"-" gorm:"column:conversation_id"`
	CreatedAt       time.Time     `json:"createdAt" gorm:"autoCreateTime:false"`
	UpdatedAt       time.Time     `json:"updatedAt" gorm:"autoUpdateTime:false"`
	DecidedAt       *time.Time    `json:"decidedAt,omitempty"`
	// ExpiresAt is the deadline: a decision after it is refused, and the
	// escalation becomes expired. Time spent waiting for information moves it.
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// BeforeSave flattens the conversation into its columns.
func (a *Approval) BeforeSave(*gorm.DB) error {
	if a.Conversation != nil {
		a.ConvAccountID, a.ConvID = &a.Conversation.AccountID, &a.Conversation.ConversationID
	}
	return nil
}

// approvalColumns and scanTargets are an approval's columns in one order,
// for reads that scan without GORM (see scannerFor); a column added to the
// table is added to both, and the store tests compare both ways of reading.
const approvalColumns = "t.id, t.tenant_id, t.title, t.description, t.status, t.priority, t.requested_by, " +
	"t.requested_by_name, t.approved_by, t.approved_by_name, t.comment, t.metadata, t.conversation_account_id, " +
	"t.conversation_id, t.created_at, t.updated_at, t.decided_at, t.expires_at"

func (a *Approval) scanTargets() []any {
	return []any{&a.ID, &a.TenantID, &a.Title, &a.Description, &a.Status, &a.Priority, &a.RequestedBy,
		&a.RequestedByName, &a.ApprovedBy, &a.ApprovedByName, &a.Comment, &a.Metadata, &a.ConvAccountID,
		&a.ConvID, &a.CreatedAt, &a.UpdatedAt, &a.DecidedAt, &a.ExpiresAt}
}

// AfterFind rebuilds the conversation from its columns.
func (a *Approval) AfterFind(*gorm.DB) error {
	if a.ConvAccountID != nil && a.ConvID != nil {
		a.Conversation = &Conversation{AccountID: *a.ConvAccountID, ConversationID: *a.ConvID}
	}
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	if a.DecidedAt != nil {
		t := a.DecidedAt.UTC()
		a.DecidedAt = &t
	}
	if a.ExpiresAt != nil {
		t := a.ExpiresAt.UTC()
		a.ExpiresAt = &t
	}
	return nil
}

// AuditLog is one audit trail entry.
type AuditLog struct {
	ID         string    `json:"id" gorm:"primaryKey"`
	EventKey   *string   `json:"-"`
	Action     string    `json:"action"`
	Resource   string    `json:"resource"`
	ResourceID string    `json:"resourceId"`
	UserID     string    `json:"userId"`
	UserName   string    `json:"userName"`
	Channel    string    `json:"channel"`
	TenantID   string    `json:"tenantId"`
	OldValues  JSON      `json:"oldValues"`
	NewValues  JSON      `json:"newValues"`
	Metadata   JSON      `json:"metadata"`
	CreatedAt  time.Time `json:"createdAt" gorm:"autoCreateTime:false"`
	// The entry's place in its tenant's hash chain (auditchain.go), set by
	// the store on insert.
	Seq      int64  `json:"seq"`
	PrevHash string `json:"prevHash"`
	Hash     string `json:"hash"`
}

// AfterFind normalises time zones.
func (l *AuditLog) AfterFind(*gorm.DB) error {
	l.CreatedAt = l.CreatedAt.UTC()
	return nil
}

// Consultation is a Jitsi video consultation.
type Consultation struct {
	ID             string     `json:"id" gorm:"primaryKey"`
	Title          string     `json:"title"`
	JitsiRoom      string     `json:"jitsiRoom"`
	Status         string     `json:"status"`
	HostID         string     `json:"hostId"`
	ParticipantIDs StringList `json:"participantIds"`
	ApprovalID     *string    `json:"approvalId"`
	TenantID       string     `json:"tenantId"`
	EndReason      *string    `json:"endReason,omitempty"`
	ScheduledAt    *time.Time `json:"scheduledAt"`
	StartedAt      *time.Time `json:"startedAt"`
	EndedAt        *time.Time `json:"endedAt"`
	CreatedAt      time.Time  `json:"createdAt" gorm:"autoCreateTime:false"`
	UpdatedAt      time.Time  `json:"updatedAt" gorm:"autoUpdateTime:false"`
	// WorkflowID is the workflow that runs the consultation when it is not
	// its own (contract.ConsultationOwner); nil for consultation-<id>. An
	// internal address: the API, events and exports encode this row, and
	// none of them shows it.
	WorkflowID *string `json:"-" gorm:"column:workflow_id"`
}

// AfterFind normalises time zones.
func (c *Consultation) AfterFind(*gorm.DB) error {
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	for _, p := range []**time.Time{&c.ScheduledAt, &c.StartedAt, &c.EndedAt} {
		if *p != nil {
			t := (*p).UTC()
			*p = &t
		}
	}
	return nil
}

// JSON is a JSON document stored as jsonb (PostgreSQL) or text (SQLite).
type JSON json.RawMessage

// MarshalJSON emits the document, or null.
func (j JSON) MarshalJSON() ([]byte, error) {
	if len(j) == 0 {
		return []byte("null"), nil
	}
	return j, nil
}

// UnmarshalJSON keeps a copy of the document.
func (j *JSON) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*j = nil
		return nil
	}
	*j = append((*j)[:0], b...)
	return nil
}

// Value stores the document as text.
func (j JSON) Value() (driver.Value, error) {
	if len(j) == 0 {
		return nil, nil
	}
	return string(j), nil
}

// Scan reads text or bytes.
func (j *JSON) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*j = nil
	case []byte:
		*j = append(JSON(nil), v...)
	case string:
		*j = JSON(v)
	default:
		return fmt.Errorf("scan JSON: unsupported type %T", src)
	}
	return nil
}

// MustJSON encodes v; it panics only on values that cannot be JSON (a bug).
func MustJSON(v any) JSON {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("store.MustJSON: %v", err))
	}
	return b
}

// StringList is a list of strings stored as a JSON array.
type StringList = jsonList[string]

// jsonList is a list stored as a JSON array.
type jsonList[T any] []T

// Value stores the list as a JSON array, [] when empty.
func (l jsonList[T]) Value() (driver.Value, error) {
	if l == nil {
		return "[]", nil
	}
	b, err := json.Marshal([]T(l))
	return string(b), err
}

// Scan reads a JSON array.
func (l *jsonList[T]) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*l = nil
		return nil
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		return fmt.Errorf("scan list: unsupported type %T", src)
	}
	if err := json.Unmarshal(b, (*[]T)(l)); err != nil {
		return fmt.Errorf("scan list: %w", err)
	}
	return nil
}
