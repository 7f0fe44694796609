package events_test

import (
	"context"
	"errors"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/orchestrator-dev/orchestrator/internal/events"
)

func newEnv(t *testing.T, runs func(n int) (events.DeliverResult, error)) (*testsuite.TestWorkflowEnvironment, *int) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	n := 0
	env.RegisterWorkflowWithOptions(events.Workflow, workflow.RegisterOptions{Name: events.WorkflowName})
	env.RegisterActivityWithOptions(func(ctx context.Context, in events.DeliverInput) (events.DeliverResult, error) {
		n++
		if in.SubscriptionID != "sub-1" || in.TenantID != tenant {
			t.Errorf("activity input %+v", in)
		}
		return runs(n)
	}, activity.RegisterOptions{Name: events.ActivityName})
	return env, &n
}

// The workflow runs the loop again each time it hands back, through its
// failures (retried without end), and ends when the subscription is done.
func TestWorkflowRunsTheLoopUntilTheSubscriptionEnds(t *testing.T) {
	env, n := newEnv(t, func(n int) (events.DeliverResult, error) {
		switch n {
		case 2, 3:
			return events.DeliverResult{}, errors.New("database unavailable")
		case 5:
			return events.DeliverResult{Ended: events.EndedGone}, nil
		}
		return events.DeliverResult{Attempts: 1}, nil
	})
	env.ExecuteWorkflow(events.WorkflowName, events.DeliverInput{TenantID: tenant, SubscriptionID: "sub-1"})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("completed %v, error %v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	if *n != 5 {
		t.Errorf("loop ran %d times, want 5", *n)
	}
}

// However long a subscription lives, its history stays short: after a
// bounded number of runs the workflow continues as new with the same input.
func TestWorkflowContinuesAsNew(t *testing.T) {
	env, n := newEnv(t, func(int) (events.DeliverResult, error) { return events.DeliverResult{}, nil })
	env.ExecuteWorkflow(events.WorkflowName, events.DeliverInput{TenantID: tenant, SubscriptionID: "sub-1"})
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) || can.WorkflowType.Name != events.WorkflowName {
		t.Fatalf("workflow error %v, want continue-as-new", err)
	}
	if *n < 10 || *n > 1000 {
		t.Errorf("continued as new after %d runs", *n)
	}
}

// Woken while its loop was ending (the subscription enabled again just
// after the loop read it disabled), the workflow runs the loop once more
// instead of ending with deliveries pending and nothing to send them.
func TestWorkflowWokenWhileEndingRunsAgain(t *testing.T) {
	env, n := newEnv(t, func(n int) (events.DeliverResult, error) {
		return events.DeliverResult{Ended: events.EndedDisabled}, nil
	})
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(events.WakeSignal, nil) }, 0)
	env.ExecuteWorkflow(events.WorkflowName, events.DeliverInput{TenantID: tenant, SubscriptionID: "sub-1"})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("completed %v, error %v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	if *n != 2 {
		t.Errorf("loop ran %d times, want 2: once more after the wake", *n)
	}
}
