package app_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

// Every state change of a full flow through the running stack (create,
// question, answer, approve, consultation start and end, a withdrawal, a
// policy change) is an event waiting in the outbox for the subscription,
// numbered per resource, with the resource as the API shows it and never
// the consultation's room.
func TestOutboxThroughTheFlow(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			s := startStack(t, newEnv(t, storetest.URL(t, d)))
			agent := s.token("agent-1", support)
			ceo := s.token("ceo-1", support, "approver")
			call := func(method, path, token string, body any, want int) map[string]any {
				t.Helper()
				r := s.do(method, path, token, body)
				if r.status != want {
					t.Fatalf("%s %s: %d %s, want %d", method, path, r.status, r.body, want)
				}
				if len(r.body) == 0 {
					return nil
				}
				return r.json(t)
			}

			// A literal public address: no DNS lookup, whatever the setting.
			sub := call("POST", "/api/subscriptions", ceo, map[string]any{"tenantId": "/teams/support", "url": "https://203.0.113.10/hooks"}, http.StatusCreated)
			if secret, _ := sub["secret"].(string); !strings.HasPrefix(secret, "whsec_") {
				t.Fatalf("create subscription: %v", sub)
			}
			subID := sub["id"].(string)

			id := call("POST", "/api/approvals", agent, map[string]any{"tenantId": "/teams/support", "title": "Refund above limit"}, http.StatusCreated)["id"].(string)
			call("POST", "/api/approvals/"+id+"/request-info", ceo, map[string]any{"question": "Which order?"}, http.StatusOK)
			call("POST", "/api/approvals/"+id+"/provide-info", agent, map[string]any{"answer": "Order 42"}, http.StatusOK)
			call("PATCH", "/api/approvals/"+id, ceo, map[string]any{"status": "approved", "comment": "go ahead"}, http.StatusOK)
			cons := call("GET", "/api/consultations?tenantId="+url.QueryEscape("/teams/support")+"&approvalId="+id, ceo, nil, http.StatusOK)["items"].([]any)
			if len(cons) != 1 {
				t.Fatalf("the approval opened %d consultations", len(cons))
			}
			consID, room := cons[0].(map[string]any)["id"].(string), cons[0].(map[string]any)["jitsiRoom"].(string)
			call("POST", "/api/consultations/"+consID+"/start", ceo, nil, http.StatusOK)
			call("POST", "/api/consultations/"+consID+"/end", ceo, nil, http.StatusOK)
			w := call("POST", "/api/approvals", agent, map[string]any{"tenantId": "/teams/support", "title": "Take back"}, http.StatusCreated)["id"].(string)
			call("POST", "/api/approvals/"+w+"/withdraw", agent, map[string]any{"comment": "solved"}, http.StatusOK)
			call("PUT", "/api/policies?tenantId=%2Fteams%2Fsupport", ceo, map[string]any{"defaultTtl": "24h", "maxTtl": "48h"}, http.StatusOK)

			r := s.do("GET", "/api/subscriptions/"+subID+"/deliveries?limit=200", ceo, nil)
			var page struct {
				Items []struct {
					EventID   string          `json:"eventId"`
					EventType string          `json:"eventType"`
					Event     json.RawMessage `json:"event"`
				} `json:"items"`
			}
			if r.status != http.StatusOK || json.Unmarshal(r.body, &page) != nil {
				t.Fatalf("deliveries: %d %s", r.status, r.body)
			}
			// Per resource, in sequence order.
			byResource := map[string][]string{}
			ids := map[string]bool{}
			for _, it := range page.Items {
				var ev struct {
					Type string         `json:"type"`
					Data map[string]any `json:"data"`
				}
				if err := json.Unmarshal(it.Event, &ev); err != nil || ev.Type != it.EventType || ev.Data["tenantId"] != "/teams/support" {
					t.Fatalf("event %s: %s (%v)", it.EventID, it.Event, err)
				}
				if strings.Contains(string(it.Event), room) {
					t.Fatalf("an event gives the consultation's room away: %s", it.Event)
				}
				if ids[it.EventID] {
					t.Fatalf("event %s delivered twice to one subscription", it.EventID)
				}
				ids[it.EventID] = true
				key := ev.Data["id"]
				if key == nil {
					key = "policy"
				}
				k := key.(string)
				seq := int(ev.Data["sequence"].(float64))
				for len(byResource[k]) < seq {
					byResource[k] = append(byResource[k], "")
				}
				byResource[k][seq-1] = ev.Type
			}
			for k, want := range map[string][]string{
				id:       {"approval.created", "approval.info_requested", "approval.info_provided", "approval.approved"},
				consID:   {"consultation.created", "consultation.started", "consultation.ended"},
				w:        {"approval.created", "approval.withdrawn"},
				"policy": {"policy.updated"},
			} {
				if !slices.Equal(byResource[k], want) {
					t.Errorf("events of %s by sequence: %v, want %v", k, byResource[k], want)
				}
			}
			if len(page.Items) != 10 {
				t.Errorf("%d events, want 10", len(page.Items))
			}
		})
	}
}
