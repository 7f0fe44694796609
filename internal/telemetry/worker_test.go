package telemetry

import (
	"sync/atomic"
	"testing"
)

// orchestrator_worker_polling follows the worker's state at each scrape.
func TestWorkerPollingGauge(t *testing.T) {
	m := newTestMetrics(t)
	var polling atomic.Bool
	if err := m.RegisterWorkerPolling(polling.Load); err != nil {
		t.Fatal(err)
	}
	read := func() float64 {
		f := family(t, m.Registry(), MetricWorkerPolling)
		if f == nil || len(f.GetMetric()) != 1 {
			t.Fatalf("%s not exported: %v", MetricWorkerPolling, f)
		}
		return f.GetMetric()[0].GetGauge().GetValue()
	}
	if v := read(); v != 0 {
		t.Fatalf("before the worker polls: %v, want 0", v)
	}
	polling.Store(true)
	if v := read(); v != 1 {
		t.Fatalf("while it polls: %v, want 1", v)
	}
	polling.Store(false)
	if v := read(); v != 0 {
		t.Fatalf("after it stopped: %v, want 0", v)
	}
}
