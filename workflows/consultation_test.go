package workflows_test

import (
	"context"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/activities"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows"
)

func consultationInput(h *harness) workflows.ConsultationInput {
	return workflows.ConsultationInput{
		Consultation: store.Consultation{ID: store.NewID(), Title: "Call", JitsiRoom: "consult-abcdefghijklmnopqrstuvwxyz",
			Status: store.ConsultationScheduled, HostID: "ceo-1", ParticipantIDs: store.StringList{"ceo-1"}, TenantID: tenant},
		Actor:               activities.Actor{ID: "ceo-1", Channel: store.ChannelAPI},
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
	endEarly := h.update(workflows.UpdateEnd, time.Minute, nil, workflows.TransitionRequest{ActorID: "ceo-1"})
	start := h.update(workflows.UpdateStart, 2*time.Minute, nil, workflows.TransitionRequest{ActorID: "ceo-1"})
	startAgain := h.update(workflows.UpdateStart, 3*time.Minute, nil, workflows.TransitionRequest{ActorID: "ceo-1"})
	end := h.update(workflows.UpdateEnd, 30*time.Minute, nil, workflows.TransitionRequest{ActorID: "agent-1"})
	h.env.ExecuteWorkflow(workflows.ConsultationWorkflow, in)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if appType(endEarly.rejected) != workflows.ErrTypeInvalidState {
		t.Fatalf("ending a scheduled consultation: want %s, got %v", workflows.ErrTypeInvalidState, endEarly.rejected)
	}
	if start.err != nil || start.rejected != nil || end.err != nil || end.rejected != nil {
		t.Fatalf("start/end: %v %v %v %v", start.err, start.rejected, end.err, end.rejected)
	}
	if appType(startAgain.rejected) != workflows.ErrTypeInvalidState {
		t.Fatalf("starting twice: want %s, got %v", workflows.ErrTypeInvalidState, startAgain.rejected)
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
	h.update(workflows.UpdateStart, time.Minute, nil, workflows.TransitionRequest{ActorID: "ceo-1"})
	late := h.update(workflows.UpdateEnd, 3*time.Hour, nil, workflows.TransitionRequest{ActorID: "ceo-1"})
	h.env.ExecuteWorkflow(workflows.ConsultationWorkflow, in)
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
	h.env.ExecuteWorkflow(workflows.ConsultationWorkflow, in)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	c := h.consultation(t, in.Consultation.ID)
	if c.Status != store.ConsultationEnded || *c.EndReason != "expired" || c.StartedAt != nil {
		t.Fatalf("want expired, got %+v", c)
	}
}
