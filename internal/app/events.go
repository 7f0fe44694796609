package app

import (
	"fmt"
	"log/slog"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/orchestrator-dev/orchestrator/internal/config"
	"github.com/orchestrator-dev/orchestrator/internal/events"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/telemetry"
	"github.com/orchestrator-dev/orchestrator/worker"
)

// eventSlots bounds the delivery loops one worker runs at once: each
// subscription with a running workflow holds one activity slot of the
// events task queue for as long as its loop runs (minutes at a time). A
// subscription past the bound waits until another loop hands back.
const eventSlots = 1000

// newEventsWorker builds the worker of the events task queue: the
// per-subscription delivery workflows and their loops, on their own queue
// and slots so that a slow receiver never holds an escalation's activity.
// waker is the store's hook (deliveries queued in this process are sent at
// once).
func newEventsWorker(cfg *config.Config, s *store.Store, tc client.Client, log *slog.Logger, m *telemetry.Metrics,
	waker *events.Waker, state *workerState) (sdkworker.Worker, error) {
	em, err := m.RegisterEvents()
	if err != nil {
		return nil, err
	}
	d := &events.Dispatcher{
		Store: s, Client: events.NewClient(events.ClientOptions{AllowPrivate: cfg.EventsAllowPrivate}),
		Schedule: cfg.EventsRetrySchedule, AttemptTimeout: cfg.EventsAttemptTimeout, Wake: waker, Retention: cfg.EventsRetention,
		Log: log.With("component", "events"),
	}
	if em != nil {
		d.Metrics = em
	}
	opts := worker.SDKOptions(worker.Options{
		StopTimeout: cfg.ShutdownGrace, MaxConcurrentActivities: eventSlots,
		WorkflowTaskPollers: cfg.WorkerWorkflowTaskPollers, ActivityTaskPollers: cfg.WorkerActivityTaskPollers,
		StickyScheduleToStartTimeout: cfg.WorkerStickyScheduleToStartTimeout,
		OnFatalError:                 state.fail,
	})
	w := sdkworker.New(tc, cfg.EventsTaskQueue, opts)
	events.Register(w, d)
	log.Info("event delivery worker", "task_queue", cfg.EventsTaskQueue, "retry_schedule", cfg.EventsRetrySchedule.String(),
		"attempt_timeout", cfg.EventsAttemptTimeout.String(), "allow_private", cfg.EventsAllowPrivate, "retention", cfg.EventsRetention.String())
	return w, nil
}

// workers runs several Temporal workers as one: the escalations' and the
// events'.
type workers []sdkworker.Worker

// Start starts each worker; if one fails, those started are stopped.
func (ws workers) Start() error {
	for i, w := range ws {
		if err := w.Start(); err != nil {
			for j := i - 1; j >= 0; j-- {
				ws[j].Stop()
			}
			return fmt.Errorf("start worker %d of %d: %w", i+1, len(ws), err)
		}
	}
	return nil
}

// Stop stops every worker, the last started first.
func (ws workers) Stop() {
	for i := len(ws) - 1; i >= 0; i-- {
		ws[i].Stop()
	}
}
