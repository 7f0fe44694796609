package chatwoot_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/chatwoot"
	"github.com/orchestrator-dev/orchestrator/internal/chatwoot/chatwoottest"
)

const (
	acct = 1
	conv = 7
)

func setup(t *testing.T, opts ...chatwoottest.Option) (*chatwoottest.Server, *chatwoot.Client) {
	t.Helper()
	s := chatwoottest.Start(t, opts...)
	s.AddConversation(acct, conv)
	t.Cleanup(func() {
		if v := s.Violations(); len(v) > 0 {
			t.Errorf("spec violations:\n%s", strings.Join(v, "\n"))
		}
	})
	return s, chatwoot.New(s.URL(), s.Token(), nil)
}

func TestPostMessage(t *testing.T) {
	s, c := setup(t)
	m, err := c.PostMessage(t.Context(), acct, conv, chatwoot.NewMessage{Content: "Escalated", Private: true, EchoID: "esc-1"})
	if err != nil {
		t.Fatal(err)
	}
	if m.ID == 0 || m.MessageType != chatwoot.MessageTypeOutgoing || !m.Private || m.EchoID != "esc-1" || m.CreatedAt == 0 || m.ConversationID != conv {
		t.Fatalf("message %+v", m)
	}
	if m.Sender == nil || m.Sender.Type != chatwoot.SenderUser {
		t.Fatalf("sender %+v", m.Sender)
	}

	reqs := s.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	var body map[string]any
	if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if body["message_type"] != "outgoing" || body["private"] != true || body["echo_id"] != "esc-1" ||
		body["content_attributes"].(map[string]any)[chatwoot.EchoIDAttribute] != "esc-1" {
		t.Fatalf("request body %v", body)
	}
	if !reqs[0].TokenOK {
		t.Fatal("token not sent in api_access_token")
	}
	stored := s.Messages(acct, conv)
	if len(stored) != 1 || stored[0].Content != "Escalated" {
		t.Fatalf("stored %+v", stored)
	}
}

