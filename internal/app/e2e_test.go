package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

var (
	support     = []string{"/teams/support", "/organizations/acme-corp"}
	engineering = []string{"/teams/engineering"}
)

func TestEscalationEndToEnd(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			s := startStack(t, newEnv(t, storetest.URL(t, d)))
			agent := s.token("agent-1", support)
			ceo := s.token("ceo-1", support, "approver")

			created := s.do("POST", "/api/approvals", agent, map[string]any{
				"tenantId": "/teams/support", "title": "Refund above limit", "description": "2,000 EUR", "metadata": map[string]any{"ticket": 42},
			})
			if created.status != http.StatusCreated {
				t.Fatalf("create: %d %s", created.status, created.body)
			}
			ap := created.json(t)
			id := ap["id"].(string)
			if ap["status"] != "pending" || ap["priority"] != "medium" || ap["requestedBy"] != "agent-1" {
				t.Fatalf("created approval: %s", created.body)
			}
			if got := s.do("GET", "/api/approvals/"+id, agent, nil); got.status != http.StatusOK {
				t.Fatalf("an approval must be readable the moment create answers: %d", got.status)
			}
			list := s.do("GET", "/api/approvals?tenantId="+url.QueryEscape("/teams/support")+"&status=pending", agent, nil)
			if list.status != http.StatusOK || len(list.json(t)["items"].([]any)) != 1 {
				t.Fatalf("list: %d %s", list.status, list.body)
			}

			if r := s.do("PATCH", "/api/approvals/"+id, agent, map[string]any{"status": "approved"}); r.status != http.StatusForbidden {
				t.Fatalf("a caller without the approver role: want 403, got %d", r.status)
			}
			if r := s.do("PATCH", "/api/approvals/"+id, ceo, map[string]any{"status": "maybe"}); r.status != http.StatusBadRequest {
				t.Fatalf("invalid status: want 400, got %d", r.status)
			}
			decided := s.do("PATCH", "/api/approvals/"+id, ceo, map[string]any{"status": "approved", "comment": "go ahead"})
			if decided.status != http.StatusOK {
				t.Fatalf("decide: %d %s", decided.status, decided.body)
			}
			if d := decided.json(t); d["status"] != "approved" || d["approvedBy"] != "ceo-1" || d["comment"] != "go ahead" {
				t.Fatalf("decided approval: %s", decided.body)
			}
			if r := s.do("PATCH", "/api/approvals/"+id, ceo, map[string]any{"status": "approved", "comment": "go ahead"}); r.status != http.StatusOK {
				t.Fatalf("the same decision retried by its decider: want 200, got %d %s", r.status, r.body)
			}
			if r := s.do("PATCH", "/api/approvals/"+id, ceo, map[string]any{"status": "rejected"}); r.status != http.StatusConflict {
				t.Fatalf("second decision: want 409, got %d %s", r.status, r.body)
			}

			trail := s.do("GET", "/api/audit/resource/approval/"+id, agent, nil)
			items := trail.json(t)["items"].([]any)
			if len(items) != 2 {
				t.Fatalf("audit trail: want 2 entries, got %s", trail.body)
			}
			second := items[1].(map[string]any)
			if second["action"] != "approval.approved" || second["userId"] != "ceo-1" ||
				second["oldValues"].(map[string]any)["status"] != "pending" || second["newValues"].(map[string]any)["status"] != "approved" {
				t.Fatalf("decision entry: %v", second)
			}
			cons := s.do("GET", "/api/consultations?tenantId="+url.QueryEscape("/teams/support"), agent, nil)
			if n := len(cons.json(t)["items"].([]any)); n != 1 {
				t.Fatalf("want 1 consultation after approval, got %d", n)
			}
			waitVisibility(t, fmt.Sprintf("ApprovalStatus='approved' AND TenantId='/teams/support' AND WorkflowId='approval-%s'", id))
		})
	}
}

