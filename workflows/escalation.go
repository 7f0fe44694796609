package workflows

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/orchestrator-dev/orchestrator/activities"
	"github.com/orchestrator-dev/orchestrator/internal/jitsi"
	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// a is a nil receiver for type-safe activity references; the worker registers
// the real struct.
var a *activities.Activities

// MaxCommentBytes bounds a decision comment.
const MaxCommentBytes = 4000

// Escalation is one approval from creation to decision: it records the
// approval, notifies the conversation, waits for the decision (update or
// signal), applies it, starts the consultation on approval and sends the
// decision notifications.
func Escalation(ctx workflow.Context, in EscalationInput) (*EscalationState, error) {
	e := &escalation{in: in, state: EscalationState{Phase: PhaseRecording}}
	if err := e.setup(ctx); err != nil {
		return nil, err
	}
	return e.run(ctx)
}

type escalation struct {
	in    EscalationInput
	state EscalationState

	decision *DecisionRequest
	applied  bool
	applyErr error
	result   *DecisionResult

	outbox  []activities.NotifyInput
	sending bool

	// inline is version 1 of the flow: notifications first try a local
	// activity, and the consultation starts from a local activity rather
	// than as a child. Histories recorded before it replay the old shape.
	inline bool
}

// Change ids of workflow versions (workflow.GetVersion).
const (
	inlineEffects   = "inline-effects"
	durableDecision = "durable-decision"
)

func (e *escalation) setup(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (EscalationState, error) { return e.state, nil }); err != nil {
		return fmt.Errorf("register state query: %w", err)
	}
	if err := workflow.SetUpdateHandler(ctx, UpdateCreated, e.onCreated); err != nil {
		return fmt.Errorf("register created update: %w", err)
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateDecide, e.onDecide,
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req DecisionRequest) error { return e.check(req) }})
}

// onCreated answers once the approval is stored, so the API can return the
// stored row and a GET right after sees it.
func (e *escalation) onCreated(ctx workflow.Context) (*store.Approval, error) {
	if err := workflow.Await(ctx, func() bool { return e.state.Phase != PhaseRecording }); err != nil {
		return nil, err
	}
	if e.state.Phase == PhaseDiscarded {
		return nil, temporal.NewApplicationError(e.state.Error, activities.ErrTypeConflict)
	}
	return e.state.Approval, nil
}

// check is the one set of rules for a decision, whichever way it arrives.
func (e *escalation) check(req DecisionRequest) error {
	switch {
	case req.Status != store.StatusApproved && req.Status != store.StatusRejected:
		return temporal.NewApplicationError(fmt.Sprintf("status must be %q or %q, not %q", store.StatusApproved, store.StatusRejected, req.Status), ErrTypeInvalidDecision)
	case req.DeciderID == "":
		return temporal.NewApplicationError("a decision must name its decider", ErrTypeInvalidDecision)
	case len(req.Comment) > MaxCommentBytes || !utf8.ValidString(req.Comment):
		return temporal.NewApplicationError(fmt.Sprintf("comment must be valid UTF-8 of at most %d bytes", MaxCommentBytes), ErrTypeInvalidDecision)
	case e.state.Phase == PhaseDiscarded:
		return temporal.NewApplicationError("the escalation was discarded", ErrTypeAlreadyDecided)
	case e.decision != nil:
		return temporal.NewApplicationError(fmt.Sprintf("the approval is already %s", e.decision.Status), ErrTypeAlreadyDecided)
	case req.DeciderID == e.in.Approval.RequestedBy:
		return temporal.NewApplicationError("the requester cannot decide their own escalation", ErrTypeSelfDecision)
	}
	return nil
}

func (e *escalation) onDecide(ctx workflow.Context, req DecisionRequest) (*DecisionResult, error) {
	// Checked again: another update accepted in the same task may have won.
	if err := e.check(req); err != nil {
		return nil, err
	}
	if req.Channel != store.ChannelWebhook {
		req.Channel = store.ChannelAPI
	}
	e.decision = &req
	if err := workflow.Await(ctx, func() bool { return e.applied }); err != nil {
		return nil, err
	}
	if e.applyErr != nil {
		return nil, e.applyErr
	}
	return e.result, nil
}

func (e *escalation) receiveSignals(ctx workflow.Context) {
	logger := workflow.GetLogger(ctx)
	ch := workflow.GetSignalChannel(ctx, SignalDecision)
	for {
		var req DecisionRequest
		ch.Receive(ctx, &req)
		req.Channel = store.ChannelOpsSignal
		if err := e.check(req); err != nil {
			logger.Warn("Ignoring invalid decision signal", "error", err.Error(), "deciderId", req.DeciderID, "status", req.Status)
			continue
		}
		e.decision = &req
	}
}

