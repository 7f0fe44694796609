package drills

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/orchestrator-dev/orchestrator/internal/chatwoot/chatwoottest"
	"github.com/orchestrator-dev/orchestrator/internal/devissuer"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
	"github.com/orchestrator-dev/orchestrator/internal/testkit/rig"
	"github.com/orchestrator-dev/orchestrator/internal/testkit/temporalcluster"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

const (
	tenant        = "/organizations/acme-corp"
	chatwootAcct  = 1
	taskQueue     = "drills"
	shutdownGrace = "10s"
	audience      = "orchestrator-api"
)

// proc is one real process of a drill: the Temporal dev server, an api or a
// worker. Its output goes to a log file in the drill's directory (appended
// across restarts); the tail is printed when the drill fails.
type proc struct {
	t     testing.TB
	name  string
	path  string
	args  []string
	env   []string
	log   string
	ready func(ctx context.Context) error

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	state   *os.ProcessState
	starts  int
	stopped bool // stopped on purpose (signal sent by the drill)
}

// start launches the process and waits until ready answers or the process
// exits.
func (p *proc) start() {
	p.t.Helper()
	if err := p.tryStart(); err != nil {
		p.t.Fatalf("%s: %v\n%s", p.name, err, temporalcluster.Tail(p.log, 40))
	}
}

