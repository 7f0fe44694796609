package api

// The OpenAPI document (openapi.json) against the code: it is valid OpenAPI
// 3.1, it documents exactly the routes the engine registers, its request
// schemas accept what the handlers accept and refuse what they refuse, and
// the handlers' real responses (on a real SQLite store, with a Temporal client
// that is always unavailable) validate against it.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/orchestrator-dev/orchestrator/internal/auth"
	"github.com/orchestrator-dev/orchestrator/internal/chatwoot"
	"github.com/orchestrator-dev/orchestrator/internal/domain"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
	"github.com/orchestrator-dev/orchestrator/internal/testkit/openapitest"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// openAPIExtensionRoutes are documented in openapi.json but registered by the
// caller through Deps.Extend (internal/app), not by New. They are exempt from
// "every documented operation is registered" only while New does not register
// them. The caller should check its fully extended handler with
// openapitest.Doc.CompareRoutes, without exemptions. Gin syntax.
var openAPIExtensionRoutes = [][2]string{
	{http.MethodGet, "/api/openapi.json"},
	{http.MethodGet, "/metrics"},
}

func loadOpenAPI(t *testing.T) *openapitest.Doc {
	t.Helper()
	d, err := openapitest.Load(OpenAPIDocument())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func openAPIRoutes(h http.Handler) [][2]string {
	var out [][2]string
	for _, r := range h.(*gin.Engine).Routes() {
		out = append(out, [2]string{r.Method, openapitest.GinPath(r.Path)})
	}
	return out
}

// The document is OpenAPI 3.1 (validated against the official schema), every
// $ref resolves and every schema compiles: openapitest.Load checks all that.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	var doc struct {
		OpenAPI string `json:"openapi"`
	}
	if err := json.Unmarshal(OpenAPIDocument(), &doc); err != nil || doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q, %v", doc.OpenAPI, err)
	}
	loadOpenAPI(t)
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	d := loadOpenAPI(t)
	h := New(Deps{Log: slog.New(slog.DiscardHandler)})
	undocumented, unregistered := d.CompareRoutes(openAPIRoutes(h))
	for _, r := range undocumented {
		t.Errorf("%s %s is registered by New but not in api/openapi.json", r[0], r[1])
	}
	extensions := map[[2]string]bool{}
	for _, r := range openAPIExtensionRoutes {
		r[1] = openapitest.GinPath(r[1])
		extensions[r] = true
		if !d.HasOperation(r[0], r[1]) {
			t.Errorf("extension route %s %s is not documented", r[0], r[1])
		}
	}
	for _, r := range unregistered {
		if !extensions[r] {
			t.Errorf("%s %s is documented but no route serves it (stale documentation?)", r[0], r[1])
		}
	}

	// With the extension routes registered as the caller will (placeholders
	// here), Gin accepts them next to New's and the document matches exactly.
	h = New(Deps{Log: slog.New(slog.DiscardHandler), Extend: func(r *gin.Engine, _ *gin.RouterGroup) {
		for _, route := range openAPIExtensionRoutes {
			if !slices.Contains(openAPIRoutes(r), [2]string{route[0], openapitest.GinPath(route[1])}) {
				r.Handle(route[0], route[1], func(c *gin.Context) { c.Status(http.StatusNotImplemented) })
			}
		}
	}})
	if undocumented, unregistered := d.CompareRoutes(openAPIRoutes(h)); len(undocumented)+len(unregistered) > 0 {
		t.Errorf("with the extension routes: undocumented %v, unregistered %v", undocumented, unregistered)
	}
}

// oaAuth accepts "good" (agent-1 of /teams/support, no roles) and "ceo"
// (ceo-1 of /teams/support, approver); "down" fails like an unreachable
// issuer; anything else is a rejected token.
type oaAuth struct{}

func (oaAuth) Verify(_ context.Context, raw string) (*auth.Principal, error) {
	switch raw {
	case "good":
		return &auth.Principal{Subject: "agent-1", Name: "Alex Agent", Groups: []string{"/teams/support", "/organizations/acme", "/other"}}, nil
	case "ceo":
		return &auth.Principal{Subject: "ceo-1", Name: "Casey", Email: "ceo@example.com", Groups: []string{"/teams/support"}, Roles: []string{"approver"}}, nil
	case "member":
		return &auth.Principal{Subject: "member-1", Name: "Mo Member", Groups: []string{"/teams/support"}}, nil
	case "down":
		return nil, fmt.Errorf("discovery: %w", auth.ErrUnavailable)
	}
	return nil, &auth.Error{Reason: "token signature is invalid"}
}

func (oaAuth) Ready(context.Context) error { return nil }

// oaTemporal answers every call the API makes as an unavailable frontend
// (503); any other call panics (nil embedded interface), which shows as 500.
type oaTemporal struct{ client.Client }

type oaStartOp struct{}

func (oaStartOp) Get(context.Context) (client.WorkflowRun, error) { return nil, oaUnavailable() }

func oaUnavailable() error { return serviceerror.NewUnavailable("test: temporal is down") }

func (oaTemporal) NewWithStartWorkflowOperation(client.StartWorkflowOptions, any, ...any) client.WithStartWorkflowOperation {
	return oaStartOp{}
}

func (oaTemporal) UpdateWithStartWorkflow(context.Context, client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	return nil, oaUnavailable()
}

func (oaTemporal) UpdateWorkflow(context.Context, client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	return nil, oaUnavailable()
}

func (oaTemporal) ListWorkflow(context.Context, *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	return nil, oaUnavailable()
}

func (oaTemporal) ExecuteWorkflow(context.Context, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	return nil, oaUnavailable()
}

func (oaTemporal) CheckHealth(context.Context, *client.CheckHealthRequest) (*client.CheckHealthResponse, error) {
	return nil, oaUnavailable()
}

