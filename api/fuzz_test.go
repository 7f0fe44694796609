package api_test

// Native fuzz targets for the HTTP API. Each builds the handler (real SQLite
// store, fake auth, always-unavailable Temporal) once and sends every input
// through it. Properties, beyond checkHostileResponse (no 5xx but 503 "unavailable",
// JSON bodies, problem+json with a code):
//
//   - the content type alone decides 415;
//   - a body that is not valid UTF-8 or not exactly one JSON value is a 400;
//   - nothing that fails validation reaches Temporal (503) or the database (201);
//   - path ids that cannot name a seeded row are 404;
//   - the Authorization header alone decides 401.
//
// Seeds: f.Add below plus testdata/fuzz/<FuzzName>/. Run one target longer with
//
//	go test ./api -run '^$' -fuzz '^FuzzCreateApprovalBody$' -fuzztime 30s

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/orchestrator-dev/orchestrator/api"
	"github.com/orchestrator-dev/orchestrator/internal/auth"
	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// fuzzContentTypes is what a fuzzed content-type index picks from; the first
// five are JSON and accepted.
var fuzzContentTypes = []string{
	"application/json",
	"application/json; charset=utf-8",
	"APPLICATION/JSON",
	"application/merge-patch+json",
	"application/problem+json",
	"",
	"text/plain",
	"application/x-www-form-urlencoded",
	"multipart/form-data; boundary=x",
	"application/json;;",
	"application/jsonx",
	"text/json",
}

func fuzzContentType(i uint8) (ct string, isJSON bool) {
	n := int(i) % len(fuzzContentTypes)
	return fuzzContentTypes[n], n < 5
}

// hostileHeaderValue is what an http.Server lets through to a handler: no
// control bytes but tab (obs-text, bytes >= 0x80, is allowed).
func hostileHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// checkHostileBody asserts the decoding properties every JSON endpoint shares.
func checkHostileBody(t *testing.T, req hostileRequest, isJSON bool, p *hostileProblem, status int) {
	t.Helper()
	body := req.body
	switch {
	case !isJSON:
		if status != http.StatusUnsupportedMediaType {
			t.Fatalf("%s: content type %q answered %d, want 415", req, *req.contentType, status)
		}
	case status == http.StatusUnsupportedMediaType:
		t.Fatalf("%s: JSON content type %q answered 415", req, *req.contentType)
	case len(body) > api.MaxBodyBytes:
		if status != http.StatusRequestEntityTooLarge {
			t.Fatalf("%s: %d-byte body answered %d, want 413", req, len(body), status)
		}
	case !utf8.Valid(body):
		if status != http.StatusBadRequest || p.Code != "invalid_utf8" {
			t.Fatalf("%s: body that is not UTF-8 answered %d %v, want 400 invalid_utf8", req, status, p)
		}
	case !json.Valid(body):
		// malformed_json, or a field error found in the first of two values.
		if status != http.StatusBadRequest || !slices.Contains([]string{"malformed_json", "body_empty", "validation_failed"}, p.Code) {
			t.Fatalf("%s: body that is not one JSON value answered %d %+v, want 400 malformed_json", req, status, p)
		}
	case hostileTopLevelKind(body) != '{' && hostileTopLevelKind(body) != 'n':
		if status != http.StatusBadRequest {
			t.Fatalf("%s: body that is not an object answered %d, want 400", req, status)
		}
	}
}

