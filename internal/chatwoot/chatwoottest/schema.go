package chatwoottest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file checks JSON values against the subset of JSON Schema that
// Chatwoot's OpenAPI document uses; lint refuses anything outside it.

// supportedKeywords are the JSON Schema keywords validate understands;
// annotations it may ignore are listed as false.
var supportedKeywords = map[string]bool{
	"type": true, "enum": true, "const": true, "required": true, "properties": true,
	"additionalProperties": true, "items": true, "allOf": true, "anyOf": true, "oneOf": true,
	"minLength": true, "maxLength": true, "minimum": true, "maximum": true,
	"exclusiveMinimum": true, "exclusiveMaximum": true, "minItems": true, "maxItems": true,
	"pattern": true, "$ref": true, "nullable": true,
	"description": false, "example": false, "examples": false, "title": false, "format": false,
	"readOnly": false, "writeOnly": false, "deprecated": false, "default": false, "externalDocs": false,
}

// lint refuses schemas that use keywords validate would silently ignore, so
// the stand-in never claims a request conforms when it cannot tell.
func (s *spec) lint(schema any, at string, seen map[string]bool) error {
	switch v := schema.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			if seen[ref] {
				return nil
			}
			seen[ref] = true
			target := s.pointer(ref)
			if target == nil {
				return fmt.Errorf("%s: unresolvable $ref %q", at, ref)
			}
			return s.lint(target, ref, seen)
		}
		for k, sub := range v {
			if _, known := supportedKeywords[k]; !known && !strings.HasPrefix(k, "x-") {
				return fmt.Errorf("%s: unsupported schema keyword %q", at, k)
			}
			switch k {
			case "properties":
				props, _ := sub.(map[string]any)
				for name, p := range props {
					if err := s.lint(p, at+"."+name, seen); err != nil {
						return err
					}
				}
			case "items", "additionalProperties":
				if err := s.lint(sub, at+"."+k, seen); err != nil {
					return err
				}
			case "allOf", "anyOf", "oneOf":
				list, _ := sub.([]any)
				for i, p := range list {
					if err := s.lint(p, fmt.Sprintf("%s.%s[%d]", at, k, i), seen); err != nil {
						return err
					}
				}
			case "pattern":
				p, _ := sub.(string)
				re, err := regexp.Compile(p)
				if err != nil {
					return fmt.Errorf("%s: pattern %q: %w", at, p, err)
				}
				s.patterns[p] = re
			}
		}
	case bool, nil:
	default:
		return fmt.Errorf("%s: schema of type %T", at, schema)
	}
	return nil
}

// lintOperation lints the request and response schemas of one operation.
func (s *spec) lintOperation(op *operation) error {
	seen := map[string]bool{}
	for _, p := range op.params {
		if err := s.lint(p["schema"], op.id+" parameter", seen); err != nil {
			return err
		}
	}
	if rb, ok := s.resolve(op.op["requestBody"]).(map[string]any); ok {
		content, _ := rb["content"].(map[string]any)
		if media, ok := content["application/json"].(map[string]any); ok {
			if err := s.lint(media["schema"], op.id+" request", seen); err != nil {
				return err
			}
		}
	}
	responses, _ := op.op["responses"].(map[string]any)
	for code, r := range responses {
		resp, _ := s.resolve(r).(map[string]any)
		content, _ := resp["content"].(map[string]any)
		if media, ok := content["application/json"].(map[string]any); ok {
			if err := s.lint(media["schema"], op.id+" response "+code, seen); err != nil {
				return err
			}
		}
	}
	return nil
}

// validate checks value (decoded with UseNumber) against schema and returns
// one message per violation, each naming the JSON path.
func (s *spec) validate(schema, value any, at string) []string {
	var errs []string
	s.check(schema, value, at, &errs, 0)
	return errs
}

