package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
)

// Service names of the processes, as traces show them.
const (
	ServiceAPI    = "orchestrator-api"
	ServiceWorker = "orchestrator-worker"
	ServiceDev    = "orchestrator-dev"
)

// OTLP protocols (OTEL_EXPORTER_OTLP_PROTOCOL).
const (
	ProtocolHTTP = "http/protobuf"
	ProtocolGRPC = "grpc"
)

// TracingOptions configure NewTracing.
type TracingOptions struct {
	// Endpoint is the OTLP base endpoint (OTEL_EXPORTER_OTLP_ENDPOINT, e.g.
	// http://otel-collector:4318); empty turns tracing off.
	Endpoint string
	// Protocol is ProtocolHTTP (default) or ProtocolGRPC.
	Protocol string
	// ServiceName is the service.name resource attribute.
	ServiceName string
	// Exporter replaces the OTLP exporter and exports synchronously (tests:
	// tracetest.NewInMemoryExporter). It turns tracing on by itself.
	Exporter sdktrace.SpanExporter
}

// Tracing is one process's tracer provider and propagator. Off, it is a no-op
// provider: no exporter, no goroutine, no span recorded, nothing propagated.
type Tracing struct {
	provider   trace.TracerProvider
	sdk        *sdktrace.TracerProvider // nil when off
	propagator propagation.TextMapPropagator
}

// NewTracing builds the tracer provider: OTLP over HTTP or gRPC with batched
// export, W3C trace context and baggage propagation. Nothing is set globally.
// Standard OTEL_* variables the exporter and SDK read themselves still apply
// (OTEL_EXPORTER_OTLP_HEADERS, OTEL_TRACES_SAMPLER, OTEL_RESOURCE_ATTRIBUTES…).
func NewTracing(ctx context.Context, o TracingOptions) (*Tracing, error) {
	t := &Tracing{
		provider:   noop.NewTracerProvider(),
		propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
	if o.Endpoint == "" && o.Exporter == nil {
		return t, nil
	}
	var spans sdktrace.TracerProviderOption
	if o.Exporter != nil {
		spans = sdktrace.WithSyncer(o.Exporter)
	} else {
		exp, err := newOTLPExporter(ctx, o.Endpoint, o.Protocol)
		if err != nil {
			return nil, err
		}
		spans = sdktrace.WithBatcher(exp)
	}
	name := o.ServiceName
	if name == "" {
		name = "orchestrator"
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(name)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(), // OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME
	)
	if err != nil && res == nil {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	t.sdk = sdktrace.NewTracerProvider(spans, sdktrace.WithResource(res))
	t.provider = t.sdk
	return t, nil
}

func newOTLPExporter(ctx context.Context, endpoint, protocol string) (sdktrace.SpanExporter, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %q is not an absolute http(s) URL", endpoint)
	}
	switch protocol {
	case "", ProtocolHTTP:
		// The base endpoint gets the signal's path, as the specification says.
		return otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(strings.TrimRight(endpoint, "/")+"/v1/traces"))
	case ProtocolGRPC:
		return otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(endpoint))
	}
	return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL: %q is not supported: use %s or %s", protocol, ProtocolHTTP, ProtocolGRPC)
}

// Enabled reports whether spans are recorded and exported.
func (t *Tracing) Enabled() bool { return t != nil && t.sdk != nil }

// TracerProvider is the provider (a no-op one when tracing is off).
func (t *Tracing) TracerProvider() trace.TracerProvider {
	if t == nil {
		return noop.NewTracerProvider()
	}
	return t.provider
}

// Propagator is the W3C trace-context and baggage propagator.
func (t *Tracing) Propagator() propagation.TextMapPropagator {
	if t == nil {
		return propagation.NewCompositeTextMapPropagator()
	}
	return t.propagator
}

// GinMiddleware starts a server span per request, named by the route
// template, continuing an incoming traceparent. Health probes are not traced.
// It returns nil when tracing is off.
func (t *Tracing) GinMiddleware(service string) gin.HandlerFunc {
	if !t.Enabled() {
		return nil
	}
	return otelgin.Middleware(service,
		otelgin.WithTracerProvider(t.provider),
		otelgin.WithPropagators(t.propagator),
		// HTTP metrics come from Metrics.HTTPMiddleware, on the registry.
		otelgin.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelgin.WithGinFilter(func(c *gin.Context) bool {
			p := c.FullPath()
			return p != "/healthz" && p != "/readyz"
		}),
	)
}

// TemporalInterceptor is the Temporal SDK's tracing interceptor for the
// client (workers built from the client inherit it): spans for starting and
// updating workflows, for workflow and activity executions, linked through
// Temporal headers to the span of the HTTP request that started them. It
// returns nil when tracing is off.
func (t *Tracing) TemporalInterceptor() (interceptor.ClientInterceptor, error) {
	if !t.Enabled() {
		return nil, nil
	}
	return temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{
		Tracer:            t.provider.Tracer("temporal-sdk-go"),
		TextMapPropagator: t.propagator,
	})
}

// Shutdown flushes pending spans and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	err := t.sdk.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("flush traces: %w", err)
	}
	return err
}
