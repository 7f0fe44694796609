package openapitest_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/orchestrator-dev/orchestrator/internal/testkit/openapitest"
)

const petstore = `{
  "openapi": "3.1.0",
  "info": {"title": "t", "version": "1"},
  "paths": {
    "/pets": {
      "get": {
        "operationId": "listPets",
        "parameters": [
          {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 10}},
          {"name": "kind", "in": "query", "required": true, "schema": {"type": "string", "enum": ["cat", "dog"]}}
        ],
        "responses": {
          "200": {"description": "ok", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Pet"}}}}},
          "4XX": {"$ref": "#/components/responses/Problem"}
        }
      },
      "post": {
        "operationId": "createPet",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewPet"}}}},
        "responses": {
          "201": {
            "description": "created",
            "headers": {"Location": {"required": true, "schema": {"type": "string", "pattern": "^/pets/"}}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}
          },
          "204": {"description": "nothing"},
          "default": {"$ref": "#/components/responses/Problem"}
        }
      }
    },
    "/pets/{id}": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9]+$"}}],
      "get": {
        "operationId": "getPet",
        "responses": {
          "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}},
          "404": {"$ref": "#/components/responses/Problem"}
        }
      }
    },
    "/pets/mine": {
      "get": {"operationId": "myPets", "security": [{"key": []}], "responses": {"200": {"description": "ok", "content": {"text/plain": {"schema": {"type": "string", "minLength": 1}}}}}}
    }
  },
  "components": {
    "schemas": {
      "Pet": {
        "type": "object",
        "required": ["id", "name", "born"],
        "additionalProperties": false,
        "properties": {
          "id": {"type": "string"},
          "name": {"type": "string", "maxLength": 5},
          "born": {"type": ["string", "null"], "format": "date-time"},
          "tag": {"type": "string"}
        }
      },
      "NewPet": {
        "type": "object",
        "required": ["name"],
        "additionalProperties": false,
        "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 5}}
      },
      "Problem": {"type": "object", "required": ["status"], "properties": {"status": {"type": "integer"}}}
    },
    "securitySchemes": {"key": {"type": "apiKey", "in": "query", "name": "api_key"}},
    "responses": {
      "Problem": {"description": "a problem", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    }
  }
}`

func load(t *testing.T) *openapitest.Doc {
	t.Helper()
	d, err := openapitest.Load([]byte(petstore))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestLoadRefusesBrokenDocuments(t *testing.T) {
	cases := []struct {
		name, old, new, want string
	}{
		{"OpenAPI 3.0", `"openapi": "3.1.0"`, `"openapi": "3.0.3"`, "want 3.1.x"},
		{"not OpenAPI", `"info": {"title": "t", "version": "1"},`, ``, "OpenAPI 3.1 schema"},
		{"parameter in body", `"in": "query", "required": true`, `"in": "body", "required": true`, "OpenAPI 3.1 schema"},
		{"dangling $ref", `"items": {"$ref": "#/components/schemas/Pet"}`, `"items": {"$ref": "#/components/schemas/Pets"}`, "does not resolve"},
		{"remote $ref", `"items": {"$ref": "#/components/schemas/Pet"}`, `"items": {"$ref": "https://example.com/pet.json"}`, "not a local reference"},
		{"keyword typo", `"minLength": 1, "maxLength": 5}`, `"minLength": 1, "maxLenght": 5}`, `unknown schema keyword "maxLenght"`},
		{"invalid schema", `"tag": {"type": "string"}`, `"tag": {"type": "strin"}`, "compile the schema"},
		{"required but closed", `"required": ["id", "name", "born"]`, `"required": ["id", "name", "born", "age"]`, `"age" is required`},
		{"placeholder without parameter", `"/pets/mine"`, `"/pets/{owner}/mine"`, "{owner} has no path parameter"},
		{"duplicate operationId", `"operationId": "myPets"`, `"operationId": "getPet"`, "also used by"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(petstore, c.old) {
				t.Fatalf("the fixture has no %s", c.old)
			}
			_, err := openapitest.Load([]byte(strings.Replace(petstore, c.old, c.new, 1)))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error containing %q, got %v", c.want, err)
			}
		})
	}
}

func TestOperations(t *testing.T) {
	d := load(t)
	want := [][2]string{{"GET", "/pets"}, {"POST", "/pets"}, {"GET", "/pets/mine"}, {"GET", "/pets/{id}"}}
	if got := d.Operations(); !slices.Equal(got, want) {
		t.Fatalf("Operations: %v", got)
	}
	if !d.HasOperation("get", "/pets/{id}") || d.HasOperation("DELETE", "/pets/{id}") || d.HasOperation("GET", "/pets/1") {
		t.Fatal("HasOperation")
	}
}

