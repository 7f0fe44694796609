package api

import _ "embed"

//go:embed openapi.json
var openAPIDocument []byte

// OpenAPIDocument returns the OpenAPI 3.1 description of the HTTP API
// (api/openapi.json). The caller must not modify the returned slice; serve
// it as application/json.
func OpenAPIDocument() []byte { return openAPIDocument }
