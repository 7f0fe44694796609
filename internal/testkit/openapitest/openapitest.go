// Package openapitest checks HTTP traffic against an OpenAPI 3.1 document in
// tests: that a response (status, content type, headers, body) or a request
// is one the document describes, with JSON bodies validated against their
// JSON Schema (draft 2020-12, $refs resolved, formats asserted). The
// product's contract tests use it with api/openapi.json, and the Chatwoot
// stand-in (chatwoottest) with Chatwoot's document, so both sides of the
// orchestrator are held to one reading of OpenAPI.
//
// Load also checks the document itself: it must validate against the
// official OpenAPI 3.1 schema (oas-3.1-schema.json, published by the OpenAPI
// Initiative under the Apache License 2.0 as
// https://spec.openapis.org/oas/3.1/schema/2022-10-07), every $ref must
// resolve, every Schema Object must be a valid 2020-12 schema using only
// known keywords, and every path placeholder must have its path parameter.
//
// It is a test helper: it favours precise error messages over speed.
package openapitest

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// ErrUndocumented marks traffic the document does not describe at all: an
// unknown path, method, status or media type, or a body where none is
// documented. Schema violations are other errors.
var ErrUndocumented = errors.New("not documented")

// ErrBodySchema marks a body that is well-formed and of a documented media
// type but does not match its schema. A strict server answers that with 422
// where it answers every other problem of a request with 400, so callers
// that play a server need to tell them apart.
var ErrBodySchema = errors.New("the body does not match the schema")

const (
	docURL       = "mem:///openapi.json"
	oasSchemaURL = "https://spec.openapis.org/oas/3.1/schema/2022-10-07"
)

//go:embed oas-3.1-schema.json
var oasSchemaJSON []byte

// oasSchema compiles the OpenAPI 3.1 schema once.
var oasSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(oasSchemaJSON))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(oasSchemaURL, doc); err != nil {
		return nil, err
	}
	return c.Compile(oasSchemaURL)
})

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Doc is a loaded OpenAPI document. It is safe for concurrent use.
type Doc struct {
	root     map[string]any
	compiler *jsonschema.Compiler
	paths    []pathTemplate

	mu       sync.Mutex
	compiled map[string]*jsonschema.Schema // by JSON pointer into the document
}

type pathTemplate struct {
	template string
	segments []*regexp.Regexp // nil for a literal segment
	literal  []string
	params   []string
}

// Option changes how Load reads a document.
type Option func(*loadOptions)

type loadOptions struct {
	nullable bool
}

// Nullable makes Load accept OpenAPI 3.0's "nullable": true in a 3.1
// document and read it as its authors meant: null is allowed besides what
// the schema accepts. Documents converted from 3.0 keep it here and there
// (Chatwoot's does); JSON Schema 2020-12 would silently ignore it and refuse
// the nulls, so without this option Load refuses it as an unknown keyword.
func Nullable() Option { return func(o *loadOptions) { o.nullable = true } }

// Load parses and checks an OpenAPI 3.1 document (see the package comment
// for what is checked). The error lists every problem found.
func Load(doc []byte, opts ...Option) (*Doc, error) {
	var o loadOptions
	for _, opt := range opts {
		opt(&o)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("openapitest: the document is not JSON: %w", err)
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("openapitest: the document is not a JSON object")
	}
	if ver, _ := root["openapi"].(string); !strings.HasPrefix(ver, "3.1.") {
		return nil, fmt.Errorf("openapitest: openapi is %q, want 3.1.x", ver)
	}
	meta, err := oasSchema()
	if err != nil {
		return nil, fmt.Errorf("openapitest: compile the OpenAPI 3.1 schema: %w", err)
	}
	if err := meta.Validate(v); err != nil {
		return nil, fmt.Errorf("openapitest: the document does not validate against the OpenAPI 3.1 schema: %w", err)
	}
	d := &Doc{root: root, compiled: map[string]*jsonschema.Schema{}}
	if o.nullable {
		// Before the compiler sees the document: it keeps what it is given.
		for _, ptr := range d.schemaLocations() {
			walkSchema(d.at(ptr), ptr, translateNullable)
		}
	}
	d.compiler = jsonschema.NewCompiler()
	d.compiler.DefaultDraft(jsonschema.Draft2020)
	d.compiler.AssertFormat()
	if err := d.compiler.AddResource(docURL, v); err != nil {
		return nil, fmt.Errorf("openapitest: %w", err)
	}
	paths, _ := root["paths"].(map[string]any)
	for _, tmpl := range sortedKeys(paths) {
		d.paths = append(d.paths, parseTemplate(tmpl))
	}
	if errs := d.lint(); len(errs) > 0 {
		return nil, fmt.Errorf("openapitest: the document is not consistent:\n%w", errors.Join(errs...))
	}
	return d, nil
}