func dbActivityOptions(ctx workflow.Context) workflow.Context {
	// Database writes run as local activities: inside the workflow task, no
	// extra round trip through the server. They are retried for as long as the
	// database is down; only errors that can never succeed stop them.
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 15 * time.Second,
		RetryPolicy:         dbRetryPolicy(),
	})
}

// dbRetryPolicy retries database writes for as long as the database is down;
// only errors that can never succeed stop it.
func dbRetryPolicy() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:        100 * time.Millisecond,
		BackoffCoefficient:     2,
		MaximumInterval:        30 * time.Second,
		NonRetryableErrorTypes: []string{activities.ErrTypeConflict, activities.ErrTypeNotFound, activities.ErrTypeInvalid},
	}
}

func (e *escalation) run(ctx workflow.Context) (*EscalationState, error) {
	logger := workflow.GetLogger(ctx)
	e.inline = workflow.GetVersion(ctx, inlineEffects, workflow.DefaultVersion, 1) == 1
	workflow.Go(ctx, e.receiveSignals)
	workflow.Go(ctx, e.sendNotifications)

	dbCtx := dbActivityOptions(ctx)
	var recorded store.Approval
	err := workflow.ExecuteLocalActivity(dbCtx, a.RecordApproval, activities.RecordApprovalInput{
		Approval: e.in.Approval, Actor: e.in.Actor,
	}).Get(ctx, &recorded)
	if err != nil {
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeConflict {
			e.state.Phase, e.state.Error = PhaseDiscarded, appErr.Message()
			logger.Info("Escalation discarded", "reason", appErr.Message())
			return &e.state, workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
		}
		return nil, fmt.Errorf("record approval: %w", err)
	}
	e.state.Approval, e.state.Phase = &recorded, PhasePending
	e.enqueue(activities.NotifyEscalated, nil)

	if err := workflow.Await(ctx, func() bool { return e.decision != nil }); err != nil {
		return nil, err
	}
	d := *e.decision
	e.state.Phase, e.state.Decision = PhaseDeciding, &d
	// From version durable-decision on, the decision is applied by a regular
	// activity: an update lives only in the server's memory until the
	// workflow task that accepts it completes, so applying it inside that
	// task (a local activity) could write the decision to the database and
	// then lose it with a server restart. Scheduling an activity completes
	// the task first, making the decision part of the history.
	durable := workflow.GetVersion(ctx, durableDecision, workflow.DefaultVersion, 1) == 1
	in := activities.ApplyDecisionInput{
		ApprovalID: recorded.ID, TenantID: recorded.TenantID, Status: d.Status, Comment: d.Comment,
		Decider: activities.Actor{ID: d.DeciderID, Name: d.DeciderName, Channel: d.Channel},
	}
	if d.Status == store.StatusApproved {
		c, err := e.newConsultation(ctx, &recorded, d)
		if err != nil {
			return nil, err
		}
		in.Consultation = c
	}
	var res activities.ApplyDecisionResult
	var apply workflow.Future
	if !durable {
		apply = workflow.ExecuteLocalActivity(dbCtx, a.ApplyDecision, in)
	} else {
		apply = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: 15 * time.Second,
			RetryPolicy:         dbRetryPolicy(),
		}), a.ApplyDecision, in)
	}
	if err := apply.Get(ctx, &res); err != nil {
		e.applyErr, e.applied = err, true
		return nil, fmt.Errorf("apply decision: %w", err)
	}
	e.state.Approval = res.Approval
	e.result = &DecisionResult{Approval: res.Approval, Consultation: res.Consultation}
	if err := workflow.UpsertTypedSearchAttributes(ctx, ApprovalStatusKey.ValueSet(d.Status)); err != nil {
		return nil, fmt.Errorf("upsert search attributes: %w", err)
	}
	e.state.Phase, e.applied = PhaseDecided, true

	if res.Consultation != nil {
		if err := e.startConsultation(ctx, res.Consultation); err != nil {
			return nil, err
		}
	}
	e.enqueue(activities.NotifyDecided, nil)
	if res.Consultation != nil {
		e.enqueue(activities.NotifyConsultation, res.Consultation)
	}
	err = workflow.Await(ctx, func() bool {
		return len(e.outbox) == 0 && !e.sending && workflow.AllHandlersFinished(ctx)
	})
	return &e.state, err
}

