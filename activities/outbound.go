package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/chatwoot"
	"github.com/orchestrator-dev/orchestrator/internal/jitsi"
	"github.com/orchestrator-dev/orchestrator/internal/matrix"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Outbound sends an escalation's notifications to Chatwoot (notes, labels,
// priority, the customer's join link) and Matrix (notices). Every step is
// recorded in the notifications table under a key of its own, so a retry
// skips what was done; a message whose attempt may have reached Chatwoot
// before a crash is looked up by its echo id before it is posted again.
type Outbound struct {
	Store        *store.Store
	Chatwoot     *chatwoot.Client // nil: Chatwoot is not configured
	Templates    *chatwoot.Templates
	Jitsi        *jitsi.Signer // nil: plain join links
	Matrix       *matrix.Client
	MatrixRoomID string
	ApproverRole string
	BaseURL      string // links to approvals
	Log          *slog.Logger
	// Metrics counts calls by target and outcome; nil is fine. Targets:
	// chatwoot and matrix (sent, retry, failed), jitsi (issued, failed).
	Metrics func(target, outcome string)
}

// Notify performs every step of one notification kind.
func (o *Outbound) Notify(ctx context.Context, in NotifyInput) (*NotifyResult, error) {
	res := &NotifyResult{Status: "skipped", Reason: "nothing to notify"}
	if o.Matrix != nil && approversCare(in.Kind) {
		if err := o.matrixNotice(ctx, in); err != nil {
			return nil, err
		}
		res = &NotifyResult{Status: "sent"}
	}
	if in.Approval.Conversation == nil {
		return res, nil
	}
	if o.Chatwoot == nil {
		if err := o.audit(ctx, in, "chatwoot.skipped", "Chatwoot is not configured (CHATWOOT_BASE_URL, CHATWOOT_API_TOKEN)"); err != nil {
			return nil, err
		}
		return &NotifyResult{Status: "skipped", Reason: "Chatwoot is not configured"}, nil
	}
	return o.chatwoot(ctx, in)
}

func (o *Outbound) chatwoot(ctx context.Context, in NotifyInput) (*NotifyResult, error) {
	data, err := o.templateData(in)
	if err != nil {
		return nil, err
	}
	type step struct {
		name string
		run  func(*store.Notification) (string, error) // given the step's row, returns an external id
	}
	conv := in.Approval.Conversation
	acct, cid := int(conv.AccountID), int(conv.ConversationID)
	var steps []step
	switch in.Kind {
	case NotifyEscalated:
		steps = []step{
			{"note", o.message(ctx, in, "note", chatwoot.TemplateEscalated, data, true)},
			{"label", func(*store.Notification) (string, error) {
				_, err := o.Chatwoot.AddLabels(ctx, acct, cid, "escalated")
				return "", err
			}},
			{"priority", func(*store.Notification) (string, error) {
				return "", o.Chatwoot.SetPriority(ctx, acct, cid, chatwootPriority(in.Approval.Priority))
			}},
		}
	case NotifyDecided:
		steps = []step{{"note", o.message(ctx, in, "note", chatwoot.TemplateDecided, data, true)}}
	case NotifyConsultation:
		steps = []step{{"message", o.message(ctx, in, "message", chatwoot.TemplateConsultation, data, false)}}
	case NotifyExpired, NotifyWithdrawn, NotifyInfoRequested, NotifyInfoProvided, NotifyReminder, NotifyInfoUnanswered:
		// The kinds and the templates share their names.
		steps = []step{{"note", o.message(ctx, in, "note", in.Kind, data, true)}}
	default:
		return nil, fmt.Errorf("notify: unknown kind %q", in.Kind)
	}
	for _, st := range steps {
		status, err := o.once(ctx, in, chatwootStepKey(in, st.name), "chatwoot", st.run)
		if err != nil {
			return nil, err
		}
		if status != nil {
			// A permanent refusal: audited, the escalation carries on.
			return status, nil
		}
	}
	return &NotifyResult{Status: "sent"}, nil
}

