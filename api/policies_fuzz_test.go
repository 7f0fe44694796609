package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/config"
	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// FuzzPutPolicyBody sends arbitrary bodies to PUT /api/policies as an
// approver of the tenant. Beyond checkHostileResponse and checkHostileBody:
// the answer is 200, 400, 413 or 415; a 200 is a policy that follows every
// rule (so nothing invalid is stored), and GET then reads the same.
func FuzzPutPolicyBody(f *testing.F) {
	for _, s := range []string{
		`{"defaultTtl":"72h","maxTtl":"720h","reminders":["4h","24h"]}`,
		`{"defaultTtl":"1h","maxTtl":"2h"}`,
		`{"defaultTtl":"1.5h","maxTtl":"90m30s","reminders":null}`,
		`{"defaultTtl":"3h","maxTtl":"2h"}`, `{"defaultTtl":"0s","maxTtl":"2h"}`, `{"defaultTtl":"-1h","maxTtl":"2h"}`,
		`{"defaultTtl":"1h","maxTtl":"2h","reminders":["2h"]}`, `{"defaultTtl":"1h","maxTtl":"2h","reminders":["30m","1800s"]}`,
		`{"defaultTtl":"1h","maxTtl":"2h","reminders":["1ns"]}`, `{"defaultTtl":"9223372036s","maxTtl":"9223372036s"}`,
		`{"defaultTtl":"1h","maxTtl":"2h","tenantId":"/teams/other"}`, `{"defaultTtl":3600,"maxTtl":"2h"}`,
		`{"defaultTtl":"1h","maxTtl":"2h"}{}`, `null`, `[]`, ``, `{"defaultTtl":"1h\u0000","maxTtl":"2h"}`,
	} {
		f.Add(uint8(0), []byte(s))
	}
	f.Add(uint8(6), []byte(`{"defaultTtl":"1h","maxTtl":"2h"}`))
	s := newHostileServer(f, store.SQLite)
	path := "/api/policies"
	query := "tenantId=" + url.QueryEscape(hostileTenant)
	f.Fuzz(func(t *testing.T, ctIndex uint8, body []byte) {
		ct, isJSON := fuzzContentType(ctIndex)
		req := hostileRequest{method: http.MethodPut, path: path, rawQuery: query, contentType: &ct, body: body}
		rec := s.do(req)
		p := checkHostileResponse(t, req, rec)
		checkHostileBody(t, req, isJSON, p, rec.Code)
		if !slices.Contains([]int{200, 400, 413, 415}, rec.Code) {
			t.Fatalf("%s: unexpected %d %s", req, rec.Code, hostileTrunc(rec.Body.String(), 300))
		}
		if rec.Code != http.StatusOK {
			return
		}
		var got store.PolicyView
		dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("%s: 200 body %s: %v", req, rec.Body, err)
		}
		parse := func(v string) time.Duration {
			d, err := time.ParseDuration(v)
			if err != nil {
				t.Fatalf("%s: answered a time that is not a duration: %s", req, rec.Body)
			}
			return d
		}
		var reminders []time.Duration
		for _, r := range got.Reminders {
			reminders = append(reminders, parse(r))
		}
		if problems := config.CheckApprovalPolicy(parse(got.DefaultTTL), parse(got.MaxTTL), reminders); len(problems) > 0 ||
			!slices.IsSorted(reminders) || got.Source != store.PolicySourceTenant || got.TenantID != hostileTenant ||
			got.UpdatedBy != hostileSubject || got.UpdatedAt == nil {
			t.Fatalf("%s: stored a policy that should have been refused (%v): %s", req, problems, rec.Body)
		}
		read := s.do(hostileRequest{method: http.MethodGet, path: path, rawQuery: query})
		var again store.PolicyView
		if read.Code != http.StatusOK || json.Unmarshal(read.Body.Bytes(), &again) != nil || again.DefaultTTL != got.DefaultTTL ||
			again.MaxTTL != got.MaxTTL || !slices.Equal(again.Reminders, got.Reminders) {
			t.Fatalf("%s: GET after PUT answered %d %s, want %s", req, read.Code, read.Body, rec.Body)
		}
	})
}