func (p *proc) tryStart() error {
	p.mu.Lock()
	if p.cmd != nil && !p.exited() {
		p.mu.Unlock()
		return errors.New("already running")
	}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	p.starts++
	fmt.Fprintf(f, "=== %s start #%d at %s\n", p.name, p.starts, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		p.mu.Unlock()
		return err
	}
	f.Close() // the child holds its own descriptor
	done := make(chan struct{})
	p.cmd, p.done, p.state, p.stopped = cmd, done, nil, false
	p.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		p.mu.Lock()
		p.state = cmd.ProcessState
		p.mu.Unlock()
		close(done)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var last error
	for {
		rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
		last = p.ready(rctx)
		rcancel()
		if last == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("exited during start (%v)", p.exitState())
		case <-ctx.Done():
			return fmt.Errorf("not ready after 60s: %v", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (p *proc) exited() bool {
	if p.done == nil {
		return true
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) exitState() *os.ProcessState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// signal sends sig to the running process (by its pid).
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.stopped = true
	p.mu.Unlock()
	if cmd == nil {
		p.t.Fatalf("%s: not started", p.name)
	}
	select {
	case <-done:
		p.t.Fatalf("%s had exited before %s: %v\n%s", p.name, sig, p.exitState(), temporalcluster.Tail(p.log, 40))
	default:
	}
	if err := cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("%s: send %s: %v", p.name, sig, err)
	}
}

// wait waits up to d for the process to exit and returns its state, nil if
// it is still running.
func (p *proc) wait(d time.Duration) *os.ProcessState {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	select {
	case <-done:
		return p.exitState()
	case <-time.After(d):
		return nil
	}
}

// kill SIGKILLs the process and waits for it to be gone, asserting that the
// signal is what ended it.
func (p *proc) kill() {
	p.t.Helper()
	p.signal(syscall.SIGKILL)
	st := p.wait(10 * time.Second)
	if st == nil {
		p.t.Fatalf("%s survived SIGKILL", p.name)
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		p.t.Fatalf("%s: want death by SIGKILL, got %v", p.name, st)
	}
}

// terminate sends sig (SIGTERM or SIGINT) and asserts a clean exit within
// limit.
func (p *proc) terminate(sig syscall.Signal, limit time.Duration) {
	p.t.Helper()
	p.signal(sig)
	st := p.wait(limit)
	if st == nil {
		p.t.Fatalf("%s did not exit within %s of %s\n%s", p.name, limit, sig, temporalcluster.Tail(p.log, 40))
	}
	if !st.Success() {
		p.t.Errorf("%s: want a clean exit after %s, got %v\n%s", p.name, sig, st, temporalcluster.Tail(p.log, 40))
	}
}

// checkAlive fails the test if the process exited without being told to.
func (p *proc) checkAlive() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !p.stopped && p.state != nil {
		p.t.Errorf("%s exited on its own: %v\n%s", p.name, p.state, temporalcluster.Tail(p.log, 40))
	}
}

// cleanup kills whatever still runs (only processes this drill started).
func (p *proc) cleanup() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

// cluster is one drill's world: a Temporal dev server with state on disk, a
// fresh PostgreSQL database, the Chatwoot stand-in, an OIDC issuer, and any
// number of api and worker processes.
type cluster struct {
	t   *testing.T
	dir string

	server       string // devServer or realCluster
	temporal     temporalServer
	temporalAddr string
	tc           client.Client

	clusterDBs []string // a real cluster's persistence and visibility databases

	appURL   string // the unprivileged role's DATABASE_URL
	ownerURL string // the tables' owner (DATABASE_OWNER_URL)
	adminURL string // the superuser on the same database (bypasses RLS)
	dbName   string

	cw        *chatwoottest.Server
	issuer    *devissuer.Issuer
	issuerURL string

	// policyUpdates counts the tenant policy changes the drill made.
	policyUpdates int

	apis    []*proc
	workers []*proc
	procs   []*proc
}

// The Temporal services every drill runs against: the dev server that `make
// run` starts, and a real cluster (internal/temporalcluster: frontend,
// history and matching on PostgreSQL with SQL visibility), the shape of
// docker-compose.yml and of every deployment that scales out.
const (
	devServer   = "devserver"
	realCluster = "cluster"
)

// eachServer runs drill once on each Temporal service, as subtests named
// after it. DRILLS_SERVERS (comma-separated) narrows the set for a local
// run; CI runs both.
func eachServer(t *testing.T, drill func(t *testing.T, c *cluster)) {
	servers := []string{devServer, realCluster}
	if v := os.Getenv("DRILLS_SERVERS"); v != "" {
		servers = strings.Split(v, ",")
	}
	for _, s := range servers {
		t.Run(s, func(t *testing.T) {
			logDuration(t)
			drill(t, newCluster(t, s))
		})
	}
}

// temporalServer is the Temporal service as a drill breaks it.
type temporalServer interface {
	// kill SIGKILLs the server and waits until it is gone.
	kill()
	// terminate sends sig and requires a clean exit within limit.
	terminate(sig syscall.Signal, limit time.Duration)
	// start brings it back on the same address and state.
	start()
}

func newCluster(t *testing.T, server string) *cluster {
	t.Helper()
	if server != devServer && server != realCluster {
		t.Fatalf("DRILLS_SERVERS: unknown Temporal service %q (want %s or %s)", server, devServer, realCluster)
	}
	pg := storetest.NewPostgres(t) // skips or fails without PostgreSQL
	appURL := pg.AppURL
	dir := t.TempDir()
	for _, d := range []string{"logs", "data", "temporal"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	c := &cluster{t: t, dir: dir, appURL: appURL, ownerURL: pg.OwnerURL, server: server}
	u, err := url.Parse(appURL)
	if err != nil {
		t.Fatal(err)
	}
	c.dbName = strings.TrimPrefix(u.Path, "/")
	au, err := url.Parse(storetest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	au.Path = "/" + c.dbName
	c.adminURL = au.String()

	// Cleanups run last-registered first: processes stop before the
	// stand-in and issuer close, and the logs are printed after that.
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range c.procs {
				t.Log(temporalcluster.Tail(p.log, 60))
			}
		}
		if keep := os.Getenv("DRILLS_KEEP_LOGS"); keep != "" {
			dst := filepath.Join(keep, strings.ReplaceAll(t.Name(), "/", "_"))
			if err := os.CopyFS(dst, os.DirFS(filepath.Join(dir, "logs"))); err != nil {
				t.Logf("DRILLS_KEEP_LOGS: %v", err)
			} else {
				t.Logf("logs kept in %s", dst)
			}
		}
	})

	c.cw, err = chatwoottest.New(chatwoottest.WithAutoCreate())
	if err != nil {
		t.Fatalf("chatwoot stand-in: %v", err)
	}
	t.Cleanup(c.cw.Close)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.issuerURL = "http://" + ln.Addr().String()
	c.issuer, err = devissuer.Open(filepath.Join(dir, "data"), c.issuerURL, audience)
	if err != nil {
		t.Fatalf("dev issuer: %v", err)
	}
	isrv := &http.Server{Handler: c.issuer.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = isrv.Serve(ln) }()
	t.Cleanup(func() { _ = isrv.Close() })

	if server == realCluster {
		c.startRealCluster()
	} else {
		c.startDevServer()
	}
	t.Cleanup(func() {
		for i := len(c.procs) - 1; i >= 0; i-- {
			c.procs[i].cleanup()
		}
	})
	if server == realCluster {
		// As a deployment does: setup migrates and registers the
		// search attributes on SQL visibility.
		c.tool("setup")
	} else {
		c.tool("migrate")
	}
	return c
}

// composeDynamicConfig is the server's dynamic config in docker-compose.yml.
const composeDynamicConfig = "../../../deploy/temporal/dynamicconfig/orchestrator.yaml"

