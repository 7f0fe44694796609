package app_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

// After a full flow, /metrics shows the figures ops ask for.
func TestMetricsAfterTheFlow(t *testing.T) {
	s := startStack(t, newEnv(t, storetest.URL(t, store.SQLite)))
	agent := s.token("agent-1", support)
	ceo := s.token("ceo-1", support, "approver")
	id := s.do("POST", "/api/approvals", agent, map[string]any{"tenantId": "/teams/support", "title": "Count me"}).json(t)["id"].(string)
	if r := s.do("PATCH", "/api/approvals/"+id, ceo, map[string]any{"status": "approved"}); r.status != http.StatusOK {
		t.Fatalf("approve: %d", r.status)
	}
	cons := s.do("GET", "/api/consultations?tenantId="+url.QueryEscape("/teams/support"), ceo, nil).json(t)["items"].([]any)
	cid := cons[0].(map[string]any)["id"].(string)
	for _, step := range []string{"start", "end"} {
		if r := s.do("POST", "/api/consultations/"+cid+"/"+step, ceo, nil); r.status != http.StatusOK {
			t.Fatalf("%s: %d", step, r.status)
		}
	}
	want := []string{
		"orchestrator_escalations_created_total 1",
		`orchestrator_escalations_decided_total{outcome="approved"} 1`,
		"orchestrator_time_to_decision_seconds_count 1",
		`orchestrator_consultations_total{state="scheduled"} 1`,
		`orchestrator_consultations_total{state="active"} 1`,
		`orchestrator_consultations_total{state="ended"} 1`,
		`orchestrator_http_requests_total{method="POST",route="/api/approvals",status="201"} 1`,
		`orchestrator_http_requests_total{method="PATCH",route="/api/approvals/:id",status="200"} 1`,
		`orchestrator_external_calls_total{outcome="issued",target="jitsi"}`,
		"orchestrator_http_request_duration_seconds_bucket",
		"temporal_request_total",
		// The store's pool: on SQLite one connection that every read and
		// write waits for.
		`go_sql_max_open_connections{db_name="orchestrator"} 1`,
		`go_sql_wait_duration_seconds_total{db_name="orchestrator"}`,
		// Counted in the store across tenants: the approved escalation
		// waits no more, so nothing is near or past its deadline.
		"orchestrator_escalations_near_deadline 0",
		"orchestrator_escalations_overdue 0",
	}
	resp, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics lacks %q", w)
		}
	}
}
