package telemetry

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
)

// temporalLatencyBuckets suit the SDK's timers (seconds): poll and request
// latencies from milliseconds to long polls of a minute.
var temporalLatencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// TemporalMetrics is the Temporal SDK's metrics handler (client.Options.
// MetricsHandler): the SDK's counters, gauges and timers go through an
// OpenTelemetry meter provider whose only reader is the Prometheus exporter,
// registered on reg. The names come out as temporal_*, e.g.
// temporal_request_total, temporal_workflow_task_execution_latency_seconds.
type TemporalMetrics struct {
	Handler  client.MetricsHandler
	provider *sdkmetric.MeterProvider
}

// NewTemporalMetrics builds the handler; onError receives instrument errors
// (the SDK's default would panic).
func NewTemporalMetrics(reg prometheus.Registerer, onError func(error)) (*TemporalMetrics, error) {
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, fmt.Errorf("temporal metrics exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(exp),
		sdkmetric.WithView(sdkmetric.NewView(
			sdkmetric.Instrument{Kind: sdkmetric.InstrumentKindHistogram, Unit: "s"},
			sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: temporalLatencyBuckets}},
		)),
	)
	if onError == nil {
		onError = func(error) {}
	}
	return &TemporalMetrics{
		Handler: temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
			Meter:                mp.Meter("temporal-sdk-go"),
			OnError:              onError,
			UseMonotonicCounters: true, // counters, not gauges, in Prometheus
		}),
		provider: mp,
	}, nil
}

// Shutdown stops the meter provider.
func (t *TemporalMetrics) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.provider.Shutdown(ctx)
}
