package telemetry

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func newTestMetrics(t *testing.T) *Metrics {
	t.Helper()
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// family returns the gathered family called name, or nil.
func family(t *testing.T, reg prometheus.Gatherer, name string) *dto.MetricFamily {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return f
		}
	}
	return nil
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// find returns the series of family name whose labels include want.
func find(t *testing.T, reg prometheus.Gatherer, name string, want map[string]string) *dto.Metric {
	t.Helper()
	f := family(t, reg, name)
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		got := labelsOf(m)
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

func TestHTTPMiddlewareLabelsTheRouteTemplateNotThePath(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	m := newTestMetrics(t)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(m.HTTPMiddleware())
	r.GET("/api/approvals/:id", func(c *gin.Context) { c.Status(http.StatusTeapot) })

	for _, req := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/api/approvals/0b6f5a9e-secret-looking-id", nil),
		httptest.NewRequest(http.MethodGet, "/api/approvals/another-id", nil),
		httptest.NewRequest(http.MethodGet, "/no/such/path/4711", nil),
		httptest.NewRequest("BREW", "/api/approvals/x", nil),
	} {
		r.ServeHTTP(httptest.NewRecorder(), req)
	}

	got := find(t, m.reg, MetricHTTPRequests, map[string]string{"route": "/api/approvals/:id", "method": "GET", "status": "418"})
	if got == nil || got.GetCounter().GetValue() != 2 {
		t.Fatalf("want 2 requests labelled with the route template, got %v", got)
	}
	if got := find(t, m.reg, MetricHTTPRequests, map[string]string{"route": UnmatchedRoute, "method": "GET", "status": "404"}); got == nil {
		t.Error("a 404 is not labelled route=\"unmatched\"")
	}
	if got := find(t, m.reg, MetricHTTPRequests, map[string]string{"route": UnmatchedRoute, "method": "other", "status": "405"}); got == nil {
		t.Error("an unknown method is not labelled method=\"other\"")
	}
	h := find(t, m.reg, MetricHTTPDuration, map[string]string{"route": "/api/approvals/:id", "method": "GET"})
	if h == nil || h.GetHistogram().GetSampleCount() != 2 {
		t.Fatalf("latency histogram: want 2 samples for the route template, got %v", h)
	}
	for _, name := range []string{MetricHTTPRequests, MetricHTTPDuration} {
		for _, s := range family(t, m.reg, name).GetMetric() {
			for _, l := range s.GetLabel() {
				if strings.Contains(l.GetValue(), "secret-looking-id") || strings.Contains(l.GetValue(), "4711") || l.GetValue() == "BREW" {
					t.Errorf("%s carries a raw request value as a label: %s=%q", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}

func TestBusinessMetricsExistFromTheStartAndCount(t *testing.T) {
	m := newTestMetrics(t)
	body := scrape(t, m)
	for _, want := range []string{
		MetricEscalationsCreated + " 0",
		MetricEscalationsDecided + `{outcome="approved"} 0`,
		MetricEscalationsDecided + `{outcome="rejected"} 0`,
		MetricTimeToDecision + "_count 0",
		MetricConsultations + `{state="scheduled"} 0`,
		MetricConsultations + `{state="active"} 0`,
		MetricConsultations + `{state="ended"} 0`,
		MetricExternalCalls + `{outcome="sent",target="chatwoot"} 0`,
		MetricExternalCalls + `{outcome="failed",target="matrix"} 0`,
		MetricExternalCalls + `{outcome="issued",target="jitsi"} 0`,
		MetricEscalationsExpired + " 0",
		MetricExpiryDelay + "_count 0",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	m.EscalationCreated()
	m.EscalationDecided("approved", 90*time.Second)
	m.ConsultationState("active")
	m.ExternalCall("chatwoot", "sent")
	m.ExternalCall("chatwoot", "sent")
	m.EscalationExpired(3 * time.Second)
	m.EscalationExpired(-time.Second) // the store's clock behind the deadline's
	m.EscalationExpired(10 * time.Minute)
	body = scrape(t, m)
	for _, want := range []string{
		MetricEscalationsCreated + " 1",
		MetricEscalationsDecided + `{outcome="approved"} 1`,
		MetricTimeToDecision + "_count 1",
		MetricTimeToDecision + "_sum 90",
		MetricTimeToDecision + `_bucket{le="60"} 0`,
		MetricTimeToDecision + `_bucket{le="300"} 1`,
		MetricConsultations + `{state="active"} 1`,
		MetricExternalCalls + `{outcome="sent",target="chatwoot"} 2`,
		MetricEscalationsExpired + " 3",
		MetricExpiryDelay + "_sum 603",
		MetricExpiryDelay + `_bucket{le="1"} 1`,
		MetricExpiryDelay + `_bucket{le="5"} 2`,
		MetricExpiryDelay + `_bucket{le="300"} 2`,
		MetricExpiryDelay + `_bucket{le="600"} 3`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q after counting", want)
		}
	}
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestMetricsUseTheirOwnRegistryNotTheGlobalOne(t *testing.T) {
	// Two processes' worth in one test binary: no duplicate registration,
	// no figure leaking into the default registry.
	a, b := newTestMetrics(t), newTestMetrics(t)
	a.EscalationCreated()
	if got := find(t, b.reg, MetricEscalationsCreated, nil).GetCounter().GetValue(); got != 0 {
		t.Fatalf("a count on one registry shows on the other: %v", got)
	}
	if f := family(t, prometheus.DefaultGatherer, MetricEscalationsCreated); f != nil {
		t.Fatal("business metrics are registered on the global default registry")
	}
}

func TestNilMetricsDoNothing(t *testing.T) {
	var m *Metrics
	m.EscalationCreated()
	m.EscalationDecided("approved", time.Second)
	m.ConsultationState("ended")
	m.ExternalCall("jitsi", "issued")
	m.EscalationExpired(time.Second)
	r := gin.New()
	r.Use(m.HTTPMiddleware())
	r.GET("/x", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	if rec.Code != http.StatusNoContent {
		t.Fatalf("nil metrics middleware broke the request: %d", rec.Code)
	}
}
