package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/auth"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

// mxDirectory knows ceo-1, an approver of /teams/support; looking up
// slow-1 takes until the request's deadline (or 5s without one).
type mxDirectory struct{}

func (mxDirectory) Principal(ctx context.Context, sub string) (*auth.Principal, error) {
	switch sub {
	case "ceo-1":
		return &auth.Principal{Subject: "ceo-1", Name: "Casey", Groups: []string{"/teams/support"}, Roles: []string{"approver"}}, nil
	case "slow-1":
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Second):
			return nil, errors.New("the directory lookup ran without a deadline")
		}
	}
	return nil, nil
}

func (mxDirectory) ByVerifiedEmail(context.Context, string) (*auth.Principal, error) { return nil, nil }

// mxNotices records the notices the receiver posts, by transaction id.
type mxNotices struct {
	mu   sync.Mutex
	sent map[string]string
}

func (n *mxNotices) post(_ context.Context, _, txnID, body string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent[txnID] = body
	return nil
}

func (n *mxNotices) get(txnID string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sent[txnID]
}

type mxServer struct {
	h        http.Handler
	notices  *mxNotices
	pending  string
	logs     *bytes.Buffer
	logMutex *sync.Mutex
}

const mxRoom = "!ops:example.com"

// newMXServer is the receiver with a pending approval of /teams/support
// and a Temporal that is down: every decision the authority allows fails.
func newMXServer(t *testing.T, timeout time.Duration) *mxServer {
	t.Helper()
	st := storetest.Open(t, store.SQLite)
	at := st.Now().Add(-time.Hour)
	ap, _, err := st.RecordApproval(context.Background(), &store.Approval{
		ID: store.NewID(), TenantID: "/teams/support", Title: "t", Status: store.StatusPending, Priority: store.PriorityHigh,
		RequestedBy: "agent-2", Metadata: store.JSON(`{}`), CreatedAt: at, UpdatedAt: at,
	}, &store.AuditLog{Action: "approval.created", Resource: "approval", ResourceID: "x", UserID: "agent-2",
		Channel: store.ChannelAPI, TenantID: "/teams/support", CreatedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	s := &mxServer{notices: &mxNotices{sent: map[string]string{}}, pending: ap.ID, logs: &bytes.Buffer{}, logMutex: &sync.Mutex{}}
	s.h = New(Deps{
		Store: st, Temporal: oaTemporal{}, Auth: oaAuth{}, Directory: mxDirectory{}, MatrixNotice: s.notices.post,
		Log:         slog.New(slog.NewJSONHandler(lockedWriter{s.logMutex, s.logs}, nil)),
		DecisionKey: []byte(strings.Repeat("k", 32)), Timeout: timeout,
		Webhooks: Webhooks{MatrixHSToken: oaHSToken, MatrixCommandRooms: []string{mxRoom},
			MatrixUserSubjects: map[string]string{"@ceo:example.com": "ceo-1", "@slow:example.com": "slow-1"}},
	})
	return s
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (s *mxServer) put(t *testing.T, txnID string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPut, "/_matrix/app/v1/transactions/"+txnID, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+oaHSToken)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	return rec
}

func mxMessage(eventID, sender, body string) map[string]any {
	return map[string]any{"type": "m.room.message", "event_id": eventID, "room_id": mxRoom, "sender": sender,
		"content": map[string]any{"msgtype": "m.text", "body": body}}
}

func mxTransaction(t *testing.T, events ...any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"events": events})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The largest transaction a homeserver sends, 100 events of 64 KiB, is
// taken, not refused (a refused transaction is retried for ever).
func TestMatrixTransactionOfLegalSizeIsAccepted(t *testing.T) {
	s := newMXServer(t, 10*time.Second)
	events := make([]any, 100)
	// An event is at most 65,536 bytes as the homeserver encodes it; its
	// body is nearly all of that.
	text := strings.Repeat("é\"", 16_000) // 64,000 bytes encoded
	for i := range events {
		events[i] = mxMessage("$big"+string(rune('a'+i%26))+strings.Repeat("x", i), "@someone:example.com", text)
	}
	body := mxTransaction(t, events...)
	if len(body) <= 1<<20 {
		t.Fatalf("the transaction is %d bytes, want more than the old cap of 1 MiB", len(body))
	}
	if rec := s.put(t, "big", body); rec.Code != http.StatusOK {
		t.Fatalf("a transaction of %d bytes: want 200, got %d %s", len(body), rec.Code, rec.Body)
	}
	over := append(bytes.Repeat([]byte(" "), MaxMatrixTransactionBytes), body...)
	if rec := s.put(t, "over", over); rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("past the cap: want 413, got %d", rec.Code)
	}
}

