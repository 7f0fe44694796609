package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/orchestrator-dev/orchestrator/internal/chatwoot"
	"github.com/orchestrator-dev/orchestrator/internal/chatwoot/chatwoottest"
	"github.com/orchestrator-dev/orchestrator/internal/keycloak/keycloaktest"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

const (
	webhookSecret = "chatwoot-webhook-secret"
	acme          = "/organizations/acme-corp"
)

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventuallyWithin(t, 20*time.Second, what, cond)
}

func eventuallyWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func chatwootEnv(t *testing.T, cw *chatwoottest.Server) map[string]string {
	env := newEnv(t, storetest.URL(t, store.SQLite))
	env["CHATWOOT_BASE_URL"] = cw.URL()
	env["CHATWOOT_API_TOKEN"] = cw.Token()
	env["CHATWOOT_WEBHOOK_SECRET"] = webhookSecret
	env["CHATWOOT_ACCOUNT_TENANTS"] = "1=" + acme
	env["JITSI_APP_ID"] = "orchestrator"
	env["JITSI_APP_SECRET"] = "a-jitsi-app-secret-of-at-least-32-bytes!"
	env["JITSI_BASE_URL"] = "https://meet.example.com"
	return env
}

// kinds counts the orchestrator's messages in a conversation by kind.
func kinds(cw *chatwoottest.Server, conv int) (escalated, decided, public int) {
	for _, m := range cw.Messages(1, conv) {
		switch {
		case m.MessageType == 2 || m.SenderType == "Contact":
		case m.Private && strings.HasPrefix(m.Content, "Escalated to"):
			escalated++
		case m.Private && !strings.HasPrefix(m.Content, "/escalate"):
			decided++
		case !m.Private && m.MessageType == 1:
			public++
		}
	}
	return
}

// The whole customer loop: a customer writes, an agent types /escalate as a
// private note, the CEO approves over the API, the customer gets a join
// link; exactly one message of each kind.
func TestChatwootEscalationLoop(t *testing.T) {
	cw := chatwoottest.Start(t)
	cw.AddConversation(1, 7)
	env := chatwootEnv(t, cw)
	env["CHATWOOT_AGENT_SUBJECTS"] = "1=agent-1" // the stand-in's API user is agent 1
	s := startStack(t, env)
	cw.SetWebhook(s.base+"/api/webhooks/chatwoot", webhookSecret)
	ctx := context.Background()

	cw.SimulateIncoming(1, 7, "I was charged twice, I want a refund")
	agentClient := chatwoot.New(cw.URL(), cw.Token(), nil)
	if _, err := agentClient.PostMessage(ctx, 1, 7, chatwoot.NewMessage{Content: "/escalate Double charge refund\nVIP customer", Private: true}); err != nil {
		t.Fatal(err)
	}
	ceo := s.token("ceo-1", []string{acme}, "approver")
	var id string
	eventually(t, "the escalation from /escalate", func() bool {
		r := s.do("GET", "/api/approvals?tenantId="+url.QueryEscape(acme), ceo, nil)
		items := r.json(t)["items"].([]any)
		if len(items) == 1 {
			id = items[0].(map[string]any)["id"].(string)
		}
		return len(items) == 1
	})
	ap := s.do("GET", "/api/approvals/"+id, ceo, nil).json(t)
	if ap["title"] != "Double charge refund" || ap["requestedBy"] != "agent-1" ||
		ap["conversation"].(map[string]any)["conversationId"].(float64) != 7 {
		t.Fatalf("escalation from the note: %v", ap)
	}
	eventually(t, "the escalation note", func() bool { e, _, _ := kinds(cw, 7); return e == 1 })
	// A second /escalate while one is pending is idempotent.
	if _, err := agentClient.PostMessage(ctx, 1, 7, chatwoot.NewMessage{Content: "/escalate again", Private: true}); err != nil {
		t.Fatal(err)
	}
	if err := cw.WaitWebhooks(ctx); err != nil {
		t.Fatal(err)
	}

	if r := s.do("PATCH", "/api/approvals/"+id, ceo, map[string]any{"status": "approved", "comment": "refund it"}); r.status != http.StatusOK {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	eventually(t, "the decision note and the customer's join link", func() bool {
		_, d, p := kinds(cw, 7)
		return d == 1 && p == 1
	})
	time.Sleep(300 * time.Millisecond) // let stray duplicates show up, if any
	_ = cw.WaitWebhooks(ctx)
	if e, d, p := kinds(cw, 7); e != 1 || d != 1 || p != 1 {
		t.Fatalf("want exactly one message of each kind, got escalated=%d decided=%d public=%d", e, d, p)
	}
	var link string
	for _, m := range cw.Messages(1, 7) {
		if !m.Private && m.MessageType == 1 {
			link = m.Content
		}
	}
	if !strings.Contains(link, "https://meet.example.com/consult-") || !strings.Contains(link, "jwt=") {
		t.Fatalf("public message has no join link: %q", link)
	}
	list := s.do("GET", "/api/approvals?tenantId="+url.QueryEscape(acme), ceo, nil).json(t)["items"].([]any)
	if len(list) != 1 {
		t.Fatalf("our own notes or a repeated /escalate created more escalations: %d", len(list))
	}
	cons := s.do("GET", "/api/consultations?tenantId="+url.QueryEscape(acme), ceo, nil).json(t)["items"].([]any)
	if len(cons) != 1 || !strings.Contains(cons[0].(map[string]any)["joinUrl"].(string), "jwt=") {
		t.Fatalf("consultation with the CEO's join link: %v", cons)
	}
	cid := cons[0].(map[string]any)["id"].(string)
	if r := s.do("POST", "/api/consultations/"+cid+"/end", ceo, nil); r.status != http.StatusConflict {
		t.Fatalf("ending a scheduled consultation: want 409, got %d", r.status)
	}
	for _, step := range []string{"start", "end"} {
		if r := s.do("POST", "/api/consultations/"+cid+"/"+step, ceo, nil); r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", step, r.status, r.body)
		}
	}
	if r := s.do("POST", "/api/consultations/"+cid+"/start", ceo, nil); r.status != http.StatusConflict {
		t.Fatalf("start after end: want 409, got %d", r.status)
	}
	if v := cw.Violations(); len(v) != 0 {
		t.Fatalf("Chatwoot API spec violations: %v", v)
	}
}

