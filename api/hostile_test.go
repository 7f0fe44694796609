package api_test

// Hostile-input table tests: each input gets an exact status and problem code
// (and, for validation failures, the field it names). Requests go straight to
// the handler through httptest.NewRecorder; the http.Server's own limits
// (MaxHeaderBytes, timeouts) are not exercised here.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/orchestrator-dev/orchestrator/api"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

type hostileCase struct {
	name   string
	req    hostileRequest
	status int
	code   string // "" for a success
	field  string // a field the problem must name, if any
}

// routedElsewhere as a case's status accepts what the router answers for a
// path that is not a resource: 404, 405, or a trailing-slash redirect.
const routedElsewhere = -1

func runHostile(t *testing.T, s *hostileServer, cases []hostileCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := s.do(tc.req)
			p := checkHostileResponse(t, tc.req, rec)
			if tc.status == routedElsewhere && slices.Contains([]int{301, 307, 308, 404, 405}, rec.Code) {
				return
			}
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tc.status, hostileTrunc(rec.Body.String(), 500))
			}
			if tc.code == "" {
				return
			}
			if p == nil || p.Code != tc.code {
				t.Fatalf("code %v, want %q; body %s", p, tc.code, hostileTrunc(rec.Body.String(), 500))
			}
			if tc.field != "" && !hostileHasField(p, tc.field) {
				t.Fatalf("problem names fields %q, want %q; detail %q", p.fields(), tc.field, p.Detail)
			}
		})
	}
}

// bodyOfSize is a syntactically valid create-approval body of exactly n bytes.
func hostileBodyOfSize(n int) []byte {
	head, tail := `{"tenantId":"/teams/support","title":"t","description":"`, `"}`
	return []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
}

func hostilePost(path string, body []byte) hostileRequest {
	return hostileRequest{method: http.MethodPost, path: path, body: body}
}

func hostileGet(path, rawQuery string) hostileRequest {
	return hostileRequest{method: http.MethodGet, path: path, rawQuery: rawQuery}
}

