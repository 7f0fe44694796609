package chatwoottest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/chatwoot"
	"github.com/orchestrator-dev/orchestrator/internal/chatwoot/chatwoottest"
)

// call sends a raw request, so that these tests do not depend on the client
// they are meant to check.
func call(t *testing.T, hc *http.Client, s *chatwoottest.Server, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("api_access_token", token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: response %q is not a JSON object: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, out
}

const msgs = "/api/v1/accounts/1/conversations/7/messages"

func requireNoViolations(t *testing.T, s *chatwoottest.Server) {
	t.Helper()
	if v := s.Violations(); len(v) > 0 {
		t.Fatalf("unexpected spec violations:\n%s", strings.Join(v, "\n"))
	}
}

func TestTheStandInCarriesChatwootsSpec(t *testing.T) {
	// A checkout with nothing beside it starts the stand-in and is held to
	// Chatwoot's document: an operation Chatwoot lacks is refused.
	s := chatwoottest.Start(t)
	st, _ := call(t, nil, s, http.MethodPost, "/api/v1/accounts/1/conversations/7/not-in-chatwoot", s.Token(), `{}`)
	if st != http.StatusNotFound {
		t.Fatalf("undocumented operation: %d, want 404", st)
	}
	if v := s.Violations(); len(v) != 1 {
		t.Fatalf("violations = %v, want the one undocumented call", v)
	}
}

func TestCreateAndListFollowChatwootShapes(t *testing.T) {
	s := chatwoottest.Start(t)
	s.AddConversation(1, 7)

	st, m := call(t, nil, s, http.MethodPost, msgs, s.Token(),
		`{"content":"hello","message_type":"outgoing","private":true,"echo_id":"e-1","content_attributes":{"echo_id":"e-1"}}`)
	if st != http.StatusOK {
		t.Fatalf("create: %d %v", st, m)
	}
	if m["message_type"] != float64(1) || m["private"] != true || m["echo_id"] != "e-1" || m["conversation_id"] != float64(7) {
		t.Fatalf("create answer: %v", m)
	}
	if _, ok := m["created_at"].(float64); !ok {
		t.Fatalf("created_at is not a number: %v", m["created_at"])
	}

	st, list := call(t, nil, s, http.MethodGet, msgs, s.Token(), "")
	if st != http.StatusOK {
		t.Fatalf("list: %d", st)
	}
	payload := list["payload"].([]any)
	if len(payload) != 1 {
		t.Fatalf("payload: %v", payload)
	}
	got := payload[0].(map[string]any)
	if _, ok := got["echo_id"]; ok {
		t.Fatal("the list returned echo_id; Chatwoot does not store it")
	}
	if got["content_attributes"].(map[string]any)["echo_id"] != "e-1" {
		t.Fatalf("content_attributes not kept: %v", got["content_attributes"])
	}
	stored := s.Messages(1, 7)
	if len(stored) != 1 || stored[0].EchoID != "e-1" || !stored[0].Private || stored[0].MessageType != 1 {
		t.Fatalf("stored: %+v", stored)
	}
	requireNoViolations(t, s)
}

func TestRequestsBreakingTheSpecAreRefusedAndRecorded(t *testing.T) {
	cases := []struct {
		name, method, path, body string
		status                   int
	}{
		{"content has the wrong type", http.MethodPost, msgs, `{"content":5}`, 422},
		{"content missing", http.MethodPost, msgs, `{"private":true}`, 422},
		{"message_type outside the enum", http.MethodPost, msgs, `{"content":"x","message_type":"sideways"}`, 422},
		{"private is not a boolean", http.MethodPost, msgs, `{"content":"x","private":"yes"}`, 422},
		{"labels not a list", http.MethodPost, "/api/v1/accounts/1/conversations/7/labels", `{"labels":"a,b"}`, 422},
		{"priority outside the enum", http.MethodPost, "/api/v1/accounts/1/conversations/7/toggle_priority", `{"priority":"asap"}`, 422},
		{"body is not JSON", http.MethodPost, msgs, `{"content":`, 400},
		{"body missing", http.MethodPost, msgs, ``, 400},
		{"unknown query parameter", http.MethodGet, msgs + "?page=2", ``, 400},
		{"path parameter not an integer", http.MethodGet, "/api/v1/accounts/one/conversations/7/messages", ``, 400},
		{"unknown path", http.MethodGet, "/api/v1/accounts/1/conversations/7/nonsense", ``, 404},
		{"method not in the spec", http.MethodPut, msgs, `{"content":"x"}`, 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := chatwoottest.Start(t)
			s.AddConversation(1, 7)
			st, body := call(t, nil, s, tc.method, tc.path, s.Token(), tc.body)
			if st != tc.status {
				t.Fatalf("status %d (%v), want %d", st, body, tc.status)
			}
			if len(s.Violations()) == 0 {
				t.Fatal("no violation recorded")
			}
			if len(s.Messages(1, 7)) != 0 {
				t.Fatal("a refused request changed state")
			}
		})
	}
}

