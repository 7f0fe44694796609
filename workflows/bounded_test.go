package workflows_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/worker"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Bounded history (issue 17): a cap on questions, one timer per target
// time, and continue-as-new when the server suggests it.

// A question beyond the policy's cap is refused; the escalation can still
// be decided.
func TestQuestionsBeyondTheCapAreRefused(t *testing.T) {
	h := newHarness(t, withDeadline(24*time.Hour), func(h *harness) { h.input.MaxQuestions = 2 })
	var results []*updateResult
	for i := range 2 {
		at := time.Duration(i)*time.Hour + time.Minute
		results = append(results,
			h.update(contract.UpdateRequestInfo, at, nil, change("ceo-1", "Which order?")),
			h.update(contract.UpdateProvideInfo, at+time.Minute, nil, change("agent-1", "Order 42")))
	}
	third := h.update(contract.UpdateRequestInfo, 3*time.Hour, nil, change("ceo-1", "And the date?"))
	decided := h.update(contract.UpdateDecide, 4*time.Hour, nil, approve("ceo-1"))
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if r.rejected != nil || r.err != nil {
			t.Fatalf("update %d within the cap: %v %v", i, r.rejected, r.err)
		}
	}
	if appType(third.rejected) != contract.ErrTypeTooManyQuestions {
		t.Fatalf("the third question: want %s, got %v %v", contract.ErrTypeTooManyQuestions, third.rejected, third.err)
	}
	if decided.err != nil || decided.rejected != nil || h.approval(t).Status != store.StatusApproved {
		t.Fatalf("decide after the refused question: %v %v", decided.rejected, decided.err)
	}
}

// timers counts the timers a run starts, fires and cancels.
type timers struct{ scheduled, fired, canceled int }

func (n *timers) watch(env *testsuite.TestWorkflowEnvironment) {
	env.SetOnTimerScheduledListener(func(string, time.Duration) { n.scheduled++ })
	env.SetOnTimerFiredListener(func(string) { n.fired++ })
	env.SetOnTimerCanceledListener(func(string) { n.canceled++ })
}

// Waking up for something that does not move the deadline (here decisions
// the database refuses) keeps the deadline's one timer: no timer started
// and cancelled per wake.
func TestOneTimerPerTargetTime(t *testing.T) {
	h := newHarness(t, withDeadline(time.Hour), func(h *harness) {
		h.onStep(deciding).Return(nil,
			temporal.NewNonRetryableApplicationError("a value cannot be stored", contract.ErrTypeInvalid, nil))
	})
	var n timers
	n.watch(h.env)
	for i := range 3 {
		h.update(contract.UpdateDecide, time.Duration(i+1)*time.Minute, nil, approve("ceo-1"))
	}
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if h.approval(t).Status != store.StatusExpired {
		t.Fatalf("approval: %+v", h.approval(t))
	}
	if n != (timers{scheduled: 1, fired: 1}) {
		t.Fatalf("want the deadline's one timer, fired; got %+v", n)
	}
}

// A question and its answer move the timer on: the one it supersedes is
// cancelled.
func TestSupersededTimersAreCancelled(t *testing.T) {
	h := newHarness(t, withDeadline(time.Hour), func(h *harness) { h.input.AnswerTTLSeconds = 3600 })
	var n timers
	n.watch(h.env)
	h.update(contract.UpdateRequestInfo, 10*time.Minute, nil, change("ceo-1", "Which order?"))
	h.update(contract.UpdateProvideInfo, 25*time.Minute, nil, change("agent-1", "Order 42"))
	h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	// The deadline's, cancelled by the question; the answer's, cancelled by
	// the answer; the moved deadline's, fired.
	if n != (timers{scheduled: 3, fired: 1, canceled: 2}) {
		t.Fatalf("timers: %+v", n)
	}
}

