package telemetry

import (
	"context"
	"errors"
	"log/slog"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// Options configure Setup.
type Options struct {
	// Registry is the process's one Prometheus registry (required).
	Registry *prometheus.Registry
	// Service is ServiceAPI, ServiceWorker or ServiceDev.
	Service string
	// Tracing is off unless Tracing.Endpoint (or, in tests, Tracing.Exporter)
	// is set; its ServiceName defaults to Service.
	Tracing TracingOptions
	Log     *slog.Logger
}

// Telemetry is everything one process observes itself with.
type Telemetry struct {
	Metrics  *Metrics
	Tracing  *Tracing
	Temporal *TemporalMetrics
	service  string
}

// Setup builds a process's metrics (business, HTTP, Go runtime, Temporal SDK)
// on opts.Registry, and its tracing.
func Setup(ctx context.Context, o Options) (*Telemetry, error) {
	if o.Registry == nil {
		return nil, errors.New("telemetry: a registry is required")
	}
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	m, err := NewMetrics(o.Registry)
	if err != nil {
		return nil, err
	}
	tm, err := NewTemporalMetrics(o.Registry, func(err error) {
		log.Warn("temporal metric", "error", err.Error())
	})
	if err != nil {
		return nil, err
	}
	tracing := o.Tracing
	if tracing.ServiceName == "" {
		tracing.ServiceName = o.Service
	}
	tr, err := NewTracing(ctx, tracing)
	if err != nil {
		_ = tm.Shutdown(ctx)
		return nil, err
	}
	if tr.Enabled() {
		log.Info("tracing on", "service", tracing.ServiceName, "endpoint", tracing.Endpoint, "protocol", tracing.Protocol)
	}
	return &Telemetry{Metrics: m, Tracing: tr, Temporal: tm, service: o.Service}, nil
}

// TemporalClientOptions adds the SDK metrics handler and, with tracing on,
// the tracing interceptor to a Temporal client's options. Safe on nil.
func (t *Telemetry) TemporalClientOptions(opts *client.Options) error {
	if t == nil {
		return nil
	}
	opts.MetricsHandler = t.Temporal.Handler
	ic, err := t.Tracing.TemporalInterceptor()
	if err != nil {
		return err
	}
	if ic != nil {
		opts.Interceptors = append(opts.Interceptors, ic)
	}
	return nil
}

// HTTPMiddleware is what runs first on every API request: the server span
// (tracing on) and the HTTP metrics.
func (t *Telemetry) HTTPMiddleware() []gin.HandlerFunc {
	if t == nil {
		return nil
	}
	var hs []gin.HandlerFunc
	if h := t.Tracing.GinMiddleware(t.service); h != nil {
		hs = append(hs, h)
	}
	return append(hs, t.Metrics.HTTPMiddleware())
}

// Shutdown flushes traces and stops the meter provider.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return errors.Join(t.Tracing.Shutdown(ctx), t.Temporal.Shutdown(ctx))
}
