// Package loadtest is the benchmark harness behind `make bench`: it brings up
// the orchestrator on the embedded defaults (a Temporal dev server in memory,
// the orchestrator binary in `dev` mode, a Chatwoot stand-in answering in a
// few milliseconds), drives the HTTP API as the shell app would, runs two
// baselines straight on the Temporal SDK against the same server, and
// reports rates, latencies, ratios, peak RSS and the read path on PostgreSQL.
package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/orchestrator-dev/orchestrator/internal/chatwoot/chatwoottest"
	"github.com/orchestrator-dev/orchestrator/internal/devissuer"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Options configure a run.
type Options struct {
	TemporalCLI string // the Temporal CLI (dev server)
	Binary      string // bin/orchestrator
	SpecDir     string // where to look for shared/reference/chatwoot-swagger.json
	Concurrency int
	Duration    time.Duration
	// PostgresAdminURL enables the read-path benchmark (superuser URL).
	PostgresAdminURL string
	ReadRows         int
	ReadTenants      int
	ReadRequests     int
	Log              io.Writer
}

// Report is everything a run measured.
type Report struct {
	Started                              time.Time
	Options                              Options
	Product, Naive, Floor                *Result
	ProductAlone, NaiveAlone, FloorAlone *Result
	PeakRSSBytes                         int64
	ChatwootMessages                     int
	Read                                 *ReadResult
}

type env struct {
	opts    Options
	dir     string
	dev     *testsuite.DevServer
	cw      *chatwoottest.Server
	proc    *exec.Cmd
	base    string
	agent   string
	ceo     string
	convSeq atomic.Int64
	http    *http.Client
	// issuerURL is the dev issuer of the running orchestrator.
	issuerURL string
}

// Run performs the whole benchmark.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 32
	}
	if opts.Duration <= 0 {
		opts.Duration = 30 * time.Second
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	dir, err := os.MkdirTemp("", "orchestrator-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	e := &env{opts: opts, dir: dir, http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}}
	rep := &Report{Started: time.Now(), Options: opts}

	if err := e.startTemporal(ctx); err != nil {
		return nil, err
	}
	defer func() { _ = e.dev.Stop() }()
	spec, err := chatwoottest.FindSpec(opts.SpecDir)
	if err != nil {
		return nil, fmt.Errorf("find the Chatwoot spec for the stand-in: %w", err)
	}
	e.cw, err = chatwoottest.New(spec, chatwoottest.WithAutoCreate())
	if err != nil {
		return nil, err
	}
	defer e.cw.Close()
	e.cw.SetLatency(3 * time.Millisecond)

	if err := e.startOrchestrator(ctx, "sqlite://"+filepath.Join(dir, "orchestrator.db"), dir); err != nil {
		return nil, err
	}
	fmt.Fprintln(opts.Log, "warming up")
	e.product(ctx, 4, 3*time.Second)

	fmt.Fprintln(opts.Log, "product, alone")
	rep.ProductAlone = e.product(ctx, 1, opts.Duration/3)
	fmt.Fprintf(opts.Log, "product, %d concurrent\n", opts.Concurrency)
	rep.Product = e.product(ctx, opts.Concurrency, opts.Duration)
	rep.PeakRSSBytes = peakRSS(e.proc.Process.Pid)
	e.waitNotifications(ctx, 60*time.Second)
	rep.ChatwootMessages = e.countMessages()
	e.stopOrchestrator()

	w := worker.New(e.dev.Client(), "bench-baselines", worker.Options{})
	registerBaselines(w)
	if err := w.Start(); err != nil {
		return nil, err
	}
	fmt.Fprintln(opts.Log, "baselines")
	rep.FloorAlone = e.baseline(ctx, "BenchFloor", 1, opts.Duration/3)
	rep.Floor = e.baseline(ctx, "BenchFloor", opts.Concurrency, opts.Duration)
	rep.NaiveAlone = e.baseline(ctx, "BenchNaive", 1, opts.Duration/3)
	rep.Naive = e.baseline(ctx, "BenchNaive", opts.Concurrency, opts.Duration)
	w.Stop()

	if opts.PostgresAdminURL != "" {
		fmt.Fprintln(opts.Log, "read path on PostgreSQL")
		rep.Read, err = e.readPath(ctx)
		if err != nil {
			return nil, fmt.Errorf("read path: %w", err)
		}
	}
	return rep, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (e *env) startTemporal(ctx context.Context) error {
	var extra []string
	for _, n := range contract.SearchAttributeNames() {
		extra = append(extra, "--search-attribute", n+"=Keyword")
	}
	dev, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath: e.opts.TemporalCLI, LogLevel: "error", ExtraArgs: extra, Stdout: io.Discard, Stderr: io.Discard,
		ClientOptions: &client.Options{Namespace: "default", Logger: quiet{}},
	})
	if err != nil {
		return fmt.Errorf("start Temporal dev server: %w", err)
	}
	e.dev = dev
	return nil
}

