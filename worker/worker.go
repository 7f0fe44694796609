// Package worker runs the Temporal worker that executes the escalation and
// consultation workflows and their activities.
package worker

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/orchestrator-dev/orchestrator/activities"
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
}

// New builds a worker on the task queue with everything registered. The
// caller starts it with Run or Start and stops it with Stop.
func New(c client.Client, acts *activities.Activities, opts Options) (sdkworker.Worker, error) {
	if opts.TaskQueue == "" {
		return nil, fmt.Errorf("worker: task queue is required")
	}
	w := sdkworker.New(c, opts.TaskQueue, sdkworker.Options{
		MaxConcurrentActivityExecutionSize:     opts.MaxConcurrentActivities,
		MaxConcurrentWorkflowTaskExecutionSize: opts.MaxConcurrentWorkflowTasks,
		WorkerStopTimeout:                      opts.StopTimeout,
	})
	Register(w, acts, opts.DecisionKey)
	return w, nil
}