func TestMatchPath(t *testing.T) {
	d := load(t)
	for path, want := range map[string]string{
		"/pets":             "/pets",
		"/pets?kind=cat":    "/pets",
		"/pets/42":          "/pets/{id}",
		"/pets/{id}":        "/pets/{id}",
		"/pets/mine":        "/pets/mine",
		"/pets/mine?x=1#f":  "/pets/mine",
		"/pets/42/toys":     "",
		"/pets/":            "",
		"/unknown":          "",
		"/pets/%2Fescaped%": "/pets/{id}",
	} {
		got, ok := d.MatchPath(path)
		if got != want || ok != (want != "") {
			t.Errorf("MatchPath(%q) = %q, %v; want %q", path, got, ok, want)
		}
	}
}

func TestValidateResponse(t *testing.T) {
	d := load(t)
	const pet = `{"id": "1", "name": "Rex", "born": "2024-05-01T10:00:00.123456Z"}`
	ok := []struct {
		method, path string
		status       int
		ct, body     string
	}{
		{"GET", "/pets/1", 200, "application/json; charset=utf-8", pet},
		{"GET", "/pets/1", 200, "application/json", `{"id": "1", "name": "Rex", "born": null, "tag": "x"}`},
		{"GET", "/pets?kind=cat", 200, "application/json", `[` + pet + `]`},
		{"GET", "/pets", 404, "application/problem+json", `{"status": 404}`},  // 4XX
		{"POST", "/pets", 500, "application/problem+json", `{"status": 500}`}, // default
		{"POST", "/pets", 204, "", ``},
		{"GET", "/pets/mine", 200, "text/plain; version=0.0.4", "fido"},
	}
	for _, c := range ok {
		if err := d.ValidateResponse(c.method, c.path, c.status, c.ct, []byte(c.body)); err != nil {
			t.Errorf("%s %s %d: %v", c.method, c.path, c.status, err)
		}
	}
	bad := []struct {
		name, method, path string
		status             int
		ct, body           string
		undocumented       bool
	}{
		{"missing property", "GET", "/pets/1", 200, "application/json", `{"id": "1", "name": "Rex"}`, false},
		{"extra property", "GET", "/pets/1", 200, "application/json", `{"id": "1", "name": "Rex", "born": null, "age": 3}`, false},
		{"wrong type", "GET", "/pets/1", 200, "application/json", `{"id": 1, "name": "Rex", "born": null}`, false},
		{"too long", "GET", "/pets/1", 200, "application/json", `{"id": "1", "name": "Rexford", "born": null}`, false},
		{"bad date-time", "GET", "/pets/1", 200, "application/json", `{"id": "1", "name": "Rex", "born": "yesterday"}`, false},
		{"not JSON", "GET", "/pets/1", 200, "application/json", `{"id": `, false},
		{"two JSON values", "GET", "/pets/1", 200, "application/json", `{} {}`, false},
		{"empty text", "GET", "/pets/mine", 200, "text/plain", ``, false},
		{"no content type", "GET", "/pets/1", 200, "", pet, false},
		{"undocumented status", "GET", "/pets/1", 500, "application/problem+json", `{"status": 500}`, true},
		{"undocumented media type", "GET", "/pets/1", 200, "text/html", `<p>`, true},
		{"problem as json", "GET", "/pets/1", 404, "application/json", `{"status": 404}`, true},
		{"body where none is documented", "POST", "/pets", 204, "application/json", `{}`, true},
		{"undocumented method", "DELETE", "/pets/1", 204, "", ``, true},
		{"undocumented path", "GET", "/cats", 200, "application/json", `[]`, true},
	}
	for _, c := range bad {
		err := d.ValidateResponse(c.method, c.path, c.status, c.ct, []byte(c.body))
		if err == nil {
			t.Errorf("%s: want an error", c.name)
			continue
		}
		if errors.Is(err, openapitest.ErrUndocumented) != c.undocumented {
			t.Errorf("%s: errors.Is(err, ErrUndocumented) = %v: %v", c.name, !c.undocumented, err)
		}
	}
}

