package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// MaxBodyBytes caps every request body.
const MaxBodyBytes = 1 << 20

// readBody reads a body of at most MaxBodyBytes: 413 past the cap, 400 for
// invalid UTF-8.
func readBody(c *gin.Context) ([]byte, error) {
	return readBodyLimit(c, MaxBodyBytes)
}

// readBodyLimit is readBody with another cap. The cap is applied here only:
// wrapping the body in a second MaxBytesReader would make the smaller of the
// two the real limit.
func readBodyLimit(c *gin.Context, limit int64) ([]byte, error) {
	r := http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	b, err := io.ReadAll(r)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, problem(http.StatusRequestEntityTooLarge, "body_too_large", "the body is larger than %d bytes", limit)
		}
		return nil, problem(http.StatusBadRequest, "body_unreadable", "the body could not be read")
	}
	if !utf8.Valid(b) {
		return nil, problem(http.StatusBadRequest, "invalid_utf8", "the body is not valid UTF-8")
	}
	return b, nil
}

// decodeJSON strictly decodes a JSON object body into dst: JSON content type,
// size cap, valid UTF-8, no unknown fields, one value only.
func decodeJSON(c *gin.Context, dst any) error {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return problem(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as application/json")
	}
	b, err := readBody(c)
	if err != nil {
		return err
	}
	return decodeBytes(b, dst)
}

func decodeBytes(b []byte, dst any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return problem(http.StatusBadRequest, "body_empty", "the body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonProblem(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return problem(http.StatusBadRequest, "malformed_json", "the body holds more than one JSON value")
	}
	return nil
}

func jsonProblem(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return problem(http.StatusBadRequest, "malformed_json", "the body is not valid JSON (at byte %d)", syntax.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return problem(http.StatusBadRequest, "malformed_json", "the body must be a JSON object")
		}
		return invalid(FieldError{Field: field, Detail: fmt.Sprintf("must be %s", jsonKind(typ.Type.Kind().String()))})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return invalid(FieldError{Field: clip(name, 100), Detail: "is not a known field"})
	case errors.Is(err, io.ErrUnexpectedEOF):
		return problem(http.StatusBadRequest, "malformed_json", "the body ends in the middle of a JSON value")
	}
	return problem(http.StatusBadRequest, "malformed_json", "the body is not valid JSON")
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "slice":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	}
	return "of another type"
}

// jsonDepth returns the nesting depth of a JSON document (0 for a scalar).
func jsonDepth(b []byte) int {
	depth, maxDepth, inString, escaped := 0, 0, false, false
	for _, ch := range b {
		switch {
		case escaped:
			escaped = false
		case inString && ch == '\\':
			escaped = true
		case ch == '"':
			inString = !inString
		case inString:
		case ch == '{' || ch == '[':
			depth++
			if depth > maxDepth {
				maxDepth = depth
			}
		case ch == '}' || ch == ']':
			depth--
		}
	}
	return maxDepth
}

// jsonUnmarshalLenient decodes without refusing unknown fields (for
// payloads other systems define).
func jsonUnmarshalLenient(b []byte, dst any) error {
	return json.Unmarshal(b, dst)
}