// newConsultation builds the consultation an approval creates. Its id derives
// from the approval id (a retry makes the same one); its room name is random,
// drawn once and kept in history by a side effect.
func (e *escalation) newConsultation(ctx workflow.Context, ap *store.Approval, d DecisionRequest) (*store.Consultation, error) {
	var room string
	if err := workflow.SideEffect(ctx, func(workflow.Context) any {
		r, err := jitsi.NewRoomName()
		if err != nil {
			panic(err) // crypto/rand failing is not recoverable
		}
		return r
	}).Get(&room); err != nil {
		return nil, fmt.Errorf("draw room name: %w", err)
	}
	participants := []string{ap.RequestedBy, d.DeciderID}
	for _, p := range e.in.Participants {
		participants = appendUnique(participants, p)
	}
	id := ConsultationOf(ap.ID)
	approvalID := ap.ID
	return &store.Consultation{
		ID: id, Title: ap.Title, JitsiRoom: room, Status: store.ConsultationScheduled, HostID: d.DeciderID,
		ParticipantIDs: participants, ApprovalID: &approvalID, TenantID: ap.TenantID,
	}, nil
}

// NotifyFastPathBudget bounds the inline attempt of a notification, and so
// how much a slow Chatwoot can delay the answer to a create or a decision.
const NotifyFastPathBudget = 2 * time.Second

var errNotTried = errors.New("not tried")

var consultationNamespace = uuid.MustParse("3f1f9d8e-4b7a-4c2e-9a51-6f0e2d7c8b91")

// ConsultationOf is the id of the consultation an approval creates.
func ConsultationOf(approvalID string) string {
	return uuid.NewSHA1(consultationNamespace, []byte(approvalID)).String()
}

func appendUnique(list []string, s string) []string {
	if s == "" {
		return list
	}
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// startConsultation starts the consultation's own workflow, which outlives
// this one, and waits until the server has started it.
func (e *escalation) startConsultation(ctx workflow.Context, c *store.Consultation) error {
	args := ConsultationInput{
		Consultation:        *c,
		Actor:               activities.Actor{ID: c.HostID, Channel: store.ChannelSystem},
		MaxDurationSeconds:  e.in.ConsultationMaxDurationSeconds,
		StartTimeoutSeconds: e.in.ConsultationStartTimeoutSeconds,
	}
	if e.inline {
		err := workflow.ExecuteLocalActivity(dbActivityOptions(ctx), a.StartConsultation, activities.StartWorkflowInput{
			WorkflowID: ConsultationIDFor(c.ID), WorkflowType: ConsultationWorkflow, Summary: "Consultation: " + c.Title,
			TenantID: c.TenantID, Args: args,
		}).Get(ctx, nil)
		if err != nil {
			return fmt.Errorf("start consultation workflow: %w", err)
		}
		e.state.ConsultationID = c.ID
		return nil
	}
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            ConsultationIDFor(c.ID),
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(TenantIDKey.ValueSet(c.TenantID)),
		StaticSummary:         "Consultation: " + c.Title,
	})
	f := workflow.ExecuteChildWorkflow(cctx, ConsultationWorkflow, args)
	var started workflow.Execution
	if err := f.GetChildWorkflowExecution().Get(ctx, &started); err != nil {
		var already *temporal.ChildWorkflowExecutionAlreadyStartedError
		if !errors.As(err, &already) {
			return fmt.Errorf("start consultation workflow: %w", err)
		}
	}
	e.state.ConsultationID = c.ID
	return nil
}

func (e *escalation) enqueue(kind string, c *store.Consultation) {
	e.state.Notifications = append(e.state.Notifications, NotificationState{Kind: kind, Status: "pending"})
	e.outbox = append(e.outbox, activities.NotifyInput{Kind: kind, Approval: *e.state.Approval, Consultation: c})
}

// sendNotifications delivers the outbox in order, one at a time, beside the
// main flow: a slow or down Chatwoot never holds up a decision, and the
// decision note never overtakes the escalation note.
func (e *escalation) sendNotifications(ctx workflow.Context) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
			// No attempt limit: Chatwoot being down is retried for as long as
			// it takes; permanent failures come back as a result, not an error.
		},
	})
	fastCtx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: NotifyFastPathBudget,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	for {
		if err := workflow.Await(ctx, func() bool { return len(e.outbox) > 0 }); err != nil {
			return
		}
		e.sending = true
		in := e.outbox[0]
		var res activities.NotifyResult
		err := errNotTried
		if e.inline {
			// Fast path: one attempt inside the workflow task, within a
			// short budget. Anything but success hands the notification to
			// the durable path, which retries for as long as it takes.
			err = workflow.ExecuteLocalActivity(fastCtx, a.Notify, in).Get(ctx, &res)
		}
		if err != nil {
			if err := workflow.ExecuteActivity(actx, a.Notify, in).Get(ctx, &res); err != nil {
				res = activities.NotifyResult{Status: "failed", Reason: err.Error()}
			}
		}
		e.markNotification(in.Kind, res)
		e.outbox = e.outbox[1:]
		e.sending = false
	}
}

func (e *escalation) markNotification(kind string, res activities.NotifyResult) {
	for i := range e.state.Notifications {
		if e.state.Notifications[i].Kind == kind {
			e.state.Notifications[i].Status, e.state.Notifications[i].Reason = res.Status, res.Reason
		}
	}
}
