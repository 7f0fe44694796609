package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/orchestrator-dev/orchestrator/internal/chatwoot/chatwoottest"
	"github.com/orchestrator-dev/orchestrator/internal/domain"
	"github.com/orchestrator-dev/orchestrator/internal/testkit/temporalcluster"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// SoakOptions configure a soak (make soak): Phases windows of
// PhaseDuration back to back, Concurrency escalations at a time through the
// HTTP API (create, approve, consultation visible: the product shape of
// make bench), on one orchestrator per server, first on the dev server,
// then on the cluster when Cluster is set.
type SoakOptions struct {
	TemporalCLI, Binary, SourceDir string
	Phases                         int
	PhaseDuration                  time.Duration
	Concurrency                    int
	// Cluster and PostgresAdminURL run the same soak on a real cluster.
	Cluster          *temporalcluster.Tools
	PostgresAdminURL string
	// DiagnosisDir keeps, for a phase that completed no escalation, what
	// shows why (see diagnose); it is created when needed.
	DiagnosisDir string
	// Env is more orchestrator environment, e.g. WORKER_WORKFLOW_TASK_POLLERS=2
	// to compare with the SDK's fixed pollers.
	Env []string
	Log io.Writer
}

// SoakPhase is one window's figures, and the worker's state at its end.
type SoakPhase struct {
	Phase                  int
	Duration               time.Duration
	Completed, Errors, Cut int
	Unavailable            int // creates answered 503
	CreateP50, DecideP50   time.Duration
	FirstError             string
	NormalPollers          float64 // temporal_num_pollers, workflow_task
	StickyPollers          float64 // temporal_num_pollers, workflow_sticky_task
	CachedWorkflows        float64 // temporal_sticky_cache_size
	ForcedEvictions        float64 // temporal_sticky_cache_total_forced_eviction, so far
	RunningConsultations   int64   // from visibility, on this task queue (runningConsultations)
	// Diagnosis is the directory that keeps the evidence of a phase that
	// completed nothing.
	Diagnosis string
}

// Rate is completed escalations per second.
func (p SoakPhase) Rate() float64 {
	if p.Duration <= 0 {
		return 0
	}
	return float64(p.Completed) / p.Duration.Seconds()
}

// SoakRun is the soak on one server.
type SoakRun struct {
	Server, Detail string
	Phases         []SoakPhase
	// Planned is how many phases were asked for; fewer ran if one stalled.
	Planned int
	Took    time.Duration
}

// SoakReport is a whole soak.
type SoakReport struct {
	Started, Finished time.Time
	Options           SoakOptions
	Runs              []*SoakRun
	Skipped           []string
}

