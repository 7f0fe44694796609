package activities

import (
	"context"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// RecordConsultationInput is a consultation to store (idempotent on its id).
type RecordConsultationInput struct {
	Consultation contract.Consultation `json:"consultation"`
	Actor        contract.Actor        `json:"actor"`
}

// RecordConsultation stores a consultation created directly through the API
// and its `consultation.created` entry. A consultation created by an approval
// is already stored with the decision; this then returns the stored row.
func (a *Activities) RecordConsultation(ctx context.Context, in RecordConsultationInput) (*contract.Consultation, error) {
	c := in.Consultation.Row()
	now := a.Store.Now()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	c.UpdatedAt = c.CreatedAt
	if c.ScheduledAt == nil {
		c.ScheduledAt = &c.CreatedAt
	}
	entry := auditEntry("consultation:"+c.ID+":created", "consultation.created", "consultation", c.ID, c.TenantID, in.Actor, c.CreatedAt,
		nil, map[string]any{"status": store.ConsultationScheduled, "hostId": c.HostID})
	out, created, err := a.Store.CreateConsultation(ctx, &c, entry)
	a.consultationChanged(created, store.ConsultationScheduled)
	return contract.ConsultationPtr(out), classify("record consultation", err)
}

// TransitionInput is a consultation status change.
type TransitionInput struct {
	ConsultationID string         `json:"consultationId"`
	TenantID       string         `json:"tenantId"`
	From           string         `json:"from"`
	To             string         `json:"to"`
	Reason         string         `json:"reason,omitempty"`
	Actor          contract.Actor `json:"actor"`
}

// TransitionConsultation applies the change with its audit entry
// (`consultation.started`, `consultation.ended`).
func (a *Activities) TransitionConsultation(ctx context.Context, in TransitionInput) (*contract.Consultation, error) {
	now := a.Store.Now()
	action := "consultation." + map[string]string{store.ConsultationActive: "started", store.ConsultationEnded: "ended"}[in.To]
	newV := map[string]any{"status": in.To}
	if in.Reason != "" {
		newV["reason"] = in.Reason
	}
	entry := auditEntry("consultation:"+in.ConsultationID+":"+in.To, action, "consultation", in.ConsultationID, in.TenantID,
		in.Actor, now, map[string]any{"status": in.From}, newV)
	out, changed, err := a.Store.TransitionConsultation(ctx, store.Transition{
		ConsultationID: in.ConsultationID, TenantID: in.TenantID, From: in.From, To: in.To, At: now, Reason: in.Reason,
	}, entry)
	a.consultationChanged(changed, in.To)
	return contract.ConsultationPtr(out), classify("transition consultation", err)
}
