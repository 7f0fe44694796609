// Package chatwoottest is a stand-in for Chatwoot's account API, for tests and
// the benchmark harness. It serves the calls the orchestrator makes with the
// response shapes of Chatwoot v4 (taken from its jbuilder views), checks every
// request against Chatwoot's OpenAPI spec, keeps conversations in memory,
// sends signed webhooks like Chatwoot does, and injects faults on demand.
//
// Where the spec and Chatwoot's code disagree, the stand-in follows the code:
// errors are {"error": "..."} and the top-level echo_id of a created message
// is returned by the create call only (Chatwoot does not store it).
package chatwoottest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/testkit/openapitest"
)

// DefaultToken is the API token a Server accepts unless WithToken says
// otherwise.
const DefaultToken = "chatwoottest-token"

// Message is a stored message, for inspection.
type Message struct {
	ID             int64
	ConversationID int // display id
	Content        string
	// MessageType is Chatwoot's integer: 0 incoming, 1 outgoing, 2 activity.
	MessageType       int
	ContentType       string
	ContentAttributes map[string]any
	Private           bool
	SourceID          string
	// EchoID is the echo_id the create request carried. Chatwoot does not
	// store it, and neither do the stand-in's list and webhooks.
	EchoID     string
	SenderType string // "User", "Contact" or "" (activity)
	CreatedAt  time.Time
}

// RecordedRequest is one request the stand-in received.
type RecordedRequest struct {
	Method   string
	Path     string
	RawQuery string
	// Header is the request's headers with api_access_token redacted.
	Header http.Header
	Body   []byte
	// TokenOK says whether api_access_token matched the configured token.
	TokenOK bool
	// Status is the status answered, 0 when the request got no answer (a
	// hang outlasted the client, or the server went Down).
	Status int
	Time   time.Time
}

// Option configures a Server.
type Option func(*Server)

// WithToken sets the API token the server accepts.
func WithToken(token string) Option { return func(s *Server) { s.token = token } }

// WithAutoCreate makes unknown accounts and conversations spring into
// existence on first use, for load tests that do not register them.
func WithAutoCreate() Option { return func(s *Server) { s.autoCreate = true } }

// WithClock replaces time.Now for created_at values and FailFor.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithWebhook makes the server deliver webhooks to url, signed with secret
// (see Server.SetWebhook).
func WithWebhook(url, secret string) Option {
	return func(s *Server) { s.hookURL, s.hookSecret = url, secret }
}

// Server is the stand-in. All methods are safe for concurrent use.
type Server struct {
	spec  *openapitest.Doc
	token string
	now   func() time.Time

	mu         sync.Mutex
	ts         *httptest.Server
	addr       string
	url        string
	down       bool
	downCh     chan struct{} // closed by Down to cut short sleeping handlers
	closed     bool
	autoCreate bool

	accounts      map[int]*account
	nextMessageID int64

	violations []string
	requests   []RecordedRequest

	failNext       int
	failNextStatus int
	failUntil      time.Time
	failForStatus  int
	hangNext       int
	hangFor        time.Duration
	hangAfterNext  int
	hangAfterFor   time.Duration
	latency        time.Duration

	hookURL    string
	hookSecret string
	hooks      *webhookSender
}

// New starts a stand-in on a local port, checking requests against
// Chatwoot's OpenAPI spec.
func New(opts ...Option) (*Server, error) {
	sp, err := loadSpec()
	if err != nil {
		return nil, err
	}
	s := &Server{
		spec:     sp,
		token:    DefaultToken,
		now:      time.Now,
		accounts: map[int]*account{},
		downCh:   make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	s.hooks = newWebhookSender()
	s.hooks.configure(s.hookURL, s.hookSecret)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("chatwoottest: listen: %w", err)
	}
	s.addr = l.Addr().String()
	s.url = "http://" + s.addr
	s.ts = s.startOn(l)
	return s, nil
}

// Start is New for tests: it fails the test on error and closes the server
// when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := New(opts...)
	if err != nil {
		t.Fatalf("chatwoottest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *Server) startOn(l net.Listener) *httptest.Server {
	ts := &httptest.Server{Listener: l, Config: &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}}
	ts.Start()
	return ts
}

// URL is the base URL to give the client. It stays the same across Down/Up.
func (s *Server) URL() string { return s.url }

// Token is the API token the server accepts.
func (s *Server) Token() string { return s.token }

// Close stops the server and its webhook deliveries.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	ts := s.ts
	wasDown := s.down
	if !wasDown {
		close(s.downCh)
	}
	s.down = true
	s.mu.Unlock()
	if !wasDown {
		ts.CloseClientConnections()
		ts.Close()
	}
	s.hooks.close()
}

// Down closes the listener and every open connection: clients get
// "connection refused" until Up. State is kept.
func (s *Server) Down() {
	s.mu.Lock()
	if s.down {
		s.mu.Unlock()
		return
	}
	s.down = true
	close(s.downCh)
	ts := s.ts
	s.mu.Unlock()
	ts.CloseClientConnections()
	ts.Close()
}

// Up listens again on the same address after Down.
func (s *Server) Up() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("chatwoottest: server is closed")
	}
	if !s.down {
		return nil
	}
	var l net.Listener
	var err error
	// The port was ours a moment ago; a rebind can briefly race the
	// kernel's cleanup of the old socket.
	for range 50 {
		if l, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("chatwoottest: listen again on %s: %w", s.addr, err)
	}
	s.downCh = make(chan struct{})
	s.down = false
	s.ts = s.startOn(l)
	return nil
}

// FailNext makes the next n requests fail with status (nothing is applied).
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext, s.failNextStatus = n, status
}

// FailFor makes every request fail with status for d from now.
func (s *Server) FailFor(d time.Duration, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failUntil, s.failForStatus = s.now().Add(d), status
}

// HangNext holds each of the next n requests for d before handling it, to
// outlast a client's timeout. A request whose client gave up meanwhile is
// dropped unapplied (as if it never got past a proxy).
func (s *Server) HangNext(n int, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hangNext, s.hangFor = n, d
}

// HangNextAfterCommit applies each of the next n requests and then holds the
// response for d: the client times out although the change happened, the
// case echo-id reconciliation exists for.
func (s *Server) HangNextAfterCommit(n int, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hangAfterNext, s.hangAfterFor = n, d
}

// SetLatency delays every response by d (0 turns it off).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Violations returns every spec violation seen so far (requests that broke
// the spec, and responses of the stand-in that did). Tests assert it empty.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

// Requests returns the requests received so far, oldest first.
func (s *Server) Requests() []RecordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// ResetRecords forgets recorded requests and violations (not state).
func (s *Server) ResetRecords() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.violations = nil, nil
}

// SetWebhook points webhook deliveries at url, signed with secret (an empty
// secret sends them unsigned, like Chatwoot before v4.11.2). An empty url
// stops deliveries.
func (s *Server) SetWebhook(url, secret string) { s.hooks.configure(url, secret) }

// Deliveries returns the webhook deliveries attempted so far.
func (s *Server) Deliveries() []Delivery { return s.hooks.list() }

func (s *Server) sleep(d time.Duration, r *http.Request, down <-chan struct{}) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-down:
		return false
	}
}