func TestUnknownTopLevelFieldsPassBecauseTheSchemaIsOpen(t *testing.T) {
	s := chatwoottest.Start(t)
	s.AddConversation(1, 7)
	if st, _ := call(t, nil, s, http.MethodPost, msgs, s.Token(), `{"content":"x","echo_id":"abc","whatever":1}`); st != http.StatusOK {
		t.Fatalf("status %d", st)
	}
	requireNoViolations(t, s)
}

func TestBadTokenIs401(t *testing.T) {
	s := chatwoottest.Start(t)
	s.AddConversation(1, 7)
	st, body := call(t, nil, s, http.MethodPost, msgs, "wrong", `{"content":"x"}`)
	if st != http.StatusUnauthorized || body["error"] != "Invalid Access Token" {
		t.Fatalf("got %d %v", st, body)
	}
	requireNoViolations(t, s) // a wrong token is configuration, not a spec breach

	st, _ = call(t, nil, s, http.MethodPost, msgs, "", `{"content":"x"}`)
	if st != http.StatusUnauthorized || len(s.Violations()) != 1 {
		t.Fatalf("missing token: %d, violations %v", st, s.Violations())
	}
	if n := len(s.Messages(1, 7)); n != 0 {
		t.Fatalf("%d messages stored", n)
	}
	for _, r := range s.Requests() {
		if r.Header.Get("api_access_token") == "wrong" {
			t.Fatal("recorded request kept the token")
		}
	}
}

func TestUnknownConversationIs404(t *testing.T) {
	s := chatwoottest.Start(t)
	s.AddConversation(1, 7)
	for _, p := range []string{"/api/v1/accounts/1/conversations/8/messages", "/api/v1/accounts/2/conversations/7/messages"} {
		st, body := call(t, nil, s, http.MethodGet, p, s.Token(), "")
		if st != http.StatusNotFound || body["error"] != "Resource could not be found" {
			t.Fatalf("%s: %d %v", p, st, body)
		}
	}
	requireNoViolations(t, s)
}

func TestAutoCreate(t *testing.T) {
	s := chatwoottest.Start(t, chatwoottest.WithAutoCreate())
	if st, _ := call(t, nil, s, http.MethodPost, "/api/v1/accounts/3/conversations/99/labels", s.Token(), `{"labels":["a"]}`); st != http.StatusOK {
		t.Fatalf("status %d", st)
	}
	if got := s.Labels(3, 99); len(got) != 1 || got[0] != "a" {
		t.Fatalf("labels %v", got)
	}
}

func TestPaginationMatchesMessageFinder(t *testing.T) {
	s := chatwoottest.Start(t)
	s.AddConversation(1, 7)
	for i := range 45 {
		s.SimulateIncoming(1, 7, fmt.Sprintf("m%d", i+1))
	}
	ids := func(query string) []int {
		t.Helper()
		st, body := call(t, nil, s, http.MethodGet, msgs+query, s.Token(), "")
		if st != http.StatusOK {
			t.Fatalf("%s: %d", query, st)
		}
		var out []int
		for _, m := range body["payload"].([]any) {
			out = append(out, int(m.(map[string]any)["id"].(float64)))
		}
		return out
	}
	check := func(query string, first, last int) {
		t.Helper()
		got := ids(query)
		if len(got) != last-first+1 || got[0] != first || got[len(got)-1] != last {
			t.Fatalf("%q: got %v, want %d..%d", query, got, first, last)
		}
	}
	check("", 26, 45)
	check("?before=26", 6, 25)
	check("?before=6", 1, 5)
	check("?after=40", 41, 45)
	check("?after=10&before=15", 10, 14)
	requireNoViolations(t, s)
}