const (
	oaID             = "0190d0c8-7d2b-7c3e-9f00-5b2f1c3d4e5f" // no such row
	oaChatwootSecret = "chatwoot-secret"
	oaHSToken        = "hs-token"
	oaServiceSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

type oaServer struct {
	h                             http.Handler
	store                         *store.Store
	pending, decided, otherTenant string // approval ids
	consultation                  string
	// subscription of /teams/support to every event, created first, and
	// delivery one of its deliveries.
	subscription, delivery string
}

// newOAServer is the API on a seeded SQLite store: a pending approval of
// /teams/support requested by agent-2 (for Chatwoot conversation 1/7), a
// decided one, one of /teams/other, and a scheduled consultation.
func newOAServer(t *testing.T) *oaServer {
	t.Helper()
	st := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	sub, err := st.CreateSubscription(ctx, store.Subscription{TenantID: "/teams/support", URL: "https://203.0.113.10/hooks", CreatedBy: "ceo-1"}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := st.Now().Add(-time.Hour)
	approval := func(tenant, title string, conv *store.Conversation) string {
		ap, _, err := st.RecordApproval(ctx, &store.Approval{
			ID: store.NewID(), TenantID: tenant, Title: title, Description: "d", Status: store.StatusPending, Priority: store.PriorityHigh,
			RequestedBy: "agent-2", RequestedByName: "Bo", Metadata: store.JSON(`{"ticket":42}`), Conversation: conv, CreatedAt: at, UpdatedAt: at,
		}, &store.AuditLog{Action: "approval.created", Resource: "approval", ResourceID: title, UserID: "agent-2",
			Channel: store.ChannelAPI, TenantID: tenant, NewValues: store.JSON(`{"status":"pending"}`), CreatedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		at = at.Add(time.Second)
		return ap.ID
	}
	s := &oaServer{
		pending:     approval("/teams/support", "pending", &store.Conversation{AccountID: 1, ConversationID: 7}),
		decided:     approval("/teams/support", "decided", nil),
		otherTenant: approval("/teams/other", "other", nil),
	}
	if _, _, _, err := st.DecideApproval(ctx, store.Decision{ApprovalID: s.decided, TenantID: "/teams/support", Status: store.StatusRejected,
		DeciderID: "ceo-2", DeciderName: "Dana", Comment: "no"}, &store.AuditLog{Action: "approval.rejected", Resource: "approval",
		ResourceID: s.decided, UserID: "ceo-2", Channel: store.ChannelOpsSignal, TenantID: "/teams/support",
		OldValues: store.JSON(`{"status":"pending"}`), NewValues: store.JSON(`{"status":"rejected"}`), CreatedAt: st.Now()}, nil); err != nil {
		t.Fatal(err)
	}
	c, _, err := st.CreateConsultation(ctx, &store.Consultation{ID: store.NewID(), Title: "call", JitsiRoom: "room-1", Status: store.ConsultationScheduled,
		HostID: "agent-1", ParticipantIDs: store.StringList{"agent-1", "ceo-1"}, TenantID: "/teams/support", CreatedAt: at, UpdatedAt: at}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.consultation, s.store, s.subscription = c.ID, st, sub.ID
	deliveries, _, err := st.ListDeliveries(ctx, store.ScopeOf("/teams/support"), store.DeliveryQuery{SubscriptionID: sub.ID, Limit: 1})
	if err != nil || len(deliveries) == 0 {
		t.Fatalf("the seeded changes made no deliveries: %v", err)
	}
	s.delivery = deliveries[0].ID
	s.h = New(Deps{
		Store: st, Temporal: oaTemporal{}, Auth: oaAuth{}, Log: slog.New(slog.DiscardHandler), ApproverRole: "approver",
		JoinURL: func(room string, u JoinUser) (string, error) {
			return "https://meet.example.com/" + room + "?jwt=" + url.QueryEscape(u.ID), nil
		},
		Webhooks: Webhooks{
			ChatwootSecret: oaChatwootSecret, ChatwootAccountTenants: map[string]string{"1": "/teams/support"},
			ChatwootAgentSubjects: map[string]string{"9": "agent-9"},
			MatrixHSToken:         oaHSToken, MatrixUserSubjects: map[string]string{"@ceo:example.com": "ceo-1"},
			Secrets: map[string]string{"billing": oaServiceSecret}, ServiceTenants: map[string][]string{"billing": {"/teams/support"}},
		},
	})
	return s
}

// serve sends one request. The Authorization header is set from token when
// it is not empty.
func (s *oaServer) serve(method, target, token string, header http.Header, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	return rec
}

// oaConcrete turns a documented template into a path New serves.
func oaConcrete(tmpl string) string {
	return strings.NewReplacer("{id}", oaID, "{type}", "approval", "{txnId}", "t1", "{service}", "billing", "{account}", "1", "{deliveryId}", oaID).Replace(tmpl)
}

// Every operation that needs a bearer token answers 401 (with
// WWW-Authenticate) without a valid one and 503 when the issuer is down, as
// documented.
func TestOpenAPIAuthenticationResponses(t *testing.T) {
	d := loadOpenAPI(t)
	var doc struct {
		Paths map[string]map[string]struct {
			Security *[]map[string][]string `json:"security"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPIDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	s := newOAServer(t)
	registered := openAPIRoutes(s.h)
	n := 0
	for tmpl, item := range doc.Paths {
		for method, op := range item {
			method = strings.ToUpper(method)
			if op.Security != nil || !slices.Contains(registered, [2]string{method, tmpl}) {
				continue // its own security, or registered by Extend
			}
			n++
			path := oaConcrete(tmpl)
			for _, token := range []string{"", "forged", "down"} {
				rec := s.serve(method, path, token, nil, nil)
				want := http.StatusUnauthorized
				if token == "down" {
					want = http.StatusServiceUnavailable
				}
				if rec.Code != want {
					t.Errorf("%s %s with token %q: want %d, got %d %s", method, path, token, want, rec.Code, rec.Body)
				}
				if err := d.ValidateHTTPResponse(method, path, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
					t.Error(err)
				}
			}
		}
	}
	if n < 13 {
		t.Errorf("checked %d bearer-authenticated operations, want at least the 13 of /api", n)
	}
}

type oaCase struct {
	name         string
	method, path string
	header       http.Header
	body         any // string: sent as is; nil: no body; else JSON-encoded
	valid        bool
	wantStatus   int // checked when set
}

func (c oaCase) bytes() []byte {
	switch b := c.body.(type) {
	case nil:
		return nil
	case string:
		return []byte(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			panic(err)
		}
		return j
	}
}

// The request schemas say what the handlers enforce: a request the handler
// refuses with 400 is one the document refuses, and one it lets through is
// one the document allows. Every response is validated too.
//
// Known differences, written in the schema descriptions: the server counts
// bytes where JSON Schema counts characters (ids, comments), trims titles
// before counting, and limits metadata to 64 KiB and 16 levels of nesting;
// the document also cannot tell a forged cursor from a real one.
func TestOpenAPIRequestSchemasMatchHandlers(t *testing.T) {
	d := loadOpenAPI(t)
	s := newOAServer(t)
	long := func(n int) string { return strings.Repeat("é", n) }
	ascii := func(n int) string { return strings.Repeat("a", n) }
	users := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("user-%d", i)
		}
		return out
	}
	// Creating in /teams/other, which the caller is not a member of, answers
	// 403 once the body is valid; in the caller's own tenant it reaches
	// Temporal (503 here).
	const other = "/teams/other"
	approval := func(fields map[string]any) map[string]any {
		out := map[string]any{"tenantId": other, "title": "Refund above limit"}
		for k, v := range fields {
			if v == "<absent>" {
				delete(out, k)
			} else {
				out[k] = v
			}
		}
		return out
	}
	audit := func(fields map[string]any) map[string]any {
		out := map[string]any{"tenantId": other, "action": "ticket.updated", "resource": "ticket", "resourceId": "T-1"}
		for k, v := range fields {
			if v == "<absent>" {
				delete(out, k)
			} else {
				out[k] = v
			}
		}
		return out
	}
	idem := func(key string) http.Header { return http.Header{"Idempotency-Key": {key}} }
	// A signed service webhook delivery of tenantBody(tenant).
	tenantBody := func(tenant string) string {
		if tenant == "" {
			return `{}`
		}
		return `{"tenantId":"` + tenant + `"}`
	}
	delivery := func(id, tenant string) http.Header {
		return oaStandardWebhook(t, id, time.Now(), tenantBody(tenant))
	}
	cases := []oaCase{
		{name: "approval minimal", method: "POST", path: "/api/approvals", body: approval(nil), valid: true, wantStatus: 403},
		{name: "approval everything", method: "POST", path: "/api/approvals", valid: true, wantStatus: 403, body: approval(map[string]any{
			"description": long(maxDescription), "priority": "high", "metadata": map[string]any{"a": map[string]any{"b": []int{1}}},
			"conversation": map[string]any{"accountId": 1, "conversationId": 42}, "participants": users(maxParticipants),
			"title": long(maxTitle),
		})},
		{name: "approval nulls", method: "POST", path: "/api/approvals", valid: true, wantStatus: 403, body: approval(map[string]any{
			"description": nil, "priority": nil, "metadata": nil, "conversation": nil, "participants": nil,
		})},
		{name: "approval empty priority", method: "POST", path: "/api/approvals", body: approval(map[string]any{"priority": ""}), valid: true},
		{name: "approval own tenant", method: "POST", path: "/api/approvals", body: approval(map[string]any{"tenantId": "agent-1"}), valid: true, wantStatus: 503},
		{name: "approval idempotency key", method: "POST", path: "/api/approvals", valid: true, wantStatus: 503,
			header: idem(ascii(maxIdemKey)), body: approval(map[string]any{"tenantId": "agent-1"})},
		{name: "approval idempotency key too long", method: "POST", path: "/api/approvals",
			header: idem(ascii(maxIdemKey + 1)), body: approval(map[string]any{"tenantId": "agent-1"})},
		{name: "approval no tenant", method: "POST", path: "/api/approvals", body: approval(map[string]any{"tenantId": "<absent>"})},
		{name: "approval control character in tenant", method: "POST", path: "/api/approvals", body: approval(map[string]any{"tenantId": "/teams/\u0001"})},
		{name: "approval replacement character in tenant", method: "POST", path: "/api/approvals", body: approval(map[string]any{"tenantId": "/teams/\ufffd"})},
		{name: "approval tenant too long", method: "POST", path: "/api/approvals", body: approval(map[string]any{"tenantId": ascii(257)})},
		{name: "approval no title", method: "POST", path: "/api/approvals", body: approval(map[string]any{"title": "<absent>"})},
		{name: "approval blank title", method: "POST", path: "/api/approvals", body: approval(map[string]any{"title": " \t "})},
		{name: "approval title too long", method: "POST", path: "/api/approvals", body: approval(map[string]any{"title": long(maxTitle + 1)})},
		{name: "approval title not a string", method: "POST", path: "/api/approvals", body: approval(map[string]any{"title": 5})},
		{name: "approval description too long", method: "POST", path: "/api/approvals", body: approval(map[string]any{"description": long(maxDescription + 1)})},
		{name: "approval priority", method: "POST", path: "/api/approvals", body: approval(map[string]any{"priority": "urgent"})},
		{name: "approval metadata array", method: "POST", path: "/api/approvals", body: approval(map[string]any{"metadata": []int{1}})},
		{name: "approval metadata string", method: "POST", path: "/api/approvals", body: approval(map[string]any{"metadata": "x"})},
		{name: "approval conversation zero", method: "POST", path: "/api/approvals", body: approval(map[string]any{"conversation": map[string]any{"accountId": 0, "conversationId": 1}})},
		{name: "approval conversation half", method: "POST", path: "/api/approvals", body: approval(map[string]any{"conversation": map[string]any{"accountId": 1}})},
		{name: "approval conversation extra", method: "POST", path: "/api/approvals", body: approval(map[string]any{"conversation": map[string]any{"accountId": 1, "conversationId": 1, "inbox": 2}})},
		{name: "approval too many participants", method: "POST", path: "/api/approvals", body: approval(map[string]any{"participants": users(maxParticipants + 1)})},
		{name: "approval empty participant", method: "POST", path: "/api/approvals", body: approval(map[string]any{"participants": []string{""}})},
		{name: "approval participant too long", method: "POST", path: "/api/approvals", body: approval(map[string]any{"participants": []string{ascii(maxIDLength + 1)}})},
		{name: "approval unknown field", method: "POST", path: "/api/approvals", body: approval(map[string]any{"status": "approved"})},
		{name: "approval array body", method: "POST", path: "/api/approvals", body: "[]"},
		{name: "approval empty body", method: "POST", path: "/api/approvals", body: " "},

		{name: "decide approve", method: "PATCH", path: "/api/approvals/" + oaID, body: map[string]any{"status": "approved"}, valid: true, wantStatus: 404},
		{name: "decide reject with comment", method: "PATCH", path: "/api/approvals/" + oaID, valid: true,
			body: map[string]any{"status": "rejected", "comment": ascii(contract.MaxCommentBytes)}},
		{name: "decide null comment", method: "PATCH", path: "/api/approvals/" + oaID, body: map[string]any{"status": "rejected", "comment": nil}, valid: true},
		{name: "decide no status", method: "PATCH", path: "/api/approvals/" + oaID, body: map[string]any{"comment": "x"}},
		{name: "decide pending", method: "PATCH", path: "/api/approvals/" + oaID, body: map[string]any{"status": "pending"}},
		{name: "decide comment too long", method: "PATCH", path: "/api/approvals/" + oaID, body: map[string]any{"status": "approved", "comment": ascii(contract.MaxCommentBytes + 1)}},
		{name: "decide unknown field", method: "PATCH", path: "/api/approvals/" + oaID, body: map[string]any{"status": "approved", "by": "me"}},

		{name: "audit minimal", method: "POST", path: "/api/audit", body: audit(nil), valid: true, wantStatus: 403},
		{name: "audit everything", method: "POST", path: "/api/audit", valid: true, wantStatus: 403, body: audit(map[string]any{
			"action": "a" + ascii(99), "resource": "r" + ascii(99), "resourceId": ascii(maxIDLength),
			"oldValues": map[string]any{"s": 1}, "newValues": nil, "metadata": map[string]any{}})},
		{name: "audit own tenant", method: "POST", path: "/api/audit", body: audit(map[string]any{"tenantId": "/teams/support"}), valid: true, wantStatus: 201},
		{name: "audit idempotency key too long", method: "POST", path: "/api/audit", header: idem(ascii(maxIdemKey + 1)),
			body: audit(map[string]any{"tenantId": "/teams/support"})},
		{name: "audit no tenant", method: "POST", path: "/api/audit", body: audit(map[string]any{"tenantId": "<absent>"})},
		{name: "audit action upper case", method: "POST", path: "/api/audit", body: audit(map[string]any{"action": "Ticket.updated"})},
		{name: "audit action too long", method: "POST", path: "/api/audit", body: audit(map[string]any{"action": "a" + ascii(100)})},
		{name: "audit resource with a dot", method: "POST", path: "/api/audit", body: audit(map[string]any{"resource": "tic.ket"})},
		{name: "audit no resource id", method: "POST", path: "/api/audit", body: audit(map[string]any{"resourceId": "<absent>"})},
		{name: "audit resource id with newline", method: "POST", path: "/api/audit", body: audit(map[string]any{"resourceId": "T\n1"})},
		{name: "audit new values array", method: "POST", path: "/api/audit", body: audit(map[string]any{"newValues": []int{}})},

		{name: "consultation minimal", method: "POST", path: "/api/consultations", valid: true, wantStatus: 403,
			body: map[string]any{"tenantId": other, "title": "Call"}},
		{name: "consultation everything", method: "POST", path: "/api/consultations", valid: true, wantStatus: 403, body: map[string]any{
			"tenantId": other, "title": long(maxTitle), "participantIds": users(maxParticipants),
			"scheduledAt": "2030-01-02T15:04:05.123+01:00", "approvalId": nil}},
		{name: "consultation own tenant", method: "POST", path: "/api/consultations", valid: true, wantStatus: 503,
			body: map[string]any{"tenantId": "/teams/support", "title": "Call"}},
		{name: "consultation bad time", method: "POST", path: "/api/consultations",
			body: map[string]any{"tenantId": other, "title": "Call", "scheduledAt": "tomorrow"}},
		{name: "consultation approval id", method: "POST", path: "/api/consultations",
			body: map[string]any{"tenantId": other, "title": "Call", "approvalId": oaID}},
		{name: "consultation too many participants", method: "POST", path: "/api/consultations",
			body: map[string]any{"tenantId": other, "title": "Call", "participantIds": users(maxParticipants + 1)}},
		{name: "consultation blank title", method: "POST", path: "/api/consultations",
			body: map[string]any{"tenantId": other, "title": ""}},

		// "good" belongs to /teams/support without approver authority: a
		// valid policy is refused with 403 role_required after the body
		// passed.
		{name: "policy", method: "PUT", path: "/api/policies?tenantId=%2Fteams%2Fsupport", valid: true, wantStatus: 403,
			body: map[string]any{"defaultTtl": "72h", "maxTtl": "720h", "reminders": []string{"4h", "24h"}}},
		{name: "policy minimal", method: "PUT", path: "/api/policies?tenantId=%2Fteams%2Fsupport", valid: true, wantStatus: 403,
			body: map[string]any{"defaultTtl": "1h", "maxTtl": "2h"}},
		{name: "policy null reminders", method: "PUT", path: "/api/policies?tenantId=%2Fteams%2Fsupport", valid: true, wantStatus: 403,
			body: map[string]any{"defaultTtl": "1.5h", "maxTtl": "90m30s", "reminders": nil}},
		{name: "policy ten reminders", method: "PUT", path: "/api/policies?tenantId=%2Fteams%2Fsupport", valid: true, wantStatus: 403,
			body: map[string]any{"defaultTtl": "1h", "maxTtl": "720h", "reminders": []string{"1h", "2h", "3h", "4h", "5h", "6h", "7h", "8h", "9h", "10h"}}},
		{name: "policy of another tenant", method: "PUT", path: "/api/policies?tenantId=%2Fteams%2Fother", valid: true, wantStatus: 403,
			body: map[string]any{"defaultTtl": "1h", "maxTtl": "2h"}},
		{name: "policy no tenant", method: "PUT", path: "/api/policies", body: map[string]any{"defaultTtl": "1h", "maxTtl": "2h"}},
		{name: "policy control character in tenant", method: "PUT", path: "/api/policies?tenantId=%2Fteams%2F%01", body: map[string]any{"defaultTtl": "1h", "maxTtl": "2h"}},
		{name: "policy unknown parameter", method: "PUT", path: "/api/policies?tenantId=%2Fteams%2Fsupport&force=1", body: map[string]any{"defaultTtl": "1h", "maxTtl": "2h"}},
		{name: "policy no defaultTtl", method: "PUT", path: "/api/policies?tenantId=%2Fteams%2Fsupport", body: map[string]any{"maxTtl": "2h"}},
		{name: "policy null maxTtl", method: "PUT", path: "/api/policies?tenantId=%2Fteams%2Fsupport", body: map[string]any{"defaultTtl": "1h", "maxTtl": nil}},
		{name: "policy seconds as a number", method: "PUT", path: "/api/policies?tenantId=%2Fteams%2Fsupport", body: map[string]any{"defaultTtl": 3600, "maxTtl": "2h"}},
		{name: "policy not a duration", method: "PUT", path: "/api/policies?tenantId=%2Fteams%2Fsupport", body: map[string]any{"defaultTtl": "3 days", "maxTtl": "720h"}},
		{name: "policy days", method: "PUT", path: "/api/policies?tenantId=%2Fteams%2Fsupport", body: map[string]any{"defaultTtl": "3d", "maxTtl": "720h"}},
		{name: "policy negative", method: "PUT", path: "/api/policies?tenantId=%2Fteams%2Fsupport", body: map[string]any{"defaultTtl": "-1h", "maxTtl": "720h"}},
		{name: "policy eleven reminders", method: "PUT", path: "/api/policies?tenantId=%2Fteams%2Fsupport",
			body: map[string]any{"defaultTtl": "1h", "maxTtl": "720h", "reminders": []string{"1h", "2h", "3h", "4h", "5h", "6h", "7h", "8h", "9h", "10h", "11h"}}},
		{name: "policy reminder not a duration", method: "PUT", path: "/api/policies?tenantId=%2Fteams%2Fsupport", body: map[string]any{"defaultTtl": "1h", "maxTtl": "2h", "reminders": []string{"soon"}}},
		{name: "policy reminder twice", method: "PUT", path: "/api/policies?tenantId=%2Fteams%2Fsupport", body: map[string]any{"defaultTtl": "1h", "maxTtl": "2h", "reminders": []string{"30m", "30m"}}},
		{name: "policy reminders a string", method: "PUT", path: "/api/policies?tenantId=%2Fteams%2Fsupport", body: map[string]any{"defaultTtl": "1h", "maxTtl": "2h", "reminders": "4h"}},
		{name: "policy unknown field", method: "PUT", path: "/api/policies?tenantId=%2Fteams%2Fsupport", body: map[string]any{"defaultTtl": "1h", "maxTtl": "2h", "tenantId": "/teams/support"}},
		{name: "read policy", method: "GET", path: "/api/policies?tenantId=%2Fteams%2Fsupport", valid: true, wantStatus: 200},
		{name: "read policy of another tenant", method: "GET", path: "/api/policies?tenantId=%2Fteams%2Fother", valid: true, wantStatus: 403},
		{name: "read policy no tenant", method: "GET", path: "/api/policies"},
		{name: "read policy unknown parameter", method: "GET", path: "/api/policies?tenantId=%2Fteams%2Fsupport&limit=1"},

		{name: "start without body", method: "POST", path: "/api/consultations/" + s.consultation + "/start", valid: true, wantStatus: 503},
		{name: "start with {}", method: "POST", path: "/api/consultations/" + s.consultation + "/start", body: map[string]any{}, valid: true, wantStatus: 503},
		{name: "end with null", method: "POST", path: "/api/consultations/" + s.consultation + "/end", body: "null", valid: true, wantStatus: 503},
		{name: "end with a field", method: "POST", path: "/api/consultations/" + s.consultation + "/end", body: map[string]any{"reason": "x"}},
		{name: "end with an array", method: "POST", path: "/api/consultations/" + s.consultation + "/end", body: "[]"},

		{name: "list approvals", method: "GET", path: "/api/approvals?tenantId=" + url.QueryEscape("/teams/support") + "&status=pending&limit=200", valid: true, wantStatus: 200},
		{name: "list approvals of another tenant", method: "GET", path: "/api/approvals?tenantId=" + url.QueryEscape(other), valid: true, wantStatus: 403},
		{name: "list approvals no tenant", method: "GET", path: "/api/approvals?status=pending"},
		{name: "list approvals bad status", method: "GET", path: "/api/approvals?tenantId=agent-1&status=done"},
		{name: "list approvals limit 0", method: "GET", path: "/api/approvals?tenantId=agent-1&limit=0"},
		{name: "list approvals limit too big", method: "GET", path: fmt.Sprintf("/api/approvals?tenantId=agent-1&limit=%d", store.MaxLimit+1)},
		{name: "list approvals cursor too long", method: "GET", path: "/api/approvals?tenantId=agent-1&cursor=" + ascii(201)},
		{name: "list approvals unknown parameter", method: "GET", path: "/api/approvals?tenantId=agent-1&sort=asc"},
		{name: "list audit", method: "GET", path: "/api/audit?tenantId=agent-1&limit=1", valid: true, wantStatus: 200},
		{name: "list audit status", method: "GET", path: "/api/audit?tenantId=agent-1&status=pending"},
		{name: "list consultations", method: "GET", path: "/api/consultations?tenantId=agent-1", valid: true, wantStatus: 200},
		{name: "list consultations limit", method: "GET", path: "/api/consultations?tenantId=agent-1&limit=abc"},
		{name: "list consultations by approval", method: "GET", path: "/api/consultations?tenantId=agent-1&approvalId=" + oaID, valid: true, wantStatus: 200},
		{name: "list consultations by approval, upper case", method: "GET", path: "/api/consultations?tenantId=agent-1&approvalId=" + strings.ToUpper(oaID), valid: true, wantStatus: 200},
		{name: "list consultations approval not an id", method: "GET", path: "/api/consultations?tenantId=agent-1&approvalId=room-1"},
		{name: "list consultations approval empty", method: "GET", path: "/api/consultations?tenantId=agent-1&approvalId="},
		{name: "list consultations approval id too long", method: "GET", path: "/api/consultations?tenantId=agent-1&approvalId=" + oaID + "0"},
		{name: "resource audit", method: "GET", path: "/api/audit/resource/approval/" + s.pending + "?limit=5", valid: true, wantStatus: 200},
		{name: "resource audit limit", method: "GET", path: "/api/audit/resource/approval/x?limit=300"},

		{name: "service webhook", method: "POST", path: "/api/webhooks/billing", header: delivery("evt_1:"+ascii(maxDeliveryID-6), "/teams/support"),
			body: tenantBody("/teams/support"), valid: true, wantStatus: 202},
		{name: "service webhook delivery id too long", method: "POST", path: "/api/webhooks/billing", header: delivery(ascii(maxDeliveryID+1), "/teams/support"), body: tenantBody("/teams/support")},
		{name: "service webhook delivery id with a space", method: "POST", path: "/api/webhooks/billing", header: delivery("evt 2", "/teams/support"), body: tenantBody("/teams/support")},
		{name: "service webhook delivery id not ASCII", method: "POST", path: "/api/webhooks/billing", header: delivery("évt", "/teams/support"), body: tenantBody("/teams/support")},
		{name: "service webhook no tenant", method: "POST", path: "/api/webhooks/billing", header: delivery("evt-3", ""), body: `{}`},
		{name: "service webhook tenant too long", method: "POST", path: "/api/webhooks/billing", header: delivery("evt-4", "/"+ascii(256)), body: tenantBody("/" + ascii(256))},

		// Subscriptions: "good" has no approver authority, so a valid body is
		// refused with 403 after it passed (404 for an id that names none).
		// The URL's hosts and addresses are the server's to check: the
		// schema says https (http in dev) and the rest in prose.
		{name: "subscription minimal", method: "POST", path: "/api/subscriptions", valid: true, wantStatus: 403,
			body: map[string]any{"tenantId": "/teams/support", "url": "https://receiver.example/hooks"}},
		{name: "subscription everything", method: "POST", path: "/api/subscriptions", valid: true, wantStatus: 403,
			body: map[string]any{"tenantId": "/teams/support", "url": "HTTPS://receiver.example:8443/hooks?x=1", "description": long(500),
				"events": append(slices.Clone(domain.EventTypes), "approval.*", "consultation.*", "policy.*", "*")}},
		{name: "subscription nulls", method: "POST", path: "/api/subscriptions", valid: true, wantStatus: 403,
			body: map[string]any{"tenantId": "/teams/support", "url": "https://receiver.example/hooks", "events": nil, "description": nil}},
		{name: "subscription in another tenant", method: "POST", path: "/api/subscriptions", valid: true, wantStatus: 403,
			body: map[string]any{"tenantId": other, "url": "https://receiver.example/hooks", "events": []string{}}},
		{name: "subscription no url", method: "POST", path: "/api/subscriptions", body: map[string]any{"tenantId": "/teams/support"}},
		{name: "subscription no tenant", method: "POST", path: "/api/subscriptions", body: map[string]any{"url": "https://receiver.example/"}},
		{name: "subscription ftp", method: "POST", path: "/api/subscriptions", body: map[string]any{"tenantId": "/teams/support", "url": "ftp://receiver.example/"}},
		{name: "subscription fragment", method: "POST", path: "/api/subscriptions", body: map[string]any{"tenantId": "/teams/support", "url": "https://receiver.example/#x"}},
		{name: "subscription url too long", method: "POST", path: "/api/subscriptions",
			body: map[string]any{"tenantId": "/teams/support", "url": "https://receiver.example/" + ascii(2048)}},
		{name: "subscription unknown event", method: "POST", path: "/api/subscriptions",
			body: map[string]any{"tenantId": "/teams/support", "url": "https://receiver.example/", "events": []string{"approval.decided"}}},
		{name: "subscription event twice", method: "POST", path: "/api/subscriptions",
			body: map[string]any{"tenantId": "/teams/support", "url": "https://receiver.example/", "events": []string{"*", "*"}}},
		{name: "subscription too many events", method: "POST", path: "/api/subscriptions",
			body: map[string]any{"tenantId": "/teams/support", "url": "https://receiver.example/", "events": slices.Repeat([]string{"approval.created"}, domain.MaxEventPatterns+1)}},
		{name: "subscription description too long", method: "POST", path: "/api/subscriptions",
			body: map[string]any{"tenantId": "/teams/support", "url": "https://receiver.example/", "description": long(501)}},
		{name: "subscription unknown field", method: "POST", path: "/api/subscriptions",
			body: map[string]any{"tenantId": "/teams/support", "url": "https://receiver.example/", "enabled": false}},
		{name: "list subscriptions", method: "GET", path: "/api/subscriptions?tenantId=%2Fteams%2Fsupport&limit=5", valid: true, wantStatus: 403},
		{name: "list subscriptions no tenant", method: "GET", path: "/api/subscriptions"},
		{name: "list subscriptions unknown parameter", method: "GET", path: "/api/subscriptions?tenantId=%2Fteams%2Fsupport&enabled=true"},
		{name: "patch subscription", method: "PATCH", path: "/api/subscriptions/" + oaID, valid: true, wantStatus: 404,
			body: map[string]any{"url": "https://receiver.example/", "events": []string{"policy.updated"}, "description": "", "enabled": true}},
		{name: "patch subscription nulls", method: "PATCH", path: "/api/subscriptions/" + oaID, valid: true, wantStatus: 404,
			body: map[string]any{"url": nil, "events": nil, "description": nil, "enabled": nil}},
		{name: "patch subscription nothing", method: "PATCH", path: "/api/subscriptions/" + oaID, valid: true, wantStatus: 404, body: map[string]any{}},
		{name: "patch subscription enabled a string", method: "PATCH", path: "/api/subscriptions/" + oaID, body: map[string]any{"enabled": "yes"}},
		{name: "patch subscription unknown event", method: "PATCH", path: "/api/subscriptions/" + oaID, body: map[string]any{"events": []string{"x.*"}}},
		{name: "patch subscription tenant", method: "PATCH", path: "/api/subscriptions/" + oaID, body: map[string]any{"tenantId": "/teams/support"}},
		{name: "rotate secret", method: "POST", path: "/api/subscriptions/" + oaID + "/rotate-secret", valid: true, wantStatus: 404},
		{name: "rotate secret with {}", method: "POST", path: "/api/subscriptions/" + oaID + "/rotate-secret", body: map[string]any{}, valid: true, wantStatus: 404},
		{name: "rotate secret with a field", method: "POST", path: "/api/subscriptions/" + oaID + "/rotate-secret", body: map[string]any{"secret": "whsec_x"}},
		{name: "deliveries", method: "GET", path: "/api/subscriptions/" + oaID + "/deliveries?status=failed&limit=10", valid: true, wantStatus: 404},
		{name: "deliveries bad status", method: "GET", path: "/api/subscriptions/" + oaID + "/deliveries?status=sent"},
		{name: "deliveries unknown parameter", method: "GET", path: "/api/subscriptions/" + oaID + "/deliveries?tenantId=%2Fteams%2Fsupport"},
		{name: "redeliver", method: "POST", path: "/api/subscriptions/" + oaID + "/deliveries/" + oaID + "/redeliver", valid: true, wantStatus: 404},
		{name: "redeliver with a field", method: "POST", path: "/api/subscriptions/" + oaID + "/deliveries/" + oaID + "/redeliver", body: map[string]any{"at": "now"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			header := c.header.Clone()
			if c.body != nil {
				if header == nil {
					header = http.Header{}
				}
				header.Set("Content-Type", "application/json")
			}
			body := c.bytes()
			rec := s.serve(c.method, c.path, "good", header, body)
			if c.wantStatus != 0 && rec.Code != c.wantStatus {
				t.Errorf("want status %d, got %d %s", c.wantStatus, rec.Code, rec.Body)
			}
			handlerOK := rec.Code != http.StatusBadRequest
			if handlerOK != c.valid {
				t.Errorf("the handler answered %d %s; the case says valid=%v", rec.Code, rec.Body, c.valid)
			}
			docErr := d.ValidateRequest(c.method, c.path, header, body)
			if (docErr == nil) != handlerOK {
				t.Errorf("the handler answered %d %s, but the document says: %v", rec.Code, rec.Body, docErr)
			}
			if err := d.ValidateHTTPResponse(c.method, c.path, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
				t.Errorf("response: %v", err)
			}
		})
	}
}

// oaStandardWebhook signs body for billing with the Standard Webhooks
// reference library.
func oaStandardWebhook(t *testing.T, id string, at time.Time, body string) http.Header {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(oaServiceSecret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(id, at, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return http.Header{"Content-Type": {"application/json"}, "Webhook-Id": {id},
		"Webhook-Timestamp": {strconv.FormatInt(at.Unix(), 10)}, "Webhook-Signature": {sig}}
}

// Real responses of every route New registers, in the cases that need no
// running Temporal, validate against the document; so do the requests that
// the handlers accepted.
func TestOpenAPIResponses(t *testing.T) {
	d := loadOpenAPI(t)
	s := newOAServer(t)
	jsonCT := http.Header{"Content-Type": {"application/json"}}
	big := append([]byte(`{"tenantId":"x","title":"`), bytes.Repeat([]byte("a"), MaxBodyBytes)...)
	big = append(big, `"}`...)

	ts := strconv.FormatInt(time.Now().Unix(), 10)
	chatwootHeader := func(body string, delivery string) http.Header {
		return http.Header{
			"Content-Type":           {"application/json"},
			chatwoot.HeaderTimestamp: {ts},
			chatwoot.HeaderSignature: {chatwoot.Sign(oaChatwootSecret, ts, []byte(body))},
			chatwoot.HeaderDelivery:  {delivery},
		}
	}
	incoming := `{"event":"message_created","id":10,"content":"hi","message_type":"incoming","private":false,` +
		`"account":{"id":1},"sender":{"id":5,"type":"contact"},"conversation":{"id":7}}`
	escalateBy := func(agent, account, conv int) string {
		return fmt.Sprintf(`{"event":"message_created","id":11,"content":"/escalate Refund\nplease","message_type":"outgoing",`+
			`"private":true,"account":{"id":%d},"sender":{"id":%d,"name":"Agent","type":"user"},"conversation":{"id":%d}}`, account, agent, conv)
	}
	escalate := func(account, conv int) string { return escalateBy(9, account, conv) }
	matrixBody := `{"events":[{"type":"m.room.message","event_id":"$1","room_id":"!r:example.com","sender":"@ceo:example.com",` +
		`"content":{"msgtype":"m.text","body":"!approve ` + oaID + ` fine"}},{"type":"m.room.member","event_id":"$2","content":{}}]}`
	matrixAuth := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + oaHSToken}}
	billing := `{"tenantId":"/teams/support","type":"invoice.paid","data":{"invoice":7}}`
	serviceHeader := func(delivery, body string, at time.Time) http.Header {
		return oaStandardWebhook(t, delivery, at, body)
	}
	billingHeader := serviceHeader("d-1", billing, time.Now())
	withHeader := func(h http.Header, k, v string) http.Header {
		h = h.Clone()
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
		return h
	}

	cases := []struct {
		name, method, path, token string
		header                    http.Header
		body                      string
		want                      int
	}{
		{"healthz", "GET", "/healthz", "", nil, "", 200},
		{"readyz", "GET", "/readyz", "", nil, "", 503},
		{"me", "GET", "/api/me", "ceo", nil, "", 200},
		{"get pending", "GET", "/api/approvals/" + s.pending, "good", nil, "", 200},
		{"get decided", "GET", "/api/approvals/" + s.decided, "good", nil, "", 200},
		{"get another tenant's", "GET", "/api/approvals/" + s.otherTenant, "good", nil, "", 404},
		{"get not a uuid", "GET", "/api/approvals/nope", "good", nil, "", 404},
		{"list page", "GET", "/api/approvals?limit=1&tenantId=" + url.QueryEscape("/teams/support"), "good", nil, "", 200},
		{"bad cursor", "GET", "/api/approvals?cursor=abc&tenantId=" + url.QueryEscape("/teams/support"), "good", nil, "", 400},
		{"decide without the role", "PATCH", "/api/approvals/" + s.pending, "good", jsonCT, `{"status":"approved"}`, 403},
		{"decide", "PATCH", "/api/approvals/" + s.pending, "ceo", jsonCT, `{"status":"approved","comment":"ok"}`, 503},
		{"decide again", "PATCH", "/api/approvals/" + s.decided, "ceo", jsonCT, `{"status":"approved"}`, 409},
		{"decide malformed", "PATCH", "/api/approvals/" + s.pending, "ceo", jsonCT, `{"status":`, 400},
		{"create audit", "POST", "/api/audit", "good", http.Header{"Content-Type": {"application/json"}, "Idempotency-Key": {"k1"}},
			`{"tenantId":"/teams/support","action":"ticket.updated","resource":"ticket","resourceId":"T-9","newValues":{"a":1}}`, 201},
		{"create audit too large", "POST", "/api/audit", "good", jsonCT, string(big), 413},
		{"create approval as text", "POST", "/api/approvals", "good", http.Header{"Content-Type": {"text/plain"}}, `{}`, 415},
		{"create approval without a type", "POST", "/api/approvals", "good", nil, `{}`, 415},
		{"create consultation bad UTF-8", "POST", "/api/consultations", "good", jsonCT, "{\"title\":\"\xff\"}", 400},
		{"list audit", "GET", "/api/audit?tenantId=" + url.QueryEscape("/teams/support"), "good", nil, "", 200},
		{"resource audit", "GET", "/api/audit/resource/approval/" + s.decided, "good", nil, "", 200},
		{"verify audit", "GET", "/api/audit/verify?tenantId=" + url.QueryEscape("/teams/support"), "ceo", nil, "", 200},
		{"verify audit without approver authority", "GET", "/api/audit/verify?tenantId=" + url.QueryEscape("/teams/support"), "good", nil, "", 403},
		{"verify audit of another tenant", "GET", "/api/audit/verify?tenantId=" + url.QueryEscape("/teams/other"), "ceo", nil, "", 403},
		{"verify audit unknown parameter", "GET", "/api/audit/verify?x=1&tenantId=" + url.QueryEscape("/teams/support"), "ceo", nil, "", 400},
		{"export audit", "GET", "/api/audit/export?tenantId=" + url.QueryEscape("/teams/support"), "ceo", nil, "", 200},
		{"export audit range", "GET", "/api/audit/export?from=2026-01-01T00:00:00Z&to=2099-01-01T00:00:00Z&tenantId=" + url.QueryEscape("/teams/support"), "ceo", nil, "", 200},
		{"export audit bad range", "GET", "/api/audit/export?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z&tenantId=" + url.QueryEscape("/teams/support"), "ceo", nil, "", 400},
		{"export audit without approver authority", "GET", "/api/audit/export?tenantId=" + url.QueryEscape("/teams/support"), "good", nil, "", 403},
		{"resource audit bad type", "GET", "/api/audit/resource/Approval/" + s.decided, "good", nil, "", 404},
		{"get consultation", "GET", "/api/consultations/" + s.consultation, "good", nil, "", 200},
		{"list consultations", "GET", "/api/consultations?tenantId=" + url.QueryEscape("/teams/support"), "ceo", nil, "", 200},
		{"get consultation without taking part", "GET", "/api/consultations/" + s.consultation, "member", nil, "", 200},
		{"list consultations without taking part", "GET", "/api/consultations?tenantId=" + url.QueryEscape("/teams/support"), "member", nil, "", 200},
		{"end another's consultation", "POST", "/api/consultations/" + oaID + "/end", "good", nil, "", 404},
		{"end as XML", "POST", "/api/consultations/" + s.consultation + "/end", "good", http.Header{"Content-Type": {"application/xml"}}, `<a/>`, 415},

		{"policy default", "GET", "/api/policies?tenantId=%2Fteams%2Fsupport", "good", nil, "", 200},
		{"policy without approver authority", "PUT", "/api/policies?tenantId=%2Fteams%2Fsupport", "good", jsonCT, `{"defaultTtl":"24h","maxTtl":"48h"}`, 403},
		{"policy by an approver", "PUT", "/api/policies?tenantId=%2Fteams%2Fsupport", "ceo", jsonCT, `{"defaultTtl":"24h","maxTtl":"48h","reminders":["4h"]}`, 200},
		{"policy stored", "GET", "/api/policies?tenantId=%2Fteams%2Fsupport", "good", nil, "", 200},
		{"policy default beyond max", "PUT", "/api/policies?tenantId=%2Fteams%2Fsupport", "ceo", jsonCT, `{"defaultTtl":"49h","maxTtl":"48h"}`, 400},
		{"policy of another tenant", "GET", "/api/policies?tenantId=%2Fteams%2Fother", "ceo", nil, "", 403},
		{"policy as text", "PUT", "/api/policies?tenantId=%2Fteams%2Fsupport", "ceo", http.Header{"Content-Type": {"text/plain"}}, `{}`, 415},

		{"chatwoot ignored", "POST", "/api/webhooks/chatwoot", "", chatwootHeader(incoming, "d-1"), incoming, 200},
		{"chatwoot duplicate", "POST", "/api/webhooks/chatwoot", "", chatwootHeader(incoming, "d-1"), incoming, 200},
		{"chatwoot escalate", "POST", "/api/webhooks/chatwoot", "", chatwootHeader(escalate(1, 8), "d-2"), escalate(1, 8), 503},
		{"chatwoot escalate by an unlinked agent", "POST", "/api/webhooks/chatwoot", "", chatwootHeader(escalateBy(3, 1, 9), "d-10"), escalateBy(3, 1, 9), 200},
		{"chatwoot already escalated", "POST", "/api/webhooks/chatwoot", "", chatwootHeader(escalate(1, 7), "d-3"), escalate(1, 7), 200},
		{"chatwoot unmapped account", "POST", "/api/webhooks/chatwoot", "", chatwootHeader(escalate(2, 7), "d-4"), escalate(2, 7), 200},
		{"chatwoot account in the path", "POST", "/api/webhooks/chatwoot/1", "", chatwootHeader(escalate(1, 7), "d-5"), escalate(1, 7), 200},
		{"chatwoot path account differs from the body", "POST", "/api/webhooks/chatwoot/1", "", chatwootHeader(escalate(2, 7), "d-9"), escalate(2, 7), 403},
		{"chatwoot bad account in the path", "POST", "/api/webhooks/chatwoot/x", "", chatwootHeader(escalate(1, 7), "d-6"), escalate(1, 7), 404},
		{"chatwoot bad signature", "POST", "/api/webhooks/chatwoot", "", chatwootHeader(incoming, "d-7"), incoming + " ", 401},
		{"chatwoot unsigned", "POST", "/api/webhooks/chatwoot", "", jsonCT, incoming, 401},
		{"chatwoot not a webhook", "POST", "/api/webhooks/chatwoot", "", chatwootHeader(`{"event":"X"}`, "d-8"), `{"event":"X"}`, 400},

		{"matrix transaction", "PUT", "/_matrix/app/v1/transactions/t1", "", matrixAuth, matrixBody, 200},
		{"matrix transaction again", "PUT", "/_matrix/app/v1/transactions/t1", "", matrixAuth, matrixBody, 200},
		{"matrix via webhook path", "POST", "/api/webhooks/matrix?txnId=t2", "", matrixAuth, matrixBody, 200},
		{"matrix via webhook path, PUT", "PUT", "/api/webhooks/matrix", "", matrixAuth, `{"events":[]}`, 200},
		{"matrix access_token", "PUT", "/_matrix/app/v1/transactions/t3?access_token=" + oaHSToken, "", jsonCT, `{"events":[]}`, 200},
		{"matrix wrong token", "PUT", "/_matrix/app/v1/transactions/t4", "", http.Header{"Authorization": {"Bearer nope"}}, `{"events":[]}`, 403},
		{"matrix no token", "PUT", "/_matrix/app/v1/transactions/t4", "", nil, `{"events":[]}`, 403},
		{"matrix not JSON", "PUT", "/_matrix/app/v1/transactions/t5", "", matrixAuth, `nope`, 400},
		{"matrix bad UTF-8", "PUT", "/_matrix/app/v1/transactions/t6", "", matrixAuth, "{\"events\":[\"\xff\"]}", 400},

		{"service webhook", "POST", "/api/webhooks/billing", "", billingHeader, billing, 202},
		{"service webhook again", "POST", "/api/webhooks/billing", "", billingHeader, billing, 200},
		{"service webhook several signatures", "POST", "/api/webhooks/billing", "",
			withHeader(serviceHeader("d-2", billing, time.Now()), "Webhook-Signature", "v1,c2lnbmF0dXJl "+serviceHeader("d-2", billing, time.Now()).Get("Webhook-Signature")), billing, 202},
		{"service webhook home-made v1 scheme", "POST", "/api/webhooks/billing", "",
			http.Header{"Content-Type": {"application/json"}, "X-Webhook-Timestamp": {ts}, "X-Delivery-Id": {"d-9"}, "X-Signature": {"v1=00"}}, billing, 401},
		{"service webhook bad signature", "POST", "/api/webhooks/billing", "", billingHeader, billing + " ", 401},
		{"service webhook replayed into another tenant", "POST", "/api/webhooks/billing", "", billingHeader, strings.Replace(billing, "support", "other", 1), 401},
		{"service webhook stale", "POST", "/api/webhooks/billing", "", serviceHeader("d-3", billing, time.Now().Add(-time.Hour)), billing, 401},
		{"service webhook without timestamp", "POST", "/api/webhooks/billing", "", withHeader(billingHeader, "Webhook-Timestamp", ""), billing, 401},
		{"service webhook without id", "POST", "/api/webhooks/billing", "", withHeader(billingHeader, "Webhook-Id", ""), billing, 401},
		{"service webhook tenant not allowed", "POST", "/api/webhooks/billing", "", serviceHeader("d-4", `{"tenantId":"/teams/other"}`, time.Now()), `{"tenantId":"/teams/other"}`, 403},
		{"service webhook without tenant", "POST", "/api/webhooks/billing", "", serviceHeader("d-6", `{"type":"x"}`, time.Now()), `{"type":"x"}`, 400},
		{"service webhook not JSON", "POST", "/api/webhooks/billing", "", serviceHeader("d-5", `{`, time.Now()), `{`, 400},
		{"unknown service", "POST", "/api/webhooks/payroll", "", billingHeader, billing, 404},

		{"create subscription", "POST", "/api/subscriptions", "ceo", jsonCT,
			`{"tenantId":"/teams/support","url":"https://203.0.113.10/hooks","events":["approval.*"],"description":"tickets"}`, 201},
		{"create subscription without approver authority", "POST", "/api/subscriptions", "good", jsonCT, `{"tenantId":"/teams/support","url":"https://203.0.113.10/"}`, 403},
		{"create subscription to a private address", "POST", "/api/subscriptions", "ceo", jsonCT, `{"tenantId":"/teams/support","url":"https://10.0.0.1/"}`, 400},
		{"list subscriptions", "GET", "/api/subscriptions?tenantId=%2Fteams%2Fsupport", "ceo", nil, "", 200},
		{"get subscription", "GET", "/api/subscriptions/" + s.subscription, "ceo", nil, "", 200},
		{"get subscription without approver authority", "GET", "/api/subscriptions/" + s.subscription, "member", nil, "", 403},
		{"get no such subscription", "GET", "/api/subscriptions/" + oaID, "ceo", nil, "", 404},
		{"disable subscription", "PATCH", "/api/subscriptions/" + s.subscription, "ceo", jsonCT, `{"enabled":false,"description":"paused"}`, 200},
		{"redeliver to a disabled subscription", "POST", "/api/subscriptions/" + s.subscription + "/deliveries/" + s.delivery + "/redeliver", "ceo", nil, "", 409},
		{"enable subscription", "PATCH", "/api/subscriptions/" + s.subscription, "ceo", jsonCT, `{"enabled":true,"events":[]}`, 200},
		{"list deliveries", "GET", "/api/subscriptions/" + s.subscription + "/deliveries", "ceo", nil, "", 200},
		{"list pending deliveries", "GET", "/api/subscriptions/" + s.subscription + "/deliveries?status=pending&limit=1", "ceo", nil, "", 200},
		{"redeliver", "POST", "/api/subscriptions/" + s.subscription + "/deliveries/" + s.delivery + "/redeliver", "ceo", nil, "", 202},
		{"redeliver no such delivery", "POST", "/api/subscriptions/" + s.subscription + "/deliveries/" + oaID + "/redeliver", "ceo", nil, "", 404},
		{"rotate secret", "POST", "/api/subscriptions/" + s.subscription + "/rotate-secret", "ceo", nil, "", 200},
		{"read after the rotation", "GET", "/api/subscriptions/" + s.subscription, "ceo", nil, "", 200},
		{"delete subscription", "DELETE", "/api/subscriptions/" + s.subscription, "ceo", nil, "", 204},
		{"delete it again", "DELETE", "/api/subscriptions/" + s.subscription, "ceo", nil, "", 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := s.serve(c.method, c.path, c.token, c.header, []byte(c.body))
			if rec.Code != c.want {
				t.Errorf("%s %s: want %d, got %d %s", c.method, c.path, c.want, rec.Code, rec.Body)
			}
			if err := d.ValidateHTTPResponse(c.method, c.path, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
				t.Error(err)
			}
			if rec.Code < 300 {
				header := c.header.Clone()
				if header == nil {
					header = http.Header{}
				}
				if err := d.ValidateRequest(c.method, c.path, header, []byte(c.body)); err != nil {
					t.Errorf("the handler accepted a request the document refuses: %v", err)
				}
			}
		})
	}

	// Routes nobody documents are not silently accepted.
	rec := s.serve("DELETE", "/api/approvals/"+oaID, "good", nil, nil)
	if err := d.ValidateHTTPResponse("DELETE", "/api/approvals/"+oaID, rec.Code, rec.Header(), rec.Body.Bytes()); !errors.Is(err, openapitest.ErrUndocumented) {
		t.Errorf("DELETE is not an operation: %d %v", rec.Code, err)
	}
}

// The Go types the handlers serialise, in edge cases the seeded store does
// not produce (nil pointers, omitempty fields, empty lists), match the
// component schemas.
func TestOpenAPISchemasMatchGoTypes(t *testing.T) {
	d := loadOpenAPI(t)
	str := func(v string) *string { return &v }
	ts := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	pending := store.Approval{ID: store.NewID(), TenantID: "/teams/support", Title: "t", Status: store.StatusPending,
		Priority: store.PriorityMedium, RequestedBy: "agent-1", Metadata: store.JSON("{}"), CreatedAt: ts, UpdatedAt: ts}
	decided := pending
	decided.Status, decided.ApprovedBy, decided.ApprovedByName, decided.Comment, decided.DecidedAt = store.StatusApproved, str("ceo-1"), str("Casey"), str("ok"), &ts
	decided.RequestedByName, decided.Conversation, decided.Metadata = "Alex", &store.Conversation{AccountID: 1, ConversationID: 2}, nil
	cons := &store.Consultation{ID: store.NewID(), Title: "c", JitsiRoom: "room", Status: store.ConsultationScheduled, HostID: "ceo-1",
		ParticipantIDs: store.StringList{"ceo-1"}, TenantID: "/teams/support", CreatedAt: ts, UpdatedAt: ts}
	ended := *cons
	ended.Status, ended.EndReason, ended.ApprovalID, ended.ScheduledAt, ended.StartedAt, ended.EndedAt = store.ConsultationEnded, str("host"), str(store.NewID()), &ts, &ts, &ts
	audit := store.AuditLog{ID: store.NewID(), Action: "approval.created", Resource: "approval", ResourceID: pending.ID, UserID: "agent-1",
		Channel: store.ChannelAPI, TenantID: "/teams/support", NewValues: store.JSON(`{"status":"pending"}`), CreatedAt: ts,
		Seq: 1, PrevHash: store.GenesisHash, Hash: strings.Repeat("ab", 32)}
	brokenAt := int64(3)
	cur := store.Cursor{CreatedAt: ts, ID: pending.ID}
	reason, code, msg := "gone", 500, "server error"
	sub := &store.Subscription{ID: store.NewID(), TenantID: "/teams/support", URL: "https://203.0.113.10/", EventTypes: store.StringList{},
		Enabled: true, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", CreatedBy: "ceo-1", CreatedAt: ts, UpdatedAt: ts}
	gone := *sub
	gone.Enabled, gone.DisabledReason, gone.EventTypes, gone.Description = false, &reason, store.StringList{"approval.*", "policy.updated"}, "tickets"
	delivery := store.EventDelivery{ID: store.NewID(), SubscriptionID: sub.ID, EventID: store.NewEventID(), Status: store.DeliveryFailed,
		Attempts: 7, LastStatusCode: &code, LastError: &msg, CreatedAt: ts, UpdatedAt: ts}
	delivered := delivery
	delivered.Status, delivered.DeliveredAt, delivered.NextAttemptAt, delivered.LastStatusCode, delivered.LastError = store.DeliveryDelivered, &ts, &ts, nil, nil
	excerpt := "oops"
	record := store.DeliveryRecord{EventDelivery: delivery, EventType: "policy.updated",
		Event: json.RawMessage(`{"type":"policy.updated","timestamp":"2026-01-02T03:04:05.123456789Z","data":{"tenantId":"/teams/support",` +
			`"defaultTtl":"1h","maxTtl":"2h","reminders":[],"maxQuestions":5,"answerTtl":"1h","source":"tenant","updatedAt":"2026-01-02T03:04:05Z","updatedBy":"ceo-1","sequence":3}}`),
		AttemptsMade: []store.DeliveryAttempt{{Attempt: 1, AttemptedAt: ts, DurationMS: 10000, Error: &msg},
			{Attempt: 2, AttemptedAt: ts, StatusCode: &code, DurationMS: 3, Error: &msg, ResponseExcerpt: &excerpt}}}
	checks := []struct {
		method, path string
		status       int
		v            any
	}{
		{"GET", "/api/approvals/{id}", 200, pending},
		{"PATCH", "/api/approvals/{id}", 200, decided},
		{"POST", "/api/approvals", 201, pending},
		{"GET", "/api/approvals", 200, newList([]store.Approval{pending, decided}, &cur)},
		{"GET", "/api/approvals", 200, newList[store.Approval](nil, nil)},
		{"POST", "/api/audit", 201, audit},
		{"GET", "/api/audit", 200, newList([]store.AuditLog{audit}, nil)},
		{"GET", "/api/audit/resource/{type}/{id}", 200, gin.H{"items": []store.AuditLog{}}},
		{"GET", "/api/audit/verify", 200, store.AuditVerification{TenantID: "/teams/support", Head: store.AuditHead{Hash: store.GenesisHash}, Valid: true, AnchorsSkipped: "Temporal did not answer"}},
		{"GET", "/api/audit/verify", 200, store.AuditVerification{TenantID: "/teams/support", Entries: 2, Head: store.AuditHead{Seq: 2, Hash: audit.Hash},
			AnchorsChecked: 1, BrokenSeq: &brokenAt, Reason: store.BrokenMissing, Detail: "no entry at seq 3"}},
		{"GET", "/api/consultations/{id}", 200, consultationView{Consultation: cons}},
		{"POST", "/api/consultations", 201, consultationView{Consultation: cons}},
		{"POST", "/api/consultations/{id}/end", 200, consultationView{Consultation: &ended, JoinURL: "https://meet.example.com/room?jwt=x"}},
		{"GET", "/api/consultations", 200, newList([]consultationView{{Consultation: cons}}, &cur)},
		{"GET", "/api/policies", 200, store.Policy{TenantID: "/teams/support", DefaultTTL: 72 * time.Hour, MaxTTL: 720 * time.Hour}.View(store.PolicySourceDefault)},
		{"PUT", "/api/policies", 200, store.Policy{TenantID: "/teams/support", DefaultTTL: 90 * time.Minute, MaxTTL: 720 * time.Hour,
			Reminders: []time.Duration{time.Hour}, UpdatedAt: ts, UpdatedBy: "ceo-1"}.View(store.PolicySourceTenant)},
		{"POST", "/api/subscriptions", 201, subscriptionView{Subscription: sub, Secret: sub.Secret}},
		{"POST", "/api/subscriptions/{id}/rotate-secret", 200, subscriptionView{Subscription: sub, Secret: sub.Secret, PreviousSecretExpiresAt: &ts}},
		{"GET", "/api/subscriptions/{id}", 200, subscriptionView{Subscription: &gone}},
		{"PATCH", "/api/subscriptions/{id}", 200, subscriptionView{Subscription: sub, PreviousSecretExpiresAt: &ts}},
		{"GET", "/api/subscriptions", 200, newList([]subscriptionView{{Subscription: sub}, {Subscription: &gone}}, &cur)},
		{"GET", "/api/subscriptions", 200, newList[subscriptionView](nil, nil)},
		{"GET", "/api/subscriptions/{id}/deliveries", 200, newList([]store.DeliveryRecord{record}, &cur)},
		{"POST", "/api/subscriptions/{id}/deliveries/{deliveryId}/redeliver", 202, delivery},
		{"POST", "/api/subscriptions/{id}/deliveries/{deliveryId}/redeliver", 202, delivered},
		{"GET", "/api/me", 200, gin.H{"sub": "u", "name": "", "email": "", "groups": []string{}, "roles": []string{},
			"tenants": []auth.Tenant{{ID: "u", Name: "Personal", Type: auth.TenantIndividual}}}},
		{"GET", "/readyz", 200, gin.H{"status": "ready", "checks": map[string]string{"database": "ok", "temporal": "ok"}}},
	}
	for _, c := range checks {
		b, err := json.Marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.ValidateResponse(c.method, c.path, c.status, "application/json; charset=utf-8", b); err != nil {
			t.Error(err)
		}
	}
	p, err := json.Marshal(Problem{Type: "about:blank", Title: "Bad Request", Status: 400, Code: "validation_failed",
		Detail: "2 fields are not valid; see errors", Instance: "/api/approvals", RequestID: "abc",
		Errors: []FieldError{{"title", "is required"}, {"tenantId", "is required"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ValidateResponse("POST", "/api/approvals", 400, "application/problem+json", p); err != nil {
		t.Error(err)
	}
}

// Every event type is in the document: in the EventType and EventPattern
// enums, as a schema and in the webhooks section; and every event the store
// writes, listed with its delivery, validates against its schema.
func TestOpenAPIEventsMatchWebhooks(t *testing.T) {
	d := loadOpenAPI(t)
	var doc struct {
		Webhooks map[string]map[string]struct {
			RequestBody struct {
				Content map[string]struct {
					Schema struct {
						Ref string `json:"$ref"`
					} `json:"schema"`
				} `json:"content"`
			} `json:"requestBody"`
		} `json:"webhooks"`
		Components struct {
			Schemas map[string]struct {
				Enum       []string `json:"enum"`
				Properties map[string]struct {
					Enum []string `json:"enum"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPIDocument(), &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Components.Schemas["EventType"].Enum; !slices.Equal(got, domain.EventTypes) {
		t.Errorf("EventType enum %v, want %v", got, domain.EventTypes)
	}
	for _, p := range doc.Components.Schemas["EventPattern"].Enum {
		if !domain.ValidEventPattern(p) {
			t.Errorf("EventPattern %q is refused by the server", p)
		}
	}
	if len(doc.Webhooks) != len(domain.EventTypes) {
		t.Errorf("webhooks %d, event types %d", len(doc.Webhooks), len(domain.EventTypes))
	}
	for _, typ := range domain.EventTypes {
		ref := doc.Webhooks[typ]["post"].RequestBody.Content["application/json"].Schema.Ref
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		if ref == "" || !slices.Equal(doc.Components.Schemas[name].Properties["type"].Enum, []string{typ}) {
			t.Errorf("webhook %s: schema %q does not describe it", typ, ref)
		}
	}

	// Every event, through the store, then listed by the API.
	s := newOAServer(t)
	ctx := context.Background()
	st, tenant := s.store, "/teams/support"
	at := func() time.Time { return st.Now() }
	entry := func(action, id string) *store.AuditLog {
		key := action + ":" + id
		return &store.AuditLog{EventKey: &key, Action: action, Resource: "approval", ResourceID: id, UserID: "system",
			Channel: store.ChannelSystem, TenantID: tenant, CreatedAt: at()}
	}
	a, _, err := st.RecordApproval(ctx, &store.Approval{ID: store.NewID(), TenantID: tenant, Title: "all events", Status: store.StatusPending,
		Priority: store.PriorityLow, RequestedBy: "agent-1", Metadata: store.JSON("{}"), CreatedAt: at(), UpdatedAt: at()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ from, to, action string }{
		{store.StatusPending, store.StatusInfoRequested, "approval.info_requested"},
		{store.StatusInfoRequested, store.StatusPending, "approval.info_provided"},
		{store.StatusPending, store.StatusInfoRequested, "approval.info_requested"},
		{store.StatusInfoRequested, store.StatusPending, "approval.info_unanswered"},
	} {
		if _, _, err := st.ChangeStatus(ctx, store.StatusChange{ApprovalID: a.ID, TenantID: tenant, From: []string{c.from}, To: c.to}, entry(c.action, store.NewID())); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.AppendAudit(ctx, entry("approval.reminded", a.ID)); err != nil {
		t.Fatal(err)
	}
	now := at()
	cons := &store.Consultation{ID: store.NewID(), Title: "call", JitsiRoom: "room-all", Status: store.ConsultationScheduled, HostID: "ceo-1",
		ParticipantIDs: store.StringList{"ceo-1"}, ApprovalID: &a.ID, TenantID: tenant, CreatedAt: now, UpdatedAt: now, ScheduledAt: &now}
	if _, _, _, err := st.DecideApproval(ctx, store.Decision{ApprovalID: a.ID, TenantID: tenant, Status: store.StatusApproved, DeciderID: "ceo-1", Comment: "ok"}, nil, cons); err != nil {
		t.Fatal(err)
	}
	for _, tr := range [][2]string{{store.ConsultationScheduled, store.ConsultationActive}, {store.ConsultationActive, store.ConsultationEnded}} {
		if _, _, err := st.TransitionConsultation(ctx, store.Transition{ConsultationID: cons.ID, TenantID: tenant, From: tr[0], To: tr[1], At: at(), Reason: "host"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, to := range []string{store.StatusExpired, store.StatusWithdrawn} {
		b, _, err := st.RecordApproval(ctx, &store.Approval{ID: store.NewID(), TenantID: tenant, Title: to, Status: store.StatusPending,
			Priority: store.PriorityLow, RequestedBy: "agent-1", Metadata: store.JSON("{}"), CreatedAt: at(), UpdatedAt: at()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.ChangeStatus(ctx, store.StatusChange{ApprovalID: b.ID, TenantID: tenant, From: store.Waiting, To: to, Comment: "c"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.PutPolicy(ctx, store.Policy{TenantID: tenant, DefaultTTL: time.Hour, MaxTTL: 2 * time.Hour, Reminders: []time.Duration{time.Minute}, UpdatedBy: "ceo-1"},
		&store.AuditLog{UserID: "ceo-1", Channel: store.ChannelAPI}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	cursor := ""
	for {
		path := "/api/subscriptions/" + s.subscription + "/deliveries?limit=200"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		rec := s.serve("GET", path, "ceo", nil, nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("deliveries: %d %s", rec.Code, rec.Body)
		}
		if err := d.ValidateHTTPResponse("GET", path, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			t.Fatal(err)
		}
		var page struct {
			Items []struct {
				EventType string `json:"eventType"`
			} `json:"items"`
			NextCursor *string `json:"nextCursor"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			seen[it.EventType] = true
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	for _, typ := range domain.EventTypes {
		if !seen[typ] {
			t.Errorf("no %s was written to check against its schema", typ)
		}
	}
}