func TestPostMessageRefusesBadInputWithoutSending(t *testing.T) {
	s, c := setup(t)
	for name, call := range map[string]func() error{
		"empty content": func() error {
			_, err := c.PostMessage(t.Context(), acct, conv, chatwoot.NewMessage{})
			return err
		},
		"bad type": func() error {
			_, err := c.PostMessage(t.Context(), acct, conv, chatwoot.NewMessage{Content: "x", MessageType: "activity"})
			return err
		},
		"too long": func() error {
			_, err := c.PostMessage(t.Context(), acct, conv, chatwoot.NewMessage{Content: strings.Repeat("é", chatwoot.MaxContentLength+1)})
			return err
		},
		"zero ids": func() error {
			_, err := c.PostMessage(t.Context(), 0, conv, chatwoot.NewMessage{Content: "x"})
			return err
		},
		"bad priority": func() error { return c.SetPriority(t.Context(), acct, conv, "asap") },
		"comma label":  func() error { _, err := c.AddLabels(t.Context(), acct, conv, "a,b"); return err },
		"empty label":  func() error { _, err := c.SetLabels(t.Context(), acct, conv, []string{" "}); return err },
	} {
		err := call()
		if !errors.Is(err, chatwoot.ErrInvalidArgument) || !chatwoot.IsPermanent(err) {
			t.Errorf("%s: %v, want a permanent ErrInvalidArgument", name, err)
		}
	}
	if n := len(s.Requests()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

func TestIncomingOnAWebsiteInboxIsPermanent422(t *testing.T) {
	_, c := setup(t)
	_, err := c.PostMessage(t.Context(), acct, conv, chatwoot.NewMessage{Content: "x", MessageType: "incoming"})
	var apiErr *chatwoot.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 422 || !chatwoot.IsPermanent(err) {
		t.Fatalf("got %v", err)
	}
	if apiErr.Message != "Incoming messages are only allowed in Api inboxes" || apiErr.Method != http.MethodPost ||
		apiErr.Path != "/api/v1/accounts/1/conversations/7/messages" {
		t.Fatalf("error fields %+v", apiErr)
	}
}

func TestBadTokenIsPermanentAndNeverShown(t *testing.T) {
	s, _ := setup(t)
	const secret = "sk-live-very-secret-token"
	c := chatwoot.New(s.URL(), secret, nil)
	_, err := c.Labels(t.Context(), acct, conv)
	var apiErr *chatwoot.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized || !chatwoot.IsPermanent(err) {
		t.Fatalf("got %v", err)
	}
	if apiErr.Message != "Invalid Access Token" {
		t.Fatalf("message %q", apiErr.Message)
	}
	for _, text := range []string{err.Error(), fmt.Sprintf("%v %+v %#v %s", c, c, c, c)} {
		if strings.Contains(text, secret) {
			t.Fatalf("token leaked: %s", text)
		}
	}
}

func TestUnknownConversationIsPermanentNotFound(t *testing.T) {
	_, c := setup(t)
	_, err := c.ListMessages(t.Context(), acct, 999)
	if !chatwoot.IsNotFound(err) || !chatwoot.IsPermanent(err) {
		t.Fatalf("got %v", err)
	}
}

func TestTransientFailuresAreNotPermanent(t *testing.T) {
	s, _ := setup(t)
	c := chatwoot.New(s.URL(), s.Token(), &http.Client{Timeout: 200 * time.Millisecond})

	for _, status := range []int{500, 502, 503, 504, 408, 409, 425, 429} {
		s.FailNext(1, status)
		_, err := c.Labels(t.Context(), acct, conv)
		var apiErr *chatwoot.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != status || chatwoot.IsPermanent(err) {
			t.Errorf("status %d: %v (permanent=%v)", status, err, chatwoot.IsPermanent(err))
		}
	}

	s.HangNext(1, 5*time.Second)
	if _, err := c.Labels(t.Context(), acct, conv); err == nil || chatwoot.IsPermanent(err) {
		t.Errorf("timeout: %v", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	s.HangNext(1, 5*time.Second)
	_, err := chatwoot.New(s.URL(), s.Token(), nil).Labels(ctx, acct, conv)
	if !errors.Is(err, context.DeadlineExceeded) || chatwoot.IsPermanent(err) {
		t.Errorf("context deadline: %v", err)
	}

	s.Down()
	_, err = c.Labels(t.Context(), acct, conv)
	if err == nil || chatwoot.IsPermanent(err) {
		t.Errorf("connection refused: %v", err)
	}
	if err := s.Up(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Labels(t.Context(), acct, conv); err != nil {
		t.Fatalf("after Up: %v", err)
	}
}

func TestPermanentStatuses(t *testing.T) {
	for status, want := range map[int]bool{
		301: true, 400: true, 401: true, 403: true, 404: true, 422: true,
		408: false, 409: false, 425: false, 429: false, 500: false, 503: false,
	} {
		if got := (&chatwoot.APIError{StatusCode: status}).Permanent(); got != want {
			t.Errorf("%d: permanent=%v, want %v", status, got, want)
		}
	}
	if chatwoot.IsPermanent(nil) || chatwoot.IsPermanent(errors.New("boom")) {
		t.Error("plain errors must be retried")
	}
	wrapped := fmt.Errorf("activity: %w", &chatwoot.APIError{StatusCode: 404})
	if !chatwoot.IsPermanent(wrapped) {
		t.Error("wrapped 404 not permanent")
	}
}

// rawServer answers every request with handler, for the cases the stand-in
// does not produce (odd error bodies, redirects, oversized answers).
func rawServer(t *testing.T, handler http.HandlerFunc) *chatwoot.Client {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return chatwoot.New(srv.URL, "tok", nil)
}

func TestErrorBodiesAndRetryAfter(t *testing.T) {
	c := rawServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprintf(w, `{"errors":[{"field":"x","message":"slow down, tok"}],"message":""}`)
	})
	_, err := c.Labels(t.Context(), acct, conv)
	var apiErr *chatwoot.APIError
	if !errors.As(err, &apiErr) || apiErr.RetryAfter != 7*time.Second || chatwoot.IsPermanent(err) {
		t.Fatalf("got %v", err)
	}
	if apiErr.Message != "slow down, [redacted]" {
		t.Fatalf("message %q", apiErr.Message)
	}

	long := rawServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprintf(w, `{"error":%q}`, strings.Repeat("x", 5000))
	})
	_, err = long.Labels(t.Context(), acct, conv)
	if !errors.As(err, &apiErr) || len(apiErr.Message) > 210 {
		t.Fatalf("message not truncated: %d bytes", len(apiErr.Message))
	}

	html := rawServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, "<html>bad gateway</html>")
	})
	if _, err = html.Labels(t.Context(), acct, conv); !errors.As(err, &apiErr) || apiErr.StatusCode != 502 || apiErr.Message != "" {
		t.Fatalf("got %v", err)
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	var leaked bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked = r.Header.Get("api_access_token") != ""
	}))
	defer other.Close()
	c := rawServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound)
	})
	_, err := c.Labels(t.Context(), acct, conv)
	if !chatwoot.IsPermanent(err) || leaked {
		t.Fatalf("err %v, token sent to redirect target: %v", err, leaked)
	}
}

