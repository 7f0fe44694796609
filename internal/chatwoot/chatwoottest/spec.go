package chatwoottest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// specRelPath is where the Chatwoot OpenAPI spec sits relative to the
// directory that holds the repository checkout.
const specRelPath = "shared/reference/chatwoot-swagger.json"

// FindSpec walks up from dir looking for shared/reference/chatwoot-swagger.json
// in dir or any of its ancestors (the repository is checked out beside
// shared/, so the spec is found from anywhere inside it).
func FindSpec(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("find spec: %w", err)
	}
	for {
		p := filepath.Join(dir, filepath.FromSlash(specRelPath))
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("find spec: no %s in %s or any parent", specRelPath, dir)
		}
		dir = parent
	}
}

// spec is the parsed OpenAPI document with what the stand-in needs: a route
// table and a checker for the subset of JSON Schema Chatwoot's spec uses.
type spec struct {
	doc    map[string]any
	routes []*route
	// patterns caches compiled "pattern" keywords; filled at load, read-only
	// afterwards.
	patterns map[string]*regexp.Regexp
}

type route struct {
	template string
	segments []string
	literals int
	item     map[string]any
}

// operation is one method of a route, with its parameters resolved.
type operation struct {
	id     string
	method string
	route  *route
	op     map[string]any
	params []map[string]any
}

func loadSpec(path string) (*spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load spec: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("load spec %s: %w", path, err)
	}
	paths, ok := doc["paths"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("load spec %s: no paths", path)
	}
	s := &spec{doc: doc, patterns: map[string]*regexp.Regexp{}}
	for tmpl, item := range paths {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		r := &route{template: tmpl, segments: strings.Split(strings.Trim(tmpl, "/"), "/"), item: m}
		for _, seg := range r.segments {
			if !isParamSegment(seg) {
				r.literals++
			}
		}
		s.routes = append(s.routes, r)
	}
	// Most literal segments first, so /conversations/meta beats
	// /conversations/{conversation_id}; the template breaks ties for a
	// stable order.
	sort.Slice(s.routes, func(i, j int) bool {
		if s.routes[i].literals != s.routes[j].literals {
			return s.routes[i].literals > s.routes[j].literals
		}
		return s.routes[i].template < s.routes[j].template
	})
	return s, nil
}

func isParamSegment(seg string) bool {
	return strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}")
}

// find returns the operation for a request path and method, with the path
// parameters. ok is false when no path template matches; op is nil when the
// path exists but not the method.
func (s *spec) find(method, path string) (op *operation, pathParams map[string]string, ok bool) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for _, r := range s.routes {
		if len(r.segments) != len(segs) {
			continue
		}
		params := map[string]string{}
		match := true
		for i, seg := range r.segments {
			if isParamSegment(seg) {
				if segs[i] == "" {
					match = false
					break
				}
				params[seg[1:len(seg)-1]] = segs[i]
				continue
			}
			if seg != segs[i] {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		raw, has := r.item[strings.ToLower(method)].(map[string]any)
		if !has {
			return nil, params, true
		}
		o := &operation{method: method, route: r, op: raw}
		o.id, _ = raw["operationId"].(string)
		o.params = s.collectParams(r.item["parameters"], raw["parameters"])
		return o, params, true
	}
	return nil, nil, false
}

// collectParams merges path-level and operation-level parameters; the
// operation's win, as OpenAPI says.
func (s *spec) collectParams(pathLevel, opLevel any) []map[string]any {
	byKey := map[string]map[string]any{}
	var order []string
	for _, list := range []any{pathLevel, opLevel} {
		items, _ := list.([]any)
		for _, it := range items {
			p, ok := s.resolve(it).(map[string]any)
			if !ok {
				continue
			}
			key := fmt.Sprint(p["in"], ":", p["name"])
			if _, seen := byKey[key]; !seen {
				order = append(order, key)
			}
			byKey[key] = p
		}
	}
	out := make([]map[string]any, 0, len(order))
	for _, k := range order {
		out = append(out, byKey[k])
	}
	return out
}

// resolve follows local $refs ("#/components/...").
func (s *spec) resolve(v any) any {
	for range 32 {
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return v
		}
		v = s.pointer(ref)
	}
	return nil
}

