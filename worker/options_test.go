package worker_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	sdkworker "go.temporal.io/sdk/worker"

	"github.com/orchestrator-dev/orchestrator/internal/config"
	"github.com/orchestrator-dev/orchestrator/worker"
)

// The worker's settings reach the SDK: autoscaling pollers for workflow
// tasks (a normal and a sticky group, so the normal queue always keeps a
// poller) and activity tasks, a fixed count when asked, the sticky timeout,
// the local-activity bound and the fatal-error hook. Without poller
// behaviours the SDK runs two mixed workflow pollers, which stall
// (docs/benchmarks.md, "The stall").
func TestSDKOptionsCarryTheBehaviours(t *testing.T) {
	var fatal error
	got := worker.SDKOptions(worker.Options{
		TaskQueue:                    "q",
		WorkflowTaskPollers:          config.Pollers{Autoscaling: true},
		ActivityTaskPollers:          config.Pollers{Autoscaling: true, Max: 20},
		StickyScheduleToStartTimeout: 10 * time.Second,
		MaxConcurrentLocalActivities: 4,
		MaxConcurrentWorkflowTasks:   500,
		OnFatalError:                 func(err error) { fatal = err },
	})
	if want := sdkworker.NewPollerBehaviorAutoscaling(sdkworker.PollerBehaviorAutoscalingOptions{}); !reflect.DeepEqual(got.WorkflowTaskPollerBehavior, want) {
		t.Errorf("workflow task pollers %#v, want the SDK's autoscaling %#v", got.WorkflowTaskPollerBehavior, want)
	}
	if want := sdkworker.NewPollerBehaviorAutoscaling(sdkworker.PollerBehaviorAutoscalingOptions{MaximumNumberOfPollers: 20}); !reflect.DeepEqual(got.ActivityTaskPollerBehavior, want) {
		t.Errorf("activity task pollers %#v, want autoscaling up to 20 %#v", got.ActivityTaskPollerBehavior, want)
	}
	if got.MaxConcurrentWorkflowTaskPollers != 0 || got.MaxConcurrentActivityTaskPollers != 0 {
		t.Errorf("poller counts set beside the behaviours (the SDK refuses both): %+v", got)
	}
	if got.StickyScheduleToStartTimeout != 10*time.Second || got.MaxConcurrentLocalActivityExecutionSize != 4 || got.MaxConcurrentWorkflowTaskExecutionSize != 500 {
		t.Errorf("sticky timeout %s, local activity slots %d, workflow task slots %d", got.StickyScheduleToStartTimeout,
			got.MaxConcurrentLocalActivityExecutionSize, got.MaxConcurrentWorkflowTaskExecutionSize)
	}
	if got.OnFatalError == nil {
		t.Fatal("no OnFatalError: a worker that stops by itself would go unnoticed")
	}
	boom := errors.New("namespace not found")
	got.OnFatalError(boom)
	if fatal != boom {
		t.Errorf("OnFatalError did not reach the hook: %v", fatal)
	}

	fixed := worker.SDKOptions(worker.Options{WorkflowTaskPollers: config.Pollers{Fixed: 8}, ActivityTaskPollers: config.Pollers{Fixed: 3}})
	if want := sdkworker.NewPollerBehaviorSimpleMaximum(sdkworker.PollerBehaviorSimpleMaximumOptions{MaximumNumberOfPollers: 8}); !reflect.DeepEqual(fixed.WorkflowTaskPollerBehavior, want) {
		t.Errorf("fixed workflow pollers %#v, want %#v", fixed.WorkflowTaskPollerBehavior, want)
	}
	if want := sdkworker.NewPollerBehaviorSimpleMaximum(sdkworker.PollerBehaviorSimpleMaximumOptions{MaximumNumberOfPollers: 3}); !reflect.DeepEqual(fixed.ActivityTaskPollerBehavior, want) {
		t.Errorf("fixed activity pollers %#v, want %#v", fixed.ActivityTaskPollerBehavior, want)
	}
}

// Options without poller settings (tests, replayers) leave the SDK's own
// default.
func TestSDKOptionsWithoutPollerSettings(t *testing.T) {
	got := worker.SDKOptions(worker.Options{TaskQueue: "q"})
	if got.WorkflowTaskPollerBehavior != nil || got.ActivityTaskPollerBehavior != nil {
		t.Fatalf("behaviours %#v %#v, want none", got.WorkflowTaskPollerBehavior, got.ActivityTaskPollerBehavior)
	}
}
