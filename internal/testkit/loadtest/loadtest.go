// Package loadtest is the benchmark harness behind `make bench`. On each
// Temporal server it is given, the CLI's dev server (what `make run`
// starts) and a real cluster (internal/temporalcluster: what
// docker-compose.yml deploys), it runs the orchestrator binary as a child
// process in `dev` mode on SQLite with a Chatwoot stand-in answering in a
// few milliseconds, drives the HTTP API as the shell app would, and then
// runs two baselines straight on the Temporal SDK against the same server:
// rates, latencies, ratios, peak RSS, the CPU each process used and, read
// from the workflows' histories, where an escalation's time goes. It also
// measures memory against the number of waiting escalations (the bounded
// workflow cache and the replay cost of an evicted escalation) and the
// read path on PostgreSQL.
//
// Figures are ratios against baselines run in the same process on the same
// server; absolute times depend on the machine.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/orchestrator-dev/orchestrator/internal/chatwoot/chatwoottest"
	"github.com/orchestrator-dev/orchestrator/internal/testkit/temporalcluster"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Options configure a run.
type Options struct {
	TemporalCLI string // the Temporal CLI (dev server)
	Binary      string // bin/orchestrator
	// SourceDir is the repository root: the Chatwoot spec, the compose
	// dynamic config and, with ProfileDir, the profiled binary's source.
	SourceDir   string
	Concurrency int
	Duration    time.Duration
	// Eager switches eager activity execution on for the dev server, as
	// `orchestrator dev` runs it; off measures the server's default.
	Eager bool
	// Cluster, when set, runs the same shapes on a real cluster too (needs
	// PostgresAdminURL).
	Cluster *temporalcluster.Tools
	// PostgresAdminURL (a superuser) hosts the cluster's databases and the
	// read path; empty skips both.
	PostgresAdminURL string
	ReadRows         int
	ReadTenants      int
	ReadRequests     int
	// Pending escalations to create and leave waiting, once per cache size
	// (WORKER_WORKFLOW_CACHE_SIZE); 0 skips the memory measurement.
	Pending           int
	PendingCacheSizes []int
	// ReplaySamples decisions are timed per class (cached, evicted).
	ReplaySamples int
	// BreakdownSamples histories are read per shape for the breakdown.
	BreakdownSamples int
	// BudgetSamples escalations of each scenario (approved, a question
	// round, expired) are driven one at a time for the per-escalation
	// budget (budgetrun.go); 0 skips it.
	BudgetSamples int
	// SkipShapes leaves out product, naive and floor on every server (a
	// run of the memory measurement alone).
	SkipShapes bool
	// Events runs the concurrent product window a second time with one
	// subscriber receiving every event (events out), for the cost of events.
	Events bool
	// ProfileDir, when set, runs the orchestrator built from
	// cmd/profiled and keeps its CPU profile of each concurrent product
	// window and its heap profile with every escalation pending there.
	ProfileDir string
	Log        io.Writer
}

// Report is everything a run measured.
type Report struct {
	Started, Finished time.Time
	Options           Options
	Servers           []*ServerReport
	Pending           []*PendingResult
	Read              *ReadResult
	// Skipped says what was not measured, and why.
	Skipped []string
}

// ServerReport is what one Temporal server measured.
type ServerReport struct {
	Name, Detail                         string
	Product, Naive, Floor                *Result
	ProductAlone, NaiveAlone, FloorAlone *Result
	// ProductEvents is the concurrent product with one subscriber, and
	// Events what the subscriber received (Options.Events).
	ProductEvents    *Result
	Events           *EventsResult
	PeakRSSBytes     int64
	ChatwootMessages int
	// PoolWaits and PoolWaited are how often and how long the product's
	// requests and tasks waited for a connection of the orchestrator's
	// store (SQLite: one) over the concurrent window.
	PoolWaits  int64
	PoolWaited time.Duration
	// CPU is each process group's use during the concurrent product
	// window; CPUFloor and CPUNaive during the baselines' windows.
	CPU, CPUFloor, CPUNaive []CPUShare
	Breakdowns              []*Breakdown
	// Budgets are the per-escalation budget's scenarios, measured one
	// escalation at a time before the windows.
	Budgets  []*BudgetResult
	Profiles []string
	Took     time.Duration
}

