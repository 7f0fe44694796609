package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"
)

func TestTracingOffIsANoOp(t *testing.T) {
	before := runtime.NumGoroutine()
	tel, err := Setup(context.Background(), Options{Registry: prometheus.NewRegistry(), Service: ServiceAPI})
	if err != nil {
		t.Fatal(err)
	}
	tr := tel.Tracing
	if tr.Enabled() {
		t.Fatal("tracing is on without an endpoint")
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Fatalf("tracing off started goroutines: %d before, %d after", before, after)
	}
	_, span := tr.TracerProvider().Tracer("t").Start(context.Background(), "x")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Fatal("tracing off records spans")
	}
	span.End()
	if tr.GinMiddleware(ServiceAPI) != nil {
		t.Error("tracing off still adds an HTTP middleware")
	}
	if ic, err := tr.TemporalInterceptor(); ic != nil || err != nil {
		t.Errorf("tracing off still adds a Temporal interceptor (%v, %v)", ic, err)
	}
	if hs := tel.HTTPMiddleware(); len(hs) != 1 {
		t.Errorf("tracing off: want only the metrics middleware, got %d", len(hs))
	}
	var opts client.Options
	if err := tel.TemporalClientOptions(&opts); err != nil {
		t.Fatal(err)
	}
	if len(opts.Interceptors) != 0 || opts.MetricsHandler == nil {
		t.Errorf("tracing off: interceptors %v, metrics handler %v", opts.Interceptors, opts.MetricsHandler)
	}
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestTracingRecordsHTTPServerSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tel, err := Setup(context.Background(), Options{
		Registry: prometheus.NewRegistry(), Service: ServiceAPI, Tracing: TracingOptions{Exporter: exp},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	if !tel.Tracing.Enabled() {
		t.Fatal("tracing is off with an exporter")
	}
	if ic, err := tel.Tracing.TemporalInterceptor(); ic == nil || err != nil {
		t.Fatalf("no Temporal tracing interceptor with tracing on (%v)", err)
	}
	var opts client.Options
	if err := tel.TemporalClientOptions(&opts); err != nil || len(opts.Interceptors) != 1 {
		t.Fatalf("client options: %v interceptors, %v", len(opts.Interceptors), err)
	}

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(tel.HTTPMiddleware()...)
	var inside trace.SpanContext
	r.GET("/api/approvals/:id", func(c *gin.Context) {
		inside = trace.SpanContextFromContext(c.Request.Context())
		c.Status(http.StatusOK)
	})
	r.GET("/healthz", func(c *gin.Context) { c.Status(http.StatusOK) })

	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req := httptest.NewRequest(http.MethodGet, "/api/approvals/123", nil)
	req.Header.Set("traceparent", parent)
	r.ServeHTTP(httptest.NewRecorder(), req)
	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/healthz", nil))

	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("want 1 span (health probes are not traced), got %d: %v", len(spans), spans.Snapshots())
	}
	s := spans[0]
	if s.Name != "GET /api/approvals/:id" {
		t.Errorf("span name %q, want the route template", s.Name)
	}
	if s.SpanKind != trace.SpanKindServer {
		t.Errorf("span kind %v", s.SpanKind)
	}
	if got := s.SpanContext.TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("the incoming traceparent was not continued: trace %s", got)
	}
	if s.Parent.SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("parent span %s", s.Parent.SpanID())
	}
	if inside.SpanID() != s.SpanContext.SpanID() {
		t.Error("the handler does not see the server span in its context")
	}
	var service string
	for _, kv := range s.Resource.Attributes() {
		if kv.Key == "service.name" {
			service = kv.Value.AsString()
		}
	}
	if service != ServiceAPI {
		t.Errorf("service.name %q, want %q", service, ServiceAPI)
	}
}

func TestTracingExportsOverOTLPHTTP(t *testing.T) {
	var (
		mu       sync.Mutex
		path, ct string
		size     int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		path, ct, size = r.URL.Path, r.Header.Get("Content-Type"), len(b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	tr, err := NewTracing(context.Background(), TracingOptions{Endpoint: srv.URL + "/", ServiceName: ServiceWorker})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.TracerProvider().Tracer("t").Start(context.Background(), "work")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil { // flushes
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if path != "/v1/traces" || ct != "application/x-protobuf" || size == 0 {
		t.Fatalf("export: path %q, content type %q, %d bytes", path, ct, size)
	}
}

func TestTracingRefusesBadSettings(t *testing.T) {
	for _, o := range []TracingOptions{
		{Endpoint: "collector:4318"},
		{Endpoint: "ftp://collector:4318"},
		{Endpoint: "http://collector:4318", Protocol: "http/json"},
	} {
		if _, err := NewTracing(context.Background(), o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	tr, err := NewTracing(context.Background(), TracingOptions{Endpoint: "http://127.0.0.1:1", Protocol: ProtocolGRPC})
	if err != nil || !tr.Enabled() {
		t.Fatalf("grpc: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = tr.Shutdown(ctx)
}
