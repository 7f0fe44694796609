// Package telemetry holds the orchestrator's metrics (Prometheus), traces
// (OpenTelemetry over OTLP, off unless an endpoint is configured) and the
// Temporal SDK's share of both. Nothing here is global: each process builds
// one registry and one tracer provider in its wiring and passes them down, so
// several stacks can run in one process (tests) without sharing figures.
package telemetry

import (
	"database/sql"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metric names, for tests and dashboards.
const (
	MetricHTTPRequests       = "orchestrator_http_requests_total"
	MetricHTTPDuration       = "orchestrator_http_request_duration_seconds"
	MetricEscalationsCreated = "orchestrator_escalations_created_total"
	MetricEscalationsDecided = "orchestrator_escalations_decided_total"
	MetricEscalationsPending = "orchestrator_escalations_pending"
	MetricPendingErrors      = "orchestrator_escalations_pending_errors_total"
	MetricTimeToDecision     = "orchestrator_time_to_decision_seconds"
	MetricConsultations      = "orchestrator_consultations_total"
	MetricExternalCalls      = "orchestrator_external_calls_total"
	MetricWorkerPolling      = "orchestrator_worker_polling"
	MetricEscalationsExpired = "orchestrator_escalations_expired_total"
	MetricExpiryDelay        = "orchestrator_expiry_delay_seconds"

	MetricEscalationsNearDeadline = "orchestrator_escalations_near_deadline"
	MetricEscalationsOverdue      = "orchestrator_escalations_overdue"
	MetricDeadlineErrors          = "orchestrator_escalations_deadline_errors_total"
)

// Label values the business metrics start with (at zero), so that every
// series exists from the first scrape and rate() and absent() behave.
var (
	decisionOutcomes   = []string{"approved", "rejected"}
	consultationStates = []string{"scheduled", "active", "ended"}
	externalOutcomes   = map[string][]string{
		"chatwoot": {"sent", "retry", "failed"},
		"matrix":   {"sent", "retry", "failed"},
		"jitsi":    {"issued", "failed"},
	}
)

// UnmatchedRoute labels requests no route matched (404, 405): raw paths are
// never labels, so the number of series stays bounded.
const UnmatchedRoute = "unmatched"

// Metrics is one process's Prometheus figures. Its methods are safe on a nil
// *Metrics (they do nothing), so code under test needs no registry.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	created        prometheus.Counter
	decided        *prometheus.CounterVec
	timeToDecision prometheus.Histogram
	consultations  *prometheus.CounterVec
	externalCalls  *prometheus.CounterVec
	expired        prometheus.Counter
	expiryDelay    prometheus.Histogram
	statements     *prometheus.CounterVec
}

// NewMetrics registers the Go runtime, process, HTTP and business metrics on
// reg (one registry per process, never the global default one).
func NewMetrics(reg *prometheus.Registry) (*Metrics, error) {
	m := &Metrics{
		reg: reg,
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricHTTPRequests,
			Help: "HTTP requests by route template (\"unmatched\" when no route matched), method and status.",
		}, []string{"route", "method", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricHTTPDuration,
			Help:    "HTTP request latency by route template and method.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"}),
		created: prometheus.NewCounter(prometheus.CounterOpts{
			Name: MetricEscalationsCreated,
			Help: "Escalations recorded (counted once, by the worker that stored the approval).",
		}),
		decided: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricEscalationsDecided,
			Help: "Decisions applied, by outcome (approved, rejected).",
		}, []string{"outcome"}),
		timeToDecision: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    MetricTimeToDecision,
			Help:    "Time from an escalation's creation to its decision.",
			Buckets: []float64{1, 10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 604800},
		}),
		consultations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricConsultations,
			Help: "Consultation state transitions, by the state entered (scheduled, active, ended).",
		}, []string{"state"}),
		externalCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricExternalCalls,
			Help: "Calls to external systems by target (chatwoot, matrix, jitsi) and outcome.",
		}, []string{"target", "outcome"}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: MetricEscalationsExpired,
			Help: "Escalations that reached their deadline without a decision (counted once, by the worker that stored the expiry).",
		}),
		// Nothing but the workflow's timer expires an escalation, so how late
		// the expiry is stored tells whether deadlines hold: seconds when the
		// worker keeps up, minutes when it is behind or stalled.
		expiryDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    MetricExpiryDelay,
			Help:    "Time from an escalation's deadline to its expiry being stored.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 14400, 86400},
		}),
		statements: newStatementsCounter(),
	}
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration, m.created, m.decided, m.timeToDecision, m.consultations, m.externalCalls,
		m.expired, m.expiryDelay, m.statements,
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, o := range decisionOutcomes {
		m.decided.WithLabelValues(o)
	}
	for _, s := range consultationStates {
		m.consultations.WithLabelValues(s)
	}
	for target, outcomes := range externalOutcomes {
		for _, o := range outcomes {
			m.externalCalls.WithLabelValues(target, o)
		}
	}
	return m, nil
}