type env struct {
	opts    Options
	dir     string
	cw      *chatwoottest.Server
	convSeq atomic.Int64
	http    *http.Client
	binary  string // opts.Binary, or the profiled build
}

// Run performs the whole benchmark.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 32
	}
	if opts.Duration <= 0 {
		opts.Duration = 30 * time.Second
	}
	if opts.ReplaySamples <= 0 {
		opts.ReplaySamples = 30
	}
	if opts.BreakdownSamples <= 0 {
		opts.BreakdownSamples = 50
	}
	if len(opts.PendingCacheSizes) == 0 {
		opts.PendingCacheSizes = []int{0} // the orchestrator's default
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	dir, err := os.MkdirTemp("", "orchestrator-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	e := &env{opts: opts, dir: dir, binary: opts.Binary,
		http: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}}
	rep := &Report{Started: time.Now(), Options: opts}
	defer func() { rep.Finished = time.Now() }()

	if opts.ProfileDir != "" {
		if e.binary, err = buildProfiled(ctx, opts.SourceDir, opts.ProfileDir); err != nil {
			return nil, err
		}
	}
	e.cw, err = chatwoottest.New(chatwoottest.WithAutoCreate())
	if err != nil {
		return nil, err
	}
	defer e.cw.Close()
	e.cw.SetLatency(3 * time.Millisecond)

	if !opts.SkipShapes {
		e.logf("dev server (eager activity execution %v)", opts.Eager)
		dev, err := startDevServer(ctx, opts.TemporalCLI, opts.Eager, nil)
		if err != nil {
			return nil, err
		}
		sr, err := e.shapes(ctx, dev)
		if stopErr := dev.Stop(); err == nil && stopErr != nil {
			e.logf("stop the dev server: %v", stopErr)
		}
		if err != nil {
			return nil, fmt.Errorf("on the dev server: %w", err)
		}
		rep.Servers = append(rep.Servers, sr)
	}

	if opts.Pending > 0 || opts.PostgresAdminURL != "" {
		// A fresh dev server: nothing left running from the shapes.
		dev, err := startDevServer(ctx, opts.TemporalCLI, opts.Eager, nil)
		if err != nil {
			return nil, err
		}
		err = e.onFreshDevServer(ctx, dev, rep)
		if stopErr := dev.Stop(); err == nil && stopErr != nil {
			e.logf("stop the dev server: %v", stopErr)
		}
		if err != nil {
			return nil, err
		}
	}

	switch {
	case opts.SkipShapes:
	case opts.Cluster == nil:
		rep.Skipped = append(rep.Skipped, "the cluster: no Temporal server tools (TEMPORAL_SERVER, TEMPORAL_SQL_TOOL; `make bench` builds them)")
	case opts.PostgresAdminURL == "":
		rep.Skipped = append(rep.Skipped, "the cluster: no PostgreSQL (-postgres)")
	default:
		e.logf("cluster")
		cdir := filepath.Join(dir, "cluster-server")
		if err := os.MkdirAll(cdir, 0o700); err != nil {
			return nil, err
		}
		cl, err := startCluster(ctx, clusterOptions{
			Tools: *opts.Cluster, AdminURL: opts.PostgresAdminURL, Binary: opts.Binary, Dir: cdir, Log: opts.Log,
			Overlay: filepath.Join(opts.SourceDir, "deploy", "temporal", "dynamicconfig", "orchestrator.yaml"),
		})
		if err != nil {
			return nil, err
		}
		sr, err := e.shapes(ctx, cl)
		if stopErr := cl.Stop(); stopErr != nil {
			e.logf("stop the cluster: %v", stopErr)
		}
		if err != nil {
			return nil, fmt.Errorf("on the cluster: %w\n%s", err, temporalcluster.Tail(filepath.Join(cdir, "temporal-server.log"), 30))
		}
		rep.Servers = append(rep.Servers, sr)
	}
	return rep, nil
}

