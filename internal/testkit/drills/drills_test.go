package drills

import (
	"context"
	"math/rand/v2"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/testkit/temporalcluster"
)

// waitInFlight waits (briefly) until the clients have at least want
// escalations in flight, so that a fault hits some, and returns how many
// there are.
func waitInFlight(d *driver, want int64, limit time.Duration) int64 {
	deadline := time.Now().Add(limit)
	for {
		if n := d.inFlight(); n >= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(time.Millisecond)
	}
}

// loadContext bounds a drill's client load.
func loadContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), prof.converge)
	t.Cleanup(cancel)
	return ctx
}

func logDuration(t *testing.T) {
	start := time.Now()
	t.Cleanup(func() {
		t.Logf("%s: %s (%s profile)", t.Name(), time.Since(start).Round(100*time.Millisecond), prof.name)
	})
}

// Drill 1: the worker is SIGKILLed every 2–3 s while escalations are created
// and decided concurrently, and restarted each time.
func TestDrillWorkerSIGKILL(t *testing.T) { eachServer(t, drillWorkerSIGKILL) }

func drillWorkerSIGKILL(t *testing.T, c *cluster) {
	api := c.addAPI()
	w := c.addWorker()
	d := newDriver(t, c, func() []string { return []string{baseURL(api)} })
	// Chatwoot answers slowly enough that notification activities are
	// running when the worker dies.
	c.cw.SetLatency(100 * time.Millisecond)
	es := newEscalations(1, prof.workerKillEscalations)
	window := prof.workerKillEvery * time.Duration(prof.workerKills+1)
	wait := background(func() { d.flow(loadContext(t), es, prof.workerKillClients, window, time.Second) })

	hit := 0
	for i := range prof.workerKills {
		// every 2–3 s (workerKillEvery ± 0.5 s)
		time.Sleep(prof.workerKillEvery - 500*time.Millisecond + rand.N(time.Second))
		n := d.inFlight()
		w.kill()
		t.Logf("kill %d/%d: worker SIGKILLed with %d escalations in flight", i+1, prof.workerKills, n)
		if n > 0 {
			hit++
		}
		w.start()
	}
	wait()
	d.report()
	if hit == 0 {
		t.Errorf("no kill hit escalations in flight: the drill proved nothing")
	}
	checkInvariants(t, c, es)
}

// Drill 2: the API is SIGKILLed between create and decide. Escalations are
// created through API #1; more are being created when it is killed (their
// clients retry with the same Idempotency-Key); all are decided through the
// restarted API.
func TestDrillAPISIGKILL(t *testing.T) { eachServer(t, drillAPISIGKILL) }

func drillAPISIGKILL(t *testing.T, c *cluster) {
	api := c.addAPI()
	c.addWorker()
	d := newDriver(t, c, func() []string { return []string{baseURL(api)} })
	ctx := loadContext(t)

	settled := newEscalations(1, prof.apiKillSettled)
	d.createAll(ctx, settled, prof.clients, 0)
	for _, e := range settled {
		if e.ID() == "" {
			t.Fatalf("create #%d through API #1 before the kill: %v", e.n, e.createErr)
		}
	}
	inflight := newEscalations(1+prof.apiKillSettled, prof.apiKillInFlight)
	// A create answers once the workflow has recorded the approval and
	// tried the escalation note; a slow Chatwoot keeps creates in flight.
	c.cw.SetLatency(300 * time.Millisecond)
	wait := background(func() { d.createAll(ctx, inflight, prof.clients, time.Second) })
	n := waitInFlight(d, 3, 3*time.Second)
	api.kill()
	t.Logf("API #1 SIGKILLed with %d creates in flight", n)
	time.Sleep(500 * time.Millisecond)
	api.start() // the restarted API, same address
	wait()
	c.cw.SetLatency(0)

	all := append(settled, inflight...)
	d.decideAll(ctx, all, prof.clients)
	d.report()
	if n == 0 || d.connErrors.Load() == 0 {
		t.Errorf("the kill hit no create in flight (%d) or no client saw the API die (%d connection errors): the drill proved nothing", n, d.connErrors.Load())
	}
	checkInvariants(t, c, all)
}