func TestLabelsReplaceAndPriority(t *testing.T) {
	s := chatwoottest.Start(t)
	s.AddConversation(1, 7, "vip")
	st, body := call(t, nil, s, http.MethodPost, "/api/v1/accounts/1/conversations/7/labels", s.Token(), `{"labels":["escalated"," billing ","escalated"]}`)
	if st != http.StatusOK || fmt.Sprint(body["payload"]) != "[escalated billing]" {
		t.Fatalf("set labels: %d %v", st, body)
	}
	if st, _ := call(t, nil, s, http.MethodPost, "/api/v1/accounts/1/conversations/7/toggle_priority", s.Token(), `{"priority":"urgent"}`); st != http.StatusOK {
		t.Fatalf("priority: %d", st)
	}
	if p := s.Priority(1, 7); p != "urgent" {
		t.Fatalf("priority %q", p)
	}
	if st, _ := call(t, nil, s, http.MethodPost, "/api/v1/accounts/1/conversations/7/toggle_priority", s.Token(), `{"priority":"none"}`); st != http.StatusOK {
		t.Fatalf("priority none: %d", st)
	}
	if p := s.Priority(1, 7); p != "" {
		t.Fatalf("priority %q after none", p)
	}
	// Label and priority changes leave activity messages, as in Chatwoot.
	var activity int
	for _, m := range s.Messages(1, 7) {
		if m.MessageType == 2 {
			activity++
		}
	}
	if activity != 4 {
		t.Fatalf("%d activity messages, want 4", activity)
	}
	requireNoViolations(t, s)
}

func TestFailNext(t *testing.T) {
	s := chatwoottest.Start(t)
	s.AddConversation(1, 7)
	s.FailNext(2, http.StatusBadGateway)
	for i := range 2 {
		if st, _ := call(t, nil, s, http.MethodPost, msgs, s.Token(), `{"content":"x"}`); st != http.StatusBadGateway {
			t.Fatalf("attempt %d: %d", i, st)
		}
	}
	if st, _ := call(t, nil, s, http.MethodPost, msgs, s.Token(), `{"content":"x"}`); st != http.StatusOK {
		t.Fatalf("third attempt: %d", st)
	}
	if n := len(s.Messages(1, 7)); n != 1 {
		t.Fatalf("%d messages, want 1 (failed attempts must not apply)", n)
	}
}

func TestFailFor(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := chatwoottest.Start(t, chatwoottest.WithClock(clock))
	s.AddConversation(1, 7)
	s.FailFor(time.Minute, http.StatusServiceUnavailable)
	if st, _ := call(t, nil, s, http.MethodGet, msgs, s.Token(), ""); st != http.StatusServiceUnavailable {
		t.Fatalf("during: %d", st)
	}
	mu.Lock()
	now = now.Add(61 * time.Second)
	mu.Unlock()
	if st, _ := call(t, nil, s, http.MethodGet, msgs, s.Token(), ""); st != http.StatusOK {
		t.Fatalf("after: %d", st)
	}
}

func TestHangNextOutlastsTheClient(t *testing.T) {
	s := chatwoottest.Start(t)
	s.AddConversation(1, 7)
	s.HangNext(1, 5*time.Second)
	hc := &http.Client{Timeout: 150 * time.Millisecond}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL()+msgs, strings.NewReader(`{"content":"x"}`))
	req.Header.Set("api_access_token", s.Token())
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	if resp, err := hc.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("no timeout, status %d", resp.StatusCode)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("the client waited for the whole hang")
	}
	waitFor(t, func() bool { return len(s.Requests()) == 1 })
	if n := len(s.Messages(1, 7)); n != 0 {
		t.Fatalf("hung request applied: %d messages", n)
	}
	if st, _ := call(t, nil, s, http.MethodPost, msgs, s.Token(), `{"content":"x"}`); st != http.StatusOK {
		t.Fatalf("next request: %d", st)
	}
}

