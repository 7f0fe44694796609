package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/orchestrator-dev/orchestrator/internal/config"
	"github.com/orchestrator-dev/orchestrator/worker"
)

// The worker built from the default configuration polls with the SDK's
// autoscaling behaviours (not the two mixed workflow pollers that stall:
// docs/benchmarks.md), keeps sticky tasks 10 s, runs no more local
// activities than the store's pool serves, and reports a fatal error to the
// process's worker state.
func TestWorkerOptionsFromConfig(t *testing.T) {
	cfg, err := config.Load(config.ModeWorker, func(k string) (string, bool) {
		if k == "DECISION_KEY" {
			return strings.Repeat("k", 32), true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	state := newWorkerState()
	state.polling.Store(true)
	opts := worker.SDKOptions(workerOptions(cfg, 1, state)) // SQLite: one connection
	auto := sdkworker.NewPollerBehaviorAutoscaling(sdkworker.PollerBehaviorAutoscalingOptions{})
	if !reflect.DeepEqual(opts.WorkflowTaskPollerBehavior, auto) || !reflect.DeepEqual(opts.ActivityTaskPollerBehavior, auto) {
		t.Fatalf("poller behaviours: workflow %#v, activity %#v; want the SDK's autoscaling for both",
			opts.WorkflowTaskPollerBehavior, opts.ActivityTaskPollerBehavior)
	}
	if opts.StickyScheduleToStartTimeout != 10*time.Second {
		t.Errorf("sticky schedule-to-start timeout %s, want 10s", opts.StickyScheduleToStartTimeout)
	}
	if opts.MaxConcurrentLocalActivityExecutionSize != 4 {
		t.Errorf("local activity slots on one connection: %d, want 4", opts.MaxConcurrentLocalActivityExecutionSize)
	}
	if got := worker.SDKOptions(workerOptions(cfg, 20, state)).MaxConcurrentLocalActivityExecutionSize; got != 40 {
		t.Errorf("local activity slots on 20 connections: %d, want 40", got)
	}
	opts.OnFatalError(errors.New("namespace gone"))
	if state.Polling() || state.err() == nil || state.err().Error() != "namespace gone" {
		t.Fatalf("after the fatal hook: polling %v, cause %v", state.Polling(), state.err())
	}
}

// fakeWorker starts, and then stops by itself through the hook the SDK
// calls (OnFatalError) when fatal is set.
type fakeWorker struct {
	fatal   error
	onFatal func(error)
	stopped chan struct{}
}

func (w *fakeWorker) Start() error {
	if w.fatal != nil {
		go w.onFatal(w.fatal)
	}
	return nil
}

func (w *fakeWorker) Stop() { close(w.stopped) }

// A worker that stops by itself ends runTemporalWorker with its cause (and
// so the worker and dev processes, non-zero) while the process's context
// still runs, and /readyz says the worker does not poll; a worker stopped by
// the process's shutdown ends it without an error.
func TestAWorkerThatStopsEndsTheRun(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	state := newWorkerState()
	w := &fakeWorker{fatal: errors.New("namespace orchestrator not found"), onFatal: state.fail, stopped: make(chan struct{})}
	h := workerHTTP(okPinger{}, healthyTemporal{}, state.Polling, nil)

	done := make(chan error, 1)
	go func() { done <- runTemporalWorker(context.Background(), w, state, log) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "namespace orchestrator not found") {
			t.Fatalf("run ended with %v, want the worker's cause", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("runTemporalWorker still runs after its worker stopped by itself")
	}
	select {
	case <-w.stopped:
	default:
		t.Error("the worker was not stopped (its cleanup not awaited)")
	}
	if code, checks := readyz(t, h); code != http.StatusServiceUnavailable || checks["worker"] != "not polling" {
		t.Fatalf("/readyz after the worker stopped: %d %v, want 503 with worker not polling", code, checks)
	}

	state = newWorkerState()
	h = workerHTTP(okPinger{}, healthyTemporal{}, state.Polling, nil)
	if code, _ := readyz(t, h); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz before the worker started: %d, want 503", code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w = &fakeWorker{stopped: make(chan struct{})}
	go func() { done <- runTemporalWorker(ctx, w, state, log) }()
	for !state.Polling() {
		time.Sleep(time.Millisecond)
	}
	if code, checks := readyz(t, h); code != http.StatusOK || checks["worker"] != "polling" {
		t.Fatalf("/readyz of a polling worker: %d %v", code, checks)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("shutdown ended the run with %v, want nil", err)
	}
	if state.Polling() {
		t.Fatal("still polling after the shutdown")
	}
}

func readyz(t *testing.T, h http.Handler) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	var body struct {
		Checks map[string]any `json:"checks"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("/readyz: %v (%s)", err, rec.Body)
	}
	return rec.Code, body.Checks
}

type okPinger struct{}

func (okPinger) Ping(context.Context) error { return nil }

// healthyTemporal answers the health check; nothing else is called.
type healthyTemporal struct{ client.Client }

func (healthyTemporal) CheckHealth(context.Context, *client.CheckHealthRequest) (*client.CheckHealthResponse, error) {
	return &client.CheckHealthResponse{}, nil
}
