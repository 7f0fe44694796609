package chatwoottest

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orchestrator-dev/orchestrator/internal/testkit/openapitest"
)

const createPath = "/api/v1/accounts/1/conversations/2/messages"

func TestResponsesAreCheckedAgainstTheRealSpec(t *testing.T) {
	sp, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	op, err := sp.FindOperation(http.MethodPost, createPath)
	if err != nil || op.ID != "create-a-new-message-in-a-conversation" || op.PathParams["conversation_id"] != "2" {
		t.Fatalf("FindOperation: %+v %v", op, err)
	}
	r := httptest.NewRequest(http.MethodPost, createPath, nil)
	const ct = "application/json; charset=utf-8"
	good := `{"id":1,"content":"x","message_type":1,"created_at":5,"private":false,"status":"sent","source_id":null,"content_attributes":{}}`
	if err := checkResponse(sp, r, http.StatusOK, ct, []byte(good)); err != nil {
		t.Fatalf("good response refused: %v", err)
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
		if err := checkResponse(sp, r, http.StatusOK, ct, []byte(bad)); err == nil {
			t.Errorf("bad response %s accepted", bad)
		}
	}
	// Chatwoot's spec leaves out most error statuses; a success it leaves
	// out is the stand-in's fault.
	if err := checkResponse(sp, r, http.StatusUnprocessableEntity, ct, []byte(`{"error":"x"}`)); err != nil {
		t.Errorf("an undocumented error status: %v", err)
	}
	if err := checkResponse(sp, r, http.StatusCreated, ct, []byte(good)); !errors.Is(err, openapitest.ErrUndocumented) {
		t.Errorf("an undocumented success: %v", err)
	}
}

// The spec's few nullable schemas (3.0 syntax in a 3.1 document) take null.
func TestTheSpecsNullableAllowsNull(t *testing.T) {
	sp, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	const webhooks = "/api/v1/accounts/1/webhooks"
	for body, ok := range map[string]bool{
		`[{"id":1,"secret":null}]`:  true,
		`[{"id":1,"secret":"s"}]`:   true,
		`[{"id":1,"secret":false}]`: false,
	} {
		if err := sp.ValidateResponse(http.MethodGet, webhooks, http.StatusOK, "application/json", []byte(body)); (err == nil) != ok {
			t.Errorf("%s: %v, want ok=%v", body, err, ok)
		}
	}
}

func TestRequestStatus(t *testing.T) {
	sp, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, method, target, contentType, body string
		status                                  int
	}{
		{"valid", http.MethodPost, createPath, "application/json", `{"content":"x"}`, 0},
		{"schema only", http.MethodPost, createPath, "application/json", `{"content":5,"private":"yes"}`, 422},
		{"schema and an unknown parameter", http.MethodPost, createPath + "?x=1", "application/json", `{"content":5}`, 400},
		{"not JSON", http.MethodPost, createPath, "application/json", `{"content":`, 400},
		{"multipart", http.MethodPost, createPath, "multipart/form-data; boundary=b", "--b\r\ncontent-disposition: form-data; name=\"content\"\r\n\r\nx\r\n--b--\r\n", 400},
		{"no such path", http.MethodGet, "/api/v1/nonsense", "", "", 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, c.target, strings.NewReader(c.body))
			if c.contentType != "" {
				r.Header.Set("Content-Type", c.contentType)
			}
			op, violations, status := checkRequest(sp, r, []byte(c.body))
			if status != c.status || (status == 0) != (len(violations) == 0) || (op == nil) != (status == 404) {
				t.Fatalf("status %d, op %+v, violations %q; want status %d", status, op, violations, c.status)
			}
		})
	}
}
