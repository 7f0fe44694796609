package workflows_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/orchestrator-dev/orchestrator/activities"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
	"github.com/orchestrator-dev/orchestrator/worker"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

const tenant = "/teams/support"

// testKey is the decision key the harness's worker and its "API" share.
var testKey = contract.DecisionKey("0123456789abcdef0123456789abcdef")

type harness struct {
	started []contract.ConsultationInput
	env     *testsuite.TestWorkflowEnvironment
	store   *store.Store
	acts    *activities.Activities
	input   contract.EscalationInput
	notes   *recordingNotifier
}

type recordingNotifier struct{ kinds []string }

func (n *recordingNotifier) Notify(_ context.Context, in activities.NotifyInput) (*activities.NotifyResult, error) {
	n.kinds = append(n.kinds, in.Kind)
	return &activities.NotifyResult{Status: "sent"}, nil
}

func newHarness(t *testing.T, before ...func(h *harness)) *harness {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	env := suite.NewTestWorkflowEnvironment()
	s := storetest.Open(t, store.SQLite)
	notes := &recordingNotifier{}
	acts := &activities.Activities{Store: s, Notifier: notes}
	worker.Register(env, acts, testKey)
	id := store.NewID()
	h := &harness{env: env, store: s, acts: acts, notes: notes, input: contract.EscalationInput{
		Approval: contract.Approval{ID: id, TenantID: tenant, Title: "Refund over limit", Description: "Customer wants 2k",
			Priority: store.PriorityHigh, RequestedBy: "agent-1", RequestedByName: "Agent One", Metadata: contract.JSON(`{}`)},
		Actor:      contract.Actor{ID: "agent-1", Name: "Agent One", Channel: store.ChannelAPI},
		Generation: contract.GenerationCompact,
	}}
	for _, f := range before {
		f(h)
	}
	// Every step not mocked by a test (onStep) runs for real.
	env.OnActivity(acts.Step, mock.Anything, mock.Anything).Return(acts.Step)
	// The consultation's own workflow is started through the Temporal client;
	// here the start is recorded instead.
	env.OnActivity(acts.StartConsultation, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in contract.ConsultationInput) error {
			h.started = append(h.started, in)
			return nil
		})
	return h
}

// onStep mocks the steps match selects (register in newHarness's before
// functions: the catch-all that runs the others for real comes after).
func (h *harness) onStep(match func(activities.StepInput) bool) *testsuite.MockCallWrapper {
	return h.env.OnActivity(h.acts.Step, mock.Anything, mock.MatchedBy(match))
}

func recording(in activities.StepInput) bool { return in.Record != nil }
func deciding(in activities.StepInput) bool  { return in.Decide != nil }
func changing(in activities.StepInput) bool  { return in.Change != nil }
func reminding(in activities.StepInput) bool { return in.Reminder != nil }

// boundedGeneration runs the escalation as runs recorded by the bounded
// generation do (an input without a generation, legacy.go).
func boundedGeneration(h *harness) { h.input.Generation = 0 }

type updateResult struct {
	accepted bool
	rejected error
	err      error
	value    any
}

func (h *harness) update(name string, delay time.Duration, out any, args ...any) *updateResult {
	r := &updateResult{}
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnAccept:   func() { r.accepted = true },
			OnReject:   func(err error) { r.rejected = err },
			OnComplete: func(v any, err error) { r.value, r.err = v, err },
		}, args...)
	}, delay)
	return r
}

func appType(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Type()
	}
	return ""
}

