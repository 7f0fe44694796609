// Package activities holds the side effects of the escalation workflows:
// database writes, starting the consultation's workflow, and calls to
// Chatwoot and Matrix. The workflows choose how each runs (most database
// writes as local activities inside the workflow task; the decision and the
// durable path of notifications as regular activities). Every activity is
// idempotent: a retry, or a replay after a worker crash, writes no second row
// and sends no second message.
package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/orchestrator-dev/orchestrator/internal/jitsi"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Activities carries the dependencies of every activity. The worker builds one
// and registers it; workflows refer to its methods through a nil pointer.
type Activities struct {
	Store    *store.Store
	Notifier Notifier
	// Temporal starts the workflows that outlive an escalation (consultations).
	Temporal client.Client
	Log      *slog.Logger
	// Metrics hears of business events; nil is fine.
	Metrics Metrics
}

// Metrics receives the business events of the activities, each once per
// change a store write actually made: a retried or replayed activity whose
// row was already written reports nothing.
type Metrics interface {
	EscalationCreated()
	EscalationDecided(outcome string, timeToDecision time.Duration)
	ConsultationState(state string)
	// EscalationExpired hears of an expiry stored delay after the deadline.
	EscalationExpired(delay time.Duration)
}

// classify turns store errors into Temporal errors that say whether a retry
// can help.
func classify(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrConflict):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", op, err), contract.ErrTypeConflict, err)
	case errors.Is(err, store.ErrNotFound):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", op, err), contract.ErrTypeNotFound, err)
	case errors.Is(err, store.ErrInvalid):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", op, err), contract.ErrTypeInvalid, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// RecordApprovalInput is a new escalation to record.
type RecordApprovalInput struct {
	Approval contract.Approval `json:"approval"`
	Actor    contract.Actor    `json:"actor"`
}

// RecordApproval stores the pending approval and its `approval.created` audit
// entry. Creation times come from the activity's clock on the first attempt;
// retries return the stored row.
func (a *Activities) RecordApproval(ctx context.Context, in RecordApprovalInput) (*contract.Approval, error) {
	ap := in.Approval.Row()
	now := a.Store.Now()
	if ap.CreatedAt.IsZero() {
		ap.CreatedAt = now
	}
	ap.UpdatedAt = ap.CreatedAt
	ap.Status = store.StatusPending
	entry := auditEntry("approval:"+ap.ID+":created", "approval.created", "approval", ap.ID, ap.TenantID, in.Actor, ap.CreatedAt,
		nil, map[string]any{"status": store.StatusPending, "title": ap.Title, "priority": ap.Priority})
	out, created, err := a.Store.RecordApproval(ctx, &ap, entry)
	if created && a.Metrics != nil {
		a.Metrics.EscalationCreated()
	}
	return contract.ApprovalPtr(out), classify("record approval", err)
}

// ApplyDecisionInput is a decision to apply, with the consultation to create
// when it is an approval.
type ApplyDecisionInput struct {
	ApprovalID   string                 `json:"approvalId"`
	TenantID     string                 `json:"tenantId"`
	Status       string                 `json:"status"`
	Comment      string                 `json:"comment,omitempty"`
	Decider      contract.Actor         `json:"decider"`
	Consultation *contract.Consultation `json:"consultation,omitempty"`
}

// ApplyDecisionResult is the decided approval and, on approval, its consultation.
type ApplyDecisionResult struct {
	Approval     *contract.Approval     `json:"approval"`
	Consultation *contract.Consultation `json:"consultation,omitempty"`
}

// ApplyDecision updates the approval, writes `approval.approved` or
// `approval.rejected` with old and new values, and creates the consultation,
// in one transaction.
func (a *Activities) ApplyDecision(ctx context.Context, in ApplyDecisionInput) (*ApplyDecisionResult, error) {
	now := a.Store.Now()
	newValues := map[string]any{"status": in.Status, "approvedBy": in.Decider.ID}
	if in.Comment != "" {
		newValues["comment"] = in.Comment
	}
	entry := auditEntry("approval:"+in.ApprovalID+":decided", "approval."+in.Status, "approval", in.ApprovalID, in.TenantID,
		in.Decider, now, map[string]any{"status": store.StatusPending}, newValues)
	var (
		c      *store.Consultation
		centry *store.AuditLog
	)
	if in.Consultation != nil {
		cc := in.Consultation.Row()
		if cc.JitsiRoom == "" {
			// Drawn here rather than in the workflow (a side effect, one
			// more event): a retry draws another, which the stored row's
			// first one outlives (the insert does nothing on a second try).
			room, err := jitsi.NewRoomName()
			if err != nil {
				return nil, fmt.Errorf("draw room name: %w", err)
			}
			cc.JitsiRoom = room
		}
		cc.CreatedAt, cc.UpdatedAt = now, now
		if cc.ScheduledAt == nil {
			cc.ScheduledAt = &now
		}
		c = &cc
		// The consultation's own workflow recorded this entry once; the
		// escalation that runs it now has no record of its own to write.
		centry = auditEntry("consultation:"+cc.ID+":created", "consultation.created", "consultation", cc.ID, cc.TenantID,
			contract.Actor{ID: cc.HostID, Channel: store.ChannelSystem}, now,
			nil, map[string]any{"status": store.ConsultationScheduled, "hostId": cc.HostID})
	}
	ap, cons, decided, err := a.Store.DecideApproval(ctx, store.Decision{
		ApprovalID: in.ApprovalID, TenantID: in.TenantID, Status: in.Status,
		DeciderID: in.Decider.ID, DeciderName: in.Decider.Name, Comment: in.Comment, ConsultationEntry: centry,
	}, entry, c)
	if err != nil {
		return nil, classify("apply decision", err)
	}
	// Counted only by the attempt whose write changed the row: a retry or a
	// replay reports nothing.
	if decided && a.Metrics != nil {
		decidedAt := now
		if ap.DecidedAt != nil {
			decidedAt = *ap.DecidedAt
		}
		a.Metrics.EscalationDecided(in.Status, decidedAt.Sub(ap.CreatedAt))
		if cons != nil {
			a.Metrics.ConsultationState(store.ConsultationScheduled)
		}
	}
	return &ApplyDecisionResult{Approval: contract.ApprovalPtr(ap), Consultation: contract.ConsultationPtr(cons)}, nil
}

func (a *Activities) consultationChanged(changed bool, state string) {
	if changed && a.Metrics != nil {
		a.Metrics.ConsultationState(state)
	}
}

func auditEntry(key, action, resource, resourceID, tenant string, actor contract.Actor, at time.Time, oldV, newV map[string]any) *store.AuditLog {
	e := &store.AuditLog{
		Action: action, Resource: resource, ResourceID: resourceID, TenantID: tenant,
		UserID: actor.ID, UserName: actor.Name, Channel: actor.Channel, CreatedAt: at,
	}
	if e.Channel == "" {
		e.Channel = store.ChannelSystem
	}
	if key != "" {
		e.EventKey = &key
	}
	if oldV != nil {
		e.OldValues = store.MustJSON(oldV)
	}
	if newV != nil {
		e.NewValues = store.MustJSON(newV)
	}
	return e
}
