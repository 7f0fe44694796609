package openapitest

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// lint checks what the OpenAPI 3.1 schema cannot: references, the Schema
// Objects, path parameters and operation ids.
func (d *Doc) lint() []error {
	var errs []error
	walkRefs(d.root, "", func(ptr, ref string) {
		if !strings.HasPrefix(ref, "#") {
			errs = append(errs, fmt.Errorf("%s: $ref %q is not a local reference", ptr, ref))
			return
		}
		if _, ok := lookup(d.root, unfragment(ref[1:])); !ok {
			errs = append(errs, fmt.Errorf("%s: $ref %q does not resolve", ptr, ref))
		}
	})
	if len(errs) > 0 {
		return errs // compiling schemas would only repeat them
	}
	for _, ptr := range d.schemaLocations() {
		if _, err := d.schema(ptr); err != nil {
			errs = append(errs, err)
		}
		lintSchema(d.at(ptr), ptr, &errs)
	}
	ids := map[string]string{}
	for _, p := range d.paths {
		item := d.pathItem(p.template)
		for _, m := range httpMethods {
			obj, ok := item[m].(map[string]any)
			if !ok {
				continue
			}
			op := &docOp{located: located{ptr: "/paths/" + escape(p.template) + "/" + m, obj: obj}, tmpl: &p, method: m}
			where := strings.ToUpper(m) + " " + p.template
			if id, _ := obj["operationId"].(string); id != "" {
				if other, dup := ids[id]; dup {
					errs = append(errs, fmt.Errorf("%s: operationId %q is also used by %s", where, id, other))
				}
				ids[id] = where
			}
			inPath := map[string]bool{}
			for _, prm := range d.parameters(op) {
				if in, _ := prm.obj["in"].(string); in == "path" {
					name, _ := prm.obj["name"].(string)
					inPath[name] = true
					if !slices.Contains(p.params, name) {
						errs = append(errs, fmt.Errorf("%s: path parameter %q is not in the template", where, name))
					}
				}
			}
			for _, name := range p.params {
				if !inPath[name] {
					errs = append(errs, fmt.Errorf("%s: {%s} has no path parameter", where, name))
				}
			}
		}
	}
	return errs
}

// dataKeys hold instance data, not document structure.
var dataKeys = map[string]bool{"example": true, "enum": true, "const": true, "default": true, "value": true}

// walkRefs calls fn for every "$ref" string in the document.
func walkRefs(v any, ptr string, fn func(ptr, ref string)) {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(x) {
			if k == "$ref" {
				if s, ok := x[k].(string); ok {
					fn(ptr, s)
					continue
				}
			}
			if dataKeys[k] {
				continue
			}
			walkRefs(x[k], ptr+"/"+escape(k), fn)
		}
	case []any:
		for i, e := range x {
			walkRefs(e, ptr+"/"+strconv.Itoa(i), fn)
		}
	}
}

// schemaLocations lists the pointers of every Schema Object that is not
// reached through a $ref.
func (d *Doc) schemaLocations() []string {
	var out []string
	obj := func(v any) map[string]any {
		m, _ := v.(map[string]any)
		if _, isRef := m["$ref"]; isRef {
			return nil
		}
		return m
	}
	content := func(ptr string, c any) {
		m, _ := c.(map[string]any)
		for _, mt := range sortedKeys(m) {
			if _, ok := obj(m[mt])["schema"]; ok {
				out = append(out, ptr+"/"+escape(mt)+"/schema")
			}
		}
	}
	param := func(ptr string, v any) { // parameters and headers
		p := obj(v)
		if _, ok := p["schema"]; ok {
			out = append(out, ptr+"/schema")
		}
		content(ptr+"/content", p["content"])
	}
	response := func(ptr string, v any) {
		r := obj(v)
		hs, _ := r["headers"].(map[string]any)
		for _, name := range sortedKeys(hs) {
			param(ptr+"/headers/"+escape(name), hs[name])
		}
		content(ptr+"/content", r["content"])
	}
	params := func(ptr string, v any) {
		list, _ := v.([]any)
		for i, p := range list {
			param(ptr+"/"+strconv.Itoa(i), p)
		}
	}
	comps, _ := d.root["components"].(map[string]any)
	section := func(name string, fn func(ptr string, v any)) {
		m, _ := comps[name].(map[string]any)
		for _, k := range sortedKeys(m) {
			fn("/components/"+name+"/"+escape(k), m[k])
		}
	}
	section("schemas", func(ptr string, _ any) { out = append(out, ptr) })
	section("parameters", param)
	section("headers", param)
	section("responses", response)
	section("requestBodies", func(ptr string, v any) { content(ptr+"/content", obj(v)["content"]) })
	paths, _ := d.root["paths"].(map[string]any)
	for _, tmpl := range sortedKeys(paths) {
		item := obj(paths[tmpl])
		base := "/paths/" + escape(tmpl)
		params(base+"/parameters", item["parameters"])
		for _, m := range httpMethods {
			op := obj(item[m])
			if op == nil {
				continue
			}
			params(base+"/"+m+"/parameters", op["parameters"])
			content(base+"/"+m+"/requestBody/content", obj(op["requestBody"])["content"])
			rs, _ := op["responses"].(map[string]any)
			for _, code := range sortedKeys(rs) {
				response(base+"/"+m+"/responses/"+escape(code), rs[code])
			}
		}
	}
	return out
}

