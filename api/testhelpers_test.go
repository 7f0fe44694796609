package api_test

// Shared by the fuzz targets (fuzz_test.go) and the hostile-input table tests
// (hostile_test.go): the real API handler on a real SQLite store, a fake
// authenticator and a Temporal client that is always unavailable, so that any
// request that passes validation ends in 503 "unavailable".

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/orchestrator-dev/orchestrator/api"
	"github.com/orchestrator-dev/orchestrator/internal/auth"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

const (
	hostileToken   = "good"
	hostileTenant  = "/teams/support"
	hostileSubject = "agent-1"
)

// hostileAuth accepts exactly the token "good".
type hostileAuth struct{}

func (hostileAuth) Verify(_ context.Context, raw string) (*auth.Principal, error) {
	if raw == hostileToken {
		return &auth.Principal{
			Subject: hostileSubject, Name: "Alex Agent", Email: "alex@example.com",
			Groups: []string{hostileTenant}, Roles: []string{"approver"},
		}, nil
	}
	return nil, &auth.Error{Reason: "token expired"}
}

func (hostileAuth) Ready(context.Context) error { return nil }

// unavailableTemporal is a Temporal client whose every call the API makes
// fails as if the frontend were down. Any other method panics (nil embedded
// interface), which the property checks would report as a 500.
//
// Before failing it does what the real client does first: it marshals the
// request to protobuf, where a string field that is not valid UTF-8 is an
// error (google.golang.org/protobuf: "string field contains invalid UTF-8";
// gRPC returns it as codes.Internal, which the SDK surfaces as
// *serviceerror.Internal). Only the string fields the API fills from the
// request are checked.
type unavailableTemporal struct{ client.Client }

// hostileStartOp keeps the options of a with-start operation for inspection.
type hostileStartOp struct{ opts client.StartWorkflowOptions }

func (hostileStartOp) Get(context.Context) (client.WorkflowRun, error) {
	return nil, serviceerror.NewUnavailable("fake")
}

func (unavailableTemporal) NewWithStartWorkflowOperation(opts client.StartWorkflowOptions, _ any, _ ...any) client.WithStartWorkflowOperation {
	return hostileStartOp{opts}
}

func hostileProtoStrings(fields ...string) error {
	for _, f := range fields {
		if !utf8.ValidString(f) {
			return serviceerror.NewInternal("grpc: error while marshaling: string field contains invalid UTF-8")
		}
	}
	return nil
}

func (unavailableTemporal) UpdateWithStartWorkflow(_ context.Context, o client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	op, _ := o.StartWorkflowOperation.(hostileStartOp)
	if err := hostileProtoStrings(op.opts.ID, op.opts.TaskQueue, o.UpdateOptions.UpdateID, o.UpdateOptions.UpdateName, o.UpdateOptions.WorkflowID); err != nil {
		return nil, err
	}
	return nil, serviceerror.NewUnavailable("fake")
}

func (unavailableTemporal) UpdateWorkflow(_ context.Context, o client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	if err := hostileProtoStrings(o.WorkflowID, o.RunID, o.UpdateID, o.UpdateName, o.FirstExecutionRunID); err != nil {
		return nil, err
	}
	return nil, serviceerror.NewUnavailable("fake")
}

func (unavailableTemporal) ListWorkflow(context.Context, *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	return nil, serviceerror.NewUnavailable("fake")
}

func (unavailableTemporal) CheckHealth(context.Context, *client.CheckHealthRequest) (*client.CheckHealthResponse, error) {
	return nil, serviceerror.NewUnavailable("fake")
}

// hostileServer is the API under test plus the rows seeded into its store.
type hostileServer struct {
	handler        http.Handler
	store          *store.Store
	approvalID     string // pending, requested by someone else: PATCH reaches Temporal
	consultationID string // scheduled: start/end reach Temporal
}

// newHostileServer builds the handler once; fuzz targets call it before
// f.Fuzz so that every input reuses it.
func newHostileServer(tb testing.TB, d store.Dialect) *hostileServer {
	tb.Helper()
	st := storetest.Open(tb, d)
	ctx := context.Background()
	s := &hostileServer{store: st}

	base := st.Now().Add(-time.Hour)
	for i := range 3 {
		at := base.Add(time.Duration(i) * time.Second)
		ap, _, err := st.RecordApproval(ctx, &store.Approval{
			ID: store.NewID(), TenantID: hostileTenant, Title: fmt.Sprintf("seed %d", i), Status: store.StatusPending,
			Priority: store.PriorityHigh, RequestedBy: "agent-2", Metadata: store.JSON(`{"k":"v"}`),
			CreatedAt: at, UpdatedAt: at,
		}, &store.AuditLog{
			Action: "approval.created", Resource: "approval", ResourceID: fmt.Sprintf("seed-%d", i), UserID: "agent-2",
			Channel: store.ChannelAPI, TenantID: hostileTenant, CreatedAt: at,
		})
		if err != nil {
			tb.Fatalf("seed approval: %v", err)
		}
		s.approvalID = ap.ID
		c, _, err := st.CreateConsultation(ctx, &store.Consultation{
			ID: store.NewID(), Title: fmt.Sprintf("seed %d", i), JitsiRoom: fmt.Sprintf("room-%d", i),
			Status: store.ConsultationScheduled, HostID: hostileSubject, ParticipantIDs: store.StringList{hostileSubject},
			TenantID: hostileTenant, CreatedAt: at, UpdatedAt: at,
		}, nil)
		if err != nil {
			tb.Fatalf("seed consultation: %v", err)
		}
		s.consultationID = c.ID
	}

	s.handler = api.New(api.Deps{
		Store:                    st,
		Temporal:                 unavailableTemporal{},
		Auth:                     hostileAuth{},
		Log:                      hostileLogger(),
		TaskQueue:                "escalations",
		ApproverRole:             "approver",
		ConsultationMaxDuration:  2 * time.Hour,
		ConsultationStartTimeout: 168 * time.Hour,
		Timeout:                  10 * time.Second,
		Webhooks:                 api.Webhooks{ChatwootAccountTenants: map[string]string{"1": hostileTenant}},
		Resolve:                  hostileResolve,
	})
	return s
}

