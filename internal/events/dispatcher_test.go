package events_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/orchestrator-dev/orchestrator/internal/events"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

const tenant = "/teams/support"

// receiver is a Standard Webhooks receiver verifying with the reference
// library; answer chooses the status of its n-th request (from 1).
type receiver struct {
	t      *testing.T
	secret string
	answer func(n int) int
	mu     sync.Mutex
	got    []delivery
	srv    *httptest.Server
}

type delivery struct {
	id, body string
	status   int
}

func newReceiver(t *testing.T, secret string, answer func(n int) int) *receiver {
	r := &receiver{t: t, secret: secret, answer: answer}
	r.srv = httptest.NewServer(r)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	wh, _ := standardwebhooks.NewWebhook(r.secret)
	if err := wh.Verify(body, req.Header); err != nil {
		r.t.Errorf("delivery does not verify: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	r.mu.Lock()
	n := len(r.got) + 1
	status := http.StatusOK
	if r.answer != nil {
		status = r.answer(n)
	}
	r.got = append(r.got, delivery{id: req.Header.Get("webhook-id"), body: string(body), status: status})
	r.mu.Unlock()
	w.WriteHeader(status)
	fmt.Fprintf(w, "answer %d", n)
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

func newDispatcher(s *store.Store, schedule ...time.Duration) *events.Dispatcher {
	return &events.Dispatcher{
		Store: s, Client: events.NewClient(events.ClientOptions{AllowPrivate: true}), Schedule: schedule,
		AttemptTimeout: 2 * time.Second, Poll: 20 * time.Millisecond, RunFor: time.Minute, Lease: 500 * time.Millisecond,
	}
}

// loop runs the delivery loop until done holds (then stops it) or it ends
// by itself; it fails the test after limit.
func loop(t *testing.T, d *events.Dispatcher, sub string, limit time.Duration, done func() bool) events.DeliverResult {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type out struct {
		res events.DeliverResult
		err error
	}
	ch := make(chan out, 1)
	go func() {
		res, err := d.Deliver(ctx, events.DeliverInput{TenantID: tenant, SubscriptionID: sub})
		ch <- out{res, err}
	}()
	deadline := time.After(limit)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case o := <-ch:
			if o.err != nil {
				t.Fatalf("loop: %v", o.err)
			}
			return o.res
		case <-tick.C:
			if done != nil && done() {
				cancel()
				return (<-ch).res
			}
		case <-deadline:
			cancel()
			<-ch
			t.Fatalf("not done within %s", limit)
		}
	}
}

func subscribe(t *testing.T, s *store.Store, url string) string {
	return storetest.AddSubscription(t, s, storetest.Subscription{TenantID: tenant, URL: url, Secret: secretA})
}

func queueFor(t *testing.T, s *store.Store, sub, resourceID string, seq int64) string {
	body := fmt.Sprintf(`{"type":"approval.created","timestamp":"2026-12-07T19:00:00Z","data":{"id":%q,"sequence":%d}}`, resourceID, seq)
	return storetest.QueueEvent(t, s, storetest.Event{TenantID: tenant, Type: "approval.created", Resource: "approval",
		ResourceID: resourceID, Sequence: seq, Body: body}, sub)
}

func statusOf(t *testing.T, s *store.Store, sub string) []storetest.Delivery {
	return storetest.Deliveries(t, s, tenant, sub)
}

func ended(t *testing.T, s *store.Store, sub string) func() bool {
	return func() bool {
		for _, d := range statusOf(t, s, sub) {
			if d.Status == store.DeliveryPending {
				return false
			}
		}
		return true
	}
}

// A receiver answering 500 twice and then 200 gets the event three times,
// with one webhook-id, each signed; the delivery is delivered with its
// three attempts recorded.
func TestRetriesKeepTheWebhookID(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(string(dialect), func(t *testing.T) {
			s := storetest.Open(t, dialect)
			rcv := newReceiver(t, secretA, func(n int) int { return map[bool]int{true: 500, false: 200}[n <= 2] })
			sub := subscribe(t, s, rcv.srv.URL)
			id := queueFor(t, s, sub, "a1", 1)
			loop(t, newDispatcher(s, 50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond), sub, 10*time.Second, ended(t, s, sub))

			got := rcv.deliveries()
			if len(got) != 3 {
				t.Fatalf("received %d times, want 3", len(got))
			}
			for _, g := range got {
				if g.id != id || g.body != got[0].body {
					t.Errorf("attempt with webhook-id %s, want %s every time", g.id, id)
				}
			}
			ds := statusOf(t, s, sub)
			if len(ds) != 1 || ds[0].Status != store.DeliveryDelivered || len(ds[0].Attempts) != 3 {
				t.Fatalf("deliveries %v", ds)
			}
			for i, a := range ds[0].Attempts {
				want := map[bool]int{true: 500, false: 200}[i < 2]
				if a.StatusCode == nil || *a.StatusCode != want || a.ResponseExcerpt == nil || *a.ResponseExcerpt != fmt.Sprintf("answer %d", i+1) {
					t.Errorf("attempt %d: %+v", i+1, a)
				}
			}
		})
	}
}