type quiet struct{}

func (quiet) Debug(string, ...any) {}
func (quiet) Info(string, ...any)  {}
func (quiet) Warn(string, ...any)  {}
func (quiet) Error(string, ...any) {}

// startOrchestrator runs `orchestrator dev` as a child process, so its RSS is
// its own.
func (e *env) startOrchestrator(ctx context.Context, databaseURL, dataDir string) error {
	httpAddr, err := freeAddr()
	if err != nil {
		return err
	}
	issuerAddr, err := freeAddr()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, e.opts.Binary, "dev")
	cmd.Env = append(os.Environ(),
		"TEMPORAL_ADDRESS="+e.dev.FrontendHostPort(), "TEMPORAL_TASK_QUEUE=bench-"+strconv.Itoa(os.Getpid()),
		"DATABASE_URL="+databaseURL, "HTTP_ADDR="+httpAddr, "DEV_ISSUER_ADDR="+issuerAddr, "DATA_DIR="+dataDir,
		"LOG_LEVEL=error", "TEMPORAL_CLI=",
		"CHATWOOT_BASE_URL="+e.cw.URL(), "CHATWOOT_API_TOKEN="+e.cw.Token(),
		"CHATWOOT_ACCOUNT_TENANTS=1=/organizations/acme-corp",
		"JITSI_APP_ID=orchestrator", "JITSI_APP_SECRET=bench-secret-bench-secret-bench-secret",
		"JITSI_BASE_URL=https://meet.example.com",
	)
	logf, err := os.Create(filepath.Join(dataDir, "orchestrator.log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", e.opts.Binary, err)
	}
	e.proc, e.base = cmd, "http://"+httpAddr
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := e.http.Get(e.base + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			return errors.New("the orchestrator did not come up; see " + logf.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.issuerURL = "http://" + issuerAddr
	iss, err := devissuer.Open(dataDir, e.issuerURL, "orchestrator-api")
	if err != nil {
		return err
	}
	groups := []string{"/organizations/acme-corp"}
	if e.agent, err = iss.Mint(devissuer.MintOptions{Subject: "agent-1", Name: "Agent", Groups: groups, TTL: 2 * time.Hour}); err != nil {
		return err
	}
	e.ceo, err = iss.Mint(devissuer.MintOptions{Subject: "ceo-1", Name: "CEO", Groups: groups, Roles: []string{"approver"}, TTL: 2 * time.Hour})
	return err
}

func (e *env) stopOrchestrator() {
	if e.proc == nil {
		return
	}
	_ = e.proc.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = e.proc.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = e.proc.Process.Kill()
	}
	e.proc = nil
}

