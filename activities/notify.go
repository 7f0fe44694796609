package activities

import (
	"context"
	"strconv"

	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Notification kinds, one message each per escalation.
const (
	NotifyEscalated    = "escalated"
	NotifyDecided      = "decided"
	NotifyConsultation = "consultation"
	// The rest of an escalation's life, each a private note (and, where
	// approvers care, a Matrix notice). Info requests and reminders can
	// happen more than once: NotifyInput.Seq tells them apart.
	NotifyExpired       = "expired"
	NotifyWithdrawn     = "withdrawn"
	NotifyInfoRequested = "info_requested"
	NotifyInfoProvided  = "info_provided"
	NotifyReminder      = "reminder"
	// NotifyInfoUnanswered: no answer came in time; the approvers are
	// reminded that the escalation waits for them again.
	NotifyInfoUnanswered = "info_unanswered"
)

// NotifyInput asks for one notification about an escalation.
type NotifyInput struct {
	Kind         string                 `json:"kind"`
	Approval     contract.Approval      `json:"approval"`
	Consultation *contract.Consultation `json:"consultation,omitempty"`
	// Seq numbers a kind that can happen more than once (1, 2, …).
	Seq int `json:"seq,omitempty"`
	// ActorName and Text: who asked, answered or withdrew, and what they
	// wrote.
	ActorName string `json:"actorName,omitempty"`
	Text      string `json:"text,omitempty"`
}

// Key names this notification among the escalation's: its kind, numbered
// when the kind repeats. Every step of it is recorded under this key.
func (in NotifyInput) Key() string {
	if in.Seq > 0 {
		return in.Kind + "-" + strconv.Itoa(in.Seq)
	}
	return in.Kind
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