// JudgeSoak says why a soak failed, nil when it passed: every server ran
// every phase, every phase completed escalations, and no create was
// answered 503 (the API's deadline for the workflow to take it).
func JudgeSoak(runs []*SoakRun) []string {
	var out []string
	if len(runs) == 0 {
		return []string{"no server was soaked"}
	}
	for _, r := range runs {
		for _, p := range r.Phases {
			if p.Completed == 0 {
				out = append(out, fmt.Sprintf("%s, phase %d: no escalation completed (%d errors; first: %s)", r.Server, p.Phase, p.Errors, orNone(p.FirstError)))
			}
			if p.Unavailable > 0 {
				out = append(out, fmt.Sprintf("%s, phase %d: %d creates answered 503", r.Server, p.Phase, p.Unavailable))
			}
		}
		if len(r.Phases) < r.Planned {
			out = append(out, fmt.Sprintf("%s: %d of %d phases ran", r.Server, len(r.Phases), r.Planned))
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Failures is JudgeSoak of the report.
func (r *SoakReport) Failures() []string { return JudgeSoak(r.Runs) }

// Soak runs the soak on the dev server and, when configured, the cluster.
func Soak(ctx context.Context, o SoakOptions) (*SoakReport, error) {
	if o.Phases <= 0 {
		o.Phases = 20
	}
	if o.PhaseDuration <= 0 {
		o.PhaseDuration = 30 * time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.DiagnosisDir == "" {
		o.DiagnosisDir = filepath.Join(os.TempDir(), "orchestrator-soak-"+time.Now().UTC().Format("20060102-150405"))
	}
	dir, err := os.MkdirTemp("", "orchestrator-soak-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	e := &env{opts: Options{TemporalCLI: o.TemporalCLI, Binary: o.Binary, SourceDir: o.SourceDir, Log: o.Log}, dir: dir, binary: o.Binary,
		http: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}}
	if e.cw, err = chatwoottest.New(chatwoottest.WithAutoCreate()); err != nil {
		return nil, err
	}
	defer e.cw.Close()
	e.cw.SetLatency(3 * time.Millisecond)

	rep := &SoakReport{Started: time.Now(), Options: o}
	defer func() { rep.Finished = time.Now() }()

	// The dev server's log is kept beside the diagnosis: a stall shows
	// whether the server complained.
	if err := os.MkdirAll(o.DiagnosisDir, 0o755); err != nil {
		return nil, err
	}
	devLog, err := os.Create(filepath.Join(o.DiagnosisDir, "dev-server.log"))
	if err != nil {
		return nil, err
	}
	defer devLog.Close()
	e.logf("soak on the dev server: %d phases of %s at %d concurrent", o.Phases, o.PhaseDuration, o.Concurrency)
	dev, err := startDevServer(ctx, o.TemporalCLI, true, devLog)
	if err != nil {
		return nil, err
	}
	run, err := e.soak(ctx, dev, o)
	if stopErr := dev.Stop(); stopErr != nil {
		e.logf("stop the dev server: %v", stopErr)
	}
	if err != nil {
		return nil, fmt.Errorf("soak on the dev server: %w", err)
	}
	rep.Runs = append(rep.Runs, run)

	switch {
	case o.Cluster == nil:
		rep.Skipped = append(rep.Skipped, "the cluster: no Temporal server tools (TEMPORAL_SERVER, TEMPORAL_SQL_TOOL; `make soak` builds them)")
	case o.PostgresAdminURL == "":
		rep.Skipped = append(rep.Skipped, "the cluster: no PostgreSQL (-postgres)")
	default:
		e.logf("soak on the cluster")
		cdir := filepath.Join(dir, "cluster-server")
		if err := os.MkdirAll(cdir, 0o700); err != nil {
			return nil, err
		}
		cl, err := startCluster(ctx, clusterOptions{
			Tools: *o.Cluster, AdminURL: o.PostgresAdminURL, Binary: o.Binary, Dir: cdir, Log: o.Log,
			Overlay: filepath.Join(o.SourceDir, "deploy", "temporal", "dynamicconfig", "orchestrator.yaml"),
		})
		if err != nil {
			return nil, err
		}
		run, err := e.soak(ctx, cl, o)
		if run != nil && run.stalled() {
			keepTail(filepath.Join(cdir, "temporal-server.log"), filepath.Join(o.DiagnosisDir, "cluster", "temporal-server.log"))
		}
		if stopErr := cl.Stop(); stopErr != nil {
			e.logf("stop the cluster: %v", stopErr)
		}
		if err != nil {
			return nil, fmt.Errorf("soak on the cluster: %w\n%s", err, temporalcluster.Tail(filepath.Join(cdir, "temporal-server.log"), 30))
		}
		rep.Runs = append(rep.Runs, run)
	}
	return rep, nil
}

func (r *SoakRun) stalled() bool {
	for _, p := range r.Phases {
		if p.Diagnosis != "" {
			return true
		}
	}
	return false
}

// soak runs the phases on srv with one orchestrator; a phase that completes
// nothing ends it, after its diagnosis is saved.
func (e *env) soak(ctx context.Context, srv *server, o SoakOptions) (*SoakRun, error) {
	started := time.Now()
	run := &SoakRun{Server: srv.Name, Detail: srv.Detail, Planned: o.Phases}
	dir := filepath.Join(e.dir, slug(srv.Name))
	orc, err := e.startOrchestrator(ctx, srv, "sqlite://"+filepath.Join(dir, "orchestrator.db"), dir, o.Env...)
	if err != nil {
		return nil, err
	}
	defer orc.stop()
	queue := "bench-" + filepath.Base(dir) // as startOrchestrator names it
	e.logf("%s: warming up", srv.Name)
	e.product(ctx, orc, 4, 3*time.Second)
	for i := 1; i <= o.Phases && ctx.Err() == nil; i++ {
		r := e.product(ctx, orc, o.Concurrency, o.PhaseDuration)
		p := SoakPhase{
			Phase: i, Duration: o.PhaseDuration, Completed: r.Completed, Errors: r.Errors, Cut: r.Cut, Unavailable: r.Unavailable,
			CreateP50: r.Steps["create"].quantile(.5), DecideP50: r.Steps["decide"].quantile(.5), FirstError: r.FirstError(),
		}
		if m, err := orc.scrape(ctx); err == nil {
			p.NormalPollers, _ = sumMetric(bytes.NewReader(m), "temporal_num_pollers", `poller_type="workflow_task"`)
			p.StickyPollers, _ = sumMetric(bytes.NewReader(m), "temporal_num_pollers", `poller_type="workflow_sticky_task"`)
			p.CachedWorkflows, _ = maxMetric(bytes.NewReader(m), "temporal_sticky_cache_size")
			p.ForcedEvictions, _ = sumMetric(bytes.NewReader(m), "temporal_sticky_cache_forced_eviction_total")
		}
		p.RunningConsultations = runningConsultations(ctx, srv, queue)
		e.logf("%s: phase %d/%d: %d completed (%.1f/s), create p50 %s ms, decide p50 %s ms, %d errors, %d answered 503; pollers normal %.0f sticky %.0f",
			srv.Name, i, o.Phases, p.Completed, p.Rate(), ms(p.CreateP50), ms(p.DecideP50), p.Errors, p.Unavailable, p.NormalPollers, p.StickyPollers)
		if p.Completed == 0 {
			p.Diagnosis = filepath.Join(o.DiagnosisDir, slug(srv.Name)+fmt.Sprintf("-phase-%d", i))
			e.diagnose(ctx, srv, orc, queue, p.Diagnosis)
			run.Phases = append(run.Phases, p)
			break
		}
		run.Phases = append(run.Phases, p)
	}
	run.Took = time.Since(started)
	return run, nil
}

// runningConsultations counts the consultations waiting on the queue, from
// visibility, -1 when it cannot: those with their own workflow (created on
// their own, or opened by an escalation of an older generation) and those
// an approved escalation runs in its own, which keeps running with them
// (issue 22).
func runningConsultations(ctx context.Context, srv *server, queue string) int64 {
	own := countWorkflows(ctx, srv, fmt.Sprintf("WorkflowType='%s' AND ExecutionStatus='Running' AND TaskQueue='%s'",
		contract.ConsultationWorkflow, queue))
	inEscalation := countWorkflows(ctx, srv, fmt.Sprintf("WorkflowType='%s' AND ExecutionStatus='Running' AND TaskQueue='%s' AND %s='%s'",
		contract.EscalationWorkflow, queue, contract.ApprovalStatusKey.GetName(), domain.StatusApproved))
	if own < 0 || inEscalation < 0 {
		return -1
	}
	return own + inEscalation
}

// countWorkflows counts visibility's matches, -1 when it cannot.
func countWorkflows(ctx context.Context, srv *server, query string) int64 {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := srv.Client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: srv.Namespace, Query: query})
	if err != nil {
		return -1
	}
	return resp.GetCount()
}

// diagnose keeps in dir what shows why a phase completed nothing: the
// orchestrator's metrics (pollers per kind, temporal_num_pollers; the
// store's pool, go_sql_*), the history of an escalation stuck at its first
// workflow task (`temporal workflow show`), the task queue as the server
// sees it (`temporal task-queue describe`: pollers, last access, backlog),
// and, last because it ends the process, the orchestrator's goroutine dump
// (SIGQUIT) with its log.
func (e *env) diagnose(ctx context.Context, srv *server, orc *orchestrator, queue, dir string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.logf("diagnosis: %v", err)
		return
	}
	save := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			e.logf("diagnosis: %v", err)
		}
	}
	metrics, err := orc.scrape(ctx)
	if err != nil {
		metrics = []byte("scrape /metrics: " + err.Error())
	}
	save("metrics.txt", metrics)
	save("pollers-and-pool.txt", []byte(grepLines(string(metrics), "temporal_num_pollers", "temporal_sticky_cache_size",
		"temporal_workflow_task_schedule_to_start_latency", "go_sql_")))
	cli := func(args ...string) []byte {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		args = append(args, "--address", srv.Address, "--namespace", srv.Namespace)
		out, err := exec.CommandContext(cctx, e.opts.TemporalCLI, args...).CombinedOutput()
		if err != nil {
			out = append(out, []byte("\n"+err.Error())...)
		}
		return append([]byte("$ temporal "+strings.Join(args, " ")+"\n"), out...)
	}
	save("task-queue.txt", cli("task-queue", "describe", "--task-queue", queue))
	// The same through the API, with the backlog's size and age per queue
	// kind (the CLI's flags for them vary between versions).
	save("task-queue-stats.json", describeQueue(ctx, srv, queue))
	if id := stuckEscalation(ctx, srv, queue); id != "" {
		save("workflow-show.txt", cli("workflow", "show", "--workflow-id", id))
	} else {
		save("workflow-show.txt", []byte("no running escalation without a completed workflow task was found\n"))
	}
	_ = orc.cmd.Process.Signal(syscall.SIGQUIT)
	_ = orc.cmd.Wait()
	keepTail(orc.logPath, filepath.Join(dir, "orchestrator.log"))
	e.logf("diagnosis kept in %s", dir)
}