// After the last retry the delivery is failed, with every attempt kept.
func TestLastRetryFails(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	rcv := newReceiver(t, secretA, func(int) int { return http.StatusServiceUnavailable })
	sub := subscribe(t, s, rcv.srv.URL)
	queueFor(t, s, sub, "a1", 1)
	loop(t, newDispatcher(s, 20*time.Millisecond, 20*time.Millisecond), sub, 10*time.Second, ended(t, s, sub))
	ds := statusOf(t, s, sub)
	if len(ds) != 1 || ds[0].Status != store.DeliveryFailed || len(ds[0].Attempts) != 3 || len(rcv.deliveries()) != 3 {
		t.Fatalf("deliveries %v, received %d", ds, len(rcv.deliveries()))
	}
	if ds[0].LastError == nil || *ds[0].LastError != "HTTP 503" {
		t.Errorf("last error %v", ds[0].LastError)
	}
}

// A 410 disables the subscription (reason "gone") and ends the loop.
func TestGoneDisablesTheSubscription(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	rcv := newReceiver(t, secretA, func(int) int { return http.StatusGone })
	sub := subscribe(t, s, rcv.srv.URL)
	queueFor(t, s, sub, "a1", 1)
	queueFor(t, s, sub, "a1", 2)
	res := loop(t, newDispatcher(s, time.Second), sub, 10*time.Second, nil)
	if res.Ended != events.EndedGone {
		t.Fatalf("loop ended %q, want %q", res.Ended, events.EndedGone)
	}
	if enabled, reason := storetest.SubscriptionState(t, s, tenant, sub); enabled || reason != store.DisabledGone {
		t.Errorf("subscription enabled %v, reason %q", enabled, reason)
	}
	ds := statusOf(t, s, sub)
	if len(rcv.deliveries()) != 1 || ds[0].Status != store.DeliveryFailed || ds[1].Status != store.DeliveryPending {
		t.Errorf("received %d, deliveries %v", len(rcv.deliveries()), ds)
	}
	// Disabled, the loop ends at once; deleted too.
	if res := loop(t, newDispatcher(s, time.Second), sub, 5*time.Second, nil); res.Ended != events.EndedDisabled {
		t.Errorf("disabled: ended %q", res.Ended)
	}
	storetest.DeleteSubscription(t, s, tenant, sub)
	if res := loop(t, newDispatcher(s, time.Second), sub, 5*time.Second, nil); res.Ended != events.EndedDeleted {
		t.Errorf("deleted: ended %q", res.Ended)
	}
}