// Drill 3: every PostgreSQL connection of the drill's database is terminated
// a few times mid-load.
func TestDrillPostgresConnectionsCut(t *testing.T) { eachServer(t, drillPostgresConnectionsCut) }

func drillPostgresConnectionsCut(t *testing.T, c *cluster) {
	api := c.addAPI()
	c.addWorker()
	d := newDriver(t, c, func() []string { return []string{baseURL(api)} })
	es := newEscalations(1, prof.pgCutEscalations)
	window := prof.pgCutEvery * time.Duration(prof.pgCuts+1)
	wait := background(func() { d.flow(loadContext(t), es, prof.clients, window, time.Second) })

	total := 0
	for i := range prof.pgCuts {
		time.Sleep(prof.pgCutEvery)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		n, err := c.terminateBackends(ctx)
		cancel()
		if err != nil {
			t.Fatalf("pg_terminate_backend: %v", err)
		}
		t.Logf("cut %d/%d: %d connections terminated with %d escalations in flight", i+1, prof.pgCuts, n, d.inFlight())
		total += n
	}
	wait()
	d.report()
	if total == 0 {
		t.Errorf("no connection was cut: the drill proved nothing")
	}
	checkInvariants(t, c, es)
}

// Drill 4: Chatwoot fails for chatwootOutage: first with 5xx answers, then
// with requests that hang past the client's 10 s timeout, then refusing
// connections; after it is back, a couple of requests are applied but
// answered too late (the echo-id reconciliation case).
func TestDrillChatwootOutage(t *testing.T) { eachServer(t, drillChatwootOutage) }

func drillChatwootOutage(t *testing.T, c *cluster) {
	api := c.addAPI()
	c.addWorker()
	d := newDriver(t, c, func() []string { return []string{baseURL(api)} })
	es := newEscalations(1, prof.chatwootEscalations)
	outage := prof.chatwootOutage
	wait := background(func() { d.flow(loadContext(t), es, prof.clients, outage+2*time.Second, time.Second) })

	phase := outage / 3
	time.Sleep(500 * time.Millisecond)
	t.Logf("Chatwoot: 503 for %s", phase)
	c.cw.FailFor(phase, http.StatusServiceUnavailable)
	time.Sleep(phase)
	t.Logf("Chatwoot: every request hangs 12s (past the client's 10s timeout) for %s", phase)
	c.cw.HangNext(1<<20, 12*time.Second)
	time.Sleep(phase)
	c.cw.HangNext(0, 0)
	t.Logf("Chatwoot: down (connection refused) for %s", phase)
	c.cw.Down()
	time.Sleep(phase)
	if err := c.cw.Up(); err != nil {
		t.Fatal(err)
	}
	c.cw.HangNextAfterCommit(2, 11*time.Second)
	t.Logf("Chatwoot: back; the next 2 requests are applied but answered after 11s")
	wait()
	d.report()

	var failed, unanswered int
	for _, r := range c.cw.Requests() {
		switch {
		case r.Status == http.StatusServiceUnavailable:
			failed++
		case r.Status == 0:
			unanswered++
		}
	}
	t.Logf("Chatwoot saw %d requests answered 503 and %d left unanswered", failed, unanswered)
	if failed == 0 || unanswered == 0 {
		t.Errorf("the outage was not exercised: %d 503s, %d unanswered requests", failed, unanswered)
	}
	checkInvariants(t, c, es)
}