func TestHostileBodies(t *testing.T) {
	s := newHostileServer(t, store.SQLite)
	const approvals = "/api/approvals"
	withCT := func(ct string, body []byte) hostileRequest {
		r := hostilePost(approvals, body)
		r.contentType = hostileStrPtr(ct)
		return r
	}
	cases := []hostileCase{
		{"valid body reaches Temporal", hostilePost(approvals, hostileApprovalBody("")), 503, "unavailable", ""},
		{"body of 1 MiB + 1 byte", hostilePost(approvals, hostileBodyOfSize(api.MaxBodyBytes+1)), 413, "body_too_large", ""},
		{"body of exactly 1 MiB is read", hostilePost(approvals, hostileBodyOfSize(api.MaxBodyBytes)), 400, "validation_failed", "description"},
		{"body of 8 MiB", hostilePost(approvals, hostileBodyOfSize(8<<20)), 413, "body_too_large", ""},
		{"100000-deep nested arrays", hostilePost(approvals, []byte(strings.Repeat("[", 100_000)+strings.Repeat("]", 100_000))), 400, "malformed_json", ""},
		{"100000-deep nested objects in metadata", hostilePost(approvals, hostileApprovalBody(`,"metadata":`+hostileNest(100_000))), 400, "malformed_json", ""},
		{"100000 unclosed brackets", hostilePost(approvals, []byte(strings.Repeat("[", 100_000))), 400, "malformed_json", ""},
		{"metadata nested 16 deep is fine", hostilePost(approvals, hostileApprovalBody(`,"metadata":`+hostileNest(16))), 503, "unavailable", ""},
		{"metadata nested 17 deep", hostilePost(approvals, hostileApprovalBody(`,"metadata":`+hostileNest(17))), 400, "validation_failed", "metadata"},
		{"metadata nested 17 deep in arrays", hostilePost(approvals, hostileApprovalBody(`,"metadata":{"a":`+strings.Repeat("[", 16)+strings.Repeat("]", 16)+`}`)), 400, "validation_failed", "metadata"},
		{"metadata brackets inside strings do not count", hostilePost(approvals, hostileApprovalBody(`,"metadata":{"a":"`+strings.Repeat("[{", 100)+`\"\\"}`)), 503, "unavailable", ""},
		{"metadata not an object", hostilePost(approvals, hostileApprovalBody(`,"metadata":[1,2]`)), 400, "validation_failed", "metadata"},
		{"metadata over 64 KiB", hostilePost(approvals, hostileApprovalBody(`,"metadata":{"a":"`+strings.Repeat("x", 64<<10)+`"}`)), 400, "validation_failed", "metadata"},
		{"unknown field", hostilePost(approvals, hostileApprovalBody(`,"bogus":1`)), 400, "validation_failed", "bogus"},
		{"unknown nested field", hostilePost(approvals, hostileApprovalBody(`,"conversation":{"accountId":1,"conversationId":2,"evil":true}`)), 400, "validation_failed", "evil"},
		{"text/plain", withCT("text/plain", hostileApprovalBody("")), 415, "unsupported_media_type", ""},
		{"missing content type", withCT("", hostileApprovalBody("")), 415, "unsupported_media_type", ""},
		{"form content type", withCT("application/x-www-form-urlencoded", []byte("tenantId=%2Fteams%2Fsupport&title=x")), 415, "unsupported_media_type", ""},
		{"multipart content type", withCT("multipart/form-data; boundary=x", []byte("--x--")), 415, "unsupported_media_type", ""},
		{"malformed content type", withCT("application/json;;;=", hostileApprovalBody("")), 415, "unsupported_media_type", ""},
		{"json content type with charset", withCT("application/json; charset=utf-8", hostileApprovalBody("")), 503, "unavailable", ""},
		{"+json content type", withCT("application/merge-patch+json", hostileApprovalBody("")), 503, "unavailable", ""},
		{"invalid UTF-8 in a JSON string", hostilePost(approvals, []byte("{\"tenantId\":\"/teams/support\",\"title\":\"a\xff\xfeb\"}")), 400, "invalid_utf8", ""},
		{"overlong UTF-8 encoding", hostilePost(approvals, []byte("{\"tenantId\":\"/teams/support\",\"title\":\"\xc0\xaf\"}")), 400, "invalid_utf8", ""},
		{"UTF-8 surrogate half", hostilePost(approvals, []byte("{\"tenantId\":\"/teams/support\",\"title\":\"\xed\xa0\x80\"}")), 400, "invalid_utf8", ""},
		{"escaped lone surrogate in tenantId", hostilePost(approvals, []byte(`{"tenantId":"\ud800","title":"x"}`)), 400, "validation_failed", "tenantId"},
		{"control character in tenantId", hostilePost(approvals, []byte(`{"tenantId":"/teams/support\u0000","title":"x"}`)), 400, "validation_failed", "tenantId"},
		{"two JSON values", hostilePost(approvals, append(hostileApprovalBody(""), hostileApprovalBody("")...)), 400, "malformed_json", ""},
		{"trailing garbage", hostilePost(approvals, append(hostileApprovalBody(""), " x"...)), 400, "malformed_json", ""},
		{"trailing closing brace", hostilePost(approvals, append(hostileApprovalBody(""), "}"...)), 400, "malformed_json", ""},
		{"trailing closing bracket", hostilePost(approvals, append(hostileApprovalBody(""), " ]"...)), 400, "malformed_json", ""},
		{"trailing whitespace is fine", hostilePost(approvals, append(hostileApprovalBody(""), " \r\n\t"...)), 503, "unavailable", ""},
		{"empty body", hostilePost(approvals, []byte{}), 400, "body_empty", ""},
		{"whitespace body", hostilePost(approvals, []byte(" \r\n\t ")), 400, "body_empty", ""},
		{"truncated body", hostilePost(approvals, []byte(`{"tenantId":"/teams/support","title":"x`)), 400, "malformed_json", ""},
		{"JSON array", hostilePost(approvals, []byte(`[]`)), 400, "malformed_json", ""},
		{"JSON string", hostilePost(approvals, []byte(`"x"`)), 400, "malformed_json", ""},
		{"JSON null", hostilePost(approvals, []byte(`null`)), 400, "validation_failed", "tenantId"},
		{"duplicate key, the last one counts", hostilePost(approvals, hostileApprovalBody(`,"title":"`+strings.Repeat("a", 201)+`"`)), 400, "validation_failed", "title"},
		{"title of 201 characters", hostilePost(approvals, []byte(`{"tenantId":"/teams/support","title":"`+strings.Repeat("a", 201)+`"}`)), 400, "validation_failed", "title"},
		{"title of 200 two-byte characters", hostilePost(approvals, []byte(`{"tenantId":"/teams/support","title":"`+strings.Repeat("é", 200)+`"}`)), 503, "unavailable", ""},
		{"blank title", hostilePost(approvals, []byte(`{"tenantId":"/teams/support","title":"  \t "}`)), 400, "validation_failed", "title"},
		{"description of 10001 characters", hostilePost(approvals, hostileApprovalBody(`,"description":"`+strings.Repeat("d", 10_001)+`"`)), 400, "validation_failed", "description"},
		{"priority urgent", hostilePost(approvals, hostileApprovalBody(`,"priority":"urgent"`)), 400, "validation_failed", "priority"},
		{"title is a number", hostilePost(approvals, []byte(`{"tenantId":"/teams/support","title":5}`)), 400, "validation_failed", "title"},
		{"tenantId is an object", hostilePost(approvals, []byte(`{"tenantId":{},"title":"x"}`)), 400, "validation_failed", "tenantId"},
		{"participants is a string", hostilePost(approvals, hostileApprovalBody(`,"participants":"u"`)), 400, "validation_failed", "participants"},
		{"21 participants", hostilePost(approvals, hostileApprovalBody(`,"participants":["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q","r","s","t","u"]`)), 400, "validation_failed", "participants"},
		{"empty participant", hostilePost(approvals, hostileApprovalBody(`,"participants":[""]`)), 400, "validation_failed", "participants"},
		{"conversation id overflows int64", hostilePost(approvals, hostileApprovalBody(`,"conversation":{"accountId":1e30,"conversationId":1}`)), 400, "validation_failed", "conversation.accountId"},
		{"conversation id negative", hostilePost(approvals, hostileApprovalBody(`,"conversation":{"accountId":-1,"conversationId":1}`)), 400, "validation_failed", "conversation"},
		{"conversation id fractional", hostilePost(approvals, hostileApprovalBody(`,"conversation":{"accountId":1.5,"conversationId":1}`)), 400, "validation_failed", "conversation.accountId"},
		{"tenant of someone else", hostilePost(approvals, []byte(`{"tenantId":"/teams/finance","title":"x"}`)), 403, "tenant_forbidden", ""},
		{"SQL in tenantId", hostilePost(approvals, []byte(`{"tenantId":"/teams/support' OR '1'='1","title":"x"}`)), 403, "tenant_forbidden", ""},
		{"tenantId of 257 bytes", hostilePost(approvals, []byte(`{"tenantId":"/teams/`+strings.Repeat("a", 250)+`","title":"x"}`)), 400, "validation_failed", "tenantId"},
		{"Idempotency-Key of 201 bytes", func() hostileRequest {
			r := hostilePost(approvals, hostileApprovalBody(""))
			r.header = map[string]string{"Idempotency-Key": strings.Repeat("k", 201)}
			return r
		}(), 400, "validation_failed", "Idempotency-Key"},
		{"Idempotency-Key not UTF-8", func() hostileRequest {
			r := hostilePost(approvals, hostileApprovalBody(""))
			r.header = map[string]string{"Idempotency-Key": "k\xff"}
			return r
		}(), 400, "validation_failed", "Idempotency-Key"},

		// Decisions.
		{"decide: valid body reaches Temporal", hostileRequest{method: http.MethodPatch, path: "/api/approvals/" + s.approvalID, body: []byte(`{"status":"approved"}`)}, 503, "unavailable", ""},
		{"decide: status maybe", hostileRequest{method: http.MethodPatch, path: "/api/approvals/" + s.approvalID, body: []byte(`{"status":"maybe"}`)}, 400, "validation_failed", "status"},
		{"decide: status pending", hostileRequest{method: http.MethodPatch, path: "/api/approvals/" + s.approvalID, body: []byte(`{"status":"pending"}`)}, 400, "validation_failed", "status"},
		{"decide: comment of 4001 bytes", hostileRequest{method: http.MethodPatch, path: "/api/approvals/" + s.approvalID, body: []byte(`{"status":"approved","comment":"` + strings.Repeat("c", 4001) + `"}`)}, 400, "validation_failed", "comment"},
		{"decide: unknown field", hostileRequest{method: http.MethodPatch, path: "/api/approvals/" + s.approvalID, body: []byte(`{"status":"approved","approvedBy":"ceo-1"}`)}, 400, "validation_failed", "approvedBy"},
		{"decide: text/plain", hostileRequest{method: http.MethodPatch, path: "/api/approvals/" + s.approvalID, body: []byte(`{"status":"approved"}`), contentType: hostileStrPtr("text/plain")}, 415, "unsupported_media_type", ""},
		{"decide: empty body", hostileRequest{method: http.MethodPatch, path: "/api/approvals/" + s.approvalID, body: []byte{}}, 400, "body_empty", ""},
		{"decide: Idempotency-Key not UTF-8", hostileRequest{method: http.MethodPatch, path: "/api/approvals/" + s.approvalID, body: []byte(`{"status":"approved"}`), header: map[string]string{"Idempotency-Key": "k\xff"}}, 400, "validation_failed", "Idempotency-Key"},
		{"decide: trailing closing brace", hostileRequest{method: http.MethodPatch, path: "/api/approvals/" + s.approvalID, body: []byte(`{"status":"approved"}}`)}, 400, "malformed_json", ""},
		{"decide: 1 MiB + 1 byte", hostileRequest{method: http.MethodPatch, path: "/api/approvals/" + s.approvalID, body: hostileBodyOfSize(api.MaxBodyBytes + 1)}, 413, "body_too_large", ""},

		// Audit entries.
		{"audit: trailing closing bracket is not stored", hostilePost("/api/audit", []byte(`{"tenantId":"/teams/support","action":"a","resource":"t","resourceId":"1"}]`)), 400, "malformed_json", ""},
		{"audit: valid body is stored", hostilePost("/api/audit", []byte(`{"tenantId":"/teams/support","action":"ticket.updated","resource":"ticket","resourceId":"42","metadata":{"a":1}}`)), 201, "", ""},
		{"audit: an orchestrator action is reserved", hostilePost("/api/audit", []byte(`{"tenantId":"/teams/support","action":"approval.approved","resource":"approval","resourceId":"`+s.approvalID+`","newValues":{"approvedBy":"ceo"}}`)), 400, "reserved_action", ""},
		{"audit: a reserved namespace with a colon", hostilePost("/api/audit", []byte(`{"tenantId":"/teams/support","action":"chatwoot:failed","resource":"approval","resourceId":"1"}`)), 400, "reserved_action", ""},
		{"audit: a client entry in an approval's timeline", hostilePost("/api/audit", []byte(`{"tenantId":"/teams/support","action":"ticket.approved","resource":"approval","resourceId":"`+s.approvalID+`","newValues":{"approvedBy":"ceo"}}`)), 400, "reserved_resource", ""},
		{"audit: a client entry about a consultation", hostilePost("/api/audit", []byte(`{"tenantId":"/teams/support","action":"call.ended","resource":"consultation","resourceId":"1"}`)), 400, "reserved_resource", ""},
		{"audit: a client entry about a policy", hostilePost("/api/audit", []byte(`{"tenantId":"/teams/support","action":"rule.changed","resource":"policy","resourceId":"/teams/support"}`)), 400, "reserved_resource", ""},
		{"audit: a client entry about a webhook delivery", hostilePost("/api/audit", []byte(`{"tenantId":"/teams/support","action":"got.it","resource":"webhook","resourceId":"billing:d-1"}`)), 400, "reserved_resource", ""},
		{"audit: a resource that only starts like a reserved one", hostilePost("/api/audit", []byte(`{"tenantId":"/teams/support","action":"ticket.updated","resource":"approval-request","resourceId":"1"}`)), 201, "", ""},
		{"audit: action with capitals", hostilePost("/api/audit", []byte(`{"tenantId":"/teams/support","action":"DROP TABLE","resource":"ticket","resourceId":"42"}`)), 400, "validation_failed", "action"},
		{"audit: resource with a quote", hostilePost("/api/audit", []byte(`{"tenantId":"/teams/support","action":"a","resource":"t'","resourceId":"42"}`)), 400, "validation_failed", "resource"},
		{"audit: resourceId with a control character", hostilePost("/api/audit", []byte(`{"tenantId":"/teams/support","action":"a","resource":"t","resourceId":"4\u00002"}`)), 400, "validation_failed", "resourceId"},
		{"audit: newValues nested 17 deep", hostilePost("/api/audit", []byte(`{"tenantId":"/teams/support","action":"a","resource":"t","resourceId":"1","newValues":`+hostileNest(17)+`}`)), 400, "validation_failed", "newValues"},
		{"audit: oldValues a string", hostilePost("/api/audit", []byte(`{"tenantId":"/teams/support","action":"a","resource":"t","resourceId":"1","oldValues":"x"}`)), 400, "validation_failed", "oldValues"},
		{"audit: unknown field", hostilePost("/api/audit", []byte(`{"tenantId":"/teams/support","action":"a","resource":"t","resourceId":"1","userId":"ceo"}`)), 400, "validation_failed", "userId"},
		{"audit: missing content type", hostileRequest{method: http.MethodPost, path: "/api/audit", body: []byte(`{}`), contentType: hostileStrPtr("")}, 415, "unsupported_media_type", ""},

		// Consultations.
		{"consultation: valid body reaches Temporal", hostilePost("/api/consultations", []byte(`{"tenantId":"/teams/support","title":"Call"}`)), 503, "unavailable", ""},
		{"consultation: approvalId set", hostilePost("/api/consultations", []byte(`{"tenantId":"/teams/support","title":"Call","approvalId":"x"}`)), 400, "validation_failed", "approvalId"},
		{"consultation: scheduledAt not a time", hostilePost("/api/consultations", []byte(`{"tenantId":"/teams/support","title":"Call","scheduledAt":"tomorrow"}`)), 400, "malformed_json", ""},
		{"consultation: scheduledAt a number", hostilePost("/api/consultations", []byte(`{"tenantId":"/teams/support","title":"Call","scheduledAt":5}`)), 400, "malformed_json", ""},
		{"consultation: participantIds of 257 bytes", hostilePost("/api/consultations", []byte(`{"tenantId":"/teams/support","title":"Call","participantIds":["`+strings.Repeat("p", 257)+`"]}`)), 400, "validation_failed", "participantIds"},
		{"consultation start: junk body", hostileRequest{method: http.MethodPost, path: "/api/consultations/" + s.consultationID + "/start", body: []byte("junk"), contentType: hostileStrPtr("text/plain")}, 415, "unsupported_media_type", ""},
		{"consultation start: JSON with a field", hostilePost("/api/consultations/"+s.consultationID+"/start", []byte(`{"status":"active"}`)), 400, "validation_failed", "status"},
		{"consultation start: no body reaches Temporal", hostileRequest{method: http.MethodPost, path: "/api/consultations/" + s.consultationID + "/start"}, 503, "unavailable", ""},
		{"consultation end: 1 MiB + 1 byte", hostilePost("/api/consultations/"+s.consultationID+"/end", hostileBodyOfSize(api.MaxBodyBytes+1)), 413, "body_too_large", ""},
	}
	runHostile(t, s, cases)
}

