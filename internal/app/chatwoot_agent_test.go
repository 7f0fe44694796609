package app_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/orchestrator-dev/orchestrator/internal/chatwoot"
	"github.com/orchestrator-dev/orchestrator/internal/chatwoot/chatwoottest"
)

// A Chatwoot agent who escalates is requester as their Keycloak subject, so
// the same person cannot approve it through the API.
func TestChatwootAgentIsMappedToTheirKeycloakSubject(t *testing.T) {
	cw := chatwoottest.Start(t)
	cw.AddConversation(1, 7)
	env := chatwootEnv(t, cw)
	env["CHATWOOT_AGENT_SUBJECTS"] = "1=ceo-1" // the stand-in's API user is agent 1
	s := startStack(t, env)
	cw.SetWebhook(s.base+"/api/webhooks/chatwoot", webhookSecret)

	agentClient := chatwoot.New(cw.URL(), cw.Token(), nil)
	// Control characters in a note are dropped like the API drops them.
	if _, err := agentClient.PostMessage(context.Background(), 1, 7, chatwoot.NewMessage{Content: "/escalate Refund\u0007 now\nfor\u0000 a VIP", Private: true}); err != nil {
		t.Fatal(err)
	}
	ceo := s.token("ceo-1", []string{acme}, "approver")
	var ap map[string]any
	eventually(t, "the escalation from /escalate", func() bool {
		items := s.do("GET", "/api/approvals?tenantId="+url.QueryEscape(acme), ceo, nil).json(t)["items"].([]any)
		if len(items) == 1 {
			ap = items[0].(map[string]any)
		}
		return ap != nil
	})
	if ap["requestedBy"] != "ceo-1" || ap["metadata"].(map[string]any)["requesterMapped"] != true {
		t.Fatalf("the agent must be the requester as their Keycloak subject: %v", ap)
	}
	if ap["title"] != "Refund now" || ap["description"] != "for a VIP" {
		t.Fatalf("text from Chatwoot must be cleaned: %q %q", ap["title"], ap["description"])
	}
	r := s.do("PATCH", "/api/approvals/"+ap["id"].(string), ceo, map[string]any{"status": "approved"})
	if r.status != http.StatusForbidden || r.json(t)["code"] != "separation_of_duties" {
		t.Fatalf("the agent approving their own escalation as a Keycloak approver: %d %s", r.status, r.body)
	}
}