func signedPost(t *testing.T, s *stack, body []byte, ts string, sig string, delivery string) response {
	t.Helper()
	h := []string{}
	if ts != "" {
		h = append(h, chatwoot.HeaderTimestamp, ts)
	}
	if sig != "" {
		h = append(h, chatwoot.HeaderSignature, sig)
	}
	if delivery != "" {
		h = append(h, chatwoot.HeaderDelivery, delivery)
	}
	return s.do("POST", "/api/webhooks/chatwoot", "", string(body), h...)
}

func TestChatwootWebhookSignatures(t *testing.T) {
	cw := chatwoottest.Start(t)
	s := startStack(t, chatwootEnv(t, cw))
	body := []byte(`{"event":"message_created","id":1,"content":"hello","message_type":"incoming","private":false,"account":{"id":1},"conversation":{"id":3}}`)
	now := strconv.FormatInt(time.Now().Unix(), 10)
	stale := strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)
	cases := []struct {
		name, ts, sig string
		want          int
	}{
		{"good", now, chatwoot.Sign(webhookSecret, now, body), http.StatusOK},
		{"wrong secret", now, chatwoot.Sign("other", now, body), http.StatusUnauthorized},
		{"stale", stale, chatwoot.Sign(webhookSecret, stale, body), http.StatusUnauthorized},
		{"missing signature", now, "", http.StatusUnauthorized},
		{"missing timestamp", "", chatwoot.Sign(webhookSecret, now, body), http.StatusUnauthorized},
		{"signature of another body", now, chatwoot.Sign(webhookSecret, now, []byte(`{}`)), http.StatusUnauthorized},
	}
	for i, c := range cases {
		r := signedPost(t, s, body, c.ts, c.sig, fmt.Sprintf("d-%d", i))
		if r.status != c.want {
			t.Errorf("%s: want %d, got %d %s", c.name, c.want, r.status, r.body)
		}
	}
	// A replayed delivery is recognised.
	r := signedPost(t, s, body, now, chatwoot.Sign(webhookSecret, now, body), "d-0")
	if r.status != http.StatusOK || r.json(t)["status"] != "duplicate" {
		t.Errorf("replay: want duplicate, got %d %s", r.status, r.body)
	}
}

// fakeHomeserver records m.notice sends, idempotent per transaction id.
type fakeHomeserver struct {
	mu      sync.Mutex
	notices map[string]string
}

func (f *fakeHomeserver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer as-token" {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	var body map[string]string
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notices[r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]] = body["body"]
	_ = json.NewEncoder(w).Encode(map[string]string{"event_id": "$1"})
}

func (f *fakeHomeserver) notice(txnID string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.notices[txnID]
}