func (h *harness) audit(t *testing.T) []store.AuditLog {
	t.Helper()
	rows, err := h.store.ResourceAudit(context.Background(), store.ScopeOf(tenant), "approval", h.input.Approval.ID, 50)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func (h *harness) approval(t *testing.T) *store.Approval {
	t.Helper()
	ap, err := h.store.GetApproval(context.Background(), store.ScopeOf(tenant), h.input.Approval.ID)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

func TestApprove(t *testing.T) {
	h := newHarness(t)
	created := h.update(contract.UpdateCreated, 0, nil)
	decided := h.update(contract.UpdateDecide, time.Minute, nil, testKey.Seal(h.input.Approval.ID,
		contract.DecisionRequest{Status: "approved", Comment: "go ahead", DeciderID: "ceo-1", DeciderName: "The CEO", Channel: store.ChannelAPI}))
	var state, consulting contract.EscalationState
	query := func(into *contract.EscalationState) func() {
		return func() {
			v, err := h.env.QueryWorkflow(contract.QueryState)
			if err != nil {
				t.Errorf("query: %v", err)
				return
			}
			if err := v.Get(into); err != nil {
				t.Errorf("decode state: %v", err)
			}
		}
	}
	h.env.RegisterDelayedCallback(query(&state), 30*time.Second)
	h.env.RegisterDelayedCallback(query(&consulting), 2*time.Minute)
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)

	if !h.env.IsWorkflowCompleted() || h.env.GetWorkflowError() != nil {
		t.Fatalf("workflow did not complete: %v", h.env.GetWorkflowError())
	}
	if created.err != nil || created.value == nil {
		t.Fatalf("created update: %v", created.err)
	}
	if state.Phase != contract.PhasePending || state.Approval == nil || state.Approval.Status != store.StatusPending {
		t.Fatalf("state while waiting: %+v", state)
	}
	if !decided.accepted || decided.err != nil {
		t.Fatalf("decide update: accepted=%v err=%v rejected=%v", decided.accepted, decided.err, decided.rejected)
	}
	ap := h.approval(t)
	if ap.Status != store.StatusApproved || *ap.ApprovedBy != "ceo-1" || *ap.Comment != "go ahead" {
		t.Fatalf("approval not decided: %+v", ap)
	}
	entries := h.audit(t)
	if len(entries) != 2 || entries[0].Action != "approval.created" || entries[1].Action != "approval.approved" {
		t.Fatalf("audit trail: %+v", entries)
	}
	if entries[1].UserID != "ceo-1" || entries[1].Channel != store.ChannelAPI ||
		string(entries[1].OldValues) != `{"status":"pending"}` || !contains(string(entries[1].NewValues), `"status":"approved"`) {
		t.Fatalf("decision entry: %+v old=%s new=%s", entries[1], entries[1].OldValues, entries[1].NewValues)
	}
	cons, _, err := h.store.ListConsultations(context.Background(), store.ScopeOf(tenant), store.ConsultationQuery{TenantID: tenant})
	if err != nil || len(cons) != 1 {
		t.Fatalf("want one consultation, got %d (%v)", len(cons), err)
	}
	if cons[0].HostID != "ceo-1" || *cons[0].ApprovalID != ap.ID || len(cons[0].ParticipantIDs) != 2 || len(cons[0].JitsiRoom) < 24 {
		t.Fatalf("consultation: %+v", cons[0])
	}
	// The escalation runs the consultation itself: no workflow of its own,
	// the escalation's state shows it, and the API finds it there.
	if len(h.started) != 0 {
		t.Fatalf("no consultation workflow of its own: %+v", h.started)
	}
	if consulting.Phase != contract.PhaseDecided || consulting.ConsultationID != cons[0].ID || consulting.Consultation == nil ||
		consulting.Consultation.Status != store.ConsultationScheduled || consulting.Consultation.JitsiRoom != cons[0].JitsiRoom {
		t.Fatalf("state while the consultation waits: %+v", consulting)
	}
	if cons[0].WorkflowID == nil || *cons[0].WorkflowID == "" || contract.ConsultationOwner(cons[0]) != *cons[0].WorkflowID {
		t.Fatalf("the consultation's owner must be the escalation's workflow: %v", cons[0].WorkflowID)
	}
	// Nobody started it: it expired, and the escalation completed with it.
	if cons[0].Status != store.ConsultationEnded || cons[0].EndReason == nil || *cons[0].EndReason != "expired" {
		t.Fatalf("consultation nobody started: %+v", cons[0])
	}
	if got := h.notes.kinds; len(got) != 3 || got[0] != "escalated" || got[1] != "decided" || got[2] != "consultation" {
		t.Fatalf("notifications in order escalated, decided, consultation; got %v", got)
	}
}

func TestReject(t *testing.T) {
	h := newHarness(t)
	decided := h.update(contract.UpdateDecide, time.Minute, nil,
		contract.DecisionRequest{Status: "rejected", Comment: "no", DeciderID: "ceo-1"})
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
	if decided.err != nil || h.env.GetWorkflowError() != nil {
		t.Fatalf("reject: %v %v", decided.err, h.env.GetWorkflowError())
	}
	if ap := h.approval(t); ap.Status != store.StatusRejected {
		t.Fatalf("status %s", ap.Status)
	}
	if e := h.audit(t); len(e) != 2 || e[1].Action != "approval.rejected" {
		t.Fatalf("audit: %+v", e)
	}
	cons, _, _ := h.store.ListConsultations(context.Background(), store.ScopeOf(tenant), store.ConsultationQuery{TenantID: tenant})
	if len(cons) != 0 {
		t.Fatalf("a rejection must not create a consultation")
	}
	if got := h.notes.kinds; len(got) != 2 {
		t.Fatalf("notifications: %v", got)
	}
}

func TestDecisionRules(t *testing.T) {
	cases := []struct {
		name string
		req  contract.DecisionRequest
		want string
	}{
		{"invalid status", contract.DecisionRequest{Status: "maybe", DeciderID: "ceo-1"}, contract.ErrTypeInvalidDecision},
		{"pending is not a decision", contract.DecisionRequest{Status: "pending", DeciderID: "ceo-1"}, contract.ErrTypeInvalidDecision},
		{"no decider", contract.DecisionRequest{Status: "approved"}, contract.ErrTypeInvalidDecision},
		{"self decision", contract.DecisionRequest{Status: "approved", DeciderID: "agent-1"}, contract.ErrTypeSelfDecision},
		// The API refused these before the workflow did: one rule now.
		{"control character in comment", contract.DecisionRequest{Status: "approved", DeciderID: "ceo-1", Comment: "a\x00b"}, contract.ErrTypeInvalidDecision},
		{"comment over the limit", contract.DecisionRequest{Status: "approved", DeciderID: "ceo-1", Comment: strings.Repeat("c", contract.MaxCommentBytes+1)}, contract.ErrTypeInvalidDecision},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			bad := h.update(contract.UpdateDecide, time.Minute, nil, tc.req)
			good := h.update(contract.UpdateDecide, 2*time.Minute, nil, contract.DecisionRequest{Status: "approved", DeciderID: "ceo-1"})
			h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
			if appType(bad.rejected) != tc.want {
				t.Fatalf("want rejection %s, got %v", tc.want, bad.rejected)
			}
			if good.err != nil || h.approval(t).Status != store.StatusApproved {
				t.Fatalf("a refused decision must leave the approval pending for a valid one: %v", good.err)
			}
		})
	}
}