func (e *env) call(ctx context.Context, method, path, token string, body any, want int) (map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// product drives create → decide (approve) → consultation visible.
func (e *env) product(ctx context.Context, concurrency int, d time.Duration) *Result {
	r := &Result{Name: "product", Concurrency: concurrency, Duration: d, E2E: &samples{},
		Steps: map[string]*samples{"create": {}, "decide": {}, "visible": {}}}
	var errs atomic.Int64
	e.drive(ctx, concurrency, d, func(ctx context.Context) {
		start := time.Now()
		conv := e.convSeq.Add(1)
		ap, err := e.call(ctx, "POST", "/api/approvals", e.agent, map[string]any{
			"tenantId": "/organizations/acme-corp", "title": "Refund above limit", "priority": "high",
			"conversation": map[string]any{"accountId": 1, "conversationId": conv},
		}, http.StatusCreated)
		if err != nil {
			countErr(ctx, &errs, err, &r.firstErr)
			return
		}
		created := time.Now()
		r.Steps["create"].add(created.Sub(start))
		id := ap["id"].(string)
		if _, err := e.call(ctx, "PATCH", "/api/approvals/"+id, e.ceo, map[string]any{"status": "approved"}, http.StatusOK); err != nil {
			countErr(ctx, &errs, err, &r.firstErr)
			return
		}
		decided := time.Now()
		r.Steps["decide"].add(decided.Sub(created))
		for {
			_, err := e.call(ctx, "GET", "/api/consultations/"+contract.ApprovalConsultationID(id), e.ceo, nil, http.StatusOK)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		r.Steps["visible"].add(time.Since(decided))
		r.E2E.add(time.Since(start))
	})
	r.Completed, r.Errors = r.E2E.n(), int(errs.Load())
	return r
}

// baseline drives start → signal → completion of a baseline workflow.
func (e *env) baseline(ctx context.Context, wf string, concurrency int, d time.Duration) *Result {
	name := map[string]string{"BenchNaive": "naive", "BenchFloor": "floor"}[wf]
	r := &Result{Name: name, Concurrency: concurrency, Duration: d, E2E: &samples{}}
	var errs atomic.Int64
	c := e.dev.Client()
	var seq atomic.Int64
	e.drive(ctx, concurrency, d, func(ctx context.Context) {
		start := time.Now()
		id := fmt.Sprintf("bench-%s-%d-%d", name, start.UnixNano(), seq.Add(1))
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "bench-baselines"}, wf)
		if err == nil {
			err = c.SignalWorkflow(ctx, id, run.GetRunID(), baselineSignal, nil)
		}
		if err == nil {
			err = run.Get(ctx, nil)
		}
		if err != nil {
			countErr(ctx, &errs, err, &r.firstErr)
			return
		}
		r.E2E.add(time.Since(start))
	})
	r.Completed, r.Errors = r.E2E.n(), int(errs.Load())
	return r
}

// countErr counts a failure unless it is the end of the measuring window.
func countErr(ctx context.Context, n *atomic.Int64, err error, first *atomic.Value) {
	if ctx.Err() == nil {
		n.Add(1)
		first.CompareAndSwap(nil, err.Error())
	}
}

// drive runs fn in concurrency loops for d.
func (e *env) drive(ctx context.Context, concurrency int, d time.Duration, fn func(context.Context)) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; i < concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				// Requests in flight when time is up finish on their own
				// context; only whole escalations inside the window count.
				fn(ctx)
			}
		}()
	}
	wg.Wait()
}

// waitNotifications lets the outboxes drain so every message is really sent.
func (e *env) waitNotifications(ctx context.Context, max time.Duration) {
	deadline := time.Now().Add(max)
	last := -1
	for time.Now().Before(deadline) {
		n := e.countMessages()
		if n == last {
			return
		}
		last = n
		time.Sleep(2 * time.Second)
	}
}

func (e *env) countMessages() int {
	n := 0
	for c := int64(1); c <= e.convSeq.Load(); c++ {
		for _, m := range e.cw.Messages(1, int(c)) {
			if m.MessageType != 2 {
				n++
			}
		}
	}
	return n
}

// peakRSS reads the high-water mark of a process's resident set.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}