// onFreshDevServer runs the memory measurement and the read path.
func (e *env) onFreshDevServer(ctx context.Context, dev *server, rep *Report) error {
	if e.opts.Pending > 0 {
		for _, size := range e.opts.PendingCacheSizes {
			e.logf("%d pending escalations, workflow cache %s", e.opts.Pending, cacheLabel(size))
			pr, err := e.pending(ctx, dev, size)
			if err != nil {
				return fmt.Errorf("pending escalations: %w", err)
			}
			rep.Pending = append(rep.Pending, pr)
		}
	}
	if e.opts.PostgresAdminURL != "" {
		e.logf("read path on PostgreSQL")
		var err error
		if rep.Read, err = e.readPath(ctx, dev); err != nil {
			return fmt.Errorf("read path: %w", err)
		}
	} else {
		rep.Skipped = append(rep.Skipped, "the read path: no PostgreSQL (-postgres)")
	}
	return nil
}

func (e *env) logf(format string, args ...any) {
	fmt.Fprintf(e.opts.Log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func slug(s string) string { return strings.ReplaceAll(s, " ", "-") }

func (e *env) startOrchestrator(ctx context.Context, srv *server, databaseURL, dir string, extraEnv ...string) (*orchestrator, error) {
	return startOrchestrator(ctx, orchestratorOptions{
		Binary: e.binary, Server: srv, DatabaseURL: databaseURL, Dir: dir,
		TaskQueue: "bench-" + filepath.Base(dir), Chatwoot: [2]string{e.cw.URL(), e.cw.Token()},
		Env: extraEnv, Profiled: e.opts.ProfileDir != "",
	}, e.http)
}

// stalled reports a phase in which the orchestrator completed nothing:
// nothing measured after it would mean anything, so the run stops with the
// orchestrator's log and a goroutine dump (SIGQUIT) that shows where it
// waits, instead of reporting zeros.
func stalled(orc *orchestrator, server, phase string, r *Result) error {
	if r.Completed > 0 {
		return nil
	}
	_ = orc.cmd.Process.Signal(syscall.SIGQUIT)
	_ = orc.cmd.Wait()
	return fmt.Errorf("%s: the orchestrator completed no escalation %s (%d errors, %d cut; first error %v)\n%s",
		server, phase, r.Errors, r.Cut, r.firstErr.Load(), temporalcluster.Tail(orc.logPath, 3000))
}

// shapes runs product, naive and floor, alone and concurrent, on srv.
func (e *env) shapes(ctx context.Context, srv *server) (*ServerReport, error) {
	started := time.Now()
	sr := &ServerReport{Name: srv.Name, Detail: srv.Detail}
	dir := filepath.Join(e.dir, slug(srv.Name))
	orc, err := e.startOrchestrator(ctx, srv, "sqlite://"+filepath.Join(dir, "orchestrator.db"), dir)
	if err != nil {
		return nil, err
	}
	defer orc.stop()
	firstConv := e.convSeq.Load()
	e.logf("%s: warming up", srv.Name)
	if err := stalled(orc, srv.Name, "warming up", e.product(ctx, orc, 4, 3*time.Second)); err != nil {
		return nil, err
	}
	if e.opts.BudgetSamples > 0 {
		if sr.Budgets, err = e.measureBudgets(ctx, srv, orc, e.opts.BudgetSamples); err != nil {
			return nil, err
		}
	}
	e.logf("%s: product, alone", srv.Name)
	sr.ProductAlone = e.product(ctx, orc, 1, e.opts.Duration/3)
	if err := stalled(orc, srv.Name, "alone", sr.ProductAlone); err != nil {
		return nil, err
	}
	e.logf("%s: product, %d concurrent", srv.Name, e.opts.Concurrency)
	meter := startCPUMeter(e.cpuGroups(srv, orc)...)
	orc.startProfile()
	perf := e.startPerf(ctx, childrenNamed(srv.comm), slug(srv.Name)+"-product")
	waits0, waited0 := orc.poolWaits(ctx)
	sr.Product = e.product(ctx, orc, e.opts.Concurrency, e.opts.Duration)
	sr.CPU = meter.stop()
	waits1, waited1 := orc.poolWaits(ctx)
	sr.PoolWaits, sr.PoolWaited = waits1-waits0, waited1-waited0
	sr.Profiles = append(e.keepProfiles(orc.writeProfiles(), slug(srv.Name)), perf()...)
	sr.PeakRSSBytes = memStatus(orc.pid(), "VmHWM")
	e.waitNotifications(ctx, firstConv, 60*time.Second)
	sr.ChatwootMessages = e.countMessages(firstConv)
	if e.opts.Events {
		e.logf("%s: product, %d concurrent, with one subscriber receiving every event", srv.Name, e.opts.Concurrency)
		if sr.ProductEvents, sr.Events, err = e.productWithEvents(ctx, srv, orc, dir); err != nil {
			return nil, fmt.Errorf("product with events: %w", err)
		}
		if err := stalled(orc, srv.Name, "with events", sr.ProductEvents); err != nil {
			return nil, err
		}
	}
	orc.stop()

	e.logf("%s: reading histories", srv.Name)
	for _, b := range []struct {
		label string
		r     *Result
	}{{"product, alone", sr.ProductAlone}, {fmt.Sprintf("product, %d concurrent", e.opts.Concurrency), sr.Product}} {
		for _, step := range []string{contract.UpdateCreated, contract.UpdateDecide} {
			bd, err := breakdown(ctx, srv.Client, b.label, step, escalationIDs(b.r.ids.list()), e.opts.BreakdownSamples,
				func(h []*historypb.HistoryEvent) (stepTimes, bool) { return updateStep(h, step) })
			if err != nil {
				return nil, err
			}
			bd.Step = map[string]string{contract.UpdateCreated: "create", contract.UpdateDecide: "decide"}[step]
			bd.Client = b.r.Steps[bd.Step].quantile(.5)
			sr.Breakdowns = append(sr.Breakdowns, bd)
		}
	}
	// What one escalation costs the server, in events: its own history and
	// its consultation's so far (waiting to be started). An escalation of
	// the current generation runs its consultation itself (issue 22), so
	// its history so far holds both, and the consultation's own row is
	// left out when no escalation measured has a consultation workflow.
	ids := sr.Product.ids.list()
	consIDs, err := ownConsultationIDs(ctx, srv.Client, spread(ids, e.opts.BreakdownSamples))
	if err != nil {
		return nil, err
	}
	type histories struct {
		step string
		ids  []string
	}
	whole := []histories{{"whole escalation", escalationIDs(ids)}}
	if len(consIDs) > 0 {
		whole = append(whole, histories{"its consultation so far", consIDs})
	}
	for _, w := range whole {
		bd, err := breakdown(ctx, srv.Client, fmt.Sprintf("product, %d concurrent", e.opts.Concurrency), w.step, w.ids,
			e.opts.BreakdownSamples, wholeHistory)
		if err != nil {
			return nil, err
		}
		sr.Breakdowns = append(sr.Breakdowns, bd)
	}

	queue := "bench-baselines-" + slug(srv.Name)
	w := worker.New(srv.Client, queue, worker.Options{})
	registerBaselines(w)
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("start the baseline worker: %w", err)
	}
	defer w.Stop()
	e.logf("%s: baselines", srv.Name)
	sr.FloorAlone = e.baseline(ctx, srv.Client, queue, "BenchFloor", 1, e.opts.Duration/3)
	meter = startCPUMeter(e.cpuGroups(srv, nil)...)
	perf = e.startPerf(ctx, childrenNamed(srv.comm), slug(srv.Name)+"-floor")
	sr.Floor = e.baseline(ctx, srv.Client, queue, "BenchFloor", e.opts.Concurrency, e.opts.Duration)
	sr.CPUFloor = meter.stop()
	sr.Profiles = append(sr.Profiles, perf()...)
	sr.NaiveAlone = e.baseline(ctx, srv.Client, queue, "BenchNaive", 1, e.opts.Duration/3)
	meter = startCPUMeter(e.cpuGroups(srv, nil)...)
	sr.Naive = e.baseline(ctx, srv.Client, queue, "BenchNaive", e.opts.Concurrency, e.opts.Duration)
	sr.CPUNaive = meter.stop()
	for _, r := range []*Result{sr.Floor, sr.Naive} {
		bd, err := breakdown(ctx, srv.Client, fmt.Sprintf("%s, %d concurrent", r.Name, r.Concurrency), "whole",
			r.ids.list(), e.opts.BreakdownSamples, wholeHistory)
		if err != nil {
			return nil, err
		}
		bd.Client = r.E2E.quantile(.5)
		sr.Breakdowns = append(sr.Breakdowns, bd)
	}
	sr.Took = time.Since(started)
	return sr, nil
}

// cpuGroups are the processes whose CPU use is reported; orc may be nil
// (baselines).
func (e *env) cpuGroups(srv *server, orc *orchestrator) []cpuGroup {
	groups := []cpuGroup{
		{"Temporal server", func() []int { return childrenNamed(srv.comm) }},
		{"harness (clients, baseline worker)", func() []int { return []int{os.Getpid()} }},
		{"PostgreSQL", func() []int { return processes(func(st procStat) bool { return st.comm == "postgres" }) }},
	}
	if orc != nil {
		pid := orc.pid()
		groups = append([]cpuGroup{{"orchestrator", func() []int { return []int{pid} }}}, groups...)
	}
	return groups
}

func escalationIDs(approvalIDs []string) []string {
	return workflowIDs(approvalIDs, contract.EscalationWorkflowID)
}

// ownConsultationIDs are the workflows of the consultations the approvals
// opened that run in a workflow of their own: those of escalations of an
// older generation. The current one runs the consultation in the
// escalation's workflow (issue 22), and no consultation workflow exists.
func ownConsultationIDs(ctx context.Context, c client.Client, approvalIDs []string) ([]string, error) {
	var out []string
	for _, id := range approvalIDs {
		wid := contract.ConsultationWorkflowID(contract.ApprovalConsultationID(id))
		_, err := c.DescribeWorkflow(ctx, wid, "")
		var notFound *serviceerror.NotFound
		switch {
		case errors.As(err, &notFound):
		case err != nil:
			return nil, fmt.Errorf("describe %s: %w", wid, err)
		default:
			out = append(out, wid)
		}
	}
	return out, nil
}

// workflowIDs maps approval ids to the ids of their workflows.
func workflowIDs(approvalIDs []string, id func(string) string) []string {
	out := make([]string, len(approvalIDs))
	for i, a := range approvalIDs {
		out[i] = id(a)
	}
	return out
}

// product drives create → decide (approve) → consultation visible.
func (e *env) product(ctx context.Context, orc *orchestrator, concurrency int, d time.Duration) *Result {
	r := newResult("product", concurrency, d, "create", "decide", "visible")
	var t tally
	e.drive(ctx, concurrency, d, func(ctx context.Context) {
		start := time.Now()
		id, err := e.create(ctx, orc)
		if err != nil {
			if statusOf(err) == http.StatusServiceUnavailable {
				t.unavailable.Add(1)
			}
			t.fail(ctx, err)
			return
		}
		created := time.Now()
		r.Steps["create"].add(created.Sub(start))
		if _, err := orc.call(ctx, "PATCH", "/api/approvals/"+id, orc.ceo, map[string]any{"status": "approved"}, http.StatusOK); err != nil {
			t.fail(ctx, err)
			return
		}
		decided := time.Now()
		r.Steps["decide"].add(decided.Sub(created))
		for {
			_, err := orc.call(ctx, "GET", "/api/consultations/"+contract.ApprovalConsultationID(id), orc.ceo, nil, http.StatusOK)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.fail(ctx, ctx.Err())
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		r.Steps["visible"].add(time.Since(decided))
		r.E2E.add(time.Since(start))
		r.ids.add(id)
	})
	t.into(r)
	return r
}

// create escalates with a conversation of its own (so that every
// notification is really sent) and returns the approval's id.
func (e *env) create(ctx context.Context, orc *orchestrator) (string, error) {
	conv := e.convSeq.Add(1)
	ap, err := orc.call(ctx, "POST", "/api/approvals", orc.agent, map[string]any{
		"tenantId": "/organizations/acme-corp", "title": "Refund above limit", "priority": "high",
		"conversation": map[string]any{"accountId": 1, "conversationId": conv},
	}, http.StatusCreated)
	if err != nil {
		return "", err
	}
	id, ok := ap["id"].(string)
	if !ok {
		return "", errors.New("create: no id in the answer")
	}
	return id, nil
}

// baseline drives start → signal → completion of a baseline workflow.
func (e *env) baseline(ctx context.Context, c client.Client, queue, wf string, concurrency int, d time.Duration) *Result {
	name := map[string]string{"BenchNaive": "naive", "BenchFloor": "floor"}[wf]
	r := newResult(name, concurrency, d)
	var t tally
	var seq atomic.Int64
	e.drive(ctx, concurrency, d, func(ctx context.Context) {
		start := time.Now()
		id := fmt.Sprintf("bench-%s-%d-%d", name, start.UnixNano(), seq.Add(1))
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, wf)
		if err != nil {
			err = fmt.Errorf("start: %w", err)
		} else if err = c.SignalWorkflow(ctx, id, run.GetRunID(), baselineSignal, nil); err != nil {
			err = fmt.Errorf("signal: %w", err)
		} else if err = run.Get(ctx, nil); err != nil {
			err = fmt.Errorf("result: %w", err)
		}
		if err != nil {
			t.fail(ctx, err)
			return
		}
		r.E2E.add(time.Since(start))
		r.ids.add(id)
	})
	t.into(r)
	return r
}

// tally counts what did not complete: a failure, or one cut by the end of
// the measuring window.
type tally struct {
	errs, cut atomic.Int64
	// unavailable counts creates answered 503 (the API's deadline for the
	// workflow to take the escalation; also counted in errs or cut).
	unavailable atomic.Int64
	first       atomic.Value // the first error's text
}

func (t *tally) fail(ctx context.Context, err error) {
	if ctx.Err() != nil {
		t.cut.Add(1)
		return
	}
	t.errs.Add(1)
	t.first.CompareAndSwap(nil, err.Error())
}

// into records the counts in r.
func (t *tally) into(r *Result) {
	r.Completed, r.Errors, r.Cut = r.E2E.n(), int(t.errs.Load()), int(t.cut.Load())
	r.Unavailable = int(t.unavailable.Load())
	if v, ok := t.first.Load().(string); ok {
		r.firstErr.Store(v)
	}
}

// drive runs fn in concurrency loops for d. The window ends by
// cancellation, not by a deadline on the context: the Temporal frontend
// refuses a long poll (the result of a workflow) with less than 2 s left
// before its deadline, which would count escalations started near the end
// of the window as failures rather than as cut.
func (e *env) drive(ctx context.Context, concurrency int, d time.Duration, fn func(context.Context)) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer time.AfterFunc(d, cancel).Stop()
	var wg sync.WaitGroup
	for i := 0; i < concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				// Requests in flight when time is up fail with the
				// window's context; only whole escalations inside the
				// window count.
				fn(ctx)
			}
		}()
	}
	wg.Wait()
}

// waitNotifications lets the outboxes drain so every message is really
// sent: until the count of messages to conversations after first stops
// moving for 2 s, or max.
func (e *env) waitNotifications(ctx context.Context, first int64, max time.Duration) {
	deadline := time.Now().Add(max)
	last := -1
	for time.Now().Before(deadline) && ctx.Err() == nil {
		n := e.countMessages(first)
		if n == last {
			return
		}
		last = n
		time.Sleep(2 * time.Second)
	}
}

// countMessages counts the messages the orchestrator posted to the
// conversations after first (notes and customer links).
func (e *env) countMessages(first int64) int {
	n := 0
	for c := first + 1; c <= e.convSeq.Load(); c++ {
		for _, m := range e.cw.Messages(1, int(c)) {
			if m.MessageType != 2 {
				n++
			}
		}
	}
	return n
}

type quiet struct{}

func (quiet) Debug(string, ...any) {}
func (quiet) Info(string, ...any)  {}
func (quiet) Warn(string, ...any)  {}
func (quiet) Error(string, ...any) {}