// Operations lists every documented operation as {METHOD, path template},
// sorted by path then method.
func (d *Doc) Operations() [][2]string {
	var out [][2]string
	for _, p := range d.paths {
		item := d.pathItem(p.template)
		for _, m := range httpMethods {
			if _, ok := item[m]; ok {
				out = append(out, [2]string{strings.ToUpper(m), p.template})
			}
		}
	}
	return out
}

// HasOperation reports whether the document has method on pathTemplate
// (a template exactly as the document spells it, e.g. /api/approvals/{id}).
func (d *Doc) HasOperation(method, pathTemplate string) bool {
	_, ok := d.pathItem(pathTemplate)[strings.ToLower(method)].(map[string]any)
	return ok
}

// MatchPath finds the path template a concrete path (query allowed) falls
// under. Literal segments win over placeholders, so /api/webhooks/chatwoot
// matches itself and not /api/webhooks/{service}. A template matches itself.
func (d *Doc) MatchPath(path string) (template string, ok bool) {
	path, _, _ = strings.Cut(path, "?")
	path, _, _ = strings.Cut(path, "#")
	if _, ok := d.root["paths"].(map[string]any)[path]; ok {
		return path, true
	}
	segs := strings.Split(path, "/")
	var best *pathTemplate
	for i := range d.paths {
		p := &d.paths[i]
		if !p.match(segs) {
			continue
		}
		if best == nil || moreLiteral(p, best) {
			best = p
		}
	}
	if best == nil {
		return "", false
	}
	return best.template, true
}

// CompareRoutes compares registered routes ({METHOD, template}, with
// placeholders as {name}; see GinPath) with the document. HEAD routes that
// are not documented are ignored when GET is documented for the path.
func (d *Doc) CompareRoutes(routes [][2]string) (undocumented, unregistered [][2]string) {
	registered := map[[2]string]bool{}
	for _, r := range routes {
		r[0] = strings.ToUpper(r[0])
		registered[r] = true
		if !d.HasOperation(r[0], r[1]) && !(r[0] == http.MethodHead && d.HasOperation(http.MethodGet, r[1])) {
			undocumented = append(undocumented, r)
		}
	}
	for _, op := range d.Operations() {
		if !registered[op] {
			unregistered = append(unregistered, op)
		}
	}
	return undocumented, unregistered
}

// Operation is the documented operation a request falls under.
type Operation struct {
	ID       string // the operationId, "" when the document gives none
	Method   string // upper case
	Template string // the path template as the document spells it
	// PathParams holds the placeholders' values, unescaped.
	PathParams map[string]string
}

// FindOperation finds the operation for method on target (a path with an
// optional query). The error wraps ErrUndocumented when no path template
// matches or the method is not documented for it.
func (d *Doc) FindOperation(method, target string) (*Operation, error) {
	op, err := d.operation(method, target)
	if err != nil {
		return nil, err
	}
	path, _, _ := strings.Cut(target, "?")
	params := op.tmpl.values(strings.Split(path, "/"))
	for name, v := range params {
		if u, err := url.PathUnescape(v); err == nil {
			params[name] = u
		}
	}
	id, _ := op.obj["operationId"].(string)
	return &Operation{ID: id, Method: strings.ToUpper(method), Template: op.tmpl.template, PathParams: params}, nil
}

var ginParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