// A receiver that is down gets everything once it is back, in order per
// resource.
func TestReceiverDownThenUp(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // down: connections are refused
	sub := subscribe(t, s, "http://"+addr+"/hook")
	var ids []string
	for i := range 3 {
		ids = append(ids, queueFor(t, s, sub, "a1", int64(i+1)))
	}
	ids = append(ids, queueFor(t, s, sub, "a2", 1))

	rcv := &receiver{t: t, secret: secretA}
	go func() {
		time.Sleep(700 * time.Millisecond)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("listen again on %s: %v", addr, err)
			return
		}
		rcv.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: rcv}}
		rcv.srv.Start()
		t.Cleanup(rcv.srv.Close)
	}()
	d := newDispatcher(s, 100*time.Millisecond, 200*time.Millisecond, 400*time.Millisecond, 800*time.Millisecond, 1600*time.Millisecond)
	loop(t, d, sub, 20*time.Second, ended(t, s, sub))
	ds := statusOf(t, s, sub)
	for _, dl := range ds {
		if dl.Status != store.DeliveryDelivered {
			t.Errorf("%v: want delivered", dl)
		}
	}
	// The first of a1's events was tried while the receiver was down; the
	// later ones waited behind it rather than overtaking it.
	if len(ds[0].Attempts) < 2 {
		t.Errorf("%v: want delivered after failed attempts", ds[0])
	}
	var a1 []string
	for _, g := range rcv.deliveries() {
		if g.id != ids[3] {
			a1 = append(a1, g.id)
		}
	}
	if fmt.Sprint(a1) != fmt.Sprint(ids[:3]) {
		t.Errorf("approval a1's events arrived as %v, want %v (in sequence)", a1, ids[:3])
	}
}

// A slow receiver (past the attempt timeout) delays neither another
// subscription's deliveries nor another resource's; its attempt times out.
func TestSlowReceiverDelaysNoOther(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	fast := newReceiver(t, secretA, nil)
	slowSub, fastSub := subscribe(t, s, slow.URL), subscribe(t, s, fast.srv.URL)
	queueFor(t, s, slowSub, "a1", 1)
	queueFor(t, s, fastSub, "a1", 1)

	d := newDispatcher(s, time.Minute)
	d.AttemptTimeout = 3 * time.Second
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		loop(t, d, slowSub, 10*time.Second, func() bool { return len(statusOf(t, s, slowSub)[0].Attempts) == 1 })
	}()
	time.Sleep(100 * time.Millisecond) // the slow attempt is under way
	start := time.Now()
	loop(t, d, fastSub, 5*time.Second, ended(t, s, fastSub))
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("the fast subscription took %s beside a slow one", took)
	}
	wg.Wait()
	a := statusOf(t, s, slowSub)[0].Attempts[0]
	if a.StatusCode != nil || a.Error == nil || *a.Error != "no answer within 3s" {
		t.Errorf("slow attempt %+v", a)
	}
}

// A loop stopped in the middle of an attempt (its worker killed) records
// nothing; the next loop sends the delivery again once the lease has passed,
// with the same webhook-id, and nothing is lost.
func TestStoppedMidAttemptIsSentAgain(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(string(dialect), func(t *testing.T) {
			s := storetest.Open(t, dialect)
			var mu sync.Mutex
			calls := 0
			var ids []string
			hang := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				calls++
				n := calls
				ids = append(ids, r.Header.Get("webhook-id"))
				mu.Unlock()
				if n == 1 {
					select { // the first attempt never ends by itself
					case <-hang:
					case <-r.Context().Done():
					}
					return
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			defer close(hang)
			sub := subscribe(t, s, srv.URL)
			id := queueFor(t, s, sub, "a1", 1)
			d := newDispatcher(s, time.Minute)
			loop(t, d, sub, 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return calls == 1 })
			if ds := statusOf(t, s, sub); ds[0].Status != store.DeliveryPending || len(ds[0].Attempts) != 0 {
				t.Fatalf("after the stop: %v, want pending with no attempt", ds)
			}
			loop(t, d, sub, 5*time.Second, ended(t, s, sub))
			ds := statusOf(t, s, sub)
			mu.Lock()
			defer mu.Unlock()
			if ds[0].Status != store.DeliveryDelivered || len(ids) != 2 || ids[0] != id || ids[1] != id {
				t.Errorf("deliveries %v, webhook-ids %v (want %s twice)", ds, ids, id)
			}
		})
	}
}