// message returns a step that posts one templated message, reconciling by
// echo id when the step's row counts an earlier attempt, which may have
// posted it already.
func (o *Outbound) message(ctx context.Context, in NotifyInput, step, tmpl string, data chatwoot.TemplateData, private bool) func(*store.Notification) (string, error) {
	return func(n *store.Notification) (string, error) {
		conv := in.Approval.Conversation
		acct, cid := int(conv.AccountID), int(conv.ConversationID)
		echoID := "orchestrator:" + in.Approval.ID + ":" + in.Key() + ":" + step
		if n.Attempts > 1 {
			m, found, err := o.Chatwoot.FindMessageByEchoID(ctx, acct, cid, echoID, n.CreatedAt.Add(-time.Minute))
			if err != nil {
				return "", err
			}
			if found {
				return fmt.Sprint(m.ID), nil
			}
		}
		content, err := o.Templates.Render(tmpl, data)
		if err != nil {
			return "", &permanentError{fmt.Errorf("render %s template: %w", tmpl, err)}
		}
		msg, err := o.Chatwoot.PostMessage(ctx, acct, cid, chatwoot.NewMessage{Content: content, Private: private, EchoID: echoID})
		if err != nil {
			return "", err
		}
		return fmt.Sprint(msg.ID), nil
	}
}

