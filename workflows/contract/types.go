package contract

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/domain"
	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// Actor is who did something, as the audit trail records it.
type Actor struct {
	ID      string `json:"id"`
	Name    string `json:"name,omitempty"`
	Channel string `json:"channel"`
}

// System is the actor of what the workflows do on their own (timeouts).
var System = Actor{ID: "system", Channel: store.ChannelSystem}

// EscalationInput starts an escalation.
type EscalationInput struct {
	Approval Approval `json:"approval"`
	Actor    Actor    `json:"actor"`
	// Participants are extra consultation participants named by the request.
	Participants []string `json:"participants,omitempty"`
	// ReminderSeconds are when to remind the approvers, after creation
	// (the tenant's policy, snapshotted at creation). The deadline is
	// Approval.ExpiresAt.
	ReminderSeconds []int64 `json:"reminderSeconds,omitempty"`
	// Settings of the consultation an approval opens.
	ConsultationMaxDurationSeconds  int64 `json:"consultationMaxDurationSeconds,omitempty"`
	ConsultationStartTimeoutSeconds int64 `json:"consultationStartTimeoutSeconds,omitempty"`
	// AnswerTTLSeconds is how long a question waits for its answer before
	// the escalation returns to pending (the tenant's policy, snapshotted
	// at creation); 0: as long as it takes (escalations created before it).
	AnswerTTLSeconds int64 `json:"answerTtlSeconds,omitempty"`
	// MaxQuestions is how many questions the escalation takes (the
	// tenant's policy at creation); 0: no cap (escalations created before
	// it, or started by hand).
	MaxQuestions int `json:"maxQuestions,omitempty"`
	// Continued is what the previous run of the same escalation carried
	// over when it continued as new (its history grew long): the state,
	// in the workflows package's own terms. Empty for the first run.
	Continued json.RawMessage `json:"continued,omitempty"`
	// Generation is the generation of the workflow code the starter asks
	// for (GenerationCompact for every start since issue 22; 0 in inputs
	// recorded before it, whose runs pick theirs by version markers). It
	// travels in the input, not in a version marker, because a marker and
	// the TemporalChangeVersion upsert it makes are two more events in
	// every escalation's history.
	Generation int `json:"generation,omitempty"`
}

// GenerationCompact is the escalation generation where one activity does
// each step (its write, the first attempt of its notifications, the audit
// anchor when it ends the escalation), the decision is written inside the
// workflow task that accepts it, and a consultation its approval opens is
// run by the escalation's own workflow (issue 22).
const GenerationCompact = 1

// ConsultationInput starts a consultation's workflow.
type ConsultationInput struct {
	Consultation        Consultation `json:"consultation"`
	Actor               Actor        `json:"actor"`
	MaxDurationSeconds  int64        `json:"maxDurationSeconds,omitempty"`
	StartTimeoutSeconds int64        `json:"startTimeoutSeconds,omitempty"`
}

// MaxDuration is how long the consultation may run once started.
func (in ConsultationInput) MaxDuration() time.Duration {
	return seconds(in.MaxDurationSeconds, domain.DefaultConsultationMaxDuration)
}

// StartTimeout is how long the consultation waits to be started.
func (in ConsultationInput) StartTimeout() time.Duration {
	return seconds(in.StartTimeoutSeconds, domain.DefaultConsultationStartTimeout)
}

func seconds(n int64, def time.Duration) time.Duration {
	if n <= 0 {
		return def
	}
	return time.Duration(n) * time.Second
}

