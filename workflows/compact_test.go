package workflows_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/activities"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// The current generation (issue 22): the decision is written in the task
// that accepts it, so a server that loses that task loses the update, not
// the write. The escalation then follows the row at its next step.

// lostDecision writes an approval as a decide whose workflow task the
// server lost would have: the row and its consultation, nothing in the
// workflow's history.
func lostDecision(t *testing.T, h *harness, by string) {
	t.Helper()
	id := h.input.Approval.ID
	_, err := h.acts.ApplyDecision(context.Background(), activities.ApplyDecisionInput{
		ApprovalID: id, TenantID: tenant, Status: store.StatusApproved,
		Decider: contract.Actor{ID: by, Channel: store.ChannelAPI},
		Consultation: &contract.Consultation{ID: contract.ApprovalConsultationID(id), Title: "Refund over limit",
			Status: store.ConsultationScheduled, HostID: by, ParticipantIDs: []string{"agent-1", by}, ApprovalID: &id, TenantID: tenant},
	})
	if err != nil {
		t.Fatalf("the lost decision's write: %v", err)
	}
}

// The deadline comes for an escalation whose decision was written by a lost
// task: the expiry is refused by the row, and the escalation follows the
// approval (tells the conversation, runs the consultation) instead of
// ending as expired.
func TestExpiryFollowsADecisionWrittenByALostTask(t *testing.T) {
	h := newHarness(t, withDeadline(time.Hour))
	h.env.RegisterDelayedCallback(func() { lostDecision(t, h, "ceo-1") }, time.Minute)
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var state contract.EscalationState
	if err := h.env.GetWorkflowResult(&state); err != nil {
		t.Fatal(err)
	}
	if ap := h.approval(t); ap.Status != store.StatusApproved {
		t.Fatalf("the row stands: %+v", ap)
	}
	if state.Phase != contract.PhaseDecided || state.Consultation == nil || state.Consultation.Status != store.ConsultationEnded {
		t.Fatalf("the escalation follows the approval and runs its consultation: %+v", state)
	}
	if got := actions(h.audit(t)); !slices.Equal(got, []string{"approval.created", "approval.approved"}) {
		t.Fatalf("audit: %v", got)
	}
	if !slices.Equal(h.notes.kinds, []string{"escalated", "decided", "consultation"}) {
		t.Fatalf("notifications: %v", h.notes.kinds)
	}
}

// The same decision sent again (the API's caller retrying a decide whose
// update the server lost) finds it written and is answered with it; another
// decider's is refused, and the escalation follows the row.
func TestDecisionAfterALostTask(t *testing.T) {
	for _, tc := range []struct {
		name, by string
		refused  bool
	}{
		{"the same decision again", "ceo-1", false},
		{"another decider", "ceo-2", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, withDeadline(time.Hour))
			h.env.RegisterDelayedCallback(func() { lostDecision(t, h, "ceo-1") }, time.Minute)
			decided := h.update(contract.UpdateDecide, 2*time.Minute, nil, approve(tc.by))
			h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
			if err := h.env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			if tc.refused != (appType(decided.err) == contract.ErrTypeConflict) || decided.rejected != nil {
				t.Fatalf("decide: rejected=%v err=%v", decided.rejected, decided.err)
			}
			if ap := h.approval(t); ap.Status != store.StatusApproved || *ap.ApprovedBy != "ceo-1" {
				t.Fatalf("the first decision stands: %+v", ap)
			}
			if got := actions(h.audit(t)); !slices.Equal(got, []string{"approval.created", "approval.approved"}) {
				t.Fatalf("audit: %v", got)
			}
			if !slices.Equal(h.notes.kinds, []string{"escalated", "decided", "consultation"}) {
				t.Fatalf("notifications: %v", h.notes.kinds)
			}
		})
	}
}

// The consultation an approval opens is run by the escalation: started and
// ended through the escalation's own start and end updates, refused out of
// order, and the escalation completes with it.
func TestTheEscalationRunsItsConsultation(t *testing.T) {
	h := newHarness(t)
	h.update(contract.UpdateDecide, time.Minute, nil, approve("ceo-1"))
	var waiting, running contract.EscalationState
	for at, into := range map[time.Duration]*contract.EscalationState{2 * time.Minute: &waiting, 10 * time.Minute: &running} {
		h.env.RegisterDelayedCallback(func() {
			if v, err := h.env.QueryWorkflow(contract.QueryState); err != nil || v.Get(into) != nil {
				t.Errorf("query: %v", err)
			}
		}, at)
	}
	early := h.update(contract.UpdateEnd, 2*time.Minute, nil, contract.TransitionRequest{ActorID: "ceo-1"})
	started := h.update(contract.UpdateStart, 3*time.Minute, nil, contract.TransitionRequest{ActorID: "ceo-1"})
	again := h.update(contract.UpdateStart, 4*time.Minute, nil, contract.TransitionRequest{ActorID: "ceo-1"})
	ended := h.update(contract.UpdateEnd, time.Hour, nil, contract.TransitionRequest{ActorID: "agent-1"})
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if appType(early.rejected) != contract.ErrTypeInvalidTransition || appType(again.rejected) != contract.ErrTypeInvalidTransition {
		t.Fatalf("out of order: end before start %v, start twice %v", early.rejected, again.rejected)
	}
	if started.err != nil || started.rejected != nil || ended.err != nil || ended.rejected != nil {
		t.Fatalf("start %v %v, end %v %v", started.rejected, started.err, ended.rejected, ended.err)
	}
	// Ops see what the decided escalation waits for: its consultation.
	if waiting.WaitingFor != "the consultation to start" || running.WaitingFor != "the consultation to end" ||
		running.Consultation == nil || running.Consultation.Status != store.ConsultationActive {
		t.Fatalf("waiting for: %q, then %q (%+v)", waiting.WaitingFor, running.WaitingFor, running.Consultation)
	}
	var state contract.EscalationState
	if err := h.env.GetWorkflowResult(&state); err != nil {
		t.Fatal(err)
	}
	c := h.consultation(t, contract.ApprovalConsultationID(h.input.Approval.ID))
	if c.Status != store.ConsultationEnded || c.EndReason == nil || *c.EndReason != "host" {
		t.Fatalf("consultation: %+v", c)
	}
	if state.Consultation == nil || state.Consultation.Status != store.ConsultationEnded || state.AuditHead == nil {
		t.Fatalf("result: %+v", state)
	}
	if got := actions(h.consultationAudit(t, c.ID)); !slices.Equal(got, []string{"consultation.created", "consultation.started", "consultation.ended"}) {
		t.Fatalf("consultation audit: %v", got)
	}
}

func (h *harness) consultationAudit(t *testing.T, id string) []store.AuditLog {
	t.Helper()
	rows, err := h.store.ResourceAudit(context.Background(), store.ScopeOf(tenant), "consultation", id, 50)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
