package workflows_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/orchestrator-dev/orchestrator/activities"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

func consultationInput(h *harness) contract.ConsultationInput {
	return contract.ConsultationInput{
		Consultation: contract.Consultation{ID: store.NewID(), Title: "Call", JitsiRoom: "consult-abcdefghijklmnopqrstuvwxyz",
			Status: store.ConsultationScheduled, HostID: "ceo-1", ParticipantIDs: []string{"ceo-1"}, TenantID: tenant},
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

// transitionKinds records how the harness's workflow ran TransitionConsultation:
// as a regular activity (its own history events, after the accepting task) or
// as a local one (inside the task).
type transitionKinds struct{ regular, local []string }

func (h *harness) watchTransitions() *transitionKinds {
	k := &transitionKinds{}
	h.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		if info.ActivityType.Name == "TransitionConsultation" {
			var in activities.TransitionInput
			_ = args.Get(&in)
			k.regular = append(k.regular, in.To)
		}
	})
	h.env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, args []any) {
		if info.ActivityType.Name == "TransitionConsultation" {
			k.local = append(k.local, args[0].(activities.TransitionInput).To)
		}
	})
	return k
}

// Start and end are written by a regular activity: scheduling it completes
// the workflow task that accepted the update, so the update is in the
// history before the database changes. Written inside that task (a local
// activity), a Temporal restart could lose the update after the write.
func TestConsultationTransitionsAreWrittenAfterTheUpdateIsDurable(t *testing.T) {
	h := newHarness(t)
	kinds := h.watchTransitions()
	in := consultationInput(h)
	start := h.update(contract.UpdateStart, time.Minute, nil, contract.TransitionRequest{ActorID: "ceo-1"})
	end := h.update(contract.UpdateEnd, 10*time.Minute, nil, contract.TransitionRequest{ActorID: "ceo-1"})
	h.env.ExecuteWorkflow(contract.ConsultationWorkflow, in)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if start.err != nil || start.rejected != nil || end.err != nil || end.rejected != nil {
		t.Fatalf("start/end: %v %v %v %v", start.err, start.rejected, end.err, end.rejected)
	}
	if len(kinds.local) != 0 || len(kinds.regular) != 2 ||
		kinds.regular[0] != store.ConsultationActive || kinds.regular[1] != store.ConsultationEnded {
		t.Fatalf("transitions: want start and end as regular activities, got regular %v, local %v", kinds.regular, kinds.local)
	}
	if c := h.consultation(t, in.Consultation.ID); c.Status != store.ConsultationEnded || *c.EndReason != "host" {
		t.Fatalf("consultation: %+v", c)
	}
}

// The timers end a consultation with a regular activity too.
func TestConsultationTimeoutsAreWrittenAfterTheTaskCompletes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		start  bool
		want   []string
		reason string
	}{
		{"expired", false, []string{store.ConsultationEnded}, "expired"},
		{"max duration", true, []string{store.ConsultationActive, store.ConsultationEnded}, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			kinds := h.watchTransitions()
			in := consultationInput(h)
			if tc.start {
				h.update(contract.UpdateStart, time.Minute, nil, contract.TransitionRequest{ActorID: "ceo-1"})
			}
			h.env.ExecuteWorkflow(contract.ConsultationWorkflow, in)
			if err := h.env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			if len(kinds.local) != 0 || strings.Join(kinds.regular, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("transitions: want %v as regular activities, got regular %v, local %v", tc.want, kinds.regular, kinds.local)
			}
			if c := h.consultation(t, in.Consultation.ID); c.Status != store.ConsultationEnded || *c.EndReason != tc.reason {
				t.Fatalf("want ended (%s), got %+v", tc.reason, c)
			}
		})
	}
}

// Runs that made a transition before durable-transition keep writing inside
// the task, so their histories replay.
func TestConsultationBeforeDurableTransitionWritesInsideTheTask(t *testing.T) {
	h := newHarness(t)
	h.env.OnGetVersion("consultation-durable-transition", workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	kinds := h.watchTransitions()
	in := consultationInput(h)
	h.update(contract.UpdateStart, time.Minute, nil, contract.TransitionRequest{ActorID: "ceo-1"})
	h.update(contract.UpdateEnd, 10*time.Minute, nil, contract.TransitionRequest{ActorID: "ceo-1"})
	h.env.ExecuteWorkflow(contract.ConsultationWorkflow, in)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(kinds.regular) != 0 || len(kinds.local) != 2 {
		t.Fatalf("transitions: want two local activities, got regular %v, local %v", kinds.regular, kinds.local)
	}
}

// A start the database refuses (the row moved on behind the workflow's
// back) is answered with the refusal, together with an end accepted while
// the start was on its way; the workflow does not fail, the consultation
// stays scheduled and a later start and end work.
func TestConsultationRefusedStartAnswersTheUpdate(t *testing.T) {
	h := newHarness(t)
	in := consultationInput(h)
	ctx := context.Background()
	move := func(from, to string) func() {
		return func() {
			if _, _, err := h.store.TransitionConsultation(ctx, store.Transition{
				ConsultationID: in.Consultation.ID, TenantID: tenant, From: from, To: to, At: time.Now(), Reason: "test",
			}, nil); err != nil {
				t.Errorf("move the row %s → %s: %v", from, to, err)
			}
		}
	}
	h.env.RegisterDelayedCallback(move(store.ConsultationScheduled, store.ConsultationEnded), time.Minute)
	refused, endEarly := &updateResult{}, &updateResult{}
	h.env.RegisterDelayedCallback(func() {
		for _, u := range []struct {
			name string
			r    *updateResult
		}{{contract.UpdateStart, refused}, {contract.UpdateEnd, endEarly}} {
			r := u.r
			h.env.UpdateWorkflow(u.name, "", &testsuite.TestUpdateCallback{
				OnAccept:   func() { r.accepted = true },
				OnReject:   func(err error) { r.rejected = err },
				OnComplete: func(v any, err error) { r.value, r.err = v, err },
			}, contract.TransitionRequest{ActorID: "ceo-1"})
		}
	}, 2*time.Minute)
	h.env.RegisterDelayedCallback(move(store.ConsultationEnded, store.ConsultationScheduled), 3*time.Minute)
	start := h.update(contract.UpdateStart, 4*time.Minute, nil, contract.TransitionRequest{ActorID: "ceo-1"})
	end := h.update(contract.UpdateEnd, 5*time.Minute, nil, contract.TransitionRequest{ActorID: "agent-1"})
	h.env.ExecuteWorkflow(contract.ConsultationWorkflow, in)

	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("a refused start failed the workflow: %v", err)
	}
	if !refused.accepted || appType(refused.err) != contract.ErrTypeConflict {
		t.Fatalf("refused start: want accepted and answered %s, got accepted=%v err=%v rejected=%v",
			contract.ErrTypeConflict, refused.accepted, refused.err, refused.rejected)
	}
	if !endEarly.accepted || appType(endEarly.err) != contract.ErrTypeInvalidTransition {
		t.Fatalf("end accepted while the start was on its way: want answered %s, got accepted=%v err=%v rejected=%v",
			contract.ErrTypeInvalidTransition, endEarly.accepted, endEarly.err, endEarly.rejected)
	}
	if start.err != nil || start.rejected != nil || end.err != nil || end.rejected != nil {
		t.Fatalf("start/end after the refusal: %v %v %v %v", start.err, start.rejected, end.err, end.rejected)
	}
	if c := h.consultation(t, in.Consultation.ID); c.Status != store.ConsultationEnded || *c.EndReason != "host" {
		t.Fatalf("consultation: %+v", c)
	}
}