// schemaKeywords are the JSON Schema 2020-12 keywords and the OpenAPI
// extensions of a Schema Object; anything else (but x-*) is most likely a
// typo that would silently validate nothing.
var schemaKeywords = map[string]bool{}

func init() {
	for _, k := range strings.Fields(`
		$schema $id $ref $anchor $dynamicRef $dynamicAnchor $vocabulary $comment $defs
		prefixItems items contains additionalProperties properties patternProperties dependentSchemas
		propertyNames if then else allOf anyOf oneOf not unevaluatedItems unevaluatedProperties
		type const enum multipleOf maximum exclusiveMaximum minimum exclusiveMinimum maxLength minLength
		pattern maxItems minItems uniqueItems maxContains minContains maxProperties minProperties required
		dependentRequired title description default deprecated readOnly writeOnly examples format
		contentEncoding contentMediaType contentSchema discriminator xml externalDocs example`) {
		schemaKeywords[k] = true
	}
}

// lintSchema refuses unknown keywords and object schemas that can never
// validate (a required property that additionalProperties: false forbids).
func lintSchema(v any, ptr string, errs *[]error) {
	walkSchema(v, ptr, func(m map[string]any, ptr string) {
		for _, k := range sortedKeys(m) {
			if !schemaKeywords[k] && !strings.HasPrefix(k, "x-") {
				*errs = append(*errs, fmt.Errorf("%s: unknown schema keyword %q", ptr, k))
			}
		}
		if open, isBool := m["additionalProperties"].(bool); isBool && !open {
			props, _ := m["properties"].(map[string]any)
			req, _ := m["required"].([]any)
			for _, r := range req {
				if name, _ := r.(string); props[name] == nil && m["patternProperties"] == nil {
					*errs = append(*errs, fmt.Errorf("%s: %q is required but additionalProperties is false and it is not a property", ptr, name))
				}
			}
		}
	})
}

// walkSchema calls fn for the schema v at ptr and then for each of its
// subschemas, depth first. A $ref is not followed: its target is a schema
// location of its own.
func walkSchema(v any, ptr string, fn func(m map[string]any, ptr string)) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	fn(m, ptr)
	for _, k := range []string{"properties", "patternProperties", "$defs", "dependentSchemas"} {
		sub, _ := m[k].(map[string]any)
		for _, name := range sortedKeys(sub) {
			walkSchema(sub[name], ptr+"/"+k+"/"+escape(name), fn)
		}
	}
	for _, k := range []string{"additionalProperties", "items", "contains", "propertyNames", "not", "if", "then",
		"else", "unevaluatedItems", "unevaluatedProperties", "contentSchema"} {
		walkSchema(m[k], ptr+"/"+k, fn)
	}
	for _, k := range []string{"prefixItems", "allOf", "anyOf", "oneOf"} {
		list, _ := m[k].([]any)
		for i, s := range list {
			walkSchema(s, ptr+"/"+k+"/"+strconv.Itoa(i), fn)
		}
	}
}

// translateNullable rewrites a schema with OpenAPI 3.0's "nullable": true
// into its 2020-12 meaning, anyOf null or the schema without the keyword
// (see Nullable). It works in place, so that whatever refers to the schema
// sees the translation; walkSchema then descends into the moved copy.
func translateNullable(m map[string]any, _ string) {
	nullable, ok := m["nullable"].(bool)
	if !ok {
		return // absent, or not a boolean: lintSchema reports the latter
	}
	delete(m, "nullable")
	if !nullable {
		return
	}
	rest := maps.Clone(m)
	clear(m)
	m["anyOf"] = []any{map[string]any{"type": "null"}, rest}
}