// hostileIDs are path segments that must never name a row.
var hostileIDs = []struct{ name, id string }{
	{"SQL injection", `1' OR '1'='1`},
	{"SQL comment", `1; DROP TABLE approvals; --`},
	{"path traversal", `../../etc/passwd`},
	{"encoded path traversal", `..%2F..%2Fetc%2Fpasswd`},
	{"NUL byte", "\x00"},
	{"percent-encoded NUL as text", `%00`},
	{"10 KB id", strings.Repeat("a", 10_000)},
	{"UUID with a suffix", "0190b2a4-7c1e-7d3a-9f00-000000000000' OR '1'='1"},
	{"UUID in braces", "{0190b2a4-7c1e-7d3a-9f00-000000000000}"},
	{"URN UUID", "urn:uuid:0190b2a4-7c1e-7d3a-9f00-000000000000"},
	{"well-formed unknown UUID", "0190b2a4-7c1e-7d3a-9f00-000000000000"},
	{"invalid UTF-8", "\xff\xfe"},
	{"dot", "."},
	{"dot dot", ".."},
	{"dot dot with a slash", "../"},
}

func TestHostileIDs(t *testing.T) {
	s := newHostileServer(t, store.SQLite)
	var cases []hostileCase
	for _, h := range hostileIDs {
		// As a raw request line would carry it (the router sees URL.Path) and
		// escaped as a client library would send it.
		for _, mode := range []string{"raw", "escaped"} {
			seg, raw := h.id, ""
			if mode == "escaped" {
				raw = url.PathEscape(h.id)
			}
			routes := []struct {
				method, path, rawPath string
				body                  []byte
			}{
				{http.MethodGet, "/api/approvals/" + seg, "/api/approvals/" + raw, nil},
				{http.MethodPatch, "/api/approvals/" + seg, "/api/approvals/" + raw, []byte(`{"status":"approved"}`)},
				{http.MethodGet, "/api/consultations/" + seg, "/api/consultations/" + raw, nil},
				{http.MethodPost, "/api/consultations/" + seg + "/start", "/api/consultations/" + raw + "/start", nil},
				{http.MethodPost, "/api/consultations/" + seg + "/end", "/api/consultations/" + raw + "/end", nil},
			}
			for _, r := range routes {
				rawPath := r.rawPath
				if mode == "raw" {
					rawPath = ""
				}
				tc := hostileCase{
					name:   h.name + "/" + mode + "/" + r.method + " " + strings.SplitN(strings.TrimPrefix(r.path, "/api/"), "/", 2)[0],
					req:    hostileRequest{method: r.method, path: r.path, rawPath: rawPath, body: r.body},
					status: 404, code: "not_found",
				}
				if strings.HasPrefix(h.id, ".") {
					// The router cleans dot segments (RemoveExtraSlash), so
					// "/api/consultations/./start" is the GET route of a
					// consultation called "start" (405 for POST), and
					// "/api/approvals/." is "/api/approvals/", which the
					// trailing-slash redirect answers (301/307, not JSON).
					tc.status = routedElsewhere
				}
				cases = append(cases, tc)
			}
		}
	}
	// The audit timeline answers an empty list for any id of a valid type, and
	// 404 for a type that is not one.
	cases = append(cases,
		hostileCase{"audit timeline: SQL in the id", hostileGet("/api/audit/resource/approval/1' OR '1'='1", ""), 200, "", ""},
		hostileCase{"audit timeline: SQL in the type", hostileGet("/api/audit/resource/approval' OR '1'='1/x", ""), 404, "not_found", ""},
		hostileCase{"audit timeline: NUL in the type", hostileGet("/api/audit/resource/a\x00/x", ""), 404, "not_found", ""},
		hostileCase{"audit timeline: 10 KB id", hostileGet("/api/audit/resource/approval/"+strings.Repeat("a", 10_000), ""), 404, "not_found", ""},
		hostileCase{"audit timeline: traversal", hostileGet("/api/audit/resource/../../etc/passwd", ""), 404, "not_found", ""},
		hostileCase{"unknown route", hostileGet("/api/../../etc/passwd", ""), 404, "not_found", ""},
		hostileCase{"method not allowed", hostileRequest{method: http.MethodDelete, path: "/api/approvals/" + s.approvalID}, 405, "method_not_allowed", ""},
		hostileCase{"seeded id is found", hostileGet("/api/approvals/"+s.approvalID, ""), 200, "", ""},
	)
	runHostile(t, s, cases)
}