func TestHangNextAfterCommitAppliesThenTimesOut(t *testing.T) {
	s := chatwoottest.Start(t)
	s.AddConversation(1, 7)
	s.HangNextAfterCommit(1, 5*time.Second)
	hc := &http.Client{Timeout: 150 * time.Millisecond}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL()+msgs, strings.NewReader(`{"content":"x"}`))
	req.Header.Set("api_access_token", s.Token())
	req.Header.Set("Content-Type", "application/json")
	if resp, err := hc.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("no timeout")
	}
	if n := len(s.Messages(1, 7)); n != 1 {
		t.Fatalf("%d messages, want the committed one", n)
	}
}

func TestDownUpKeepsAddressAndState(t *testing.T) {
	s := chatwoottest.Start(t)
	s.AddConversation(1, 7)
	if st, _ := call(t, nil, s, http.MethodPost, msgs, s.Token(), `{"content":"before"}`); st != http.StatusOK {
		t.Fatal(st)
	}
	addr := s.URL()
	s.Down()
	hc := &http.Client{Transport: &http.Transport{}, Timeout: 2 * time.Second}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL()+msgs, nil)
	_, err := hc.Do(req)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("while down: %v, want connection refused", err)
	}
	if err := s.Up(); err != nil {
		t.Fatal(err)
	}
	if s.URL() != addr {
		t.Fatalf("address changed: %s -> %s", addr, s.URL())
	}
	st, body := call(t, hc, s, http.MethodGet, msgs, s.Token(), "")
	if st != http.StatusOK || len(body["payload"].([]any)) != 1 {
		t.Fatalf("after Up: %d %v", st, body)
	}
}

func TestDownCutsHungRequestsShort(t *testing.T) {
	s := chatwoottest.Start(t)
	s.AddConversation(1, 7)
	s.HangNext(1, time.Minute)
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, s.URL()+msgs, nil)
		req.Header.Set("api_access_token", s.Token())
		resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // let the request reach the handler
	start := time.Now()
	s.Down()
	if err := <-done; err == nil {
		t.Fatal("hung request got an answer from a server that went down")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("Down waited for the hang")
	}
}

func TestLatency(t *testing.T) {
	s := chatwoottest.Start(t)
	s.AddConversation(1, 7)
	s.SetLatency(120 * time.Millisecond)
	start := time.Now()
	call(t, nil, s, http.MethodGet, msgs, s.Token(), "")
	if d := time.Since(start); d < 120*time.Millisecond {
		t.Fatalf("answered after %s", d)
	}
}

