package telemetry

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names of events out (internal/events).
const (
	MetricEventAttempts        = "orchestrator_event_delivery_attempts_total"
	MetricEventAttemptDuration = "orchestrator_event_delivery_attempt_duration_seconds"
	MetricEventOldestPending   = "orchestrator_event_delivery_oldest_pending_seconds"
)

// eventOutcomes are the outcomes of an attempt (internal/events), every
// series present from the first scrape.
var eventOutcomes = []string{"delivered", "retry", "failed", "gone"}

// EventMetrics are the delivery loops' figures. No label names a
// subscription or tenant: their number is the customers', not ours.
type EventMetrics struct {
	attempts *prometheus.CounterVec
	duration prometheus.Histogram

	mu      sync.Mutex
	pending map[string]time.Time
	now     func() time.Time
}

// RegisterEvents registers the events metrics on the process's registry
// (the worker and dev processes, which run delivery loops).
func (m *Metrics) RegisterEvents() (*EventMetrics, error) {
	if m == nil {
		return nil, nil
	}
	e := &EventMetrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricEventAttempts,
			Help: "Event delivery attempts by outcome: delivered (2xx), retry (another attempt is scheduled), failed (the last retry failed: the delivery is given up), gone (410: the subscription was disabled).",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    MetricEventAttemptDuration,
			Help:    "Time an event delivery attempt took, until the receiver's answer or the attempt's timeout.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}),
		pending: map[string]time.Time{},
		now:     time.Now,
	}
	oldest := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: MetricEventOldestPending,
		Help: "Age of the oldest pending event delivery among the subscriptions this process delivers to (0 when none is pending); refreshed every few seconds.",
	}, e.oldestPending)
	for _, c := range []prometheus.Collector{e.attempts, e.duration, oldest} {
		if err := m.reg.Register(c); err != nil {
			return nil, fmt.Errorf("register the events metrics: %w", err)
		}
	}
	for _, o := range eventOutcomes {
		e.attempts.WithLabelValues(o)
	}
	return e, nil
}

// DeliveryAttempt counts one attempt and its time.
func (e *EventMetrics) DeliveryAttempt(outcome string, took time.Duration) {
	if e == nil {
		return
	}
	e.attempts.WithLabelValues(outcome).Inc()
	e.duration.Observe(took.Seconds())
}

// PendingSince records when the oldest pending delivery of a subscription
// was queued; nil forgets the subscription.
func (e *EventMetrics) PendingSince(subscriptionID string, since *time.Time) {
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if since == nil {
		delete(e.pending, subscriptionID)
		return
	}
	e.pending[subscriptionID] = *since
}

func (e *EventMetrics) oldestPending() float64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var oldest float64
	for _, t := range e.pending {
		oldest = max(oldest, e.now().Sub(t).Seconds())
	}
	return oldest
}
