package events_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

// Each attempt carries its own time as webhook-timestamp, and is signed
// over it: an event recorded hours before (a receiver down, a long retry
// schedule) still passes a receiver's 5-minute replay window on every
// retry. The store's clock here runs two hours behind, so a timestamp
// taken from the event or from the store would be refused.
func TestEveryAttemptCarriesItsOwnTimestamp(t *testing.T) {
	s, err := store.Open(context.Background(), storetest.URL(t, store.SQLite), store.Options{
		Now: func() time.Time { return time.Now().Add(-2 * time.Hour) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	wh, err := standardwebhooks.NewWebhook(secretA)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		stamps []int64
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := wh.Verify(body, r.Header); err != nil {
			t.Errorf("attempt refused by the reference library: %v", err)
		}
		ts, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
		mu.Lock()
		defer mu.Unlock()
		stamps = append(stamps, ts)
		if len(stamps) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	sub := subscribe(t, s, srv.URL)
	queueFor(t, s, sub, "a1", 1)
	start := time.Now().Unix()
	loop(t, newDispatcher(s, 1100*time.Millisecond), sub, 10*time.Second, ended(t, s, sub))
	mu.Lock()
	defer mu.Unlock()
	if len(stamps) != 2 {
		t.Fatalf("%d attempts, want 2", len(stamps))
	}
	for i, ts := range stamps {
		if ts < start || ts > time.Now().Unix() {
			t.Errorf("attempt %d: webhook-timestamp %d, not the attempt's time (%d..now)", i+1, ts, start)
		}
	}
	if stamps[1] <= stamps[0] {
		t.Errorf("the retry carries the first attempt's timestamp %d", stamps[0])
	}
}
