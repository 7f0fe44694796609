package activities

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// StepInput is one step of an escalation, done by one activity: its write
// (one of Record, Decide, Change and Reminder; one database transaction),
// then the first attempt of the notifications the step causes, in order,
// then, for the step that ends the escalation, the tenant's audit chain
// head. One activity a step, rather than one for the write, one per
// notification and one for the head, is one marker in the workflow's
// history instead of up to four (issue 22).
type StepInput struct {
	Record   *RecordApprovalInput `json:"record,omitempty"`
	Decide   *ApplyDecisionInput  `json:"decide,omitempty"`
	Change   *ChangeStatusInput   `json:"change,omitempty"`
	Reminder *ReminderInput       `json:"reminder,omitempty"`
	// Notify are the notifications the write causes, without their
	// approval (and consultation), which the write's result fills in.
	Notify []NotifyInput `json:"notify,omitempty"`
	// Anchor names the tenant whose audit chain head to read last.
	Anchor string `json:"anchor,omitempty"`
}

// StepResult is what a step wrote and sent.
type StepResult struct {
	Approval     *contract.Approval     `json:"approval,omitempty"`
	Consultation *contract.Consultation `json:"consultation,omitempty"`
	// Settled is set when a decision or a change was refused because the
	// row had already left the statuses it applies to: Refused is the
	// refusal, Approval the row as it stands and, when it is approved,
	// Consultation the consultation its approval opened. The workflow
	// follows the row (a decision written by a run whose workflow task
	// was lost with the server, see escalation.apply).
	Settled bool   `json:"settled,omitempty"`
	Refused string `json:"refused,omitempty"`
	// Notified holds the outcome of each notification's first attempt, in
	// the order of StepInput.Notify, up to the first that did not get
	// through (the workflow sends it, and those after it, by a regular
	// activity).
	Notified  []NotifyResult   `json:"notified,omitempty"`
	AuditHead *store.AuditHead `json:"auditHead,omitempty"`
}

// FirstAttemptBudget bounds each notification's first attempt inside a
// step, and so how much a slow Chatwoot delays the answer to a create or a
// decision.
const FirstAttemptBudget = 2 * time.Second

// Step does one step of an escalation (StepInput). A failed write fails
// the step before anything is sent, for the workflow to retry or refuse;
// every part is idempotent, so a retried step writes and sends nothing
// twice.
func (a *Activities) Step(ctx context.Context, in StepInput) (*StepResult, error) {
	res, err := a.write(ctx, in)
	if err != nil {
		return nil, err
	}
	if !res.Settled {
		a.firstAttempts(ctx, in.Notify, res)
	}
	if in.Anchor != "" {
		head, err := a.Store.AuditHeadOf(ctx, in.Anchor)
		if err != nil {
			// The anchor is worth less than the step: the workflow reads
			// it on its own as it ends (escalation.anchorAudit) rather
			// than the step failing after its write.
			activity.GetLogger(ctx).Warn("Audit chain head not read", "tenant", in.Anchor, "error", err)
		} else {
			res.AuditHead = &head
		}
	}
	return res, nil
}

func (a *Activities) write(ctx context.Context, in StepInput) (*StepResult, error) {
	var (
		res StepResult
		err error
	)
	switch {
	case in.Record != nil:
		res.Approval, err = a.RecordApproval(ctx, *in.Record)
		return &res, err
	case in.Decide != nil:
		var d *ApplyDecisionResult
		if d, err = a.ApplyDecision(ctx, *in.Decide); err == nil {
			res.Approval, res.Consultation = d.Approval, d.Consultation
			return &res, nil
		}
		return a.settled(ctx, in.Decide.TenantID, in.Decide.ApprovalID, err)
	case in.Change != nil:
		if res.Approval, err = a.ChangeStatus(ctx, *in.Change); err == nil {
			return &res, nil
		}
		return a.settled(ctx, in.Change.TenantID, in.Change.ApprovalID, err)
	case in.Reminder != nil:
		return &res, a.RecordReminder(ctx, *in.Reminder)
	}
	return nil, classify("escalation step", errors.New("the step names no write: "+store.ErrInvalid.Error()))
}

// settled turns a conflict of a decision or a change into the row as it
// stands; any other error stays the step's.
func (a *Activities) settled(ctx context.Context, tenant, approvalID string, err error) (*StepResult, error) {
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != contract.ErrTypeConflict {
		return nil, err
	}
	scope := store.ScopeOf(tenant)
	ap, rerr := a.Store.GetApproval(ctx, scope, approvalID)
	if rerr != nil {
		return nil, classify("read the approval that moved on", rerr)
	}
	res := &StepResult{Settled: true, Refused: app.Message(), Approval: contract.ApprovalPtr(ap)}
	if ap.Status == store.StatusApproved {
		c, cerr := a.Store.GetConsultation(ctx, scope, contract.ApprovalConsultationID(approvalID))
		if cerr != nil && !errors.Is(cerr, store.ErrNotFound) {
			return nil, classify("read the consultation of the approval", cerr)
		}
		res.Consultation = contract.ConsultationPtr(c)
	}
	return res, nil
}

// firstAttempts gives the step's notifications one attempt each, in order,
// within FirstAttemptBudget each, and stops at the first that does not get
// through: the later ones must not overtake it.
func (a *Activities) firstAttempts(ctx context.Context, notify []NotifyInput, res *StepResult) {
	for _, n := range notify {
		if res.Approval != nil {
			n.Approval = *res.Approval
		}
		if n.Kind == NotifyConsultation {
			n.Consultation = res.Consultation
		}
		actx, cancel := context.WithTimeout(ctx, FirstAttemptBudget)
		out, err := a.Notify(actx, n)
		cancel()
		if err != nil || out == nil {
			return
		}
		res.Notified = append(res.Notified, *out)
	}
}
