package contract

import (
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// Approval is an approval as the workflows carry it: in the escalation's
// input and state, the activities' inputs and results, and the answers of
// the updates. Its JSON is the approval row's (store.Approval), field for
// field, because histories recorded when the payload was the row must
// decode unchanged (TestPayloadsEncodeLikeRows keeps the two equal); it is
// a type of its own so that a change of the table is not, silently, a
// change of what running workflows carry. Activities convert at their
// boundary (ApprovalOf, Row).
type Approval struct {
	ID              string        `json:"id"`
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
	Conversation    *Conversation `json:"conversation,omitempty"`
	CreatedAt       time.Time     `json:"createdAt"`
	UpdatedAt       time.Time     `json:"updatedAt"`
	DecidedAt       *time.Time    `json:"decidedAt,omitempty"`
	// ExpiresAt is the deadline as it stands.
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// Conversation names a Chatwoot conversation by account and display id.
type Conversation struct {
	AccountID      int64 `json:"accountId"`
	ConversationID int64 `json:"conversationId"`
}

// Consultation is a consultation as the workflows carry it, encoded as the
// consultation row (store.Consultation), for the reasons Approval gives.
type Consultation struct {
	ID             string     `json:"id"`
	Title          string     `json:"title"`
	JitsiRoom      string     `json:"jitsiRoom"`
	Status         string     `json:"status"`
	HostID         string     `json:"hostId"`
	ParticipantIDs []string   `json:"participantIds"`
	ApprovalID     *string    `json:"approvalId"`
	TenantID       string     `json:"tenantId"`
	EndReason      *string    `json:"endReason,omitempty"`
	ScheduledAt    *time.Time `json:"scheduledAt"`
	StartedAt      *time.Time `json:"startedAt"`
	EndedAt        *time.Time `json:"endedAt"`
	CreatedAt      time.Time  `json:"createdAt"`
	UpdatedAt      time.Time  `json:"updatedAt"`
	// WorkflowID is the row's workflow_id, which the row never encodes: the
	// workflow running the consultation when it is not its own, empty when
	// it is. Left out when empty, so that histories recorded before it
	// encode as they did.
	WorkflowID string `json:"workflowId,omitempty"`
}

// JSON is a JSON document carried as it is (an approval's metadata); empty
// is null, as the row's store.JSON encodes it.
type JSON []byte

// MarshalJSON emits the document, or null.
func (j JSON) MarshalJSON() ([]byte, error) {
	if len(j) == 0 {
		return []byte("null"), nil
	}
	return j, nil
}

// UnmarshalJSON keeps a copy of the document; null is empty.
func (j *JSON) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*j = nil
		return nil
	}
	*j = append((*j)[:0], b...)
	return nil
}

// ApprovalOf is the payload of an approval row.
func ApprovalOf(r store.Approval) Approval {
	a := Approval{
		ID: r.ID, TenantID: r.TenantID, Title: r.Title, Description: r.Description, Status: r.Status,
		Priority: r.Priority, RequestedBy: r.RequestedBy, RequestedByName: r.RequestedByName,
		ApprovedBy: r.ApprovedBy, ApprovedByName: r.ApprovedByName, Comment: r.Comment, Metadata: JSON(r.Metadata),
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, DecidedAt: r.DecidedAt, ExpiresAt: r.ExpiresAt,
	}
	if r.Conversation != nil {
		a.Conversation = &Conversation{AccountID: r.Conversation.AccountID, ConversationID: r.Conversation.ConversationID}
	}
	return a
}

// Row is the approval row of a payload (its conversation columns are
// filled when it is saved).
func (a Approval) Row() store.Approval {
	r := store.Approval{
		ID: a.ID, TenantID: a.TenantID, Title: a.Title, Description: a.Description, Status: a.Status,
		Priority: a.Priority, RequestedBy: a.RequestedBy, RequestedByName: a.RequestedByName,
		ApprovedBy: a.ApprovedBy, ApprovedByName: a.ApprovedByName, Comment: a.Comment, Metadata: store.JSON(a.Metadata),
		CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt, DecidedAt: a.DecidedAt, ExpiresAt: a.ExpiresAt,
	}
	if a.Conversation != nil {
		r.Conversation = &store.Conversation{AccountID: a.Conversation.AccountID, ConversationID: a.Conversation.ConversationID}
	}
	return r
}

// ConsultationOf is the payload of a consultation row.
func ConsultationOf(r store.Consultation) Consultation {
	c := Consultation{
		ID: r.ID, Title: r.Title, JitsiRoom: r.JitsiRoom, Status: r.Status, HostID: r.HostID,
		ParticipantIDs: []string(r.ParticipantIDs), ApprovalID: r.ApprovalID, TenantID: r.TenantID,
		EndReason: r.EndReason, ScheduledAt: r.ScheduledAt, StartedAt: r.StartedAt, EndedAt: r.EndedAt,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
	if r.WorkflowID != nil {
		c.WorkflowID = *r.WorkflowID
	}
	return c
}

// Row is the consultation row of a payload.
func (c Consultation) Row() store.Consultation {
	r := store.Consultation{
		ID: c.ID, Title: c.Title, JitsiRoom: c.JitsiRoom, Status: c.Status, HostID: c.HostID,
		ParticipantIDs: store.StringList(c.ParticipantIDs), ApprovalID: c.ApprovalID, TenantID: c.TenantID,
		EndReason: c.EndReason, ScheduledAt: c.ScheduledAt, StartedAt: c.StartedAt, EndedAt: c.EndedAt,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
	if c.WorkflowID != "" {
		id := c.WorkflowID
		r.WorkflowID = &id
	}
	return r
}

// ApprovalPtr is ApprovalOf for a row an activity read or wrote, nil
// when there is none (with its error).
func ApprovalPtr(r *store.Approval) *Approval {
	if r == nil {
		return nil
	}
	a := ApprovalOf(*r)
	return &a
}

// ConsultationPtr is ConsultationOf for a row an activity read or wrote,
// nil when there is none.
func ConsultationPtr(r *store.Consultation) *Consultation {
	if r == nil {
		return nil
	}
	c := ConsultationOf(*r)
	return &c
}
