package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/orchestrator-dev/orchestrator/internal/events"
	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// EventsResult is what the subscriber of the product-with-events window
// received: every event out of the orchestrator, each verified with the
// Standard Webhooks reference library.
type EventsResult struct {
	// Received counts distinct events (webhook-ids), Requests every POST.
	Received, Requests int
	// InWindow counts distinct events received within the measuring window.
	InWindow   int
	Unverified int
	// Lag is from an event's timestamp (its change) to its receipt.
	Lag *samples
	// Drained is how long after the window the last event arrived.
	Drained time.Duration
}

// eventSink is the subscriber: a local receiver that verifies every
// delivery and answers 204.
type eventSink struct {
	srv *httptest.Server
	wh  *standardwebhooks.Webhook

	mu       sync.Mutex
	seen     map[string]bool
	requests int
	bad      int
	lag      samples
	last     time.Time
}

func newEventSink() *eventSink {
	s := &eventSink{seen: map[string]bool{}}
	s.srv = httptest.NewServer(s)
	return s
}

func (s *eventSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if s.wh == nil || s.wh.Verify(body, r.Header) != nil {
		s.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	id := r.Header.Get("webhook-id")
	if !s.seen[id] {
		s.seen[id] = true
		var env struct {
			Timestamp time.Time `json:"timestamp"`
		}
		if json.Unmarshal(body, &env) == nil && !env.Timestamp.IsZero() {
			s.lag.add(now.Sub(env.Timestamp))
		}
	}
	s.last = now
	w.WriteHeader(http.StatusNoContent)
}

func (s *eventSink) counts() (received, requests, bad int, last time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen), s.requests, s.bad, s.last
}

// productWithEvents subscribes the sink to every event of the product's
// tenant (through the store, as POST /api/subscriptions does, and starting
// the subscription's delivery workflow as it does), runs the concurrent
// product window again, and waits for the deliveries to drain.
func (e *env) productWithEvents(ctx context.Context, srv *server, orc *orchestrator, dir string) (*Result, *EventsResult, error) {
	sink := newEventSink()
	defer sink.srv.Close()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "orchestrator.db"), store.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("open the orchestrator's database: %w", err)
	}
	defer st.Close()
	sub, err := st.CreateSubscription(ctx, store.Subscription{TenantID: "/organizations/acme-corp", URL: sink.srv.URL, CreatedBy: "bench"}, 0, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("subscribe: %w", err)
	}
	if sink.wh, err = standardwebhooks.NewWebhook(sub.Secret); err != nil {
		return nil, nil, err
	}
	starter := &events.Starter{Temporal: srv.Client, TaskQueue: "bench-" + filepath.Base(dir) + "-events"}
	if err := starter.EnsureDelivering(ctx, sub.TenantID, sub.ID); err != nil {
		return nil, nil, err
	}
	r := e.product(ctx, orc, e.opts.Concurrency, e.opts.Duration)
	r.Name = "product + events"
	inWindow, _, _, _ := sink.counts()
	end := time.Now()
	// Drained: nothing new for 3 s (or two minutes at most).
	deadline := end.Add(2 * time.Minute)
	last := -1
	for time.Now().Before(deadline) && ctx.Err() == nil {
		n, _, _, _ := sink.counts()
		if n == last {
			break
		}
		last = n
		time.Sleep(3 * time.Second)
	}
	received, requests, bad, lastAt := sink.counts()
	out := &EventsResult{Received: received, Requests: requests, InWindow: inWindow, Unverified: bad, Lag: &sink.lag}
	if lastAt.After(end) {
		out.Drained = lastAt.Sub(end)
	}
	return r, out, nil
}

// eventsMarkdown reports the product with one subscriber beside the
// product without.
func (s *ServerReport) eventsMarkdown(p func(string, ...any)) {
	x, ev := s.ProductEvents, s.Events
	if x == nil || ev == nil || s.Product == nil {
		return
	}
	p("\nWith one subscriber receiving every event (a local receiver verifying each delivery with the Standard Webhooks reference library), "+
		"the product at %d concurrent completed %.1f esc/s against %.1f without: **%.2f×** the rate. "+
		"It received %d distinct events (%.1f per escalation completed in the window; %d within the window) in %d requests, %d failing verification; "+
		"an event reached it %s ms after its change at p50, %s ms at p99, and the last %s after the window ended.\n",
		x.Concurrency, x.Rate(), s.Product.Rate(), ratioOf(x.Rate(), s.Product.Rate()),
		ev.Received, ratioOf(float64(ev.Received), float64(x.Completed)), ev.InWindow, ev.Requests, ev.Unverified,
		ms(ev.Lag.quantile(.5)), ms(ev.Lag.quantile(.99)), ev.Drained.Round(100*time.Millisecond))
}