func (s *spec) pointer(ref string) any {
	if !strings.HasPrefix(ref, "#/") {
		return nil
	}
	var cur any = s.doc
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[tok]
	}
	return cur
}

// checkRequest validates the parts of a request the spec describes: path and
// query parameters, the content type and the JSON body. It returns the
// violations and the status a strict server would answer (400 for
// unreadable input, 422 for input that breaks the schema).
func (s *spec) checkRequest(op *operation, pathParams map[string]string, query url.Values, contentType string, body []byte) (violations []string, status int) {
	add := func(st int, format string, args ...any) {
		violations = append(violations, fmt.Sprintf(format, args...))
		if status == 0 || st == http.StatusBadRequest {
			status = st
		}
	}

	declaredQuery := map[string]bool{}
	for _, p := range op.params {
		name, _ := p["name"].(string)
		in, _ := p["in"].(string)
		schema := s.resolve(p["schema"])
		required, _ := p["required"].(bool)
		switch in {
		case "path":
			v, ok := pathParams[name]
			if !ok {
				add(http.StatusBadRequest, "path parameter %q missing", name)
				continue
			}
			for _, e := range s.checkParam(schema, v, "path."+name) {
				add(http.StatusBadRequest, "%s", e)
			}
		case "query":
			declaredQuery[name] = true
			vals, ok := query[name]
			if !ok {
				if required {
					add(http.StatusBadRequest, "query parameter %q is required", name)
				}
				continue
			}
			for _, v := range vals {
				for _, e := range s.checkParam(schema, v, "query."+name) {
					add(http.StatusBadRequest, "%s", e)
				}
			}
		}
	}
	for name := range query {
		if !declaredQuery[name] {
			add(http.StatusBadRequest, "query parameter %q is not in the spec", name)
		}
	}

	rb, hasBody := s.resolve(op.op["requestBody"]).(map[string]any)
	if !hasBody {
		if len(bytes.TrimSpace(body)) > 0 {
			add(http.StatusBadRequest, "the operation takes no request body")
		}
		return violations, status
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if req, _ := rb["required"].(bool); req {
			add(http.StatusBadRequest, "request body is required")
		}
		return violations, status
	}
	content, _ := rb["content"].(map[string]any)
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		add(http.StatusBadRequest, "content type %q: %v", contentType, err)
		return violations, status
	}
	media, ok := content[mediaType].(map[string]any)
	if !ok {
		add(http.StatusBadRequest, "content type %q is not one of the spec's", mediaType)
		return violations, status
	}
	if mediaType != "application/json" {
		add(http.StatusBadRequest, "the stand-in only checks application/json bodies, got %q", mediaType)
		return violations, status
	}
	value, err := decodeJSON(body)
	if err != nil {
		add(http.StatusBadRequest, "request body is not JSON: %v", err)
		return violations, status
	}
	for _, e := range s.validate(media["schema"], value, "body") {
		add(http.StatusUnprocessableEntity, "%s", e)
	}
	return violations, status
}

// checkResponse validates a JSON response the stand-in produced against the
// spec, to keep the stand-in honest.
func (s *spec) checkResponse(op *operation, status int, body []byte) []string {
	responses, _ := op.op["responses"].(map[string]any)
	resp, ok := s.resolve(responses[strconv.Itoa(status)]).(map[string]any)
	if !ok {
		if status >= 200 && status <= 299 {
			return []string{fmt.Sprintf("response status %d is not in the spec", status)}
		}
		return nil
	}
	content, _ := resp["content"].(map[string]any)
	media, _ := content["application/json"].(map[string]any)
	if media == nil || len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	value, err := decodeJSON(body)
	if err != nil {
		return []string{fmt.Sprintf("response is not JSON: %v", err)}
	}
	return s.validate(media["schema"], value, "response")
}

func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

// checkParam validates a path or query string against a scalar schema.
func (s *spec) checkParam(schema any, raw, at string) []string {
	m, _ := schema.(map[string]any)
	var v any = raw
	switch m["type"] {
	case "integer", "number":
		if _, err := strconv.ParseFloat(raw, 64); err != nil {
			return []string{fmt.Sprintf("%s: %q is not a number", at, raw)}
		}
		v = json.Number(raw)
	case "boolean":
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return []string{fmt.Sprintf("%s: %q is not a boolean", at, raw)}
		}
		v = b
	}
	return s.validate(schema, v, at)
}
