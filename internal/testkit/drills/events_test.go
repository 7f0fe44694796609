package drills

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/orchestrator-dev/orchestrator/internal/events"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

// hookReceiver is a tenant's event receiver that the drill can take down
// (its server closed: connections refused, deliveries in flight cut) and
// bring back on the same address. It verifies every delivery with the
// Standard Webhooks reference library and keeps every body it processed by
// webhook-id.
type hookReceiver struct {
	t       *testing.T
	addr    string
	latency time.Duration

	mu     sync.Mutex
	secret string
	srv    *http.Server
	got    map[string][]string
	bad    int
}

func newHookReceiver(t *testing.T) *hookReceiver {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &hookReceiver{t: t, addr: ln.Addr().String(), latency: 50 * time.Millisecond, got: map[string][]string{}}
	r.serve(ln)
	t.Cleanup(r.down)
	return r
}

func (r *hookReceiver) serve(ln net.Listener) {
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// down closes the listener and every connection, requests in flight included.
func (r *hookReceiver) down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// up listens on the same address again.
func (r *hookReceiver) up() {
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			r.serve(ln)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Fatalf("receiver: listen again on %s: %v", r.addr, err)
}

func (r *hookReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	secret := r.secret
	r.mu.Unlock()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err == nil {
		err = wh.Verify(body, req.Header)
	}
	if err != nil {
		r.mu.Lock()
		r.bad++
		r.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	select { // processing; a receiver taken down meanwhile never processes it
	case <-time.After(r.latency):
	case <-req.Context().Done():
		return
	}
	r.mu.Lock()
	id := req.Header.Get("webhook-id")
	r.got[id] = append(r.got[id], string(body))
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// Drill 9: events out while the receiver goes down and the worker is
// SIGKILLed mid-delivery, twice each, under load. Every event the outbox recorded arrives,
// none is lost, every delivery ends delivered, and an event received twice
// (sent again after a kill) has one webhook-id and one body.
func TestDrillEventsWorkerAndReceiverKilled(t *testing.T) {
	eachServer(t, drillEvents)
}

func drillEvents(t *testing.T, c *cluster) {
	api := c.addAPI()
	w := c.addWorker()
	ctx := context.Background()
	st, err := store.Open(ctx, c.appURL, store.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rcv := newHookReceiver(t)
	sub, err := st.CreateSubscription(ctx, store.Subscription{TenantID: tenant, URL: "http://" + rcv.addr + "/events", CreatedBy: "drill"}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	rcv.mu.Lock()
	rcv.secret = sub.Secret
	rcv.mu.Unlock()
	starter := &events.Starter{Temporal: c.tc, TaskQueue: taskQueue + "-events"}
	if err := starter.EnsureDelivering(ctx, tenant, sub.ID); err != nil {
		t.Fatal(err)
	}

	d := newDriver(t, c, func() []string { return []string{baseURL(api)} })
	es := newEscalations(1, prof.workerKillEscalations/2)
	window := 10 * time.Second
	wait := background(func() { d.flow(loadContext(t), es, prof.clients, window, time.Second) })

	pendingNow := func() int {
		n := 0
		for _, dl := range storetest.Deliveries(t, st, tenant, sub.ID) {
			if dl.Status == store.DeliveryPending {
				n++
			}
		}
		return n
	}
	// The receiver goes down while the worker sends (its attempts are
	// refused and retried), then the worker is SIGKILLed while deliveries
	// are in flight (the receiver takes 200 ms each), twice.
	rcv.mu.Lock()
	rcv.latency = 200 * time.Millisecond
	rcv.mu.Unlock()
	for i := range 2 {
		time.Sleep(1500 * time.Millisecond)
		t.Logf("round %d: receiver down for 3s with %d deliveries pending", i+1, pendingNow())
		rcv.down()
		time.Sleep(3 * time.Second)
		rcv.up()
		time.Sleep(time.Second)
		t.Logf("round %d: worker SIGKILLed with %d deliveries pending, %d escalations in flight", i+1, pendingNow(), d.inFlight())
		w.kill()
		time.Sleep(1500 * time.Millisecond)
		w.start()
	}
	wait()
	d.report()
	checkInvariants(t, c, es)

	// A killed worker's loop resumes on the restarted one after its
	// heartbeat timeout (30 s); then every delivery ends delivered.
	deadline := time.Now().Add(prof.converge)
	for pendingNow() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries still pending after %s", pendingNow(), prof.converge)
		}
		time.Sleep(500 * time.Millisecond)
	}
	ds := storetest.Deliveries(t, st, tenant, sub.ID)
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var retried, duplicates int
	var lost []string
	for _, dl := range ds {
		if dl.Status != store.DeliveryDelivered {
			t.Errorf("delivery %s", dl)
		}
		if len(dl.Attempts) > 1 {
			retried++
		}
		bodies := rcv.got[dl.EventID]
		switch {
		case len(bodies) == 0:
			lost = append(lost, dl.EventID)
		case len(bodies) > 1:
			duplicates++
			for _, b := range bodies[1:] {
				if b != bodies[0] {
					t.Errorf("event %s received with two bodies:\n%s\n%s", dl.EventID, bodies[0], b)
				}
			}
		}
	}
	t.Logf("%d events: %d delivered after failed attempts, %d received more than once (same webhook-id, same body), %d lost, %d unverifiable",
		len(ds), retried, duplicates, len(lost), rcv.bad)
	if len(lost) > 0 {
		t.Errorf("events never received: %v", lost)
	}
	if rcv.bad > 0 {
		t.Errorf("%d deliveries did not verify", rcv.bad)
	}
	if len(ds) < len(es) {
		t.Errorf("only %d events for %d escalations: the outbox recorded too few", len(ds), len(es))
	}
	if retried == 0 {
		t.Errorf("no delivery needed a retry: the receiver's outages hit nothing, the drill proved nothing")
	}
}