// RegisterDBPool exports the statistics of the store's connection pool
// (go_sql_* with db_name="orchestrator": connections open and in use, waits
// for a free connection and the time spent waiting).
func (m *Metrics) RegisterDBPool(db *sql.DB) error {
	if m == nil {
		return nil
	}
	if err := m.reg.Register(collectors.NewDBStatsCollector(db, "orchestrator")); err != nil {
		return fmt.Errorf("register the database pool metrics: %w", err)
	}
	return nil
}

// RegisterWorkerPolling exports whether the process's Temporal worker polls
// (1) or not (0: not started yet, stopping, or stopped by itself, after
// which the process exits). Only the worker and dev processes have one.
func (m *Metrics) RegisterWorkerPolling(polling func() bool) error {
	if m == nil {
		return nil
	}
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: MetricWorkerPolling,
		Help: "1 while the process's Temporal worker polls its task queue, 0 otherwise.",
	}, func() float64 {
		if polling() {
			return 1
		}
		return 0
	})
	if err := m.reg.Register(g); err != nil {
		return fmt.Errorf("register %s: %w", MetricWorkerPolling, err)
	}
	return nil
}

// Registry is the registry the metrics live on.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Handler serves the registry in the Prometheus text format (and counts its
// own scrapes in promhttp_metric_handler_requests_total).
func (m *Metrics) Handler() http.Handler {
	return promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:            m.reg, // promhttp_metric_handler_errors_total
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
}

// HTTPMiddleware counts and times every request by Gin's route template
// (c.FullPath()), never the raw path.
func (m *Metrics) HTTPMiddleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		if m == nil {
			c.Next()
			return
		}
		start := time.Now()
		statementOriginMiddleware(c)
		route := c.FullPath()
		if route == "" {
			route = UnmatchedRoute
		}
		method := normalMethod(c.Request.Method)
		m.httpRequests.WithLabelValues(route, method, strconv.Itoa(c.Writer.Status())).Inc()
		m.httpDuration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
	}
}

// normalMethod bounds the method label: any method is accepted on the wire.
func normalMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// EscalationCreated counts a newly stored escalation.
func (m *Metrics) EscalationCreated() {
	if m != nil {
		m.created.Inc()
	}
}

// EscalationDecided counts a decision applied for the first time and observes
// the time it took since the escalation was created.
func (m *Metrics) EscalationDecided(outcome string, timeToDecision time.Duration) {
	if m == nil {
		return
	}
	m.decided.WithLabelValues(outcome).Inc()
	if timeToDecision >= 0 {
		m.timeToDecision.Observe(timeToDecision.Seconds())
	}
}

// ConsultationState counts a consultation entering state.
func (m *Metrics) ConsultationState(state string) {
	if m != nil {
		m.consultations.WithLabelValues(state).Inc()
	}
}

// ExternalCall counts one call to target (chatwoot, matrix, jitsi) with its
// outcome.
func (m *Metrics) ExternalCall(target, outcome string) {
	if m != nil {
		m.externalCalls.WithLabelValues(target, outcome).Inc()
	}
}

// EscalationExpired counts an escalation expired for the first time and
// observes how long after its deadline that happened (a negative delay, from
// clocks that disagree, counts as none).
func (m *Metrics) EscalationExpired(delay time.Duration) {
	if m == nil {
		return
	}
	m.expired.Inc()
	m.expiryDelay.Observe(max(delay, 0).Seconds())
}
