package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/devissuer"
	"github.com/orchestrator-dev/orchestrator/internal/testkit/rig"
)

// orchestrator is `orchestrator dev` as a child process (so that its RSS
// and CPU are its own) on its own SQLite file, talking to a Temporal server
// that runs already (TEMPORAL_CLI empty), with tokens of its dev issuer.
type orchestrator struct {
	cmd        *exec.Cmd
	base       string
	issuerURL  string
	agent, ceo string
	logPath    string
	// profiled: the binary is cmd/profiled, which starts a CPU profile on
	// SIGUSR1 and writes it (and a heap profile) on SIGUSR2.
	profiled bool
	http     *http.Client
}

// orchestratorOptions say how to start one.
type orchestratorOptions struct {
	Binary      string
	Server      *server
	DatabaseURL string
	Dir         string // DATA_DIR, the log and the profiles
	TaskQueue   string
	Chatwoot    [2]string // base URL and token of the stand-in
	Env         []string  // more variables, e.g. WORKER_WORKFLOW_CACHE_SIZE
	Profiled    bool
}

func startOrchestrator(ctx context.Context, o orchestratorOptions, hc *http.Client) (*orchestrator, error) {
	httpAddr, err := rig.FreeAddr()
	if err != nil {
		return nil, err
	}
	issuerAddr, err := rig.FreeAddr()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, o.Binary, "dev")
	cmd.Env = append(os.Environ(),
		"TEMPORAL_ADDRESS="+o.Server.Address, "TEMPORAL_NAMESPACE="+o.Server.Namespace, "TEMPORAL_TASK_QUEUE="+o.TaskQueue,
		"DATABASE_URL="+o.DatabaseURL, "HTTP_ADDR="+httpAddr, "DEV_ISSUER_ADDR="+issuerAddr, "DATA_DIR="+o.Dir,
		"LOG_LEVEL=error", "TEMPORAL_CLI=",
		// The harness is one caller creating thousands of escalations.
		"CREATE_RATE_LIMIT=0",
		"CHATWOOT_BASE_URL="+o.Chatwoot[0], "CHATWOOT_API_TOKEN="+o.Chatwoot[1],
		"CHATWOOT_ACCOUNT_TENANTS=1=/organizations/acme-corp",
		"JITSI_APP_ID=orchestrator", "JITSI_APP_SECRET=bench-secret-bench-secret-bench-secret",
		"JITSI_BASE_URL=https://meet.example.com",
		"PROFILE_DIR="+o.Dir,
	)
	cmd.Env = append(cmd.Env, o.Env...)
	logPath := filepath.Join(o.Dir, "orchestrator.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child keeps its own descriptor
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", o.Binary, err)
	}
	p := &orchestrator{cmd: cmd, base: "http://" + httpAddr, issuerURL: "http://" + issuerAddr, logPath: logPath, profiled: o.Profiled, http: hc}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := hc.Get(p.base + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, errors.New("the orchestrator did not come up; see " + logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
	iss, err := devissuer.Open(o.Dir, p.issuerURL, "orchestrator-api")
	if err != nil {
		p.stop()
		return nil, err
	}
	groups := []string{"/organizations/acme-corp"}
	if p.agent, err = iss.Mint(devissuer.MintOptions{Subject: "agent-1", Name: "Agent", Groups: groups, TTL: 6 * time.Hour}); err == nil {
		p.ceo, err = iss.Mint(devissuer.MintOptions{Subject: "ceo-1", Name: "CEO", Groups: groups, Roles: []string{"approver"}, TTL: 6 * time.Hour})
	}
	if err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

func (p *orchestrator) pid() int { return p.cmd.Process.Pid }

// stop interrupts the process and waits for it (killed after 20 s).
func (p *orchestrator) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// startProfile starts a CPU profile of a profiled binary (no-op otherwise).
func (p *orchestrator) startProfile() {
	if p.profiled {
		_ = p.cmd.Process.Signal(syscall.SIGUSR1)
	}
}

// writeProfiles ends the CPU profile, if any, and writes a heap profile;
// it returns the files written. The profiled binary writes them within
// milliseconds; waiting up to 10 s covers a loaded machine.
func (p *orchestrator) writeProfiles() []string {
	if !p.profiled {
		return nil
	}
	dir := filepath.Dir(p.logPath)
	done := filepath.Join(dir, "profiles.done")
	_ = os.Remove(done)
	_ = p.cmd.Process.Signal(syscall.SIGUSR2)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if b, err := os.ReadFile(done); err == nil {
			return strings.Fields(string(b))
		}
	}
	return nil
}

// call sends one API request and decodes the JSON answer.
func (p *orchestrator) call(ctx context.Context, method, path, token string, body any, want int) (map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return nil, &statusError{fmt.Sprintf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(data))), resp.StatusCode}
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return m, nil
}

// statusError is an answer with an unexpected status.
type statusError struct {
	msg    string
	status int
}

func (e *statusError) Error() string { return e.msg }

// statusOf is the status of an unexpected answer, 0 for other errors.
func statusOf(err error) int {
	var se *statusError
	if errors.As(err, &se) {
		return se.status
	}
	return 0
}

// metric sums the samples of a Prometheus metric on /metrics whose labels
// contain every one of match (e.g. `workflow_type="Escalation"`).
func (p *orchestrator) metric(ctx context.Context, name string, match ...string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return sumMetric(resp.Body, name, match...)
}

// sumMetric reads the Prometheus text format.
func sumMetric(r io.Reader, name string, match ...string) (float64, error) {
	var sum float64
	err := eachSample(r, name, func(v float64) { sum += v }, match...)
	return sum, err
}

// maxMetric is the largest sample instead of the sum: for a gauge the SDK
// repeats under several labels (temporal_sticky_cache_size, one series per
// workflow type, each the whole cache's size).
func maxMetric(r io.Reader, name string, match ...string) (float64, error) {
	var m float64
	err := eachSample(r, name, func(v float64) { m = max(m, v) }, match...)
	return m, err
}

// eachSample calls fn with every sample of the metric name whose labels
// contain every one of match.
func eachSample(r io.Reader, name string, fn func(float64), match ...string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue // a comment, or another metric sharing the prefix
		}
		labels := ""
		if strings.HasPrefix(rest, "{") {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				continue
			}
			labels, rest = rest[:end+1], rest[end+1:]
		}
		all := true
		for _, m := range match {
			all = all && strings.Contains(labels, m)
		}
		if !all {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return fmt.Errorf("metric %s: %w", name, err)
		}
		fn(v)
	}
	return sc.Err()
}

// poolWaits reads, from the orchestrator's /metrics, how often and for how
// long its store waited for a free connection so far (zeros if unreadable).
func (p *orchestrator) poolWaits(ctx context.Context) (int64, time.Duration) {
	const db = `db_name="orchestrator"`
	count, _ := p.metric(ctx, "go_sql_wait_count_total", db)
	seconds, _ := p.metric(ctx, "go_sql_wait_duration_seconds_total", db)
	return int64(count), time.Duration(seconds * float64(time.Second))
}