// nextRun is the run an escalation continued as new into: a fresh test
// environment on the same store, its clock where the last run's stopped.
func (h *harness) nextRun(t *testing.T, cont *workflow.ContinueAsNewError) *harness {
	t.Helper()
	var in contract.EscalationInput
	if err := converter.GetDefaultDataConverter().FromPayloads(cont.Input, &in); err != nil {
		t.Fatal(err)
	}
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(h.env.Now())
	worker.Register(env, h.acts, testKey)
	env.OnActivity(h.acts.StartConsultation, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(h.acts.Step, mock.Anything, mock.Anything).Return(h.acts.Step)
	return &harness{env: env, store: h.store, acts: h.acts, notes: h.notes, input: in}
}

// 200 question rounds, the cap lifted: whenever the server suggests it,
// the escalation continues as new, with no more than one more action in
// the run; the runs hold one escalation, which is then decided.
func TestTwoHundredRoundsContinueAsNew(t *testing.T) {
	const rounds, perRun = 200, 50
	type action struct {
		name string
		req  any
	}
	var plan []action
	for range rounds {
		plan = append(plan, action{contract.UpdateRequestInfo, change("ceo-1", "Which order?")},
			action{contract.UpdateProvideInfo, change("agent-1", "Order 42")})
	}
	plan = append(plan, action{contract.UpdateDecide, approve("ceo-1")})

	h := newHarness(t, withDeadline(24*time.Hour), func(h *harness) { h.input.AnswerTTLSeconds = 3600 })
	done, runs := 0, 0
	var last contract.EscalationState
	for {
		runs++
		if runs > 2*len(plan)/perRun {
			t.Fatalf("%d runs for %d actions", runs, done)
		}
		start, n := done, 0
		for i := start; i < len(plan); i++ {
			a := plan[i]
			// The first action of a continued run arrives with its first
			// task, as an update waiting for the run does.
			at := time.Duration(i-start) * 5 * time.Minute
			if start == 0 {
				at += 5 * time.Minute
			}
			h.env.RegisterDelayedCallback(func() {
				if i-start == perRun {
					// The server's suggestion comes with the task that
					// brings the next action.
					h.env.SetContinueAsNewSuggested(true)
				}
				h.env.UpdateWorkflow(a.name, "", &testsuite.TestUpdateCallback{
					OnAccept: func() {},
					OnReject: func(err error) { t.Errorf("action %d (%s) refused: %v", i, a.name, err) },
					OnComplete: func(_ any, err error) {
						if err != nil {
							t.Errorf("action %d (%s): %v", i, a.name, err)
						}
						done++
						n++
					},
				}, a.req)
			}, at)
		}
		h.env.ExecuteWorkflow(contract.EscalationWorkflow, h.input)
		if t.Failed() {
			t.FailNow()
		}
		var cont *workflow.ContinueAsNewError
		if err := h.env.GetWorkflowError(); errors.As(err, &cont) {
			if n > perRun+1 {
				t.Fatalf("run %d took %d actions, %d past the suggestion", runs, n, n-perRun)
			}
			h = h.nextRun(t, cont)
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		if err := h.env.GetWorkflowResult(&last); err != nil {
			t.Fatal(err)
		}
		break
	}
	if done != len(plan) || runs < rounds*2/perRun {
		t.Fatalf("%d of %d actions in %d runs", done, len(plan), runs)
	}
	if ap := h.approval(t); ap.Status != store.StatusApproved {
		t.Fatalf("approval: %+v", ap)
	}
	// Every question and answer told once, across the runs.
	count := map[string]int{}
	for _, k := range h.notes.kinds {
		count[k]++
	}
	if count["escalated"] != 1 || count["info_requested"] != rounds || count["info_provided"] != rounds || count["decided"] != 1 {
		t.Fatalf("notifications: %v", count)
	}
	rows, err := h.store.ResourceAudit(context.Background(), store.ScopeOf(tenant), "approval", h.input.Approval.ID, 200)
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(rows); got[0] != "approval.created" || slices.Contains(got, "approval.expired") || slices.Contains(got, "approval.info_unanswered") {
		t.Fatalf("audit: %v", got)
	}
	// The state carried over stays bounded too: the newest notifications.
	if last.Phase != contract.PhaseDecided || len(last.Notifications) > 2*perRun+25 {
		t.Fatalf("the last run's result: phase %s, %d notifications", last.Phase, len(last.Notifications))
	}
}