// chatwootStepKey names one Chatwoot step of a notification in the
// notifications table, where once records its attempts.
func chatwootStepKey(in NotifyInput, step string) string {
	return "chatwoot:" + in.Approval.ID + ":" + in.Key() + ":" + step
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// once runs a step at most once to success. It returns a non-nil result for a
// permanent failure (recorded and audited), an error for a transient one. run
// is given the step's row as this attempt's begin left it.
func (o *Outbound) once(ctx context.Context, in NotifyInput, key, target string, run func(*store.Notification) (string, error)) (*NotifyResult, error) {
	n, err := o.Store.BeginNotification(ctx, store.Notification{
		Key: key, TenantID: in.Approval.TenantID, ApprovalID: in.Approval.ID, Kind: in.Kind, Target: target,
	})
	if err != nil {
		return nil, err
	}
	switch n.Status {
	case store.NotificationSent, store.NotificationSkipped:
		return nil, nil
	case store.NotificationFailed:
		return &NotifyResult{Status: "failed", Reason: deref(n.LastError)}, nil
	}
	ext, err := run(n)
	if err == nil {
		o.count(target, "sent")
		return nil, o.Store.FinishNotification(ctx, store.ScopeOf(in.Approval.TenantID), key, store.NotificationSent, ext, "")
	}
	var perm *permanentError
	if !errors.As(err, &perm) && !chatwoot.IsPermanent(err) && !matrix.IsPermanent(err) {
		o.count(target, "retry")
		o.logger().Warn("notification failed; retrying", "key", key, "error", err.Error())
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	o.count(target, "failed")
	reason := err.Error()
	if ferr := o.Store.FinishNotification(ctx, store.ScopeOf(in.Approval.TenantID), key, store.NotificationFailed, "", reason); ferr != nil {
		return nil, ferr
	}
	if aerr := o.audit(ctx, in, target+".failed", reason); aerr != nil {
		return nil, aerr
	}
	return &NotifyResult{Status: "failed", Reason: reason}, nil
}

// approversCare says which notifications approvers get in Matrix too.
func approversCare(kind string) bool {
	switch kind {
	case NotifyEscalated, NotifyDecided, NotifyExpired, NotifyWithdrawn, NotifyReminder, NotifyInfoUnanswered:
		return true
	}
	return false
}

func (o *Outbound) matrixNotice(ctx context.Context, in NotifyInput) error {
	key := "matrix:" + in.Approval.ID + ":" + in.Key()
	var body string
	switch in.Kind {
	case NotifyDecided:
		body = fmt.Sprintf("Escalation %q was %s by %s", in.Approval.Title, in.Approval.Status, deciderName(&in.Approval))
	case NotifyExpired:
		body = fmt.Sprintf("Escalation %q expired without a decision", in.Approval.Title)
	case NotifyWithdrawn:
		body = fmt.Sprintf("Escalation %q was withdrawn by its requester", in.Approval.Title)
	case NotifyReminder:
		body = fmt.Sprintf("Reminder for the %s: escalation %q is still waiting for a decision: %s", o.ApproverRole, in.Approval.Title, o.approvalURL(in.Approval.ID))
	case NotifyInfoUnanswered:
		body = fmt.Sprintf("No answer came to the question on escalation %q; it waits for a decision again: %s", in.Approval.Title, o.approvalURL(in.Approval.ID))
	default:
		body = fmt.Sprintf("Escalation %q (%s priority) is waiting for a decision: %s", in.Approval.Title, in.Approval.Priority, o.approvalURL(in.Approval.ID))
	}
	_, err := o.once(ctx, in, key, "matrix", func(*store.Notification) (string, error) {
		// The key doubles as the transaction id: the homeserver dedupes retries.
		return o.Matrix.SendNotice(ctx, o.MatrixRoomID, key, body)
	})
	return err
}

func (o *Outbound) templateData(in NotifyInput) (chatwoot.TemplateData, error) {
	ap := in.Approval
	d := chatwoot.TemplateData{
		ApprovalID: ap.ID, Title: ap.Title, Description: ap.Description, Priority: ap.Priority,
		ApproverRole: o.ApproverRole, ApprovalURL: o.approvalURL(ap.ID), Decision: ap.Status,
		DeciderName: deciderName(&ap), Comment: deref(ap.Comment), RequesterName: ap.RequestedByName,
		ActorName: in.ActorName, Text: in.Text,
	}
	if ap.ExpiresAt != nil {
		d.ExpiresAt = ap.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC")
	}
	if in.Consultation != nil {
		link, err := o.customerLink(in)
		if err != nil {
			return d, err
		}
		d.JoinURL = link
	}
	return d, nil
}

// customerLink is the join link the customer gets: a guest, never moderator.
func (o *Outbound) customerLink(in NotifyInput) (string, error) {
	c := in.Consultation
	if o.Jitsi == nil {
		return "", &permanentError{errors.New("no Jitsi settings")}
	}
	conv := in.Approval.Conversation
	link, err := o.Jitsi.JoinURL(c.JitsiRoom, jitsi.User{
		ID: fmt.Sprintf("chatwoot-contact:%d:%d", conv.AccountID, conv.ConversationID), Name: "Customer",
	}, time.Now())
	o.count("jitsi", map[bool]string{true: "issued", false: "failed"}[err == nil])
	return link, err
}

func (o *Outbound) audit(ctx context.Context, in NotifyInput, action, reason string) error {
	e := auditEntry("approval:"+in.Approval.ID+":"+action+":"+in.Key(), action, "approval", in.Approval.ID, in.Approval.TenantID,
		contract.System, o.Store.Now(), nil, map[string]any{"kind": in.Kind, "reason": reason})
	_, err := o.Store.AppendAudit(ctx, e)
	return err
}

func (o *Outbound) approvalURL(id string) string { return o.BaseURL + "/api/approvals/" + id }

func (o *Outbound) count(target, outcome string) {
	if o.Metrics != nil {
		o.Metrics(target, outcome)
	}
}

func (o *Outbound) logger() *slog.Logger {
	if o.Log != nil {
		return o.Log
	}
	return slog.Default()
}

func chatwootPriority(p string) string {
	switch p {
	case store.PriorityHigh:
		return chatwoot.PriorityHigh
	case store.PriorityLow:
		return chatwoot.PriorityLow
	}
	return chatwoot.PriorityMedium
}

func deciderName(a *contract.Approval) string {
	if a.ApprovedByName != nil && *a.ApprovedByName != "" {
		return *a.ApprovedByName
	}
	return deref(a.ApprovedBy)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