func TestSecondDecisionRefused(t *testing.T) {
	h := newHarness(t)
	first := h.update(contract.UpdateDecide, time.Minute, nil, contract.DecisionRequest{Status: "approved", DeciderID: "ceo-1"})
	second := h.update(contract.UpdateDecide, time.Minute, nil, contract.DecisionRequest{Status: "rejected", DeciderID: "ceo-2"})
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
	if first.err != nil {
		t.Fatal(first.err)
	}
	if appType(second.rejected) != contract.ErrTypeAlreadyDecided && appType(second.err) != contract.ErrTypeAlreadyDecided {
		t.Fatalf("second decision: want AlreadyDecided, got rejected=%v err=%v", second.rejected, second.err)
	}
	if ap := h.approval(t); ap.Status != store.StatusApproved || *ap.ApprovedBy != "ceo-1" {
		t.Fatalf("first decision must stand: %+v", ap)
	}
}

func TestSignalPath(t *testing.T) {
	h := newHarness(t)
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(contract.SignalDecision, contract.DecisionRequest{Status: "bogus", DeciderID: "ops"})
	}, time.Minute)
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(contract.SignalDecision, map[string]any{"unexpected": []int{1, 2}})
	}, 2*time.Minute)
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(contract.SignalDecision, contract.DecisionRequest{Status: "agent-1-self", DeciderID: "agent-1"})
	}, 3*time.Minute)
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(contract.SignalDecision, contract.DecisionRequest{Status: "rejected", DeciderID: "ops-jane", DeciderName: "Jane (ops)", Comment: "fraud"})
	}, 4*time.Minute)
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("invalid signals must not fail the workflow: %v", err)
	}
	ap := h.approval(t)
	if ap.Status != store.StatusRejected || *ap.ApprovedBy != "ops-jane" {
		t.Fatalf("signal decision not applied: %+v", ap)
	}
	e := h.audit(t)
	if len(e) != 2 || e[1].Channel != store.ChannelOpsSignal || e[1].UserID != "ops-jane" {
		t.Fatalf("ops decision must be audited with its identity and channel: %+v", e)
	}
}