// Participants lists who takes part in a consultation: the given users first,
// then the extra ones, each once, empty ids left out.
func Participants(first []string, extra ...string) []string {
	out := make([]string, 0, len(first)+len(extra))
	for _, id := range append(append([]string(nil), first...), extra...) {
		if id != "" && !contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// MaxCommentBytes bounds a decision comment (domain.MaxCommentBytes).
const MaxCommentBytes = domain.MaxCommentBytes

// DecisionRequest is the payload of the decide update and the decision signal.
type DecisionRequest struct {
	Status      string `json:"status"`
	Comment     string `json:"comment,omitempty"`
	DeciderID   string `json:"deciderId"`
	DeciderName string `json:"deciderName,omitempty"`
	// Channel is the channel the sender claims; the workflow records it only
	// when Proof holds (DecisionKey), ops otherwise. Signals are always
	// ops-signal.
	Channel string `json:"channel,omitempty"`
	// Proof is the sender's DecisionKey seal over the fields above.
	Proof string `json:"proof,omitempty"`
}

// FieldError names the field of a request that breaks a rule.
type FieldError struct {
	Field, Reason string
}

func (e *FieldError) Error() string { return e.Field + " " + e.Reason }

// Validate checks what a decision says, whoever sends it: the API before it
// sends the update, the workflow before it accepts one. Whether the decider
// may decide is for the caller to know.
func (r DecisionRequest) Validate() error {
	switch {
	case r.Status != store.StatusApproved && r.Status != store.StatusRejected:
		return &FieldError{"status", fmt.Sprintf("must be %q or %q", store.StatusApproved, store.StatusRejected)}
	case len(r.Comment) > MaxCommentBytes:
		return &FieldError{"comment", fmt.Sprintf("must be at most %d bytes", MaxCommentBytes)}
	case !store.ValidText(r.Comment, true):
		return &FieldError{"comment", "must not contain control characters other than tabs and line breaks"}
	case r.DeciderID == "":
		return &FieldError{"deciderId", "is required: a decision must name its decider"}
	}
	return checkPerson("deciderId", r.DeciderID, "deciderName", r.DeciderName)
}

// checkPerson checks a person's id and name fit what the database stores.
func checkPerson(idField, id, nameField, name string) error {
	for _, f := range []struct{ field, value string }{{idField, id}, {nameField, name}} {
		if !domain.FitsUserID(f.value) {
			return &FieldError{f.field, fmt.Sprintf("must be at most %d printable characters", MaxUserIDChars)}
		}
	}
	return nil
}

// MaxUserIDChars is what the database stores of a user id or name
// (domain.MaxUserIDChars: characters, not bytes).
const MaxUserIDChars = domain.MaxUserIDChars

// ChangeRequest is the payload of the withdraw, request-info and
// provide-info updates: who asks, and their comment, question or answer.
// Like a decision, it records its channel only with a valid Proof.
type ChangeRequest struct {
	ActorID   string `json:"actorId"`
	ActorName string `json:"actorName,omitempty"`
	Text      string `json:"text,omitempty"`
	Channel   string `json:"channel,omitempty"`
	Proof     string `json:"proof,omitempty"`
}

// MaxQuestionBytes bounds a question, an answer or a withdrawal comment.
const MaxQuestionBytes = MaxCommentBytes

// Validate checks what a change says; required says whether Text must be
// given (a question, an answer) or may be empty (a withdrawal comment).
func (r ChangeRequest) Validate(required bool) error {
	if r.ActorID == "" {
		return &FieldError{"actorId", "is required"}
	}
	if err := checkPerson("actorId", r.ActorID, "actorName", r.ActorName); err != nil {
		return err
	}
	switch {
	case required && strings.TrimSpace(r.Text) == "":
		return &FieldError{"text", "is required"}
	case len(r.Text) > MaxQuestionBytes:
		return &FieldError{"text", fmt.Sprintf("must be at most %d bytes", MaxQuestionBytes)}
	case !store.ValidText(r.Text, true):
		return &FieldError{"text", "must not contain control characters other than tabs and line breaks"}
	}
	return nil
}

// ChangeResult answers a change: the approval as it is now.
type ChangeResult struct {
	Approval *Approval `json:"approval"`
}

// DecisionResult answers the decide update.
type DecisionResult struct {
	Approval     *Approval     `json:"approval"`
	Consultation *Consultation `json:"consultation,omitempty"`
}

// TransitionRequest is the payload of a consultation's start and end updates.
type TransitionRequest struct {
	ActorID   string `json:"actorId"`
	ActorName string `json:"actorName,omitempty"`
}

// Phases of an escalation, as the state query reports them.
const (
	// PhaseRecording: the approval is being stored.
	PhaseRecording = "recording"
	// PhasePending: stored and waiting for a decision.
	PhasePending = "pending"
	// PhaseDeciding: a decision was accepted and is being applied.
	PhaseDeciding = "deciding"
	// PhaseDecided: the decision is stored; notifications may still be on
	// their way.
	PhaseDecided = "decided"
	// PhaseInfoRequested: an approver asked the requester a question; the
	// deadline and the reminders wait for the answer.
	PhaseInfoRequested = "info_requested"
	// PhaseClosed: the escalation ended without a decision (expired at its
	// deadline, or withdrawn); Approval.Status says which.
	PhaseClosed = "closed"
	// PhaseDiscarded: the approval was never stored because the database
	// refused it as a conflict (the conversation already has a pending
	// escalation, or the id was taken); the workflow ends without effects.
	PhaseDiscarded = "discarded"
	// PhaseFailed: the approval could not be recorded (a value the
	// database refuses); the create is answered with the cause.
	PhaseFailed = "failed"
)

// Notification outcomes.
const (
	NotificationPending = "pending"
	NotificationSent    = "sent"
	NotificationSkipped = "skipped"
	NotificationFailed  = "failed"
)

// NotificationState is one notification's outcome.
type NotificationState struct {
	Kind   string `json:"kind"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// EscalationState answers the state query and is the workflow's result.
type EscalationState struct {
	Phase          string           `json:"phase"`
	Approval       *Approval        `json:"approval,omitempty"`
	Decision       *DecisionRequest `json:"decision,omitempty"`
	ConsultationID string           `json:"consultationId,omitempty"`
	// Consultation is the consultation the escalation runs itself, as it
	// stands (GenerationCompact); older runs started its own workflow.
	Consultation *Consultation `json:"consultation,omitempty"`
	// ExpiresAt is the deadline as it stands (moved on by time spent
	// waiting for information); WaitingFor says what the escalation waits
	// on, for ops.
	ExpiresAt     *time.Time          `json:"expiresAt,omitempty"`
	WaitingFor    string              `json:"waitingFor,omitempty"`
	Notifications []NotificationState `json:"notifications,omitempty"`
	Error         string              `json:"error,omitempty"`
	// AuditHead is the tenant's audit chain head when the escalation
	// ended: an anchor of the chain outside the database, kept in the
	// workflow's result (docs/audit.md). Absent from escalations that ended
	// before anchors existed.
	AuditHead *store.AuditHead `json:"auditHead,omitempty"`
}

// ConsultationState answers the state query and is the workflow's result.
type ConsultationState struct {
	Consultation *Consultation `json:"consultation,omitempty"`
}