func TestValidateHTTPResponseHeaders(t *testing.T) {
	d := load(t)
	body := []byte(`{"id": "7", "name": "Tom", "born": null}`)
	h := http.Header{"Content-Type": {"application/json"}, "Location": {"/pets/7"}}
	if err := d.ValidateHTTPResponse("POST", "/pets", 201, h, body); err != nil {
		t.Fatal(err)
	}
	h.Del("Location")
	if err := d.ValidateHTTPResponse("POST", "/pets", 201, h, body); err == nil || !strings.Contains(err.Error(), "required header Location") {
		t.Fatalf("missing Location: %v", err)
	}
	h.Set("Location", "/cats/7")
	if err := d.ValidateHTTPResponse("POST", "/pets", 201, h, body); err == nil || !strings.Contains(err.Error(), "header Location") {
		t.Fatalf("bad Location: %v", err)
	}
	h.Set("Location", "/pets/7")
	if err := d.ValidateHTTPResponse("POST", "/pets", 201, h, []byte(`{}`)); err == nil {
		t.Fatal("the body must still be validated")
	}
}

func TestValidateRequest(t *testing.T) {
	d := load(t)
	jsonCT := http.Header{"Content-Type": {"application/json"}}
	ok := []struct {
		method, target string
		header         http.Header
		body           string
	}{
		{"GET", "/pets?kind=cat&limit=10", nil, ""},
		{"GET", "/pets/12", nil, ""},
		{"GET", "/pets/mine?api_key=k", nil, ""}, // a security scheme, not a parameter
		{"POST", "/pets", jsonCT, `{"name": "Tom"}`},
		{"POST", "/pets", http.Header{"Content-Type": {"application/json; charset=utf-8"}}, `{"name": "Tom"}`},
	}
	for _, c := range ok {
		if err := d.ValidateRequest(c.method, c.target, c.header, []byte(c.body)); err != nil {
			t.Errorf("%s %s: %v", c.method, c.target, err)
		}
	}
	bad := []struct {
		name, method, target string
		header               http.Header
		body, want           string
	}{
		{"missing query parameter", "GET", "/pets", nil, "", "required query parameter kind"},
		{"enum", "GET", "/pets?kind=cow", nil, "", "kind"},
		{"integer out of range", "GET", "/pets?kind=cat&limit=11", nil, "", "limit"},
		{"not an integer", "GET", "/pets?kind=cat&limit=ten", nil, "", "limit"},
		{"unknown query parameter", "GET", "/pets?kind=cat&sort=name", nil, "", "sort"},
		{"another operation's API key", "GET", "/pets?kind=cat&api_key=k", nil, "", "api_key"},
		{"path parameter", "GET", "/pets/abc", nil, "", "path parameter id"},
		{"body required", "POST", "/pets", jsonCT, "", "request body is required"},
		{"unknown field", "POST", "/pets", jsonCT, `{"name": "Tom", "age": 3}`, "additional properties"},
		{"empty name", "POST", "/pets", jsonCT, `{"name": ""}`, "minLength"},
		{"wrong media type", "POST", "/pets", http.Header{"Content-Type": {"text/plain"}}, `name=Tom`, "not documented"},
		{"body where none is documented", "GET", "/pets/1", jsonCT, `{}`, "not documented"},
	}
	for _, c := range bad {
		err := d.ValidateRequest(c.method, c.target, c.header, []byte(c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: want an error containing %q, got %v", c.name, c.want, err)
		}
	}
}

func TestCompareRoutes(t *testing.T) {
	d := load(t)
	routes := [][2]string{
		{"GET", openapitest.GinPath("/pets")}, {"POST", "/pets"}, {"HEAD", "/pets"},
		{"GET", openapitest.GinPath("/pets/:id")}, {"DELETE", openapitest.GinPath("/pets/:id")},
	}
	undocumented, unregistered := d.CompareRoutes(routes)
	if !slices.Equal(undocumented, [][2]string{{"DELETE", "/pets/{id}"}}) {
		t.Errorf("undocumented: %v", undocumented)
	}
	if !slices.Equal(unregistered, [][2]string{{"GET", "/pets/mine"}}) {
		t.Errorf("unregistered: %v", unregistered)
	}
	if got := openapitest.GinPath("/api/audit/resource/:type/:id"); got != "/api/audit/resource/{type}/{id}" {
		t.Errorf("GinPath: %s", got)
	}
	if got := openapitest.GinPath("/static/*filepath"); got != "/static/{filepath}" {
		t.Errorf("GinPath: %s", got)
	}
}

func TestFindOperation(t *testing.T) {
	d := load(t)
	op, err := d.FindOperation("get", "/pets/a%2Fb?kind=cat")
	if err != nil {
		t.Fatal(err)
	}
	if op.ID != "getPet" || op.Method != "GET" || op.Template != "/pets/{id}" || op.PathParams["id"] != "a/b" {
		t.Fatalf("FindOperation: %+v", op)
	}
	if op, err := d.FindOperation("GET", "/pets/mine"); err != nil || op.ID != "myPets" || len(op.PathParams) != 0 {
		t.Fatalf("a literal path: %+v %v", op, err)
	}
	for _, c := range [][2]string{{"DELETE", "/pets/1"}, {"GET", "/cats"}} {
		if _, err := d.FindOperation(c[0], c[1]); !errors.Is(err, openapitest.ErrUndocumented) {
			t.Errorf("%s %s: %v", c[0], c[1], err)
		}
	}
}

// Each problem of a request is its own error, and only a body that breaks
// its schema is ErrBodySchema: a server built on this answers 422 for those
// and 400 for the rest.
func TestValidateRequestErrorsOnePerProblem(t *testing.T) {
	d := load(t)
	jsonCT := http.Header{"Content-Type": {"application/json"}}
	problems := func(err error) []error {
		t.Helper()
		j, ok := err.(interface{ Unwrap() []error })
		if !ok {
			t.Fatalf("not a joined error: %v", err)
		}
		return j.Unwrap()
	}

	got := problems(d.ValidateRequest("POST", "/pets", jsonCT, []byte(`{"name": ""}`)))
	if len(got) != 1 || !errors.Is(got[0], openapitest.ErrBodySchema) {
		t.Fatalf("a schema violation: %v", got)
	}
	got = problems(d.ValidateRequest("POST", "/pets?x=1", jsonCT, []byte(`{"name": 5}`)))
	if len(got) != 2 || errors.Is(got[0], openapitest.ErrBodySchema) || !errors.Is(got[1], openapitest.ErrBodySchema) {
		t.Fatalf("an unknown parameter and a schema violation: %v", got)
	}
	for _, body := range []string{`{"name": `, ``} {
		if err := d.ValidateRequest("POST", "/pets", jsonCT, []byte(body)); err == nil || errors.Is(err, openapitest.ErrBodySchema) {
			t.Errorf("body %q: a malformed or missing body is not a schema violation: %v", body, err)
		}
	}
	if got := problems(d.ValidateRequest("PUT", "/pets", nil, nil)); len(got) != 1 || !errors.Is(got[0], openapitest.ErrUndocumented) {
		t.Fatalf("an undocumented method: %v", got)
	}
}

func TestNullable(t *testing.T) {
	const nullable = `"tag": {"type": "string", "nullable": true}`
	doc := strings.Replace(petstore, `"tag": {"type": "string"}`, nullable, 1)
	if !strings.Contains(doc, nullable) {
		t.Fatal("the fixture has no tag property")
	}
	if _, err := openapitest.Load([]byte(doc)); err == nil || !strings.Contains(err.Error(), `unknown schema keyword "nullable"`) {
		t.Fatalf("without the option: %v", err)
	}
	// A nullable schema without a type (an allOf around a $ref, as
	// converters from 3.0 write it) must take null too.
	doc = strings.Replace(doc, `"items": {"$ref": "#/components/schemas/Pet"}`, `"items": {"allOf": [{"$ref": "#/components/schemas/Pet"}], "nullable": true}`, 1)
	d, err := openapitest.Load([]byte(doc), openapitest.Nullable())
	if err != nil {
		t.Fatal(err)
	}
	for body, ok := range map[string]bool{
		`[{"id": "1", "name": "Rex", "born": null, "tag": null}]`: true,
		`[{"id": "1", "name": "Rex", "born": null, "tag": "x"}]`:  true,
		`[null]`: true,
		`[{"id": "1", "name": "Rex", "born": null, "tag": 5}]`: false,
		`[{"id": "1", "name": "Rex"}]`:                         false,
		`[5]`:                                                  false,
	} {
		if err := d.ValidateResponse("GET", "/pets", 200, "application/json", []byte(body)); (err == nil) != ok {
			t.Errorf("%s: %v, want ok=%v", body, err, ok)
		}
	}
	bad := strings.Replace(petstore, `"tag": {"type": "string"}`, `"tag": {"type": "string", "nullable": "yes"}`, 1)
	if _, err := openapitest.Load([]byte(bad), openapitest.Nullable()); err == nil || !strings.Contains(err.Error(), `"nullable"`) {
		t.Fatalf("a nullable that is not a boolean: %v", err)
	}
}