// waitVisibility polls Temporal visibility (eventually consistent) for query.
func waitVisibility(t *testing.T, query string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := devServer.Client().ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default", Query: query})
		if err == nil && len(resp.Executions) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("visibility query %q found nothing (err %v)", query, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestIdempotentCreate(t *testing.T) {
	s := startStack(t, newEnv(t, storetest.URL(t, store.SQLite)))
	agent := s.token("agent-1", support)
	body := map[string]any{"tenantId": "/teams/support", "title": "Once only"}
	a := s.do("POST", "/api/approvals", agent, body, "Idempotency-Key", "k-1")
	b := s.do("POST", "/api/approvals", agent, body, "Idempotency-Key", "k-1")
	if a.status != http.StatusCreated || b.status != http.StatusCreated || a.json(t)["id"] != b.json(t)["id"] {
		t.Fatalf("a retried create must return the same approval: %s / %s", a.body, b.body)
	}
	other := s.do("POST", "/api/approvals", agent, map[string]any{"tenantId": "/teams/support", "title": "Something else"}, "Idempotency-Key", "k-1")
	if other.status != http.StatusUnprocessableEntity {
		t.Fatalf("a reused key with another body: want 422, got %d", other.status)
	}
	list := s.do("GET", "/api/approvals?tenantId="+url.QueryEscape("/teams/support"), agent, nil)
	if n := len(list.json(t)["items"].([]any)); n != 1 {
		t.Fatalf("want 1 approval, got %d", n)
	}
}

// Stopping the process between create and decide loses nothing: a new
// process on the same database and Temporal server delivers the decision to
// the waiting workflow.
func TestRestartBetweenCreateAndDecide(t *testing.T) {
	env := newEnv(t, storetest.URL(t, store.SQLite))
	s := startStack(t, env)
	agent := s.token("agent-1", support)
	created := s.do("POST", "/api/approvals", agent, map[string]any{"tenantId": "/teams/support", "title": "Survives a restart"})
	if created.status != http.StatusCreated {
		t.Fatalf("create: %d %s", created.status, created.body)
	}
	id := created.json(t)["id"].(string)
	s.stop()

	s2 := startStack(t, env)
	ceo := s2.token("ceo-1", support, "approver")
	decided := s2.do("PATCH", "/api/approvals/"+id, ceo, map[string]any{"status": "rejected", "comment": "after restart"})
	if decided.status != http.StatusOK || decided.json(t)["status"] != "rejected" {
		t.Fatalf("decide after restart: %d %s", decided.status, decided.body)
	}
}

func TestTenantIsolationOverHTTP(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			s := startStack(t, newEnv(t, storetest.URL(t, d)))
			eng := s.token("eng-1", engineering)
			engCEO := s.token("ceo-2", engineering, "approver")
			sup := s.token("agent-1", support, "approver")
			created := s.do("POST", "/api/approvals", eng, map[string]any{"tenantId": "/teams/engineering", "title": "Internal"})
			if created.status != http.StatusCreated {
				t.Fatalf("create: %d %s", created.status, created.body)
			}
			id := created.json(t)["id"].(string)
			checks := []struct {
				name, method, path string
				body               any
				want               int
			}{
				{"list other tenant", "GET", "/api/approvals?tenantId=" + url.QueryEscape("/teams/engineering"), nil, http.StatusForbidden},
				{"get", "GET", "/api/approvals/" + id, nil, http.StatusNotFound},
				{"decide", "PATCH", "/api/approvals/" + id, map[string]any{"status": "approved"}, http.StatusNotFound},
				{"audit list", "GET", "/api/audit?tenantId=" + url.QueryEscape("/teams/engineering"), nil, http.StatusForbidden},
				{"create in other tenant", "POST", "/api/approvals", map[string]any{"tenantId": "/teams/engineering", "title": "x"}, http.StatusForbidden},
				{"consultations list", "GET", "/api/consultations?tenantId=" + url.QueryEscape("/teams/engineering"), nil, http.StatusForbidden},
			}
			for _, c := range checks {
				if r := s.do(c.method, c.path, sup, c.body); r.status != c.want {
					t.Errorf("%s: want %d, got %d %s", c.name, c.want, r.status, r.body)
				}
			}
			if r := s.do("GET", "/api/audit/resource/approval/"+id, sup, nil); len(r.json(t)["items"].([]any)) != 0 {
				t.Errorf("resource audit leaked another tenant's entries: %s", r.body)
			}
			// The owner tenant still works, and its requester can't self-approve.
			if r := s.do("PATCH", "/api/approvals/"+id, s.token("eng-1", engineering, "approver"), map[string]any{"status": "approved"}); r.status != http.StatusForbidden {
				t.Errorf("self-approval: want 403, got %d", r.status)
			}
			if r := s.do("PATCH", "/api/approvals/"+id, engCEO, map[string]any{"status": "approved"}); r.status != http.StatusOK {
				t.Errorf("owner tenant decision: %d %s", r.status, r.body)
			}
		})
	}
}

func TestEveryAPIRouteNeedsAToken(t *testing.T) {
	s := startStack(t, newEnv(t, storetest.URL(t, store.SQLite)))
	id := store.NewID()
	routes := [][2]string{
		{"GET", "/api/me"}, {"POST", "/api/approvals"}, {"GET", "/api/approvals?tenantId=x"}, {"GET", "/api/approvals/" + id},
		{"PATCH", "/api/approvals/" + id}, {"POST", "/api/audit"}, {"GET", "/api/audit?tenantId=x"},
		{"GET", "/api/audit/resource/approval/" + id}, {"POST", "/api/consultations"}, {"GET", "/api/consultations?tenantId=x"},
		{"GET", "/api/consultations/" + id}, {"POST", "/api/consultations/" + id + "/start"}, {"POST", "/api/consultations/" + id + "/end"},
	}
	for _, r := range routes {
		for _, tok := range []string{"", "not.a.token", "Basic abc"} {
			resp := s.do(r[0], r[1], "", nil, "Authorization", tok)
			if resp.status != http.StatusUnauthorized || resp.header.Get("WWW-Authenticate") == "" ||
				resp.header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s %s with %q: want 401 problem+json with WWW-Authenticate, got %d %v", r[0], r[1], tok, resp.status, resp.header)
			}
		}
	}
}
