package chatwoottest

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"sync"

	"github.com/orchestrator-dev/orchestrator/internal/testkit/openapitest"
)

// specJSON is Chatwoot's OpenAPI document, carried with the stand-in so that
// a checkout anywhere can run the tests (see testdata/README.md for its
// origin, version and licence).
//
//go:embed testdata/chatwoot-openapi.json
var specJSON []byte

// loadSpec loads and checks the embedded spec once per process: checking
// Chatwoot's document (every schema in it is compiled) takes most of a
// second, and a test binary starts dozens of stand-ins. An openapitest.Doc is
// safe for concurrent use.
var loadSpec = sync.OnceValues(func() (*openapitest.Doc, error) {
	data := specJSON
	// Chatwoot's document is OpenAPI 3.1 but still marks a few schemas with
	// 3.0's nullable; Nullable reads them as Chatwoot sends them.
	d, err := openapitest.Load(data, openapitest.Nullable())
	if err != nil {
		return nil, fmt.Errorf("load the Chatwoot spec: %w", err)
	}
	return d, nil
})

// checkRequest checks a request against the spec: path, method, parameters,
// content type and body. op is nil when the spec has no such operation.
// status is what a strict server answers a request with violations: 404 for
// an operation the spec does not have, 422 when only the body breaks its
// schema, 400 for anything else unreadable or undocumented.
func checkRequest(sp *openapitest.Doc, r *http.Request, body []byte) (op *openapitest.Operation, violations []string, status int) {
	target := r.URL.RequestURI()
	op, err := sp.FindOperation(r.Method, target)
	if err != nil {
		return nil, []string{err.Error()}, http.StatusNotFound
	}
	var problems []error
	err = sp.ValidateRequest(r.Method, target, r.Header, body)
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		problems = joined.Unwrap() // one error per problem
	} else if err != nil {
		problems = []error{err}
	}
	contentType := r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(contentType)
	if len(problems) == 0 && len(bytes.TrimSpace(body)) > 0 && mt != "application/json" {
		// The spec also offers multipart/form-data for attachments, which
		// the validator cannot look into and the stand-in does not serve.
		problems = append(problems, fmt.Errorf("the stand-in reads only application/json bodies, got %q", contentType))
	}
	if len(problems) == 0 {
		return op, nil, 0
	}
	status = http.StatusUnprocessableEntity
	for _, p := range problems {
		violations = append(violations, p.Error())
		if !errors.Is(p, openapitest.ErrBodySchema) {
			status = http.StatusBadRequest
		}
	}
	return op, violations, status
}

// checkResponse checks an answer of the stand-in against the spec, to keep
// the stand-in honest. Chatwoot's spec documents few error statuses, and its
// error bodies follow the code rather than the spec (see the package
// comment), so an error status or error body the spec does not describe is
// not held against the stand-in; a success always is.
func checkResponse(sp *openapitest.Doc, r *http.Request, status int, contentType string, body []byte) error {
	err := sp.ValidateResponse(r.Method, r.URL.RequestURI(), status, contentType, body)
	if err != nil && status >= 300 && errors.Is(err, openapitest.ErrUndocumented) {
		return nil
	}
	return err
}