// The store's hook wakes an idle loop at once: it does not wait for its poll.
func TestWakerSendsAtOnce(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	rcv := newReceiver(t, secretA, nil)
	sub := subscribe(t, s, rcv.srv.URL)
	d := newDispatcher(s, time.Second)
	d.Poll, d.Wake = time.Hour, events.NewWaker()
	go func() {
		time.Sleep(300 * time.Millisecond)
		queueFor(t, s, sub, "a1", 1)
		d.Wake.Wake([]string{sub})
	}()
	loop(t, d, sub, 5*time.Second, func() bool { return len(rcv.deliveries()) == 1 })
}

// During a rotation a receiver still holding the previous secret verifies
// the deliveries, and so does one holding the new.
func TestRotationSignsWithBothSecrets(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	old := newReceiver(t, secretA, nil)
	sub := storetest.AddSubscription(t, s, storetest.Subscription{TenantID: tenant, URL: old.srv.URL, Secret: secretB,
		PreviousSecret: secretA, PreviousExpiresAt: time.Now().Add(24 * time.Hour)})
	queueFor(t, s, sub, "a1", 1)
	loop(t, newDispatcher(s, time.Second), sub, 5*time.Second, ended(t, s, sub))
	if got := old.deliveries(); len(got) != 1 || got[0].status != http.StatusOK {
		t.Fatalf("the receiver with the previous secret got %v", got)
	}
}

// The loop prunes its own subscription's finished deliveries past the
// retention (attempts with them) and the tenant's events nothing references
// any more; a pending delivery, its event, and another subscription's
// deliveries stay.
func TestLoopPrunesFinishedDeliveries(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(string(dialect), func(t *testing.T) {
			s := storetest.Open(t, dialect)
			// a1 is delivered; b1 answers 500 and waits an hour for its retry.
			rcv := newReceiver(t, secretA, func(n int) int { return map[bool]int{true: 200, false: 500}[n == 1] })
			sub := subscribe(t, s, rcv.srv.URL)
			// Another subscription's delivered delivery, as old: no loop
			// runs for it here, so it and its event stay.
			other := subscribe(t, s, rcv.srv.URL)
			queueFor(t, s, other, "c1", 1)
			od := statusOf(t, s, other)[0]
			if ok, err := storetest.RecordAttempt(context.Background(), s, tenant, store.AttemptOutcome{
				DeliveryID: od.ID, Attempt: 1, AttemptedAt: s.Now(), Status: store.DeliveryDelivered,
			}); err != nil || !ok {
				t.Fatalf("record: %v, %v", ok, err)
			}
			queueFor(t, s, sub, "a1", 1)
			d := newDispatcher(s, time.Hour)
			d.Concurrency = 1
			d.Retention, d.PruneEvery = time.Millisecond, 20*time.Millisecond
			var pending string
			loop(t, d, sub, 10*time.Second, func() bool {
				ds := statusOf(t, s, sub)
				// a1 delivered (or already pruned): queue the one that stays pending.
				if pending == "" && (len(ds) == 0 || ds[0].Status == store.DeliveryDelivered) {
					pending = queueFor(t, s, sub, "b1", 1)
					return false
				}
				return pending != "" && len(ds) == 1 && ds[0].EventID == pending && ds[0].Status == store.DeliveryPending &&
					len(ds[0].Attempts) == 1 && storetest.Count(t, s, tenant, "events") == 2
			})
			if got := storetest.Count(t, s, tenant, "event_delivery_attempts"); got != 2 {
				t.Errorf("%d attempts left, want the pending delivery's and the other subscription's", got)
			}
			if ds := statusOf(t, s, other); len(ds) != 1 || ds[0].Status != store.DeliveryDelivered || len(ds[0].Attempts) != 1 {
				t.Errorf("the other subscription's deliveries: %v", ds)
			}
		})
	}
}