// startRealCluster starts a Temporal cluster with fresh databases and the
// compose deployment's dynamic config.
func (c *cluster) startRealCluster() {
	overlay, err := os.ReadFile(composeDynamicConfig)
	if err != nil {
		c.t.Fatalf("the compose deployment's dynamic config: %v", err)
	}
	cl := temporalcluster.StartT(c.t, temporalcluster.Options{LogLevel: "warn", DynamicConfig: []string{string(overlay)}})
	c.temporalAddr = cl.Address
	c.temporal = &clusterServer{t: c.t, c: cl}
	c.clusterDBs = cl.Databases[:]
	tc, err := client.NewLazyClient(client.Options{HostPort: c.temporalAddr, Namespace: "default", Logger: quietLogger{}})
	if err != nil {
		c.t.Fatal(err)
	}
	c.tc = tc
	c.t.Cleanup(tc.Close)
}

// clusterServer is a real Temporal cluster as a drill breaks it.
type clusterServer struct {
	t       *testing.T
	c       *temporalcluster.Cluster
	stopped bool // stopped on purpose by the drill
}

func (s *clusterServer) kill() {
	s.t.Helper()
	s.stopped = true
	if err := s.c.Kill(); err != nil {
		s.t.Fatal(err)
	}
}

func (s *clusterServer) terminate(sig syscall.Signal, limit time.Duration) {
	s.t.Helper()
	s.stopped = true
	st, err := s.c.Signal(sig, limit)
	if err != nil {
		s.t.Fatal(err)
	}
	if !st.Success() {
		s.t.Errorf("Temporal cluster: want a clean exit after %s, got %v\n%s", sig, st, temporalcluster.Tail(s.c.LogPath, 40))
	}
}

func (s *clusterServer) start() {
	s.t.Helper()
	if err := s.c.Restart(context.Background()); err != nil {
		s.t.Fatal(err)
	}
	s.stopped = false
}

func (s *clusterServer) checkAlive() {
	s.t.Helper()
	if !s.stopped && s.c.Exited() {
		s.t.Errorf("the Temporal cluster exited on its own\n%s", temporalcluster.Tail(s.c.LogPath, 40))
	}
}

// startDevServer starts the dev server on a fresh port with its SQLite
// state under the drill's directory.
func (c *cluster) startDevServer() {
	c.temporalAddr = rig.MustFreeAddr(c.t)
	host, port, _ := net.SplitHostPort(c.temporalAddr)
	args := []string{
		"server", "start-dev", "--ip", host, "--port", port, "--headless",
		"--db-filename", filepath.Join(c.dir, "temporal", "temporal.db"),
		"--namespace", "default", "--log-level", "warn",
		"--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
		"--dynamic-config-value", "frontend.enableServerVersionCheck=false",
		// As `orchestrator dev` and the compose server run it.
		"--dynamic-config-value", "system.enableActivityEagerExecution=true",
	}
	for _, n := range contract.SearchAttributeNames() {
		args = append(args, "--search-attribute", n+"=Keyword")
	}
	tc, err := client.NewLazyClient(client.Options{HostPort: c.temporalAddr, Namespace: "default", Logger: quietLogger{}})
	if err != nil {
		c.t.Fatal(err)
	}
	c.tc = tc
	c.t.Cleanup(tc.Close)
	dev := &proc{
		t: c.t, name: "temporal", path: temporalCLI, args: args, env: baseEnv(),
		log: filepath.Join(c.dir, "logs", "temporal.log"),
		ready: func(ctx context.Context) error {
			if _, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
				return err
			}
			// The namespace and the search attributes are what the
			// processes need; both come from the database on a restart.
			if _, err := tc.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"}); err != nil {
				return err
			}
			return c.searchAttributesReady(ctx)
		},
	}
	c.temporal = dev
	c.procs = append(c.procs, dev)
	dev.start()
}

func (c *cluster) searchAttributesReady(ctx context.Context) error {
	resp, err := c.tc.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	if err != nil {
		return err
	}
	for _, n := range contract.SearchAttributeNames() {
		if _, ok := resp.GetCustomAttributes()[n]; !ok {
			return fmt.Errorf("search attribute %s not registered yet", n)
		}
	}
	return nil
}

