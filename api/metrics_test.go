package api_test

// /metrics on the API router, and the promise that logs never carry a token:
// the real router, a real SQLite store, real tokens from the dev issuer
// verified by the real verifier, and the process's telemetry.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/orchestrator-dev/orchestrator/api"
	"github.com/orchestrator-dev/orchestrator/internal/auth"
	"github.com/orchestrator-dev/orchestrator/internal/devissuer"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
	"github.com/orchestrator-dev/orchestrator/internal/telemetry"
)

const obsAudience = "orchestrator-api"

// obsIssuer serves a dev issuer on a loopback listener and returns it with a
// verifier that trusts it.
func obsIssuer(t *testing.T) (*devissuer.Issuer, *auth.Verifier) {
	t.Helper()
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	iss, err := devissuer.Open(t.TempDir(), srv.URL, obsAudience)
	if err != nil {
		t.Fatal(err)
	}
	h = iss.Handler()
	v, err := auth.NewVerifier(auth.VerifierConfig{IssuerURL: srv.URL, Audience: obsAudience})
	if err != nil {
		t.Fatal(err)
	}
	return iss, v
}

func obsMint(t *testing.T, iss *devissuer.Issuer, sub string) string {
	t.Helper()
	tok, err := iss.Mint(devissuer.MintOptions{Subject: sub, Name: "Alex Agent", Groups: []string{"/teams/support"}, Roles: []string{"approver"}})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type obsBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *obsBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *obsBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func obsDo(t *testing.T, h http.Handler, method, path, authz, body string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestMetricsEndpointServesBusinessAndHTTPMetrics(t *testing.T) {
	iss, v := obsIssuer(t)
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{Registry: prometheus.NewRegistry(), Service: telemetry.ServiceAPI})
	if err != nil {
		t.Fatal(err)
	}
	if err := tel.Metrics.RegisterPending(func(context.Context) (int64, error) { return 2, nil }, telemetry.PendingOptions{}); err != nil {
		t.Fatal(err)
	}
	h := api.New(api.Deps{
		Store: storetest.Open(t, store.SQLite), Auth: v, Log: slog.New(slog.DiscardHandler),
		Middleware: tel.HTTPMiddleware(), Metrics: tel.Metrics.Handler(),
	})
	tok := "Bearer " + obsMint(t, iss, "agent-1")
	if rec := obsDo(t, h, http.MethodGet, "/api/approvals/0e7c3f8a-5d2b-4c1e-9f3a-7b6d5e4c3b2a", tok, ""); rec.Code != http.StatusNotFound {
		t.Fatalf("GET an unknown approval: %d %s", rec.Code, rec.Body)
	}
	if rec := obsDo(t, h, http.MethodGet, "/api/me", tok, ""); rec.Code != http.StatusOK {
		t.Fatalf("GET /api/me: %d %s", rec.Code, rec.Body)
	}
	obsDo(t, h, http.MethodGet, "/api/nothing/here/0e7c3f8a", "", "")

	rec := obsDo(t, h, http.MethodGet, "/metrics", "", "") // no token needed
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	body := rec.Body.String()
	for _, want := range []string{
		"orchestrator_escalations_created_total 0",
		`orchestrator_escalations_decided_total{outcome="approved"} 0`,
		`orchestrator_escalations_decided_total{outcome="rejected"} 0`,
		"orchestrator_escalations_pending 2",
		"orchestrator_escalations_pending_errors_total 0",
		"orchestrator_time_to_decision_seconds_count 0",
		`orchestrator_consultations_total{state="scheduled"} 0`,
		`orchestrator_consultations_total{state="active"} 0`,
		`orchestrator_consultations_total{state="ended"} 0`,
		`orchestrator_external_calls_total{outcome="sent",target="chatwoot"} 0`,
		`orchestrator_external_calls_total{outcome="sent",target="matrix"} 0`,
		`orchestrator_external_calls_total{outcome="issued",target="jitsi"} 0`,
		`orchestrator_http_requests_total{method="GET",route="/api/approvals/:id",status="404"} 1`,
		`orchestrator_http_requests_total{method="GET",route="/api/me",status="200"} 1`,
		`orchestrator_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`orchestrator_http_request_duration_seconds_count{method="GET",route="/api/me"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, never := range []string{"0e7c3f8a", `route="/metrics"`} {
		if strings.Contains(body, never) {
			t.Errorf("/metrics contains %s", never)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
}

func TestLogsNeverCarryTokens(t *testing.T) {
	iss, v := obsIssuer(t)
	spans := tracetest.NewInMemoryExporter()
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{
		Registry: prometheus.NewRegistry(), Service: telemetry.ServiceAPI,
		Tracing: telemetry.TracingOptions{Exporter: spans},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	var logs obsBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := api.New(api.Deps{
		Store: storetest.Open(t, store.SQLite), Auth: v, Log: log, TaskQueue: "q",
		Middleware: tel.HTTPMiddleware(), Metrics: tel.Metrics.Handler(),
		// No Temporal client: a create panics inside the handler and is
		// logged as a server error, the path most likely to dump context.
	})

	good := obsMint(t, iss, "agent-1")
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	secrets := []string{good, parts[1], parts[2], tampered, "not.a-real.token-SeCrEt"}

	requests := []struct {
		method, path, authz, body string
		status                    int
	}{
		{http.MethodGet, "/api/me", "Bearer " + good, "", http.StatusOK},
		{http.MethodGet, "/api/approvals?tenantId=/teams/support", "bearer " + good, "", http.StatusOK},
		{http.MethodPost, "/api/approvals", "Bearer " + good, `{"tenantId":"/teams/support","title":"t"}`, http.StatusInternalServerError},
		{http.MethodGet, "/api/me", "Bearer " + tampered, "", http.StatusUnauthorized},
		{http.MethodGet, "/api/me", "Bearer not.a-real.token-SeCrEt", "", http.StatusUnauthorized},
		{http.MethodGet, "/api/me", "Basic " + good, "", http.StatusUnauthorized},
		{http.MethodGet, "/api/me?access_token=" + good, "", "", http.StatusUnauthorized},
		{http.MethodGet, "/metrics", "Bearer " + good, "", http.StatusOK},
	}
	for _, r := range requests {
		if rec := obsDo(t, h, r.method, r.path, r.authz, r.body); rec.Code != r.status {
			t.Fatalf("%s %s: %d, want %d: %s", r.method, r.path, rec.Code, r.status, rec.Body)
		}
	}

	out := logs.String()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Fatalf("the logs contain a token (or part of one) %.20q…:\n%s", s, out)
		}
	}
	if strings.Contains(out, "Bearer ey") || strings.Contains(out, "Basic ey") {
		t.Fatalf("the logs contain an Authorization header value:\n%s", out)
	}

	// Not vacuous: one access line per request (but /metrics), with the
	// request id, the trace id of the request's server span and the caller.
	traceIDs := map[string]bool{}
	for _, s := range spans.GetSpans() {
		traceIDs[s.SpanContext.TraceID().String()] = true
	}
	access, withSub := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		for k := range rec {
			if lk := strings.ToLower(k); strings.Contains(lk, "authorization") || strings.Contains(lk, "token") ||
				strings.Contains(lk, "header") || strings.Contains(lk, "cookie") {
				t.Errorf("log attribute %q: headers and tokens are never logged: %s", k, line)
			}
		}
		if rec["msg"] != "http request" {
			continue
		}
		access++
		if id, _ := rec["request_id"].(string); id == "" {
			t.Errorf("access line without request_id: %s", line)
		}
		if id, _ := rec["trace_id"].(string); !traceIDs[id] {
			t.Errorf("access line without the trace id of its span: %s", line)
		}
		if rec["sub"] == "agent-1" {
			withSub++
		}
	}
	if access != len(requests)-1 || withSub != 3 {
		t.Fatalf("%d access lines (%d with the caller), want %d (3):\n%s", access, withSub, len(requests)-1, out)
	}
}