func TestMatrixDecisions(t *testing.T) {
	hs := &fakeHomeserver{notices: map[string]string{}}
	srv := httptest.NewServer(hs)
	defer srv.Close()
	kc := keycloaktest.Start(t, keycloaktest.Realm{Users: []keycloaktest.User{
		{ID: "ceo-1", Username: "ceo", Groups: []string{"/teams/support/approvers"}},
		{ID: "agent-1", Username: "agent", Groups: []string{"/teams/support/approvers"}},
		{ID: "member-1", Username: "member", Groups: []string{"/teams/support"}},
	}})
	env := newEnv(t, storetest.URL(t, store.SQLite))
	env["MATRIX_HOMESERVER_URL"] = srv.URL
	env["MATRIX_AS_TOKEN"] = "as-token"
	env["MATRIX_HS_TOKEN"] = "hs-token"
	env["MATRIX_ROOM_ID"] = "!ops:example.org"
	env["MATRIX_USER_SUBJECTS"] = "@ceo:example.org=ceo-1,@agent:example.org=agent-1,@member:example.org=member-1,@ghost:example.org=ghost-1"
	env["KEYCLOAK_ADMIN_URL"] = kc.AdminURL()
	env["KEYCLOAK_ADMIN_CLIENT_ID"] = kc.ClientID()
	env["KEYCLOAK_ADMIN_CLIENT_SECRET"] = kc.ClientSecret()
	env["KEYCLOAK_DIRECTORY_CACHE_TTL"] = "0s"
	s := startStack(t, env)
	agent := s.token("agent-1", support)
	create := func(token, tenant string) string {
		r := s.do("POST", "/api/approvals", token, map[string]any{"tenantId": tenant, "title": "Via Matrix"})
		if r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		return r.json(t)["id"].(string)
	}
	txn := func(txnID, token, room, sender, body string) response {
		payload, _ := json.Marshal(map[string]any{"events": []map[string]any{{
			"type": "m.room.message", "event_id": "$" + txnID, "room_id": room, "sender": sender,
			"content": map[string]any{"msgtype": "m.text", "body": body},
		}}})
		req, _ := http.NewRequest("PUT", s.base+"/_matrix/app/v1/transactions/"+txnID, bytes.NewReader(payload))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return response{status: resp.StatusCode, body: b.Bytes()}
	}
	status := func(id string) any { return s.do("GET", "/api/approvals/"+id, agent, nil).json(t)["status"] }
	refusal := func(txnID, want string) {
		t.Helper()
		eventually(t, "refusal notice for "+txnID, func() bool { return strings.Contains(hs.notice("refusal-$"+txnID), want) })
	}
	const room = "!ops:example.org"

	first := create(agent, "/teams/support")
	if r := txn("t1", "wrong", room, "@ceo:example.org", "!approve "+first); r.status != http.StatusForbidden || !strings.Contains(string(r.body), "M_FORBIDDEN") {
		t.Fatalf("bad hs_token: want 403 M_FORBIDDEN, got %d %s", r.status, r.body)
	}
	// Refused, each with a notice saying why, and nothing decided.
	for _, tc := range []struct{ txn, room, sender, want string }{
		{"t2", room, "@agent:example.org", "requester cannot decide"},
		{"t3", room, "@member:example.org", "not an approver of /teams/support"},
		{"t4", room, "@stranger:example.org", "not mapped"},
		{"t5", room, "@ghost:example.org", "Keycloak does not know"},
	} {
		if r := txn(tc.txn, "hs-token", tc.room, tc.sender, "!approve "+first); r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", tc.txn, r.status, r.body)
		}
		refusal(tc.txn, tc.want)
		if st := status(first); st != "pending" {
			t.Fatalf("%s (%s) decided: %v", tc.txn, tc.sender, st)
		}
	}
	// A command from a room that is not a command room is ignored, silently.
	if r := txn("t6", "hs-token", "!elsewhere:example.org", "@ceo:example.org", "!approve "+first); r.status != http.StatusOK {
		t.Fatalf("t6: %d", r.status)
	}
	if st := status(first); st != "pending" || hs.notice("refusal-$t6") != "" {
		t.Fatalf("a command from another room was taken or answered: %v", st)
	}
	// Another tenant's approval does not exist for a support approver.
	finance := create(s.token("fin-1", []string{"/teams/finance"}), "/teams/finance")
	if r := txn("t7", "hs-token", room, "@ceo:example.org", "!approve "+finance); r.status != http.StatusOK {
		t.Fatalf("t7: %d", r.status)
	}
	refusal("t7", "no approval")

	if r := txn("t8", "hs-token", room, "@ceo:example.org", "!approve "+first+" fine by me"); r.status != http.StatusOK {
		t.Fatalf("txn: %d", r.status)
	}
	got := s.do("GET", "/api/approvals/"+first, agent, nil).json(t)
	if got["status"] != "approved" || got["approvedBy"] != "ceo-1" || got["comment"] != "fine by me" {
		t.Fatalf("matrix decision: %v", got)
	}
	for _, e := range s.do("GET", "/api/audit/resource/approval/"+first, agent, nil).json(t)["items"].([]any) {
		if e := e.(map[string]any); e["action"] == "approval.approved" && e["channel"] != store.ChannelMatrix {
			t.Fatalf("a Matrix decision is recorded with channel %v", e["channel"])
		}
	}
	// The same transaction id again is not processed again.
	second := create(agent, "/teams/support")
	if r := txn("t8", "hs-token", room, "@ceo:example.org", "!reject "+second); r.status != http.StatusOK {
		t.Fatalf("replay: %d", r.status)
	}
	if st := status(second); st != "pending" {
		t.Fatalf("a replayed transaction was processed twice: %v", st)
	}
}

