package app_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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

// Who is nobody in Keycloak starts nothing from Chatwoot: an agent linked to
// no company account, or a label on a conversation nobody is assigned to;
// a private note in the conversation says why. A label asks as the
// assignee, who then cannot approve it.
func TestChatwootRequesterMustBeAKeycloakUser(t *testing.T) {
	cw := chatwoottest.Start(t)
	cw.AddConversation(1, 7)
	cw.AddConversation(1, 8)
	env := chatwootEnv(t, cw)
	env["CHATWOOT_AGENT_SUBJECTS"] = "5=ceo-1" // not agent 1, who posts the /escalate below
	s := startStack(t, env)
	// Conversation events name no account: the URL says whose they are.
	cw.SetWebhook(s.base+"/api/webhooks/chatwoot/1", webhookSecret)
	ctx := context.Background()
	ceo := s.token("ceo-1", []string{acme}, "approver")
	approvals := func() []any {
		return s.do("GET", "/api/approvals?tenantId="+url.QueryEscape(acme), ceo, nil).json(t)["items"].([]any)
	}
	refusal := func(conv int, want string) {
		t.Helper()
		eventually(t, "the refusal note in conversation "+strconv.Itoa(conv), func() bool {
			for _, m := range cw.Messages(1, conv) {
				if m.Private && strings.HasPrefix(m.Content, "Not escalated: ") && strings.Contains(m.Content, want) {
					return true
				}
			}
			return false
		})
	}

	agentClient := chatwoot.New(cw.URL(), cw.Token(), nil)
	if _, err := agentClient.PostMessage(ctx, 1, 7, chatwoot.NewMessage{Content: "/escalate Refund", Private: true}); err != nil {
		t.Fatal(err)
	}
	refusal(7, "not linked to a company account")
	cw.SimulateLabels(1, 8, "Ceo", "escalate")
	refusal(8, "no assignee")
	if err := cw.WaitWebhooks(ctx); err != nil {
		t.Fatal(err)
	}
	if got := approvals(); len(got) != 0 {
		t.Fatalf("escalations from requesters who are nobody in Keycloak: %v", got)
	}

	cw.SimulateLabels(1, 8, "Ceo") // the label off, assigned, and on again
	cw.Assign(1, 8, 5, "Casey")
	cw.SimulateLabels(1, 8, "Casey", "escalate")
	var ap map[string]any
	eventually(t, "the escalation by label", func() bool {
		if items := approvals(); len(items) == 1 {
			ap = items[0].(map[string]any)
		}
		return ap != nil
	})
	if ap["requestedBy"] != "ceo-1" {
		t.Fatalf("a label asks as the conversation's assignee: requestedBy %v", ap["requestedBy"])
	}
	r := s.do("PATCH", "/api/approvals/"+ap["id"].(string), ceo, map[string]any{"status": "approved"})
	if r.status != http.StatusForbidden || r.json(t)["code"] != "separation_of_duties" {
		t.Fatalf("the assignee approving the escalation they asked for: %d %s", r.status, r.body)
	}
	if v := cw.Violations(); len(v) != 0 {
		t.Fatalf("Chatwoot API spec violations: %v", v)
	}
}