// Drill 5: the Temporal dev server is stopped mid-flow and restarted on the
// same database file and port; once gracefully (SIGINT, SIGTERM), once with
// SIGKILL.
func TestDrillTemporalRestart(t *testing.T) {
	graceful := []syscall.Signal{}
	for _, s := range prof.temporalGraceful {
		graceful = append(graceful, map[string]syscall.Signal{"SIGINT": syscall.SIGINT, "SIGTERM": syscall.SIGTERM}[s])
	}
	kills := make([]syscall.Signal, prof.temporalKills)
	for i := range kills {
		kills[i] = syscall.SIGKILL
	}
	t.Run("graceful", func(t *testing.T) {
		eachServer(t, func(t *testing.T, c *cluster) { temporalRestart(t, c, graceful) })
	})
	t.Run("sigkill", func(t *testing.T) {
		eachServer(t, func(t *testing.T, c *cluster) { temporalRestart(t, c, kills) })
	})
}

func temporalRestart(t *testing.T, c *cluster, signals []syscall.Signal) {
	api := c.addAPI()
	c.addWorker()
	d := newDriver(t, c, func() []string { return []string{baseURL(api)} })
	c.cw.SetLatency(100 * time.Millisecond)
	es := newEscalations(1, prof.temporalEscalations)
	gap := 2 * time.Second
	window := time.Duration(len(signals)+1) * (gap + prof.temporalDowntime)
	wait := background(func() { d.flow(loadContext(t), es, prof.clients, window, time.Second) })

	hit := 0
	for _, sig := range signals {
		time.Sleep(gap)
		n := d.inFlight()
		if sig == syscall.SIGKILL {
			c.temporal.kill()
		} else {
			c.temporal.terminate(sig, 30*time.Second)
		}
		t.Logf("Temporal (%s) stopped with %s, %d escalations in flight; down for %s", c.server, sig, n, prof.temporalDowntime)
		if n > 0 {
			hit++
		}
		time.Sleep(prof.temporalDowntime)
		c.temporal.start()
	}
	wait()
	d.report()
	if hit == 0 {
		t.Errorf("no stop hit escalations in flight: the drill proved nothing")
	}
	checkInvariants(t, c, es)
}

// Drill 6: two api and two worker processes share one dev server and
// database; one api and one worker get SIGTERM under load. Clients retry a
// connection error against the other api with the same Idempotency-Key; no
// request may fail and no escalation may be lost or doubled.
func TestDrillTwoOfEachSIGTERM(t *testing.T) { eachServer(t, drillTwoOfEachSIGTERM) }

func drillTwoOfEachSIGTERM(t *testing.T, c *cluster) {
	a1, a2 := c.addAPI(), c.addAPI()
	w1, _ := c.addWorker(), c.addWorker()
	d := newDriver(t, c, func() []string { return []string{baseURL(a1), baseURL(a2)} })
	c.cw.SetLatency(100 * time.Millisecond)
	es := newEscalations(1, prof.pairEscalations)
	wait := background(func() { d.flow(loadContext(t), es, prof.clients, 6*time.Second, time.Second) })

	time.Sleep(2500 * time.Millisecond)
	n := d.inFlight()
	a1.signal(syscall.SIGTERM)
	w1.signal(syscall.SIGTERM)
	t.Logf("SIGTERM to %s and %s with %d escalations in flight", a1.name, w1.name, n)
	for _, p := range []*proc{a1, w1} {
		st := p.wait(30 * time.Second)
		switch {
		case st == nil:
			t.Errorf("%s did not exit within 30s of SIGTERM (SHUTDOWN_GRACE=%s)", p.name, shutdownGrace)
		case !st.Success():
			t.Errorf("%s: want a clean exit after SIGTERM, got %v\n%s", p.name, st, temporalcluster.Tail(p.log, 40))
		}
	}
	wait()
	d.report()
	if n == 0 {
		t.Errorf("nothing was in flight at the SIGTERM: the drill proved nothing")
	}
	if total, kinds := d.serverErrors(); total > 0 {
		t.Errorf("requests failed during a graceful shutdown: %d 5xx answers [%s]", total, kinds)
	}
	checkInvariants(t, c, es)
}