// hostileResolve is the hostile server's DNS: receiver.example is public,
// intranet.example private, nothing else resolves (no lookup leaves the
// machine, however many names a fuzzer tries).
func hostileResolve(_ context.Context, host string) ([]netip.Addr, error) {
	switch host {
	case "receiver.example":
		return []netip.Addr{netip.MustParseAddr("203.0.113.10")}, nil
	case "intranet.example":
		return []netip.Addr{netip.MustParseAddr("10.0.0.1")}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// hostileLogger discards the API's logs unless HOSTILE_LOG is set (then it
// writes them to stderr at debug level, to see the error behind a 500).
func hostileLogger() *slog.Logger {
	if os.Getenv("HOSTILE_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// hostileRequest describes one request; the path and raw query are set on the
// URL as they are, so that targets which url.Parse would refuse still reach
// the router exactly as a raw HTTP request line would.
type hostileRequest struct {
	method      string
	path        string // decoded path, as http.Server puts it in URL.Path
	rawPath     string // optional escaped form (URL.RawPath)
	rawQuery    string
	contentType *string // nil: application/json when there is a body
	body        []byte
	header      map[string]string
	noAuth      bool
}

func hostileStrPtr(s string) *string { return &s }

func (r hostileRequest) String() string {
	b := r.body
	if len(b) > 200 {
		b = append(b[:200:200], "…"...)
	}
	return fmt.Sprintf("%s path=%q rawQuery=%q body=%q", r.method, hostileTrunc(r.path, 200), hostileTrunc(r.rawQuery, 200), b)
}

func hostileTrunc(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func (s *hostileServer) do(r hostileRequest) *httptest.ResponseRecorder {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req := httptest.NewRequest(r.method, "/", body)
	req.URL.Path, req.URL.RawPath, req.URL.RawQuery = r.path, r.rawPath, r.rawQuery
	req.RequestURI = ""
	switch {
	case r.contentType != nil:
		if *r.contentType != "" {
			req.Header.Set("Content-Type", *r.contentType)
		}
	case r.body != nil:
		req.Header.Set("Content-Type", "application/json")
	}
	if !r.noAuth {
		req.Header.Set("Authorization", "Bearer "+hostileToken)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	return rec
}

// hostileProblem is the part of a problem+json document the tests read.
type hostileProblem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
	Errors []struct {
		Field  string `json:"field"`
		Detail string `json:"detail"`
	} `json:"errors"`
}

func (p *hostileProblem) fields() []string {
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Field)
	}
	return out
}

// checkHostileResponse asserts the properties every response to client input has:
// never a 5xx other than 503 "unavailable" (the fake Temporal), a JSON body,
// and problem+json with a code for every error. It returns the problem, or
// nil for a success. Redirects (the router's trailing-slash redirect) are
// accepted only with a Location.
func checkHostileResponse(tb testing.TB, req hostileRequest, rec *httptest.ResponseRecorder) *hostileProblem {
	tb.Helper()
	status := rec.Code
	if status >= 300 && status < 400 {
		if rec.Header().Get("Location") == "" {
			tb.Fatalf("%s: %d without Location", req, status)
		}
		return nil
	}
	body := rec.Body.Bytes()
	if !json.Valid(body) {
		tb.Fatalf("%s: %d with a body that is not JSON: %q", req, status, hostileTrunc(string(body), 300))
	}
	if !utf8.Valid(body) {
		tb.Fatalf("%s: %d with a body that is not UTF-8", req, status)
	}
	if status < 400 {
		if status < 200 {
			tb.Fatalf("%s: status %d", req, status)
		}
		return nil
	}
	ct := rec.Header().Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/problem+json" {
		tb.Fatalf("%s: %d with Content-Type %q, want application/problem+json", req, status, ct)
	}
	var p hostileProblem
	if err := json.Unmarshal(body, &p); err != nil {
		tb.Fatalf("%s: %d problem does not decode: %v", req, status, err)
	}
	if p.Code == "" || p.Status != status {
		tb.Fatalf("%s: %d problem without code or with status %d: %s", req, status, p.Status, hostileTrunc(string(body), 300))
	}
	if status >= 500 && !(status == http.StatusServiceUnavailable && p.Code == "unavailable") {
		tb.Fatalf("%s: server error %d for client input: %s", req, status, hostileTrunc(string(body), 300))
	}
	return &p
}

// hasField reports whether the problem names field among its errors.
func hostileHasField(p *hostileProblem, field string) bool {
	for _, f := range p.fields() {
		if f == field {
			return true
		}
	}
	return false
}

// approvalBody is a create-approval body that passes validation.
func hostileApprovalBody(extra string) []byte {
	return []byte(`{"tenantId":"/teams/support","title":"Refund above limit","description":"2,000 EUR","priority":"high"` + extra + `}`)
}

// nest returns depth nested objects around a scalar: {"a":{"a":…1…}}.
func hostileNest(depth int) string {
	return strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth)
}