func TestWebhooksAreSignedAndShapedLikeChatwoot(t *testing.T) {
	const secret = "hook-secret"
	type got struct {
		header http.Header
		body   []byte
	}
	var mu sync.Mutex
	var received []got
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		received = append(received, got{r.Header.Clone(), b})
		mu.Unlock()
	}))
	defer recv.Close()

	s := chatwoottest.Start(t, chatwoottest.WithWebhook(recv.URL, secret))
	s.AddConversation(1, 7, "vip")
	call(t, nil, s, http.MethodPost, msgs, s.Token(), `{"content":"note","private":true,"content_attributes":{"echo_id":"e-9"}}`)
	call(t, nil, s, http.MethodPost, "/api/v1/accounts/1/conversations/7/labels", s.Token(), `{"labels":["vip","escalated"]}`)
	call(t, nil, s, http.MethodPost, "/api/v1/accounts/1/conversations/7/labels", s.Token(), `{"labels":["escalated","vip"]}`) // same set: no event
	s.SimulateIncoming(1, 7, "hi")
	if err := s.WaitWebhooks(t.Context()); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(received) != 3 {
		t.Fatalf("%d webhooks, want 3", len(received))
	}
	for _, r := range received {
		err := chatwoot.VerifySignature(secret, r.header.Get(chatwoot.HeaderTimestamp), r.body,
			r.header.Get(chatwoot.HeaderSignature), time.Now(), time.Minute)
		if err != nil || r.header.Get(chatwoot.HeaderDelivery) == "" {
			t.Fatalf("delivery not signed properly: %v", err)
		}
	}
	var note map[string]any
	_ = json.Unmarshal(received[0].body, &note)
	if note["event"] != "message_created" || note["message_type"] != "outgoing" || note["private"] != true {
		t.Fatalf("message_created: %v", note)
	}
	if _, ok := note["echo_id"]; ok {
		t.Fatal("webhook carried echo_id; Chatwoot's webhook_data has none")
	}
	if note["sender"].(map[string]any)["type"] != "user" || note["account"].(map[string]any)["id"] != float64(1) {
		t.Fatalf("sender/account: %v %v", note["sender"], note["account"])
	}
	var upd map[string]any
	_ = json.Unmarshal(received[1].body, &upd)
	if upd["event"] != "conversation_updated" || upd["id"] != float64(7) {
		t.Fatalf("conversation_updated: %v", upd)
	}
	if _, ok := upd["account"]; ok {
		t.Fatal("conversation_updated names the account; upstream Chatwoot does not")
	}
	changes := upd["changed_attributes"].([]any)
	var labelChange map[string]any
	for _, c := range changes {
		if v, ok := c.(map[string]any)["label_list"]; ok {
			labelChange = v.(map[string]any)
		}
	}
	if fmt.Sprint(labelChange["previous_value"]) != "[vip]" || fmt.Sprint(labelChange["current_value"]) != "[vip escalated]" {
		t.Fatalf("label change: %v", labelChange)
	}
	var incoming map[string]any
	_ = json.Unmarshal(received[2].body, &incoming)
	if incoming["message_type"] != "incoming" || incoming["sender"].(map[string]any)["type"] != "contact" {
		t.Fatalf("incoming: %v", incoming)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := chatwoottest.Start(t, chatwoottest.WithAutoCreate())
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 10 {
				p := fmt.Sprintf("/api/v1/accounts/1/conversations/%d/messages", i%4+1)
				st, _ := call(t, nil, s, http.MethodPost, p, s.Token(), fmt.Sprintf(`{"content":"m%d"}`, j))
				if st != http.StatusOK {
					t.Errorf("status %d", st)
				}
			}
		})
	}
	wg.Wait()
	seen := map[int64]bool{}
	for c := 1; c <= 4; c++ {
		for _, m := range s.Messages(1, c) {
			if seen[m.ID] {
				t.Fatalf("duplicate message id %d", m.ID)
			}
			seen[m.ID] = true
		}
	}
	if len(seen) != 160 || len(s.Requests()) != 160 {
		t.Fatalf("%d messages, %d requests", len(seen), len(s.Requests()))
	}
	requireNoViolations(t, s)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSimulateLabelsAndToggleStatus(t *testing.T) {
	s := chatwoottest.Start(t)
	s.AddConversation(1, 7, "billing")
	s.SimulateLabels(1, 7, "Sam", "billing", "escalate")
	if got := s.Labels(1, 7); fmt.Sprint(got) != "[billing escalate]" {
		t.Fatalf("labels %v", got)
	}
	ms := s.Messages(1, 7)
	if len(ms) != 1 || ms[0].MessageType != 2 || ms[0].Content != "Sam added escalate" {
		t.Fatalf("activity %+v", ms)
	}

	st, body := call(t, nil, s, http.MethodPost, "/api/v1/accounts/1/conversations/7/toggle_status", s.Token(), `{"status":"resolved"}`)
	if st != http.StatusOK || body["payload"].(map[string]any)["current_status"] != "resolved" || s.Status(1, 7) != "resolved" {
		t.Fatalf("toggle_status: %d %v, stored %q", st, body, s.Status(1, 7))
	}
	requireNoViolations(t, s)
}