// A note that reached Chatwoot while the worker was being stopped is not
// posted again by the next worker.
func TestNotificationsOnceAcrossWorkerRestart(t *testing.T) {
	cw := chatwoottest.Start(t)
	cw.AddConversation(1, 8, "vip")
	env := chatwootEnv(t, cw)
	s := startStack(t, env)
	agent := s.token("agent-1", []string{acme})
	cw.HangNextAfterCommit(1, 4*time.Second)
	r := s.do("POST", "/api/approvals", agent, map[string]any{
		"tenantId": acme, "title": "Restart me", "conversation": map[string]any{"accountId": 1, "conversationId": 8},
	})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	eventually(t, "the note to reach Chatwoot", func() bool { e, _, _ := kinds(cw, 8); return e == 1 })
	s.stop()

	startStack(t, env)
	// The stopped worker never reported the activity: the server retries it
	// when its start-to-close timeout (30s) runs out.
	eventuallyWithin(t, 60*time.Second, "label and priority after the restart", func() bool {
		l := cw.Labels(1, 8)
		return len(l) == 2 && l[1] == "escalated" && cw.Priority(1, 8) == "medium"
	})
	if e, _, _ := kinds(cw, 8); e != 1 {
		t.Fatalf("want one escalation note across the restart, got %d", e)
	}
}

func TestGenericWebhook(t *testing.T) {
	const secret, other = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_b2xkLXNlY3JldC1vbGQtc2VjcmV0LW9sZC1zZWNyZXQ="
	env := newEnv(t, storetest.URL(t, store.SQLite))
	env["WEBHOOK_SECRETS"] = "billing=" + secret
	env["WEBHOOK_TENANTS"] = "billing=/teams/support|/teams/finance"
	s := startStack(t, env)
	now := time.Now()
	// send signs with the Standard Webhooks reference library, as a sender
	// using it would, and posts the delivery.
	send := func(service, secret, id, tenant string) response {
		t.Helper()
		body := `{"tenantId":"` + tenant + `","type":"invoice.paid","data":{"invoice":"in_1"}}`
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := wh.Sign(id, now, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return s.do("POST", "/api/webhooks/"+service, "", body, "webhook-id", id,
			"webhook-timestamp", strconv.FormatInt(now.Unix(), 10), "webhook-signature", sig)
	}
	if r := send("billing", secret, "msg_1", "/teams/support"); r.status != http.StatusAccepted {
		t.Fatalf("good signature: %d %s", r.status, r.body)
	}
	if r := send("billing", other, "msg_2", "/teams/support"); r.status != http.StatusUnauthorized {
		t.Fatalf("bad signature: want 401, got %d", r.status)
	}
	if r := send("unknown", secret, "msg_3", "/teams/support"); r.status != http.StatusNotFound {
		t.Fatalf("unknown service: want 404, got %d", r.status)
	}
	// WEBHOOK_TENANTS reaches the receiver: a tenant not listed is refused.
	if r := send("billing", secret, "msg_4", "/teams/other"); r.status != http.StatusForbidden {
		t.Fatalf("tenant not allowed: want 403, got %d %s", r.status, r.body)
	}
	// A redelivery is acknowledged and recorded once.
	if r := send("billing", secret, "msg_1", "/teams/support"); r.status != http.StatusOK || !strings.Contains(string(r.body), "duplicate") {
		t.Fatalf("redelivery: want 200 duplicate, got %d %s", r.status, r.body)
	}
	trail := s.do("GET", "/api/audit?tenantId="+url.QueryEscape("/teams/support"), s.token("agent-1", support), nil).json(t)["items"].([]any)
	if len(trail) != 1 || trail[0].(map[string]any)["action"] != "webhook.received" {
		t.Fatalf("want one webhook.received entry, got %v", trail)
	}
}