// A command that fails (Temporal is down) is answered in its room, the
// transaction is acknowledged, and the next transaction is processed.
func TestMatrixFailingCommandDoesNotBlockTheQueue(t *testing.T) {
	s := newMXServer(t, 10*time.Second)
	if rec := s.put(t, "t1", mxTransaction(t, mxMessage("$e1", "@ceo:example.com", "!approve "+s.pending))); rec.Code != http.StatusOK {
		t.Fatalf("a failing command: want 200, got %d %s", rec.Code, rec.Body)
	}
	if n := s.notices.get("failed-$e1"); !strings.Contains(n, "send it again") {
		t.Fatalf("the failed command was not answered in its room: %q (notices %v)", n, s.notices.sent)
	}
	s.logMutex.Lock()
	logged := s.logs.String()
	s.logMutex.Unlock()
	if !strings.Contains(logged, `"msg":"matrix command failed"`) || !strings.Contains(logged, `"event":"$e1"`) {
		t.Fatalf("the failure is not logged with its event: %s", logged)
	}
	if rec := s.put(t, "t2", mxTransaction(t, mxMessage("$e2", "@stranger:example.com", "!approve "+s.pending))); rec.Code != http.StatusOK {
		t.Fatalf("the next transaction: want 200, got %d %s", rec.Code, rec.Body)
	}
	if n := s.notices.get("refusal-$e2"); !strings.Contains(n, "not mapped") {
		t.Fatalf("the next transaction's command was not processed: %q", n)
	}
	// t1 again (the homeserver retrying) is acknowledged, not processed again.
	s.notices.sent = map[string]string{}
	if rec := s.put(t, "t1", mxTransaction(t, mxMessage("$e1", "@ceo:example.com", "!approve "+s.pending))); rec.Code != http.StatusOK || len(s.notices.sent) != 0 {
		t.Fatalf("a retried transaction: %d, notices %v", rec.Code, s.notices.sent)
	}
}

// An event the receiver cannot read is skipped and logged; the others of
// its transaction are processed.
func TestMatrixMalformedEventIsSkipped(t *testing.T) {
	s := newMXServer(t, 10*time.Second)
	body := mxTransaction(t,
		map[string]any{"type": "m.room.message", "event_id": "$bad", "content": "not an object"},
		[]any{"not", "an", "event"},
		mxMessage("$good", "@stranger:example.com", "!approve "+s.pending),
	)
	if rec := s.put(t, "t1", body); rec.Code != http.StatusOK {
		t.Fatalf("a transaction with malformed events: want 200, got %d %s", rec.Code, rec.Body)
	}
	if n := s.notices.get("refusal-$good"); !strings.Contains(n, "not mapped") {
		t.Fatalf("the readable command of the transaction was not processed: %q", n)
	}
	s.logMutex.Lock()
	logged := s.logs.String()
	s.logMutex.Unlock()
	if strings.Count(logged, "matrix event skipped") != 2 {
		t.Fatalf("want both malformed events logged as skipped: %s", logged)
	}
}

// The receiver runs under the request timeout of the other routes: a
// command whose lookup outlasts it fails, is answered, and the transaction
// is acknowledged.
func TestMatrixTransactionRunsUnderTheRequestTimeout(t *testing.T) {
	s := newMXServer(t, 100*time.Millisecond)
	if rec := s.put(t, "t1", mxTransaction(t, mxMessage("$slow", "@slow:example.com", "!approve "+s.pending))); rec.Code != http.StatusOK {
		t.Fatalf("want 200, got %d %s", rec.Code, rec.Body)
	}
	if n := s.notices.get("failed-$slow"); n == "" {
		t.Fatalf("the command that ran out of time was not answered: %v", s.notices.sent)
	}
	s.logMutex.Lock()
	logged := s.logs.String()
	s.logMutex.Unlock()
	if !strings.Contains(logged, "context deadline exceeded") {
		t.Fatalf("the lookup did not end at the request's deadline: %s", logged)
	}
}