func baseEnv() []string {
	env := []string{}
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// appEnv is the configuration every api and worker process gets.
func (c *cluster) appEnv(extra map[string]string) []string {
	m := map[string]string{
		"DATABASE_URL":             c.appURL,
		"DECISION_KEY":             "drills-decision-key-0123456789abcdef",
		"TEMPORAL_ADDRESS":         c.temporalAddr,
		"TEMPORAL_NAMESPACE":       "default",
		"TEMPORAL_TASK_QUEUE":      taskQueue,
		"OIDC_ISSUER_URL":          c.issuerURL,
		"OIDC_AUDIENCE":            audience,
		"DATA_DIR":                 filepath.Join(c.dir, "data"),
		"SHUTDOWN_GRACE":           shutdownGrace,
		"LOG_FORMAT":               "json",
		"LOG_LEVEL":                "warn",
		"CREATE_RATE_LIMIT":        "0", // drills create at load
		"CHATWOOT_BASE_URL":        c.cw.URL(),
		"CHATWOOT_API_TOKEN":       c.cw.Token(),
		"CHATWOOT_ACCOUNT_TENANTS": fmt.Sprintf("%d=%s", chatwootAcct, tenant),
		"JITSI_APP_ID":             "orchestrator",
		"JITSI_APP_SECRET":         "a-jitsi-app-secret-of-at-least-32-bytes!",
		"JITSI_BASE_URL":           "https://meet.example.com",
		// The event receivers of the drills run on this machine, and
		// retry within seconds (about 40 s in all).
		"EVENTS_ALLOW_PRIVATE":  "true",
		"EVENTS_RETRY_SCHEDULE": "200ms,500ms,1s,1s,2s,2s,3s,5s,5s,5s,5s,5s",
	}
	for k, v := range extra {
		m[k] = v
	}
	env := baseEnv()
	for k, v := range m {
		env = append(env, k+"="+v)
	}
	return env
}

// tool runs `orchestrator <command>` (migrate, setup) with the processes'
// configuration.
func (c *cluster) tool(command string) {
	cmd := exec.Command(binary, command)
	cmd.Env = c.appEnv(nil)
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("orchestrator %s: %v\n%s", command, err, out)
	}
}

// addAPI starts one more api process on a fresh port.
func (c *cluster) addAPI() *proc {
	addr := rig.MustFreeAddr(c.t)
	p := &proc{
		t: c.t, name: fmt.Sprintf("api-%d", len(c.apis)+1), path: binary, args: []string{"api"},
		env:   c.appEnv(map[string]string{"HTTP_ADDR": addr}),
		ready: rig.HTTPReady("http://" + addr + "/readyz"),
	}
	p.log = filepath.Join(c.dir, "logs", p.name+".log")
	c.apis = append(c.apis, p)
	c.procs = append(c.procs, p)
	p.start()
	return p
}

// addWorker starts one more worker process.
func (c *cluster) addWorker() *proc {
	addr := rig.MustFreeAddr(c.t)
	p := &proc{
		t: c.t, name: fmt.Sprintf("worker-%d", len(c.workers)+1), path: binary, args: []string{"worker"},
		env:   c.appEnv(map[string]string{"WORKER_HTTP_ADDR": addr}),
		ready: rig.HTTPReady("http://" + addr + "/readyz"),
	}
	p.log = filepath.Join(c.dir, "logs", p.name+".log")
	c.workers = append(c.workers, p)
	c.procs = append(c.procs, p)
	p.start()
	return p
}

// baseURL is an api process's address.
func baseURL(p *proc) string {
	for _, kv := range p.env {
		if v, ok := strings.CutPrefix(kv, "HTTP_ADDR="); ok {
			return "http://" + v
		}
	}
	panic("not an api process: " + p.name)
}

// terminateBackends cuts every connection to the drill's database (and, on
// a real cluster, to the Temporal server's databases too) except the
// caller's own, and returns how many it cut.
func (c *cluster) terminateBackends(ctx context.Context) (int, error) {
	conn, err := pgx.Connect(ctx, storetest.AdminURL())
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM (
		SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ANY($1) AND pid <> pg_backend_pid()) t`,
		append([]string{c.dbName}, c.clusterDBs...)).Scan(&n)
	return n, err
}

// admin opens a superuser connection to the drill's database.
func (c *cluster) admin(ctx context.Context) (*pgx.Conn, error) {
	return pgx.Connect(ctx, c.adminURL)
}

// token mints an access token from the drill's issuer.
func (c *cluster) token(sub string, roles ...string) string {
	c.t.Helper()
	tok, err := c.issuer.Mint(devissuer.MintOptions{
		Subject: sub, Name: strings.ToUpper(sub), Groups: []string{tenant}, Roles: roles, TTL: 3 * time.Hour,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return tok
}

// checkProcesses fails the drill for any process that died on its own.
func (c *cluster) checkProcesses() {
	c.t.Helper()
	for _, p := range c.procs {
		p.checkAlive()
	}
	if s, ok := c.temporal.(*clusterServer); ok {
		s.checkAlive()
	}
}

type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