// describeQueue is DescribeTaskQueue of the workflow queue with its pollers
// and statistics, as JSON.
func describeQueue(ctx context.Context, srv *server, queue string) []byte {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := srv.Client.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
		Namespace: srv.Namespace, TaskQueue: &taskqueuepb.TaskQueue{Name: queue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		TaskQueueType: enumspb.TASK_QUEUE_TYPE_WORKFLOW, ReportStats: true,
	})
	if err != nil {
		return []byte("DescribeTaskQueue: " + err.Error())
	}
	b, err := protojson.MarshalOptions{Multiline: true}.Marshal(resp)
	if err != nil {
		return []byte("DescribeTaskQueue: " + err.Error())
	}
	return b
}

// scrape reads the orchestrator's /metrics.
func (p *orchestrator) scrape(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// stuckEscalation finds a running escalation on queue whose history has no
// completed workflow task: one that waits for its first task. It looks
// among the pending ones (their start set the status): approved ones keep
// running with their consultation (issue 22) and would fill the page.
func stuckEscalation(ctx context.Context, srv *server, queue string) string {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := srv.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: srv.Namespace, PageSize: 100,
		Query: fmt.Sprintf("WorkflowType='%s' AND ExecutionStatus='Running' AND TaskQueue='%s' AND %s='%s'",
			contract.EscalationWorkflow, queue, contract.ApprovalStatusKey.GetName(), domain.StatusPending),
	})
	if err != nil {
		return ""
	}
	for _, ex := range resp.GetExecutions() {
		id := ex.GetExecution().GetWorkflowId()
		it := srv.Client.GetWorkflowHistory(ctx, id, ex.GetExecution().GetRunId(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		completed := false
		for it.HasNext() && !completed {
			ev, err := it.Next()
			if err != nil {
				break
			}
			completed = ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
		}
		if !completed {
			return id
		}
	}
	return ""
}

// grepLines keeps the lines that start with one of prefixes.
func grepLines(text string, prefixes ...string) string {
	var b strings.Builder
	for _, l := range strings.Split(text, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				b.WriteString(l + "\n")
				break
			}
		}
	}
	return b.String()
}

