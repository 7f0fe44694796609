package matrix_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/orchestrator-dev/orchestrator/internal/matrix"
)

func TestParseCommand(t *testing.T) {
	cases := []struct {
		body string
		ok   bool
		want matrix.Command
	}{
		{"!approve 123 looks fine", true, matrix.Command{"approved", "123", "looks fine"}},
		{"  !REJECT abc  ", true, matrix.Command{"rejected", "abc", ""}},
		{"!approve", false, matrix.Command{}},
		{"approve 1", false, matrix.Command{}},
		{"!approve 1 first line\nsecond line", true, matrix.Command{"approved", "1", "first line"}},
	}
	for _, c := range cases {
		got, ok := matrix.ParseCommand(c.body)
		if ok != c.ok || got != c.want {
			t.Errorf("%q: got %+v %v, want %+v %v", c.body, got, ok, c.want, c.ok)
		}
	}
}

// A retried notice with the same transaction id yields one event, as the
// spec promises; the client must reuse the id.
func TestSendNoticeIsIdempotentPerTransaction(t *testing.T) {
	var mu sync.Mutex
	events := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer as-secret" {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"errcode":"M_FORBIDDEN","error":"bad token"}`))
			return
		}
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		if r.Method != http.MethodPut || body["msgtype"] != "m.notice" || !strings.Contains(r.URL.Path, "/send/m.room.message/") {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		txn := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		mu.Lock()
		if _, ok := events[txn]; !ok {
			events[txn] = "$ev" + txn
		}
		id := events[txn]
		mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]string{"event_id": id})
	}))
	defer srv.Close()
	c := matrix.New(srv.URL, "as-secret", nil)
	a, err := c.SendNotice(context.Background(), "!room:example.org", "t1", "hello")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.SendNotice(context.Background(), "!room:example.org", "t1", "hello")
	if a != b || len(events) != 1 {
		t.Fatalf("want one event for one transaction id, got %v", events)
	}
	_, err = matrix.New(srv.URL, "wrong", nil).SendNotice(context.Background(), "!room:example.org", "t2", "x")
	if !matrix.IsPermanent(err) {
		t.Fatalf("403 must be permanent: %v", err)
	}
}
