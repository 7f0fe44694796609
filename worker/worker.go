// Package worker runs the Temporal worker that executes the escalation and
// consultation workflows and their activities.
package worker

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/orchestrator-dev/orchestrator/activities"
	"github.com/orchestrator-dev/orchestrator/internal/config"
	"github.com/orchestrator-dev/orchestrator/internal/retention"
	"github.com/orchestrator-dev/orchestrator/workflows"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Register adds every workflow and activity to r (a worker, or a test
// environment), under the names running histories refer to.
func Register(r sdkworker.Registry, acts *activities.Activities, key contract.DecisionKey) {
	RegisterWorkflows(r, key)
	r.RegisterActivity(acts)
	retention.Register(r, acts.Store) // the schedule's job (internal/retention)
}

// RegisterWorkflows adds the workflows alone (replayers need no activities).
// key proves which channel sent a decision (contract.DecisionKey); a
// replayer may pass nil.
func RegisterWorkflows(r sdkworker.WorkflowRegistry, key contract.DecisionKey) {
	r.RegisterWorkflowWithOptions(workflows.Escalation(key), workflow.RegisterOptions{Name: contract.EscalationWorkflow})
	r.RegisterWorkflowWithOptions(workflows.Consultation, workflow.RegisterOptions{Name: contract.ConsultationWorkflow})
}

// Options tune New.
type Options struct {
	TaskQueue string
	// MaxConcurrentActivities bounds activity slots (0: SDK default).
	MaxConcurrentActivities int
	// MaxConcurrentWorkflowTasks bounds workflow task slots (0: SDK
	// default, 1000). An execution whose task is running cannot be evicted
	// from the process's workflow cache, so this must stay below the cache
	// size, or a full cache refuses new executions' tasks.
	MaxConcurrentWorkflowTasks int
	// StopTimeout is how long Stop lets running activities finish.
	StopTimeout time.Duration
	// DecisionKey is the key the API and the Matrix receiver seal decisions
	// with; without it every decision is recorded as ops.
	DecisionKey contract.DecisionKey
	// WorkflowTaskPollers and ActivityTaskPollers choose the poller
	// behaviours (config.Pollers; the zero value leaves the SDK's default,
	// two fixed pollers). The worker registers no Nexus service, so it
	// runs no Nexus pollers.
	WorkflowTaskPollers, ActivityTaskPollers config.Pollers
	// StickyScheduleToStartTimeout: 0 leaves the SDK's 5 s.
	StickyScheduleToStartTimeout time.Duration
	// MaxConcurrentLocalActivities bounds local activity slots (0: SDK
	// default, 1000).
	MaxConcurrentLocalActivities int
	// OnFatalError learns why the worker stopped by itself (e.g. a
	// non-retryable poll error); the SDK stops the worker after it returns.
	OnFatalError func(error)
	// Interceptors wrap the worker's workflows and activities (telemetry:
	// the origin of the database statements).
	Interceptors []interceptor.WorkerInterceptor
}

// SDKOptions are the SDK worker options opts stand for.
func SDKOptions(opts Options) sdkworker.Options {
	return sdkworker.Options{
		MaxConcurrentActivityExecutionSize:      opts.MaxConcurrentActivities,
		MaxConcurrentWorkflowTaskExecutionSize:  opts.MaxConcurrentWorkflowTasks,
		MaxConcurrentLocalActivityExecutionSize: opts.MaxConcurrentLocalActivities,
		WorkerStopTimeout:                       opts.StopTimeout,
		StickyScheduleToStartTimeout:            opts.StickyScheduleToStartTimeout,
		WorkflowTaskPollerBehavior:              pollerBehavior(opts.WorkflowTaskPollers),
		ActivityTaskPollerBehavior:              pollerBehavior(opts.ActivityTaskPollers),
		OnFatalError:                            opts.OnFatalError,
		Interceptors:                            opts.Interceptors,
	}
}

// pollerBehavior maps a setting to the SDK's behaviour. Autoscaling keeps
// the SDK's initial (5) and minimum (1) pollers: for workflow tasks it runs
// a normal and a sticky poller group, each at least one strong, which is
// what keeps the normal queue polled (docs/benchmarks.md, "The stall").
func pollerBehavior(p config.Pollers) sdkworker.PollerBehavior {
	if p == (config.Pollers{}) {
		return nil
	}
	if p.Autoscaling {
		return sdkworker.NewPollerBehaviorAutoscaling(sdkworker.PollerBehaviorAutoscalingOptions{MaximumNumberOfPollers: p.Max})
	}
	return sdkworker.NewPollerBehaviorSimpleMaximum(sdkworker.PollerBehaviorSimpleMaximumOptions{MaximumNumberOfPollers: p.Fixed})
}

// New builds a worker on the task queue with everything registered. The
// caller starts it with Run or Start and stops it with Stop.
func New(c client.Client, acts *activities.Activities, opts Options) (sdkworker.Worker, error) {
	if opts.TaskQueue == "" {
		return nil, fmt.Errorf("worker: task queue is required")
	}
	w := sdkworker.New(c, opts.TaskQueue, SDKOptions(opts))
	Register(w, acts, opts.DecisionKey)
	return w, nil
}
