package loadtest

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// The two baselines run straight on the Temporal SDK, in this process, on the
// same server as the product:
//   - naive: start, 2 activities, wait for a signal, 3 activities (no-ops),
//     the shape of a hand-written escalation with one activity per step;
//   - floor: start, wait for a signal, complete.

const baselineSignal = "decision"

func noop(context.Context) error { return nil }

func naiveWorkflow(ctx workflow.Context) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	for i := 0; i < 2; i++ {
		if err := workflow.ExecuteActivity(ctx, "noop").Get(ctx, nil); err != nil {
			return err
		}
	}
	workflow.GetSignalChannel(ctx, baselineSignal).Receive(ctx, nil)
	for i := 0; i < 3; i++ {
		if err := workflow.ExecuteActivity(ctx, "noop").Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

func floorWorkflow(ctx workflow.Context) error {
	workflow.GetSignalChannel(ctx, baselineSignal).Receive(ctx, nil)
	return nil
}

func registerBaselines(w worker.Worker) {
	w.RegisterWorkflowWithOptions(naiveWorkflow, workflow.RegisterOptions{Name: "BenchNaive"})
	w.RegisterWorkflowWithOptions(floorWorkflow, workflow.RegisterOptions{Name: "BenchFloor"})
	w.RegisterActivityWithOptions(noop, activity.RegisterOptions{Name: "noop"})
}
