package activities

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/domain"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Audit actions of an escalation's life besides its creation and decision.
const (
	ActionExpired       = "approval.expired"
	ActionWithdrawn     = "approval.withdrawn"
	ActionInfoRequested = "approval.info_requested"
	ActionInfoProvided  = "approval.info_provided"
	ActionReminded      = "approval.reminded"
	// ActionInfoUnanswered: the question's time for an answer passed; the
	// escalation is pending again.
	ActionInfoUnanswered = "approval.info_unanswered"
)

// changeOf is the change of the transition table each action records.
var changeOf = map[string]domain.Change{
	ActionExpired:        domain.Expire,
	ActionWithdrawn:      domain.Withdraw,
	ActionInfoRequested:  domain.RequestInfo,
	ActionInfoProvided:   domain.ProvideInfo,
	ActionInfoUnanswered: domain.Unanswered,
}

// ChangeStatusInput moves a waiting approval on: to expired, withdrawn,
// info_requested, or back to pending with an answer or without one.
type ChangeStatusInput struct {
	ApprovalID string `json:"approvalId"`
	TenantID   string `json:"tenantId"`
	// From are the statuses the change applies to. The transition table
	// (domain.From) decides them for every action it knows; the field
	// stays for the inputs recorded in histories, which name the same.
	From   []string       `json:"from"`
	To     string         `json:"to"`
	Action string         `json:"action"`
	Actor  contract.Actor `json:"actor"`
	// Text is the question, the answer or the withdrawal's comment.
	Text string `json:"text,omitempty"`
	// ExpiresAt, when set, is the new deadline (moved on by the time spent
	// waiting for an answer).
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	// Seq tells apart the entries of an action that can happen more than
	// once (the second question, the third reminder).
	Seq int `json:"seq,omitempty"`
}

// ChangeStatus applies the change with its audit entry (old and new values),
// once: a retry finds it done.
func (a *Activities) ChangeStatus(ctx context.Context, in ChangeStatusInput) (*contract.Approval, error) {
	if c, ok := changeOf[in.Action]; ok {
		in.From = domain.From(c)
	}
	if len(in.From) == 0 {
		return nil, classify("change approval status", fmt.Errorf("%w: no status to change %s from", store.ErrInvalid, in.Action))
	}
	newV := map[string]any{"status": in.To}
	if in.Text != "" {
		newV["text"] = in.Text
	}
	if in.ExpiresAt != nil {
		newV["expiresAt"] = in.ExpiresAt.UTC().Format(time.RFC3339)
	}
	oldV := map[string]any{"status": in.From[0]}
	if len(in.From) > 1 {
		oldV["status"] = in.From
	}
	entry := auditEntry(eventKey(in.ApprovalID, in.Action, in.Seq), in.Action, "approval", in.ApprovalID, in.TenantID,
		in.Actor, a.Store.Now(), oldV, newV)
	change := store.StatusChange{ApprovalID: in.ApprovalID, TenantID: in.TenantID, From: in.From, To: in.To, ExpiresAt: in.ExpiresAt}
	if in.To == store.StatusWithdrawn {
		change.Comment = in.Text
	}
	out, changed, err := a.Store.ChangeStatus(ctx, change, entry)
	if changed && in.To == store.StatusExpired && out.ExpiresAt != nil && a.Metrics != nil {
		a.Metrics.EscalationExpired(out.UpdatedAt.Sub(*out.ExpiresAt))
	}
	return contract.ApprovalPtr(out), classify("change approval status", err)
}

// ReminderInput records that the approvers were reminded, once per reminder.
type ReminderInput struct {
	ApprovalID string `json:"approvalId"`
	TenantID   string `json:"tenantId"`
	Seq        int    `json:"seq"`
}

// RecordReminder writes approval.reminded for reminder Seq, once.
func (a *Activities) RecordReminder(ctx context.Context, in ReminderInput) error {
	entry := auditEntry(eventKey(in.ApprovalID, ActionReminded, in.Seq), ActionReminded, "approval", in.ApprovalID, in.TenantID,
		contract.System, a.Store.Now(), nil, map[string]any{"reminder": in.Seq})
	_, err := a.Store.AppendAudit(ctx, entry)
	return classify("record reminder", err)
}

func eventKey(approvalID, action string, seq int) string {
	key := "approval:" + approvalID + ":" + action
	if seq > 0 {
		key += ":" + strconv.Itoa(seq)
	}
	return key
}