func (s *spec) check(schema, value any, at string, errs *[]string, depth int) {
	if depth > 64 {
		*errs = append(*errs, at+": schema nesting too deep")
		return
	}
	schema = s.resolve(schema)
	m, ok := schema.(map[string]any)
	if !ok {
		if b, isBool := schema.(bool); isBool && !b {
			*errs = append(*errs, at+": not allowed")
		}
		return
	}
	fail := func(format string, args ...any) {
		*errs = append(*errs, at+": "+fmt.Sprintf(format, args...))
	}

	if nullable, _ := m["nullable"].(bool); nullable && value == nil {
		return
	}
	if t, ok := m["type"]; ok && !typeMatches(t, value) {
		fail("%s is %s, want %v", describe(value), jsonType(value), t)
		return
	}
	if enum, ok := m["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			if jsonEqual(e, value) {
				found = true
				break
			}
		}
		if !found {
			fail("%s is not one of %v", describe(value), enum)
		}
	}
	if c, ok := m["const"]; ok && !jsonEqual(c, value) {
		fail("%s is not %v", describe(value), c)
	}

	for _, sub := range listOf(m["allOf"]) {
		s.check(sub, value, at, errs, depth+1)
	}
	if alts := listOf(m["anyOf"]); len(alts) > 0 && s.matches(alts, value, depth) == 0 {
		fail("matches none of anyOf")
	}
	if alts := listOf(m["oneOf"]); len(alts) > 0 {
		if n := s.matches(alts, value, depth); n != 1 {
			fail("matches %d of oneOf, want exactly 1", n)
		}
	}

	switch v := value.(type) {
	case map[string]any:
		s.checkObject(m, v, at, errs, depth)
	case []any:
		if n, ok := number(m["minItems"]); ok && float64(len(v)) < n {
			fail("has %d items, want at least %v", len(v), n)
		}
		if n, ok := number(m["maxItems"]); ok && float64(len(v)) > n {
			fail("has %d items, want at most %v", len(v), n)
		}
		if items, ok := m["items"]; ok {
			for i, e := range v {
				s.check(items, e, fmt.Sprintf("%s[%d]", at, i), errs, depth+1)
			}
		}
	case string:
		n := float64(utf8.RuneCountInString(v))
		if min, ok := number(m["minLength"]); ok && n < min {
			fail("is shorter than %v", min)
		}
		if max, ok := number(m["maxLength"]); ok && n > max {
			fail("is longer than %v", max)
		}
		if p, ok := m["pattern"].(string); ok {
			re := s.patterns[p]
			if re == nil {
				var err error
				if re, err = regexp.Compile(p); err != nil {
					fail("pattern %q does not compile", p)
					break
				}
			}
			if !re.MatchString(v) {
				fail("does not match %q", p)
			}
		}
	case json.Number:
		f, _ := v.Float64()
		if min, ok := number(m["minimum"]); ok && f < min {
			fail("%v is below %v", v, min)
		}
		if max, ok := number(m["maximum"]); ok && f > max {
			fail("%v is above %v", v, max)
		}
		if min, ok := number(m["exclusiveMinimum"]); ok && f <= min {
			fail("%v is not above %v", v, min)
		}
		if max, ok := number(m["exclusiveMaximum"]); ok && f >= max {
			fail("%v is not below %v", v, max)
		}
	}
}

func (s *spec) checkObject(m map[string]any, v map[string]any, at string, errs *[]string, depth int) {
	for _, r := range listOf(m["required"]) {
		name, _ := r.(string)
		if _, ok := v[name]; !ok {
			*errs = append(*errs, fmt.Sprintf("%s: required property %q is missing", at, name))
		}
	}
	props, _ := m["properties"].(map[string]any)
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if p, ok := props[k]; ok {
			s.check(p, v[k], at+"."+k, errs, depth+1)
			continue
		}
		switch extra := m["additionalProperties"].(type) {
		case bool:
			if !extra {
				*errs = append(*errs, fmt.Sprintf("%s: unknown property %q", at, k))
			}
		case map[string]any:
			s.check(extra, v[k], at+"."+k, errs, depth+1)
		}
	}
}

func (s *spec) matches(alts []any, value any, depth int) int {
	n := 0
	for _, alt := range alts {
		var errs []string
		s.check(alt, value, "", &errs, depth+1)
		if len(errs) == 0 {
			n++
		}
	}
	return n
}

func listOf(v any) []any {
	l, _ := v.([]any)
	return l
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	}
	return 0, false
}

func typeMatches(t, value any) bool {
	switch t := t.(type) {
	case string:
		return typeIs(t, value)
	case []any:
		for _, e := range t {
			if s, ok := e.(string); ok && typeIs(s, value) {
				return true
			}
		}
		return false
	}
	return true
}

func typeIs(t string, value any) bool {
	switch t {
	case "null":
		return value == nil
	case "boolean":
		_, ok := value.(bool)
		return ok
	case "string":
		_, ok := value.(string)
		return ok
	case "object":
		_, ok := value.(map[string]any)
		return ok
	case "array":
		_, ok := value.([]any)
		return ok
	case "number":
		_, ok := value.(json.Number)
		return ok
	case "integer":
		n, ok := value.(json.Number)
		if !ok {
			return false
		}
		f, err := n.Float64()
		return err == nil && !math.IsInf(f, 0) && f == math.Trunc(f)
	}
	return false
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case json.Number:
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

func describe(v any) string {
	switch v := v.(type) {
	case string:
		if len(v) > 40 {
			v = v[:40] + "…"
		}
		return strconv.Quote(v)
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprint(v)
}

func jsonEqual(a, b any) bool {
	if fa, ok := number(a); ok {
		fb, ok := number(b)
		return ok && fa == fb
	}
	switch a := a.(type) {
	case nil:
		return b == nil
	case string, bool:
		return a == b
	}
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}