// hostileTopLevelKind is the first non-space byte of a valid JSON document.
func hostileTopLevelKind(b []byte) byte {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

func FuzzCreateApprovalBody(f *testing.F) {
	for _, s := range []string{
		`{"tenantId":"/teams/support","title":"Refund above limit","description":"2,000 EUR","priority":"high"}`,
		`{"tenantId":"/teams/support","title":"x","metadata":{"a":{"b":[1,2,{"c":null}]}},"conversation":{"accountId":1,"conversationId":2},"participants":["ceo-1"]}`,
		`{"tenantId":"/teams/support","title":"x"}}`,
		`{"tenantId":"/teams/support","title":"x"}]`,
		`{"tenantId":"/teams/support","title":"x"} {"x":1}`,
		`{"tenantId":"/teams/support","title":5}`,
		`{"tenantId":"/teams/support","title":"x","bogus":1}`,
		`{"tenantId":"/teams/support","title":"x","metadata":` + hostileNest(17) + `}`,
		`{"tenantId":"/teams/support","title":"x","conversation":{"accountId":1e30,"conversationId":1}}`,
		`{"tenantId":"\ud800","title":"\u0000"}`,
		`{"tenantId":"/teams/finance","title":"x"}`,
		`{"tenantId":"/teams/support' OR '1'='1","title":"x"}`,
		`{"tenantId":"/teams/support","title":"x","priority":"urgent"}`,
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[`,
		`null`, `[]`, `"x"`, ``, ` `, `{`, `{"tenantId":`,
		"{\"tenantId\":\"/teams/support\",\"title\":\"\xff\"}",
	} {
		f.Add(uint8(0), []byte(s))
	}
	f.Add(uint8(6), []byte(`{"tenantId":"/teams/support","title":"x"}`))
	f.Add(uint8(5), []byte(`{"tenantId":"/teams/support","title":"x"}`))
	f.Add(uint8(9), []byte(`{}`))
	s := newHostileServer(f, store.SQLite)
	f.Fuzz(func(t *testing.T, ctIndex uint8, body []byte) {
		ct, isJSON := fuzzContentType(ctIndex)
		req := hostileRequest{method: http.MethodPost, path: "/api/approvals", contentType: &ct, body: body}
		rec := s.do(req)
		p := checkHostileResponse(t, req, rec)
		checkHostileBody(t, req, isJSON, p, rec.Code)
		// The fake Temporal creates nothing, and there is no Idempotency-Key.
		if !slices.Contains([]int{400, 403, 413, 415, 503}, rec.Code) {
			t.Fatalf("%s: unexpected %d %s", req, rec.Code, hostileTrunc(rec.Body.String(), 300))
		}
	})
}

func FuzzDecideBody(f *testing.F) {
	for _, s := range []string{
		`{"status":"approved"}`,
		`{"status":"rejected","comment":"no"}`,
		`{"status":"approved","comment":"` + strings.Repeat("c", 4001) + `"}`,
		`{"status":"maybe"}`, `{"status":"pending"}`, `{"status":1}`, `{"status":"approved","approvedBy":"ceo-1"}`,
		`{"status":"approved"}}`, `{"status":"approved"}{}`, `null`, `[]`, ``, `{"status":"approved","comment":"\u0000"}`,
	} {
		f.Add(uint8(0), []byte(s), "")
	}
	f.Add(uint8(0), []byte(`{"status":"approved"}`), "retry-1")
	f.Add(uint8(0), []byte(`{"status":"approved"}`), strings.Repeat("k", 201))
	f.Add(uint8(0), []byte(`{"status":"approved"}`), "k\xff")
	f.Add(uint8(6), []byte(`{"status":"approved"}`), "")
	s := newHostileServer(f, store.SQLite)
	path := "/api/approvals/" + s.approvalID
	f.Fuzz(func(t *testing.T, ctIndex uint8, body []byte, idemKey string) {
		if !hostileHeaderValue(idemKey) {
			return
		}
		ct, isJSON := fuzzContentType(ctIndex)
		req := hostileRequest{method: http.MethodPatch, path: path, contentType: &ct, body: body}
		if idemKey != "" {
			req.header = map[string]string{"Idempotency-Key": idemKey}
		}
		rec := s.do(req)
		p := checkHostileResponse(t, req, rec)
		checkHostileBody(t, req, isJSON, p, rec.Code)
		if !slices.Contains([]int{400, 413, 415, 503}, rec.Code) {
			t.Fatalf("%s: unexpected %d %s", req, rec.Code, hostileTrunc(rec.Body.String(), 300))
		}
	})
}

var (
	fuzzActionPattern   = regexp.MustCompile(`^[a-z][a-z0-9_.:-]{0,99}$`)
	fuzzResourcePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,99}$`)
)

func FuzzCreateAuditBody(f *testing.F) {
	for _, s := range []string{
		`{"tenantId":"/teams/support","action":"ticket.updated","resource":"ticket","resourceId":"42"}`,
		`{"tenantId":"/teams/support","action":"a","resource":"t","resourceId":"1","oldValues":{"a":1},"newValues":{"a":2},"metadata":{"x":[1,{"y":null}]}}`,
		`{"tenantId":"/teams/support","action":"DROP TABLE","resource":"t","resourceId":"1"}`,
		`{"tenantId":"/teams/support","action":"a","resource":"t","resourceId":"1' OR '1'='1"}`,
		`{"tenantId":"/teams/support","action":"a","resource":"t","resourceId":"../../etc/passwd"}`,
		`{"tenantId":"/teams/support","action":"a","resource":"t","resourceId":"1","newValues":` + hostileNest(17) + `}`,
		`{"tenantId":"/teams/support","action":"a","resource":"t","resourceId":"1","metadata":"x"}`,
		`{"tenantId":"/teams/support","action":"a","resource":"t","resourceId":"1","userId":"ceo"}`,
		`{"tenantId":"/teams/support","action":"a","resource":"t","resourceId":"1"}]`,
		`{"tenantId":"/teams/finance","action":"a","resource":"t","resourceId":"1"}`,
		`{}`, `null`, ``,
	} {
		f.Add(uint8(0), []byte(s), "")
	}
	f.Add(uint8(0), []byte(`{"tenantId":"/teams/support","action":"a","resource":"t","resourceId":"1"}`), "retry-1")
	f.Add(uint8(0), []byte(`{"tenantId":"/teams/support","action":"a","resource":"t","resourceId":"1"}`), strings.Repeat("é", 100))
	f.Add(uint8(7), []byte(`{"tenantId":"/teams/support","action":"a","resource":"t","resourceId":"1"}`), "")
	s := newHostileServer(f, store.SQLite)
	f.Fuzz(func(t *testing.T, ctIndex uint8, body []byte, idemKey string) {
		if !hostileHeaderValue(idemKey) {
			return
		}
		ct, isJSON := fuzzContentType(ctIndex)
		req := hostileRequest{method: http.MethodPost, path: "/api/audit", contentType: &ct, body: body}
		if idemKey != "" {
			req.header = map[string]string{"Idempotency-Key": idemKey}
		}
		rec := s.do(req)
		p := checkHostileResponse(t, req, rec)
		checkHostileBody(t, req, isJSON, p, rec.Code)
		if !slices.Contains([]int{201, 400, 403, 409, 413, 415}, rec.Code) {
			t.Fatalf("%s: unexpected %d %s", req, rec.Code, hostileTrunc(rec.Body.String(), 300))
		}
		if rec.Code != http.StatusCreated {
			return
		}
		var got store.AuditLog
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatalf("%s: 201 body: %v", req, err)
		}
		if got.TenantID != hostileTenant || got.UserID != hostileSubject || got.Channel != store.ChannelAPIClient || store.ReservedAction(got.Action) || store.ReservedResource(got.Resource) ||
			!fuzzActionPattern.MatchString(got.Action) || !fuzzResourcePattern.MatchString(got.Resource) ||
			!store.ValidTenantID(got.ResourceID) || !store.ValidID(got.ID) {
			t.Fatalf("%s: stored an entry that should have been refused: %s", req, rec.Body)
		}
		if idemKey != "" {
			// The same key again is the same entry.
			again := s.do(req)
			var replay store.AuditLog
			if again.Code != http.StatusCreated || json.Unmarshal(again.Body.Bytes(), &replay) != nil || replay.ID != got.ID {
				t.Fatalf("%s: replay with the same Idempotency-Key answered %d %s, want the entry %s", req, again.Code, again.Body, got.ID)
			}
		}
	})
}

func FuzzCreateConsultationBody(f *testing.F) {
	for _, s := range []string{
		`{"tenantId":"/teams/support","title":"Call"}`,
		`{"tenantId":"/teams/support","title":"Call","participantIds":["ceo-1","agent-1"],"scheduledAt":"2030-01-01T10:00:00Z"}`,
		`{"tenantId":"/teams/support","title":"Call","scheduledAt":"tomorrow"}`,
		`{"tenantId":"/teams/support","title":"Call","scheduledAt":"-0001-01-01T00:00:00Z"}`,
		`{"tenantId":"/teams/support","title":"Call","scheduledAt":"9999-12-31T23:59:59-23:59"}`,
		`{"tenantId":"/teams/support","title":"Call","approvalId":"x"}`,
		`{"tenantId":"/teams/support","title":"` + strings.Repeat("a", 201) + `"}`,
		`{"tenantId":"/teams/support","title":"Call","participantIds":[""]}`,
		`{"tenantId":"/teams/support","title":"Call"}}`,
		`{"tenantId":"/teams/finance","title":"Call"}`,
		`{}`, `null`, ``,
	} {
		f.Add(uint8(0), []byte(s))
	}
	f.Add(uint8(6), []byte(`{"tenantId":"/teams/support","title":"Call"}`))
	s := newHostileServer(f, store.SQLite)
	f.Fuzz(func(t *testing.T, ctIndex uint8, body []byte) {
		ct, isJSON := fuzzContentType(ctIndex)
		req := hostileRequest{method: http.MethodPost, path: "/api/consultations", contentType: &ct, body: body}
		rec := s.do(req)
		p := checkHostileResponse(t, req, rec)
		checkHostileBody(t, req, isJSON, p, rec.Code)
		if !slices.Contains([]int{400, 403, 413, 415, 503}, rec.Code) {
			t.Fatalf("%s: unexpected %d %s", req, rec.Code, hostileTrunc(rec.Body.String(), 300))
		}
	})
}

var fuzzListPaths = []string{"/api/approvals", "/api/audit", "/api/consultations", "/api/audit/resource/approval/seed-1"}

func FuzzListQuery(f *testing.F) {
	tenant := "tenantId=%2Fteams%2Fsupport"
	for _, q := range []string{
		tenant, tenant + "&limit=1", tenant + "&limit=200", tenant + "&limit=1000000", tenant + "&limit=-1",
		tenant + "&limit=abc", tenant + "&limit=99999999999999999999", tenant + "&limit=+5", tenant + "&limit=%2B5",
		tenant + "&cursor=garbage", tenant + "&cursor=", tenant + "&sort=id", tenant + "&status=pending",
		tenant + "&status=bogus", tenant + "&tenantId=%2Fteams%2Ffinance", "tenantId=%2Fteams%2Ffinance",
		"tenantId=%ff", "tenantId=%00", "tenantId=" + url.QueryEscape("/teams/support' OR '1'='1"),
		tenant + ";limit=5", tenant + "&limit=%zz", "", "&&&", "=", "limit=5",
		tenant + "&cursor=eyJ0IjoiMDAwMC0wMS0wMVQwMDowMDowMCswMTowMCIsImkiOiIwMTkwYjJhNC03YzFlLTdkM2EtOWYwMC0wMDAwMDAwMDAwMDAifQ",
		tenant + "&cursor=eyJ0IjoiOTk5OS0xMi0zMVQyMzo1OTo1OS0yMzo1OSIsImkiOiIwMTkwYjJhNC03YzFlLTdkM2EtOWYwMC0wMDAwMDAwMDAwMDAifQ",
	} {
		for route := range fuzzListPaths {
			f.Add(uint8(route), q)
		}
	}
	s := newHostileServer(f, store.SQLite)
	f.Fuzz(func(t *testing.T, route uint8, rawQuery string) {
		path := fuzzListPaths[int(route)%len(fuzzListPaths)]
		req := hostileRequest{method: http.MethodGet, path: path, rawQuery: rawQuery}
		rec := s.do(req)
		checkHostileResponse(t, req, rec)
		if !slices.Contains([]int{200, 400, 403}, rec.Code) {
			t.Fatalf("%s: unexpected %d %s", req, rec.Code, hostileTrunc(rec.Body.String(), 300))
		}
		if rec.Code != http.StatusOK {
			return
		}
		// A 200 had a limit in range, and honoured it.
		values, _ := url.ParseQuery(rawQuery)
		limit := store.DefaultLimit
		if v := values.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > store.MaxLimit {
				t.Fatalf("%s: 200 for limit %q", req, v)
			}
			limit = n
		}
		var l struct {
			Items      []json.RawMessage `json:"items"`
			NextCursor *string           `json:"nextCursor"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil || l.Items == nil {
			t.Fatalf("%s: 200 body is not a list: %s", req, hostileTrunc(rec.Body.String(), 300))
		}
		if len(l.Items) > limit {
			t.Fatalf("%s: %d items for limit %d", req, len(l.Items), limit)
		}
		if l.NextCursor != nil {
			// Every cursor the API hands out is one it accepts.
			values.Set("cursor", *l.NextCursor)
			next := hostileRequest{method: http.MethodGet, path: path, rawQuery: values.Encode()}
			if rec := s.do(next); rec.Code != http.StatusOK {
				t.Fatalf("%s: following nextCursor answered %d %s", next, rec.Code, rec.Body)
			}
		}
	})
}

// fuzzIDRoutes are the routes with ids.
var fuzzIDRoutes = []struct {
	method, pattern string
	body            []byte
}{
	{http.MethodGet, "/api/approvals/{id}", nil},
	{http.MethodPatch, "/api/approvals/{id}", []byte(`{"status":"approved"}`)},
	{http.MethodGet, "/api/consultations/{id}", nil},
	{http.MethodPost, "/api/consultations/{id}/start", nil},
	{http.MethodPost, "/api/consultations/{id}/end", nil},
	{http.MethodGet, "/api/audit/resource/{type}/{id}", nil},
}

func FuzzPathIDs(f *testing.F) {
	for _, id := range []string{
		`1' OR '1'='1`, `1; DROP TABLE approvals; --`, `../../etc/passwd`, `..%2F..%2Fetc%2Fpasswd`, "\x00", `%00`,
		strings.Repeat("a", 10_000), "0190b2a4-7c1e-7d3a-9f00-000000000000", "{0190b2a4-7c1e-7d3a-9f00-000000000000}",
		"urn:uuid:0190b2a4-7c1e-7d3a-9f00-000000000000", "\xff\xfe", ".", "..", "", "a/b", "a?b=c", "a#b", " ", "%",
	} {
		for route := range fuzzIDRoutes {
			f.Add(uint8(route), true, "approval", id)
			f.Add(uint8(route), false, "approval", id)
		}
	}
	f.Add(uint8(5), true, "approval' OR '1'='1", "x")
	f.Add(uint8(5), false, "../..", "etc")
	f.Add(uint8(5), true, "A", "x")
	f.Add(uint8(5), true, strings.Repeat("a", 101), "x")
	s := newHostileServer(f, store.SQLite)
	f.Fuzz(func(t *testing.T, route uint8, escaped bool, typ, id string) {
		r := fuzzIDRoutes[int(route)%len(fuzzIDRoutes)]
		fill := func(esc func(string) string) string {
			return strings.NewReplacer("{id}", esc(id), "{type}", esc(typ)).Replace(r.pattern)
		}
		req := hostileRequest{method: r.method, path: fill(func(s string) string { return s }), body: r.body}
		if escaped {
			req.rawPath = fill(url.PathEscape)
		}
		rec := s.do(req)
		checkHostileResponse(t, req, rec)
		code := rec.Code
		if code >= 300 && code < 400 {
			return // the router's trailing-slash redirect
		}
		if !slices.Contains([]int{200, 400, 404, 405, 409, 503}, code) {
			t.Fatalf("%s: unexpected %d %s", req, code, hostileTrunc(rec.Body.String(), 300))
		}
		// An id that is one clean path segment and no seeded row is 404 (the
		// audit timeline answers an empty list for any id of a valid type).
		segment := func(s string) bool {
			return s != "" && s != "." && s != ".." && !strings.Contains(s, "/")
		}
		if !segment(id) || id == s.approvalID || id == s.consultationID {
			return
		}
		if strings.Contains(r.pattern, "{type}") {
			if !segment(typ) {
				return
			}
			if fuzzResourcePattern.MatchString(typ) && len(id) <= 256 {
				if code != http.StatusOK {
					t.Fatalf("%s: %d, want 200 (an empty timeline)", req, code)
				}
				return
			}
		}
		if code != http.StatusNotFound {
			t.Fatalf("%s: %d, want 404: %s", req, code, hostileTrunc(rec.Body.String(), 300))
		}
	})
}

var fuzzAuthRoutes = []hostileRequest{
	{method: http.MethodGet, path: "/api/me"},
	{method: http.MethodGet, path: "/api/approvals", rawQuery: "tenantId=%2Fteams%2Fsupport"},
	{method: http.MethodPost, path: "/api/approvals", body: hostileApprovalBody("")},
}

func FuzzAuthorizationHeader(f *testing.F) {
	for _, h := range []string{
		"Bearer good", "bearer good", "BEARER    good", "Bearer good==", "Bearer good good", "Bearer", "Bearer ",
		"Basic Z29vZDo=", "good", "", " ", "Bearer \"good\"", "Bearer good\x00", "Bearer good\xff", "Bearer\tgood",
		"Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.", "Bearer " + strings.Repeat("a", auth.MaxTokenSize+1),
		"Bearer good, Basic x", "Bearer =",
	} {
		for route := range fuzzAuthRoutes {
			f.Add(uint8(route), h)
		}
	}
	s := newHostileServer(f, store.SQLite)
	f.Fuzz(func(t *testing.T, route uint8, header string) {
		req := fuzzAuthRoutes[int(route)%len(fuzzAuthRoutes)]
		req.noAuth = true
		req.header = map[string]string{"Authorization": header}
		rec := s.do(req)
		p := checkHostileResponse(t, req, rec)
		tok, err := auth.ParseBearer(header)
		if err == nil && tok == hostileToken {
			if rec.Code == http.StatusUnauthorized {
				t.Fatalf("Authorization %q: 401 for the good token", header)
			}
			return
		}
		if rec.Code != http.StatusUnauthorized || p.Code != "invalid_token" || rec.Header().Get("WWW-Authenticate") == "" {
			t.Fatalf("Authorization %q: %d %s, want 401 invalid_token with WWW-Authenticate", header, rec.Code, hostileTrunc(rec.Body.String(), 300))
		}
	})
}
