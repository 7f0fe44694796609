package workflows_test

import (
	"context"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

func consultationInput(h *harness) contract.ConsultationInput {
	return contract.ConsultationInput{
		Consultation: store.Consultation{ID: store.NewID(), Title: "Call", JitsiRoom: "consult-abcdefghijklmnopqrstuvwxyz",
			Status: store.ConsultationScheduled, HostID: "ceo-1", ParticipantIDs: store.StringList{"ceo-1"}, TenantID: tenant},
		Actor:               contract.Actor{ID: "ceo-1", Channel: store.ChannelAPI},
		MaxDurationSeconds:  int64((2 * time.Hour).Seconds()),
		StartTimeoutSeconds: int64((24 * time.Hour).Seconds()),
	}
}

func (h *harness) consultation(t *testing.T, id string) *store.Consultation {
	t.Helper()
	c, err := h.store.GetConsultation(context.Background(), store.ScopeOf(tenant), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConsultationStartAndEnd(t *testing.T) {
	h := newHarness(t)
	in := consultationInput(h)
	endEarly := h.update(contract.UpdateEnd, time.Minute, nil, contract.TransitionRequest{ActorID: "ceo-1"})
	start := h.update(contract.UpdateStart, 2*time.Minute, nil, contract.TransitionRequest{ActorID: "ceo-1"})
	startAgain := h.update(contract.UpdateStart, 3*time.Minute, nil, contract.TransitionRequest{ActorID: "ceo-1"})
	end := h.update(contract.UpdateEnd, 30*time.Minute, nil, contract.TransitionRequest{ActorID: "agent-1"})
	h.env.ExecuteWorkflow(contract.ConsultationWorkflow, in)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if appType(endEarly.rejected) != contract.ErrTypeInvalidTransition {
		t.Fatalf("ending a scheduled consultation: want %s, got %v", contract.ErrTypeInvalidTransition, endEarly.rejected)
	}
	if start.err != nil || start.rejected != nil || end.err != nil || end.rejected != nil {
		t.Fatalf("start/end: %v %v %v %v", start.err, start.rejected, end.err, end.rejected)
	}
	if appType(startAgain.rejected) != contract.ErrTypeInvalidTransition {
		t.Fatalf("starting twice: want %s, got %v", contract.ErrTypeInvalidTransition, startAgain.rejected)
	}
	c := h.consultation(t, in.Consultation.ID)
	if c.Status != store.ConsultationEnded || c.StartedAt == nil || c.EndedAt == nil || *c.EndReason != "host" {
		t.Fatalf("consultation: %+v", c)
	}
	rows, _ := h.store.ResourceAudit(context.Background(), store.ScopeOf(tenant), "consultation", c.ID, 10)
	if len(rows) != 3 || rows[0].Action != "consultation.created" || rows[1].Action != "consultation.started" || rows[2].Action != "consultation.ended" {
		t.Fatalf("audit: %+v", rows)
	}
	if rows[2].UserID != "agent-1" {
		t.Fatalf("the ender is audited: %+v", rows[2])
	}
}

func TestConsultationEndsAfterMaxDuration(t *testing.T) {
	h := newHarness(t)
	in := consultationInput(h)
	h.update(contract.UpdateStart, time.Minute, nil, contract.TransitionRequest{ActorID: "ceo-1"})
	late := h.update(contract.UpdateEnd, 3*time.Hour, nil, contract.TransitionRequest{ActorID: "ceo-1"})
	h.env.ExecuteWorkflow(contract.ConsultationWorkflow, in)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	c := h.consultation(t, in.Consultation.ID)
	if c.Status != store.ConsultationEnded || *c.EndReason != "timeout" {
		t.Fatalf("want ended by timeout, got %+v", c)
	}
	if late.err == nil && late.rejected == nil && late.accepted {
		t.Fatal("an end after the automatic end must not be accepted")
	}
}

func TestConsultationExpiresWhenNeverStarted(t *testing.T) {
	h := newHarness(t)
	in := consultationInput(h)
	h.env.ExecuteWorkflow(contract.ConsultationWorkflow, in)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	c := h.consultation(t, in.Consultation.ID)
	if c.Status != store.ConsultationEnded || *c.EndReason != "expired" || c.StartedAt != nil {
		t.Fatalf("want expired, got %+v", c)
	}
}