func TestOversizedResponse(t *testing.T) {
	c := rawServer(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"payload":[%q]}`, strings.Repeat("x", 2<<20))
	})
	if _, err := c.Labels(t.Context(), acct, conv); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("got %v", err)
	}
}

func TestBadBaseURL(t *testing.T) {
	for _, base := range []string{"", "ftp://x", "http://", "https://user:pw@chat.example.com", "https://chat.example.com?x=1"} {
		c := chatwoot.New(base, "tok", nil)
		if err := c.Validate(); !errors.Is(err, chatwoot.ErrInvalidArgument) {
			t.Errorf("%q: Validate() = %v", base, err)
		}
		if _, err := c.Labels(t.Context(), acct, conv); !chatwoot.IsPermanent(err) {
			t.Errorf("%q: call error %v", base, err)
		}
	}
	if err := chatwoot.New("https://chat.example.com/", "", nil).Validate(); err == nil {
		t.Error("empty token accepted")
	}
	if err := chatwoot.New("https://chat.example.com/sub/", "tok", nil).Validate(); err != nil {
		t.Errorf("base with a path: %v", err)
	}
}

func TestBaseURLWithPath(t *testing.T) {
	var path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.Path
		fmt.Fprint(w, `{"payload":[]}`)
	}))
	defer srv.Close()
	if _, err := chatwoot.New(srv.URL+"/chatwoot/", "tok", nil).Labels(t.Context(), acct, conv); err != nil {
		t.Fatal(err)
	}
	if path != "/chatwoot/api/v1/accounts/1/conversations/7/labels" {
		t.Fatalf("path %q", path)
	}
}

func TestListAndFindByEchoIDAfterALostResponse(t *testing.T) {
	s, _ := setup(t)
	c := chatwoot.New(s.URL(), s.Token(), &http.Client{Timeout: 200 * time.Millisecond})
	start := time.Now()

	// The POST is applied but its answer never arrives.
	s.HangNextAfterCommit(1, 5*time.Second)
	_, err := c.PostMessage(t.Context(), acct, conv, chatwoot.NewMessage{Content: "decided", Private: true, EchoID: "approval-42/decided"})
	if err == nil || chatwoot.IsPermanent(err) {
		t.Fatalf("expected a transient timeout, got %v", err)
	}
	// A busy conversation pushes our note off the first page.
	for i := range 45 {
		s.SimulateIncoming(acct, conv, fmt.Sprintf("customer %d", i))
	}

	latest, err := c.ListMessages(t.Context(), acct, conv)
	if err != nil {
		t.Fatal(err)
	}
	if len(latest) != 20 || slices.ContainsFunc(latest, func(m chatwoot.Message) bool { return m.EchoID != "" }) {
		t.Fatalf("latest page: %d messages", len(latest))
	}

	m, found, err := c.FindMessageByEchoID(t.Context(), acct, conv, "approval-42/decided", start)
	if err != nil || !found {
		t.Fatalf("find: found=%v err=%v", found, err)
	}
	if m.Content != "decided" || !m.Private || m.EchoID != "approval-42/decided" {
		t.Fatalf("found %+v", m)
	}

	_, found, err = c.FindMessageByEchoID(t.Context(), acct, conv, "approval-42/other", time.Time{})
	if err != nil || found {
		t.Fatalf("missing echo id: found=%v err=%v", found, err)
	}
	if n := len(s.Messages(acct, conv)); n != 46 {
		t.Fatalf("%d messages stored", n)
	}
}

func TestFindByEchoIDStopsAtNotBefore(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	s, c := setup(t, chatwoottest.WithClock(clock))
	for i := range 60 {
		s.SimulateIncoming(acct, conv, fmt.Sprintf("old %d", i))
	}
	// Messages are all "old" relative to a notBefore an hour later: one
	// page is enough to know.
	_, found, err := c.FindMessageByEchoID(t.Context(), acct, conv, "nope", now.Add(time.Hour))
	if err != nil || found {
		t.Fatalf("found=%v err=%v", found, err)
	}
	if n := len(s.Requests()); n != 1 {
		t.Fatalf("%d pages read, want 1", n)
	}
	if _, _, err := c.FindMessageByEchoID(t.Context(), acct, conv, "", time.Time{}); !errors.Is(err, chatwoot.ErrInvalidArgument) {
		t.Fatalf("empty echo id: %v", err)
	}
}

func TestLabels(t *testing.T) {
	s, c := setup(t)
	s.AddConversation(acct, conv, "vip", "billing")

	got, err := c.Labels(t.Context(), acct, conv)
	if err != nil || !slices.Equal(got, []string{"vip", "billing"}) {
		t.Fatalf("Labels = %v, %v", got, err)
	}

	got, err = c.AddLabels(t.Context(), acct, conv, "escalated", "VIP", "escalated")
	if err != nil || !slices.Equal(got, []string{"vip", "billing", "escalated"}) {
		t.Fatalf("AddLabels = %v, %v", got, err)
	}
	if !slices.Equal(s.Labels(acct, conv), []string{"vip", "billing", "escalated"}) {
		t.Fatalf("stored %v", s.Labels(acct, conv))
	}

	s.ResetRecords()
	if _, err := c.AddLabels(t.Context(), acct, conv, "escalated"); err != nil {
		t.Fatal(err)
	}
	for _, r := range s.Requests() {
		if r.Method == http.MethodPost {
			t.Fatal("AddLabels wrote although nothing changed")
		}
	}

	got, err = c.SetLabels(t.Context(), acct, conv, nil)
	if err != nil || len(got) != 0 || len(s.Labels(acct, conv)) != 0 {
		t.Fatalf("SetLabels(nil) = %v, %v; stored %v", got, err, s.Labels(acct, conv))
	}
}

func TestSetPriority(t *testing.T) {
	s, c := setup(t)
	for _, p := range []string{chatwoot.PriorityUrgent, chatwoot.PriorityLow, chatwoot.PriorityNone} {
		if err := c.SetPriority(t.Context(), acct, conv, p); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	if got := s.Priority(acct, conv); got != "" {
		t.Fatalf("priority %q after none", got)
	}
	if err := c.SetPriority(t.Context(), acct, conv, chatwoot.PriorityHigh); err != nil || s.Priority(acct, conv) != "high" {
		t.Fatalf("high: %v, stored %q", err, s.Priority(acct, conv))
	}
}

func TestMessageDecodesLegacyContentAttributes(t *testing.T) {
	var m chatwoot.Message
	if err := json.Unmarshal([]byte(`{"id":3,"content_attributes":"{\"echo_id\":\"e\"}","created_at":5}`), &m); err != nil {
		t.Fatal(err)
	}
	if m.EchoID != "e" {
		t.Fatalf("echo id %q", m.EchoID)
	}
	if err := json.Unmarshal([]byte(`{"id":3,"content_attributes":[1,2],"echo_id":"top"}`), &m); err != nil || m.EchoID != "top" {
		t.Fatalf("%+v %v", m, err)
	}
}
