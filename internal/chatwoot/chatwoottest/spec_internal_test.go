package chatwoottest

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func TestSchemaCheckerOnTheRealSpec(t *testing.T) {
	sp, err := loadSpec(SpecPath(t))
	if err != nil {
		t.Fatal(err)
	}
	op, _, ok := sp.find(http.MethodPost, "/api/v1/accounts/1/conversations/2/messages")
	if !ok || op == nil || op.id != "create-a-new-message-in-a-conversation" {
		t.Fatalf("find: %v %v", ok, op)
	}
	good := `{"id":1,"content":"x","message_type":1,"created_at":5,"private":false,"status":"sent","source_id":null,"content_attributes":{}}`
	if v := sp.checkResponse(op, 200, []byte(good)); len(v) != 0 {
		t.Fatalf("good response refused: %v", v)
	}
	for _, bad := range []string{
		`{"id":1,"message_type":"outgoing"}`,
		`{"id":1,"message_type":7}`,
		`{"id":1,"created_at":"2025-01-01T00:00:00Z"}`,
		`{"id":1,"created_at":1.5}`,
		`{"id":"1"}`,
		`{"id":1,"status":"lost"}`,
		`{"id":1,"content_attributes":[]}`,
	} {
		if v := sp.checkResponse(op, 200, []byte(bad)); len(v) == 0 {
			t.Errorf("bad response %s accepted", bad)
		}
	}
}

func TestSchemaKeywords(t *testing.T) {
	sp := &spec{doc: map[string]any{}, patterns: map[string]*regexp.Regexp{}}
	schema, _ := decodeJSON([]byte(`{"type":"object","required":["a"],"additionalProperties":false,
		"properties":{"a":{"type":["integer","null"],"minimum":1},"b":{"type":"array","items":{"type":"string","maxLength":3},"maxItems":2},
		"c":{"oneOf":[{"type":"string"},{"type":"integer"}]},"d":{"type":"string","pattern":"^x+$"}}}`))
	cases := map[string]bool{
		`{"a":1}`:                   true,
		`{"a":null}`:                true,
		`{"a":0}`:                   false,
		`{}`:                        false,
		`{"a":1,"z":1}`:             false,
		`{"a":1,"b":["abc","de"]}`:  true,
		`{"a":1,"b":["abcd"]}`:      false,
		`{"a":1,"b":["a","b","c"]}`: false,
		`{"a":1,"c":"s"}`:           true,
		`{"a":1,"c":true}`:          false,
		`{"a":1,"d":"xxx"}`:         true,
		`{"a":1,"d":"xy"}`:          false,
	}
	for in, ok := range cases {
		v, err := decodeJSON([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		errs := sp.validate(schema, v, "body")
		if (len(errs) == 0) != ok {
			t.Errorf("%s: errors %v, want ok=%v", in, errs, ok)
		}
	}
	if err := sp.lint(map[string]any{"type": "object", "patternProperties": map[string]any{}}, "x", map[string]bool{}); err == nil || !strings.Contains(err.Error(), "patternProperties") {
		t.Fatalf("lint accepted an unsupported keyword: %v", err)
	}
}