// GinPath converts a Gin route path (/api/approvals/:id, /files/*path) to an
// OpenAPI template (/api/approvals/{id}, /files/{path}).
func GinPath(p string) string { return ginParam.ReplaceAllString(p, "{$1}") }

// ValidateResponse checks a response to method on path (a concrete path,
// query allowed, or a template): the operation and the status (or a range
// like 4XX, or default) must be documented, contentType must be one of the
// response's media types (parameters such as charset are ignored), and a
// JSON body must validate against the media type's schema. A response
// documented without content must have an empty body.
func (d *Doc) ValidateResponse(method, path string, status int, contentType string, body []byte) error {
	_, err := d.validateResponse(method, path, status, contentType, body)
	return err
}

// ValidateHTTPResponse is ValidateResponse with the content type taken from
// header, and also checks the documented response headers: a required one
// must be present, and any present must match its schema.
func (d *Doc) ValidateHTTPResponse(method, path string, status int, header http.Header, body []byte) error {
	resp, err := d.validateResponse(method, path, status, header.Get("Content-Type"), body)
	if resp == nil {
		return err
	}
	errs := []error{err}
	headers, _ := resp.obj["headers"].(map[string]any)
	for _, name := range sortedKeys(headers) {
		if strings.EqualFold(name, "Content-Type") {
			continue
		}
		h := d.resolve(resp.ptr+"/headers/"+escape(name), headers[name])
		value, present := header.Get(name), len(header.Values(name)) > 0
		if !present {
			if req, _ := h.obj["required"].(bool); req {
				errs = append(errs, fmt.Errorf("%s: the required header %s is missing", resp.where, name))
			}
			continue
		}
		if _, ok := h.obj["schema"]; ok {
			if err := d.validateParam(h.ptr+"/schema", value); err != nil {
				errs = append(errs, fmt.Errorf("%s: header %s: %w", resp.where, name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// ValidateRequest checks a request to target (a path with an optional
// query): the operation must be documented; path, query and header
// parameters must be present when required and match their schemas;
// undocumented query parameters are refused; the body must match the request
// body's media type and schema (an empty body is fine unless the request
// body is required). Pass a nil header when there are none.
//
// The error joins one error per problem (errors.Join), so that a caller can
// weigh each: a body that breaks its schema wraps ErrBodySchema, traffic the
// document does not describe wraps ErrUndocumented.
func (d *Doc) ValidateRequest(method, target string, header http.Header, body []byte) error {
	op, err := d.operation(method, target)
	if err != nil {
		return errors.Join(err)
	}
	var errs []error
	path, rawQuery, _ := strings.Cut(target, "?")
	query, qerr := url.ParseQuery(rawQuery)
	if qerr != nil {
		errs = append(errs, fmt.Errorf("%s: query: %w", op.where, qerr))
	}
	pathValues := op.tmpl.values(strings.Split(path, "/"))
	declared := map[string]bool{}
	for _, p := range d.parameters(op) {
		name, _ := p.obj["name"].(string)
		in, _ := p.obj["in"].(string)
		required, _ := p.obj["required"].(bool)
		var values []string
		switch in {
		case "path":
			if v, ok := pathValues[name]; ok {
				if u, err := url.PathUnescape(v); err == nil {
					v = u
				}
				values = []string{v}
			}
		case "query":
			declared[name] = true
			values = query[name]
		case "header":
			values = header.Values(name)
		default:
			continue
		}
		if len(values) == 0 {
			if required {
				errs = append(errs, fmt.Errorf("%s: the required %s parameter %s is missing", op.where, in, name))
			}
			continue
		}
		for _, v := range values {
			if err := d.validateParam(p.ptr+"/schema", v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %s parameter %s=%q: %w", op.where, in, name, v, err))
			}
		}
	}
	for _, name := range d.queryAPIKeys(op) {
		declared[name] = true
	}
	for _, name := range sortedKeys(query) {
		if !declared[name] {
			errs = append(errs, fmt.Errorf("%s: query parameter %s: %w", op.where, name, ErrUndocumented))
		}
	}
	rb, hasBody := op.obj["requestBody"]
	switch {
	case !hasBody && len(body) > 0:
		errs = append(errs, fmt.Errorf("%s: a request body: %w", op.where, ErrUndocumented))
	case hasBody:
		r := d.resolve(op.ptr+"/requestBody", rb)
		if len(body) == 0 {
			if required, _ := r.obj["required"].(bool); required {
				errs = append(errs, fmt.Errorf("%s: the request body is required", op.where))
			}
			break
		}
		errs = append(errs, d.validateContent(op.where+" request", r, header.Get("Content-Type"), body))
	}
	return errors.Join(errs...)
}

// located is a document object with its JSON pointer.
type located struct {
	ptr   string
	obj   map[string]any
	where string // for messages: "GET /api/approvals/{id} 200"
}

// docOp is an operation object with what matching found out about it.
type docOp struct {
	located
	tmpl   *pathTemplate
	method string
}

func (d *Doc) pathItem(template string) map[string]any {
	paths, _ := d.root["paths"].(map[string]any)
	item, _ := paths[template].(map[string]any)
	return item
}

func (d *Doc) operation(method, path string) (*docOp, error) {
	tmpl, ok := d.MatchPath(path)
	if !ok {
		return nil, fmt.Errorf("%s %s: no path template matches: %w", method, path, ErrUndocumented)
	}
	m := strings.ToLower(method)
	obj, ok := d.pathItem(tmpl)[m].(map[string]any)
	if !ok || !slices.Contains(httpMethods, m) {
		return nil, fmt.Errorf("%s %s (%s): the method: %w", method, path, tmpl, ErrUndocumented)
	}
	var pt *pathTemplate
	for i := range d.paths {
		if d.paths[i].template == tmpl {
			pt = &d.paths[i]
		}
	}
	where := strings.ToUpper(method) + " " + tmpl
	return &docOp{located: located{ptr: "/paths/" + escape(tmpl) + "/" + m, obj: obj, where: where}, tmpl: pt, method: m}, nil
}

// queryAPIKeys lists the query parameters that the operation's security
// schemes (apiKey in query) name: they are not parameters but are allowed.
func (d *Doc) queryAPIKeys(op *docOp) []string {
	reqs, ok := op.obj["security"].([]any)
	if !ok {
		reqs, _ = d.root["security"].([]any)
	}
	comps, _ := d.root["components"].(map[string]any)
	schemes, _ := comps["securitySchemes"].(map[string]any)
	var out []string
	for _, r := range reqs {
		req, _ := r.(map[string]any)
		for name := range req {
			s := d.resolve("/components/securitySchemes/"+escape(name), schemes[name])
			if s.obj["type"] == "apiKey" && s.obj["in"] == "query" {
				if n, ok := s.obj["name"].(string); ok {
					out = append(out, n)
				}
			}
		}
	}
	return out
}

// parameters merges path-item and operation parameters (the operation's win).
func (d *Doc) parameters(op *docOp) []located {
	type key struct{ name, in string }
	var out []located
	index := map[key]int{}
	itemPtr := strings.TrimSuffix(op.ptr, "/"+op.method)
	item := d.pathItem(op.tmpl.template)
	for _, src := range []struct {
		ptr  string
		list any
	}{{itemPtr + "/parameters", item["parameters"]}, {op.ptr + "/parameters", op.obj["parameters"]}} {
		list, _ := src.list.([]any)
		for i, p := range list {
			l := d.resolve(src.ptr+"/"+strconv.Itoa(i), p)
			name, _ := l.obj["name"].(string)
			in, _ := l.obj["in"].(string)
			k := key{name, strings.ToLower(in)}
			if in == "header" {
				k.name = http.CanonicalHeaderKey(name)
			}
			if j, ok := index[k]; ok {
				out[j] = l
				continue
			}
			index[k] = len(out)
			out = append(out, l)
		}
	}
	return out
}

func (d *Doc) validateResponse(method, path string, status int, contentType string, body []byte) (*located, error) {
	op, err := d.operation(method, path)
	if err != nil {
		return nil, err
	}
	responses, _ := op.obj["responses"].(map[string]any)
	code := strconv.Itoa(status)
	key := ""
	for _, k := range []string{code, code[:1] + "XX", code[:1] + "xx", "default"} {
		if _, ok := responses[k]; ok {
			key = k
			break
		}
	}
	if key == "" {
		return nil, fmt.Errorf("%s: status %d (documented: %s): %w", op.where, status, strings.Join(sortedKeys(responses), ", "), ErrUndocumented)
	}
	resp := d.resolve(op.ptr+"/responses/"+escape(key), responses[key])
	resp.where = fmt.Sprintf("%s %d", op.where, status)
	if content, _ := resp.obj["content"].(map[string]any); len(content) == 0 {
		if len(bytes.TrimSpace(body)) > 0 {
			return &resp, fmt.Errorf("%s: a body (%s): %w", resp.where, contentType, ErrUndocumented)
		}
		return &resp, nil
	}
	return &resp, d.validateContent(resp.where, resp, contentType, body)
}

// validateContent checks contentType and body against the content map of
// holder (a response or a request body).
func (d *Doc) validateContent(where string, holder located, contentType string, body []byte) error {
	content, _ := holder.obj["content"].(map[string]any)
	if contentType == "" {
		return fmt.Errorf("%s: no Content-Type (documented: %s)", where, strings.Join(sortedKeys(content), ", "))
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("%s: Content-Type %q: %w", where, contentType, err)
	}
	key, ok := matchMediaType(content, mt)
	if !ok {
		return fmt.Errorf("%s: Content-Type %s (documented: %s): %w", where, mt, strings.Join(sortedKeys(content), ", "), ErrUndocumented)
	}
	media, _ := content[key].(map[string]any)
	if _, ok := media["schema"]; !ok {
		return nil
	}
	schemaPtr := holder.ptr + "/content/" + escape(key) + "/schema"
	var instance any
	switch {
	case isJSON(mt):
		instance, err = jsonschema.UnmarshalJSON(bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("%s: the %s body is not JSON: %w", where, mt, err)
		}
	case strings.HasPrefix(mt, "text/"):
		instance = string(body)
	default:
		return nil
	}
	sch, err := d.schema(schemaPtr)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if err := sch.Validate(instance); err != nil {
		return fmt.Errorf("%s: %w: %w\nbody: %s", where, ErrBodySchema, err, truncate(body, 2000))
	}
	return nil
}

// validateParam validates a parameter or header string value, read as the
// schema's type when that is a number, integer or boolean.
func (d *Doc) validateParam(schemaPtr, value string) error {
	sch, err := d.schema(schemaPtr)
	if err != nil {
		return err
	}
	var instance any = value
	types := d.schemaTypes(schemaPtr)
	switch {
	case slices.Contains(types, "string"):
	case slices.Contains(types, "integer") || slices.Contains(types, "number"):
		if _, err := strconv.ParseFloat(value, 64); err == nil {
			instance = json.Number(value)
		}
	case slices.Contains(types, "boolean"):
		if b, err := strconv.ParseBool(value); err == nil {
			instance = b
		}
	}
	return sch.Validate(instance)
}

// schemaTypes reads the "type" of the schema at ptr, following $refs.
func (d *Doc) schemaTypes(ptr string) []string {
	l := d.resolve(ptr, d.at(ptr))
	switch t := l.obj["type"].(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// schema compiles (once) the schema at a JSON pointer into the document.
func (d *Doc) schema(ptr string) (*jsonschema.Schema, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.compiled[ptr]; ok {
		return s, nil
	}
	s, err := d.compiler.Compile(docURL + "#" + fragment(ptr))
	if err != nil {
		return nil, fmt.Errorf("compile the schema at %s: %w", ptr, err)
	}
	d.compiled[ptr] = s
	return s, nil
}

// resolve follows $ref chains (local references only) from the object at ptr.
func (d *Doc) resolve(ptr string, v any) located {
	for range 16 {
		obj, _ := v.(map[string]any)
		ref, ok := obj["$ref"].(string)
		if !ok || !strings.HasPrefix(ref, "#") {
			return located{ptr: ptr, obj: obj}
		}
		ptr = unfragment(strings.TrimPrefix(ref, "#"))
		v = d.at(ptr)
	}
	return located{ptr: ptr}
}

// at returns the value at a JSON pointer, or nil.
func (d *Doc) at(ptr string) any {
	v, _ := lookup(d.root, ptr)
	return v
}

func lookup(root any, ptr string) (any, bool) {
	if ptr == "" {
		return root, true
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, false
	}
	v := root
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[tok]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// escape makes one JSON pointer token.
func escape(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

// fragment percent-encodes a JSON pointer for use as a URL fragment.
func fragment(ptr string) string {
	var b strings.Builder
	for i := 0; i < len(ptr); i++ {
		c := ptr[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// unfragment decodes a $ref's fragment into a JSON pointer.
func unfragment(frag string) string {
	if u, err := url.PathUnescape(frag); err == nil {
		return u
	}
	return frag
}

func matchMediaType(content map[string]any, mt string) (string, bool) {
	mt = strings.ToLower(mt)
	var byRange, wildcard string
	for key := range content {
		k, _, err := mime.ParseMediaType(key)
		if err != nil {
			k = key
		}
		k = strings.ToLower(k)
		switch {
		case k == mt:
			return key, true
		case k == "*/*":
			wildcard = key
		case strings.HasSuffix(k, "/*") && strings.HasPrefix(mt, strings.TrimSuffix(k, "*")):
			byRange = key
		}
	}
	if byRange != "" {
		return byRange, true
	}
	return wildcard, wildcard != ""
}

func isJSON(mt string) bool { return mt == "application/json" || strings.HasSuffix(mt, "+json") }

var (
	placeholder = regexp.MustCompile(`\{([^{}/]+)\}`)
	notWord     = regexp.MustCompile(`[^A-Za-z0-9_]`)
)

func parseTemplate(tmpl string) pathTemplate {
	p := pathTemplate{template: tmpl}
	for _, seg := range strings.Split(tmpl, "/") {
		if !strings.Contains(seg, "{") {
			p.segments = append(p.segments, nil)
			p.literal = append(p.literal, seg)
			continue
		}
		var re strings.Builder
		re.WriteString("^")
		last := 0
		for _, m := range placeholder.FindAllStringSubmatchIndex(seg, -1) {
			re.WriteString(regexp.QuoteMeta(seg[last:m[0]]))
			re.WriteString("(?P<" + sanitize(seg[m[2]:m[3]]) + ">[^/]+)")
			p.params = append(p.params, seg[m[2]:m[3]])
			last = m[1]
		}
		re.WriteString(regexp.QuoteMeta(seg[last:]) + "$")
		p.segments = append(p.segments, regexp.MustCompile(re.String()))
		p.literal = append(p.literal, seg)
	}
	return p
}

// sanitize makes a parameter name usable as a regexp group name; values
// looks groups up by position, so collisions do not matter.
func sanitize(name string) string { return notWord.ReplaceAllString(name, "_") }

func (p *pathTemplate) match(segs []string) bool {
	if len(segs) != len(p.segments) {
		return false
	}
	for i, re := range p.segments {
		if re == nil {
			if segs[i] != p.literal[i] {
				return false
			}
		} else if !re.MatchString(segs[i]) {
			return false
		}
	}
	return true
}

// values reads the placeholders' values from a matching path.
func (p *pathTemplate) values(segs []string) map[string]string {
	out := map[string]string{}
	if p == nil || !p.match(segs) {
		return out
	}
	n := 0
	for i, re := range p.segments {
		if re == nil {
			continue
		}
		m := re.FindStringSubmatch(segs[i])
		for _, v := range m[1:] {
			out[p.params[n]] = v
			n++
		}
	}
	return out
}

// moreLiteral reports whether a has a literal segment where b first has a
// placeholder.
func moreLiteral(a, b *pathTemplate) bool {
	for i := range a.segments {
		al, bl := a.segments[i] == nil, b.segments[i] == nil
		if al != bl {
			return al
		}
	}
	return a.template < b.template
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}
