package activities

import (
	"context"

	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// Notification kinds, one message each per escalation.
const (
	NotifyEscalated    = "escalated"
	NotifyDecided      = "decided"
	NotifyConsultation = "consultation"
)

// NotifyInput asks for one notification about an escalation.
type NotifyInput struct {
	Kind         string              `json:"kind"`
	Approval     store.Approval      `json:"approval"`
	Consultation *store.Consultation `json:"consultation,omitempty"`
}

// NotifyResult says what happened, for the workflow's state and the audit trail.
type NotifyResult struct {
	Status string `json:"status"` // sent, skipped, failed
	Reason string `json:"reason,omitempty"`
}

// Notifier sends the notifications of an escalation to the outside world
// (Chatwoot, Matrix). Implementations are idempotent per (approval, kind).
type Notifier interface {
	Notify(ctx context.Context, in NotifyInput) (*NotifyResult, error)
}

// Notify delivers one notification. Transient failures are returned as errors
// (retried by Temporal with backoff, for as long as it takes); failures that
// can never succeed come back as a "failed" result so the escalation carries on.
func (a *Activities) Notify(ctx context.Context, in NotifyInput) (*NotifyResult, error) {
	if a.Notifier == nil {
		return &NotifyResult{Status: "skipped", Reason: "no notification channel is configured"}, nil
	}
	return a.Notifier.Notify(ctx, in)
}