func TestHostileQueries(t *testing.T) {
	s := newHostileServer(t, store.SQLite)
	tenant := "tenantId=" + url.QueryEscape(hostileTenant)
	var cases []hostileCase
	for _, path := range []string{"/api/approvals", "/api/audit", "/api/consultations"} {
		for _, q := range []struct {
			name, query string
			status      int
			code, field string
		}{
			{"ok", tenant, 200, "", ""},
			{"limit=1000000", tenant + "&limit=1000000", 400, "validation_failed", "limit"},
			{"limit=201", tenant + "&limit=201", 400, "validation_failed", "limit"},
			{"limit=200", tenant + "&limit=200", 200, "", ""},
			{"limit=-1", tenant + "&limit=-1", 400, "validation_failed", "limit"},
			{"limit=0", tenant + "&limit=0", 400, "validation_failed", "limit"},
			{"limit=abc", tenant + "&limit=abc", 400, "validation_failed", "limit"},
			{"limit overflows int64", tenant + "&limit=99999999999999999999999", 400, "validation_failed", "limit"},
			{"limit=1e3", tenant + "&limit=1e3", 400, "validation_failed", "limit"},
			{"limit=0x10", tenant + "&limit=0x10", 400, "validation_failed", "limit"},
			{"cursor=garbage", tenant + "&cursor=garbage", 400, "validation_failed", "cursor"},
			{"cursor of 10 KB", tenant + "&cursor=" + strings.Repeat("A", 10_000), 400, "validation_failed", "cursor"},
			{"cursor of base64 JSON without a UUID", tenant + "&cursor=eyJ0IjoiMjAyNC0wMS0wMVQwMDowMDowMFoiLCJpIjoieCJ9", 400, "validation_failed", "cursor"},
			{"unknown parameter", tenant + "&sort=id", 400, "validation_failed", "sort"},
			{"SQL as a parameter name", tenant + "&" + url.QueryEscape("1' OR '1'='1") + "=1", 400, "validation_failed", "1' OR '1'='1"},
			{"no tenantId", "limit=5", 400, "validation_failed", "tenantId"},
			{"empty tenantId", "tenantId=", 400, "validation_failed", "tenantId"},
			{"tenantId not UTF-8", "tenantId=%ff%fe", 400, "validation_failed", "tenantId"},
			{"tenantId with NUL", "tenantId=%2Fteams%2Fsupport%00", 400, "validation_failed", "tenantId"},
			{"tenantId of someone else", "tenantId=%2Fteams%2Ffinance", 403, "tenant_forbidden", ""},
			{"SQL in tenantId", "tenantId=" + url.QueryEscape("/teams/support' OR '1'='1"), 403, "tenant_forbidden", ""},
			{"malformed escape", tenant + "&limit=%zz", 200, "", ""},
			{"semicolon separator drops the pair", tenant + ";limit=5", 400, "validation_failed", "tenantId"},
		} {
			cases = append(cases, hostileCase{path + " " + q.name, hostileGet(path, q.query), q.status, q.code, q.field})
		}
	}
	cases = append(cases,
		hostileCase{"approvals status=bogus", hostileGet("/api/approvals", tenant+"&status=bogus"), 400, "validation_failed", "status"},
		hostileCase{"approvals status=pending", hostileGet("/api/approvals", tenant+"&status=pending"), 200, "", ""},
		hostileCase{"audit status is not a parameter", hostileGet("/api/audit", tenant+"&status=pending"), 400, "validation_failed", "status"},
		hostileCase{"audit timeline limit=1000000", hostileGet("/api/audit/resource/approval/x", "limit=1000000"), 400, "validation_failed", "limit"},
		hostileCase{"audit timeline limit=-1", hostileGet("/api/audit/resource/approval/x", "limit=-1"), 400, "validation_failed", "limit"},
		hostileCase{"audit timeline limit=abc", hostileGet("/api/audit/resource/approval/x", "limit=abc"), 400, "validation_failed", "limit"},
	)
	runHostile(t, s, cases)

	// A nextCursor the API returned is accepted and pages on.
	for _, path := range []string{"/api/approvals", "/api/audit", "/api/consultations"} {
		seen := map[string]bool{}
		q := tenant + "&limit=1"
		for page := 0; ; page++ {
			req := hostileGet(path, q)
			rec := s.do(req)
			checkHostileResponse(t, req, rec)
			if rec.Code != 200 {
				t.Fatalf("%s page %d: %d %s", path, page, rec.Code, rec.Body)
			}
			var l struct {
				Items []struct {
					ID string `json:"id"`
				} `json:"items"`
				NextCursor *string `json:"nextCursor"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil {
				t.Fatal(err)
			}
			for _, it := range l.Items {
				if seen[it.ID] {
					t.Fatalf("%s: %s twice", path, it.ID)
				}
				seen[it.ID] = true
			}
			if l.NextCursor == nil {
				break
			}
			if page > 10 {
				t.Fatalf("%s: more pages than rows", path)
			}
			q = tenant + "&limit=1&cursor=" + url.QueryEscape(*l.NextCursor)
		}
		if len(seen) < 3 {
			t.Fatalf("%s: paged through %d rows, want at least 3", path, len(seen))
		}
	}
}

func TestHostileHeaders(t *testing.T) {
	s := newHostileServer(t, store.SQLite)
	me := func(h map[string]string, noAuth bool) hostileRequest {
		return hostileRequest{method: http.MethodGet, path: "/api/me", header: h, noAuth: noAuth}
	}
	// The server refuses headers past 64 KiB (internal/app MaxHeaderBytes);
	// anything the handler sees is below that.
	big := strings.Repeat("h", 60<<10)
	cases := []hostileCase{
		{"huge unrelated header", me(map[string]string{"X-Padding": big}, false), 200, "", ""},
		{"huge request id is replaced", me(map[string]string{"X-Request-Id": big}, false), 200, "", ""},
		{"huge Authorization", me(map[string]string{"Authorization": "Bearer " + big}, true), 401, "invalid_token", ""},
		{"no Authorization", me(nil, true), 401, "invalid_token", ""},
		{"Basic scheme", me(map[string]string{"Authorization": "Basic Z29vZDo="}, true), 401, "invalid_token", ""},
		{"Bearer without token", me(map[string]string{"Authorization": "Bearer"}, true), 401, "invalid_token", ""},
		{"token with invalid UTF-8", me(map[string]string{"Authorization": "Bearer good\xff"}, true), 401, "invalid_token", ""},
		{"token with NUL", me(map[string]string{"Authorization": "Bearer good\x00"}, true), 401, "invalid_token", ""},
		{"two tokens", me(map[string]string{"Authorization": "Bearer good good"}, true), 401, "invalid_token", ""},
		{"lower-case scheme", me(map[string]string{"Authorization": "bearer good"}, true), 200, "", ""},
		{"auth before body checks", hostileRequest{method: http.MethodPost, path: "/api/approvals", body: hostileBodyOfSize(api.MaxBodyBytes + 1), noAuth: true}, 401, "invalid_token", ""},
	}
	runHostile(t, s, cases)
	rec := s.do(cases[0].req)
	if got := rec.Header().Get("X-Request-Id"); len(got) > 64 {
		t.Fatalf("request id echoed back at %d bytes", len(got))
	}
	rec = s.do(me(nil, true))
	if rec.Header().Get("WWW-Authenticate") == "" {
		t.Fatal("401 without WWW-Authenticate")
	}
}

// TestHostileStoredValues sends values that SQLite stores but PostgreSQL
// refuses (NUL characters, invalid UTF-8 in keys), on every dialect, for the
// one route that writes to the database directly (POST /api/audit). Anything
// that passes validation must be stored (201); anything a database would
// refuse must be refused earlier with a 400, never a 500.
func TestHostileStoredValues(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			s := newHostileServer(t, d)
			audit := func(extra string, hdr map[string]string) hostileRequest {
				r := hostilePost("/api/audit", []byte(`{"tenantId":"/teams/support","action":"ticket.updated","resource":"ticket","resourceId":"42"`+extra+`}`))
				r.header = hdr
				return r
			}
			for _, tc := range []struct {
				name string
				req  hostileRequest
			}{
				{"NUL escape in metadata", audit(`,"metadata":{"note":"a\u0000b"}`, nil)},
				{"NUL escape in a metadata key", audit(`,"metadata":{"a\u0000":1}`, nil)},
				{"lone surrogate escape in metadata", audit(`,"metadata":{"note":"\ud800"}`, nil)},
				{"huge number in metadata", audit(`,"metadata":{"n":1e400}`, nil)},
				{"plain Idempotency-Key", audit("", map[string]string{"Idempotency-Key": "retry-1"})},
				{"Idempotency-Key with a byte that is not UTF-8", audit("", map[string]string{"Idempotency-Key": "key\xff"})},
			} {
				t.Run(tc.name, func(t *testing.T) {
					rec := s.do(tc.req)
					p := checkHostileResponse(t, tc.req, rec)
					if rec.Code != 201 && (rec.Code != 400 || p == nil || p.Code != "validation_failed") {
						t.Fatalf("status %d, want 201 or a 400 naming the field: %s", rec.Code, hostileTrunc(rec.Body.String(), 300))
					}
				})
			}
		})
	}
}