// A local activity that fails after its write (a crash between the commit and
// the result) is retried; the retry must not write a second audit row.
func TestActivityRetriesDoNotDuplicateAudit(t *testing.T) {
	var recordCalls, decideCalls atomic.Int32
	h := newHarness(t, func(h *harness) {
		h.onStep(recording).Return(func(ctx context.Context, in activities.StepInput) (*activities.StepResult, error) {
			out, err := h.acts.Step(ctx, in)
			if recordCalls.Add(1) == 1 {
				return nil, errors.New("connection reset after commit")
			}
			return out, err
		})
		h.onStep(deciding).Return(func(ctx context.Context, in activities.StepInput) (*activities.StepResult, error) {
			out, err := h.acts.Step(ctx, in)
			if decideCalls.Add(1) <= 2 {
				return nil, errors.New("connection reset after commit")
			}
			return out, err
		})
	})
	h.update(contract.UpdateDecide, time.Minute, nil, contract.DecisionRequest{Status: "approved", DeciderID: "ceo-1"})
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if recordCalls.Load() < 2 || decideCalls.Load() < 3 {
		t.Fatalf("activities were not retried: record=%d decide=%d", recordCalls.Load(), decideCalls.Load())
	}
	if e := h.audit(t); len(e) != 2 {
		t.Fatalf("want exactly 2 audit rows despite retries, got %d", len(e))
	}
	cons, _, _ := h.store.ListConsultations(context.Background(), store.ScopeOf(tenant), store.ConsultationQuery{TenantID: tenant})
	if len(cons) != 1 {
		t.Fatalf("want exactly 1 consultation despite retries, got %d", len(cons))
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// A decision that reaches the workflow through Temporal without the API's
// seal (the Temporal UI or CLI) is recorded as ops, whatever it claims.
func TestDecisionChannelNeedsProof(t *testing.T) {
	forged := func(h *harness) contract.DecisionRequest {
		d := testKey.Seal(h.input.Approval.ID, contract.DecisionRequest{Status: "approved", DeciderID: "ceo-1", Channel: store.ChannelAPI})
		d.DeciderID = "ceo-2" // the seal no longer matches
		return d
	}
	cases := []struct {
		name string
		req  func(h *harness) contract.DecisionRequest
		want string
	}{
		{"claims api without proof", func(*harness) contract.DecisionRequest {
			return contract.DecisionRequest{Status: "approved", DeciderID: "ceo-1", Channel: store.ChannelAPI}
		}, store.ChannelOps},
		{"proof sealed with another key", func(h *harness) contract.DecisionRequest {
			return contract.DecisionKey("another key of at least 32 bytes!").Seal(h.input.Approval.ID,
				contract.DecisionRequest{Status: "approved", DeciderID: "ceo-1", Channel: store.ChannelAPI})
		}, store.ChannelOps},
		{"proof for another approval", func(*harness) contract.DecisionRequest {
			return testKey.Seal("other-approval", contract.DecisionRequest{Status: "approved", DeciderID: "ceo-1", Channel: store.ChannelAPI})
		}, store.ChannelOps},
		{"fields changed after sealing", forged, store.ChannelOps},
		{"sealed by the Matrix receiver", func(h *harness) contract.DecisionRequest {
			return testKey.Seal(h.input.Approval.ID, contract.DecisionRequest{Status: "approved", DeciderID: "ceo-1", Channel: store.ChannelMatrix})
		}, store.ChannelMatrix},
		{"sealed by the API", func(h *harness) contract.DecisionRequest {
			return testKey.Seal(h.input.Approval.ID, contract.DecisionRequest{Status: "approved", DeciderID: "ceo-1", Channel: store.ChannelAPI})
		}, store.ChannelAPI},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			decided := h.update(contract.UpdateDecide, time.Minute, nil, tc.req(h))
			h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
			if decided.err != nil || decided.rejected != nil {
				t.Fatalf("decide: %v %v", decided.rejected, decided.err)
			}
			e := h.audit(t)
			if len(e) != 2 || e[1].Action != "approval.approved" || e[1].Channel != tc.want {
				t.Fatalf("want the decision recorded with channel %s: %+v", tc.want, e)
			}
		})
	}
}
