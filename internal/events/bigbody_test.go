package events_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

// A receiver that answers 200 and then streams without end costs an
// attempt a short excerpt and a little draining, not its memory or its
// whole time: the delivery is delivered at once.
func TestReceiverStreamingWithoutEndIsCutShort(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = 'x'
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	sub := subscribe(t, s, srv.URL)
	queueFor(t, s, sub, "a1", 1)
	d := newDispatcher(s)
	d.AttemptTimeout = 20 * time.Second
	start := time.Now()
	loop(t, d, sub, 15*time.Second, ended(t, s, sub))
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the attempt took %s: the answer was read beyond its excerpt", took)
	}
	ds := statusOf(t, s, sub)
	if len(ds) != 1 || ds[0].Status != store.DeliveryDelivered || len(ds[0].Attempts) != 1 {
		t.Fatalf("deliveries %+v", ds)
	}
	if e := ds[0].Attempts[0].ResponseExcerpt; e == nil || len(*e) != store.MaxAttemptExcerpt {
		t.Errorf("excerpt of %v bytes, want %d", e, store.MaxAttemptExcerpt)
	}
}