// keepTail copies the last 5,000 lines of from to to.
func keepTail(from, to string) {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err == nil {
		_ = os.WriteFile(to, []byte(temporalcluster.Tail(from, 5000)), 0o644)
	}
}

// Markdown writes the soak phase by phase, ready for docs/benchmarks.md.
func (r *SoakReport) Markdown(w io.Writer, command string) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	o := r.Options
	p("## Soak of %s\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"))
	p("- machine: %s/%s, %d CPUs, %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel())
	p("- command: `%s`; took %s\n", command, r.Finished.Sub(r.Started).Round(time.Second))
	p("- %d phases of %s at %d concurrent escalations (create → approve → consultation visible, through the HTTP API), "+
		"`orchestrator dev` on SQLite as a child process", o.Phases, o.PhaseDuration, o.Concurrency)
	if len(o.Env) > 0 {
		p(" with `%s`", strings.Join(o.Env, " "))
	}
	p("\n")
	for _, s := range r.Skipped {
		p("- not soaked: %s\n", s)
	}
	for _, run := range r.Runs {
		p("\n### %s (%s)\n\n%s.\n\n", run.Server, run.Took.Round(time.Second), run.Detail)
		p("| phase | completed | esc/s | create p50 ms | decide p50 ms | errors | 503 | cut | pollers normal/sticky | cached workflows | forced evictions | running consultations |\n")
		p("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, ph := range run.Phases {
			p("| %d | %d | %.1f | %s | %s | %d | %d | %d | %.0f/%.0f | %.0f | %.0f | %d |\n", ph.Phase, ph.Completed, ph.Rate(),
				ms(ph.CreateP50), ms(ph.DecideP50), ph.Errors, ph.Unavailable, ph.Cut, ph.NormalPollers, ph.StickyPollers,
				ph.CachedWorkflows, ph.ForcedEvictions, ph.RunningConsultations)
		}
		for _, ph := range run.Phases {
			if ph.Diagnosis != "" {
				p("\nPhase %d completed nothing; diagnosis (task queue, stuck history, pollers, pool, goroutine dump) in `%s`.\n", ph.Phase, ph.Diagnosis)
			}
			if ph.FirstError != "" {
				p("\nPhase %d, first error: `%s`\n", ph.Phase, truncate(ph.FirstError, 200))
			}
		}
	}
	if f := r.Failures(); len(f) > 0 {
		p("\n**Soak failed:**\n\n")
		for _, s := range f {
			p("- %s\n", s)
		}
	} else {
		p("\n**Soak passed:** every phase completed escalations and no create was answered 503.\n")
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
