// Package temporalcluster runs a real Temporal server for tests and
// benchmarks, without Docker: the server binary built from
// go.temporal.io/server/cmd/server (frontend, history, matching and worker
// services in one process) on the local PostgreSQL, with its persistence and
// SQL visibility in two fresh databases created by the schema tool
// go.temporal.io/server/cmd/tools/sql from the module's own schemas, and the
// module's config/development-postgres12.yaml with every port chosen at run
// time.
//
// `make test` and `make bench` build both binaries once (see the Makefile's
// cluster-tools target) and pass them in TEMPORAL_SERVER, TEMPORAL_SQL_TOOL
// and TEMPORAL_SERVER_SOURCE (the module's source directory).
package temporalcluster

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Version is the Temporal server the kit builds (the Makefile's
// TEMPORAL_SERVER_VERSION).
const Version = "v1.29.1"

// Environment variables that name the tools.
const (
	EnvServer  = "TEMPORAL_SERVER"        // the server binary
	EnvSQLTool = "TEMPORAL_SQL_TOOL"      // the schema tool binary
	EnvSource  = "TEMPORAL_SERVER_SOURCE" // go.temporal.io/server@Version's source directory
)

// Tools are the binaries and the module source a cluster runs from.
type Tools struct {
	Server  string
	SQLTool string
	Source  string
}

// ErrNotConfigured is returned by ToolsFromEnv when the binaries are not
// named at all (the tests were not run through make).
var ErrNotConfigured = errors.New("temporalcluster: " + EnvServer + " and " + EnvSQLTool +
	" are not set: run the tests through `make test`, which builds the Temporal server " + Version + " and its schema tool")

// ToolsFromEnv reads the tools from the environment. Without
// TEMPORAL_SERVER_SOURCE the source directory is asked from the go command
// (`go mod download -json`), which fetches the module if it is not cached.
func ToolsFromEnv() (Tools, error) {
	t := Tools{Server: os.Getenv(EnvServer), SQLTool: os.Getenv(EnvSQLTool), Source: os.Getenv(EnvSource)}
	if t.Server == "" && t.SQLTool == "" {
		return t, ErrNotConfigured
	}
	if t.Server == "" || t.SQLTool == "" {
		return t, fmt.Errorf("temporalcluster: both %s and %s must be set (got %q and %q)", EnvServer, EnvSQLTool, t.Server, t.SQLTool)
	}
	if t.Source == "" {
		dir, err := ModuleSource()
		if err != nil {
			return t, err
		}
		t.Source = dir
	}
	return t, t.check()
}

// ModuleSource returns the module cache directory of go.temporal.io/server
// at Version, downloading it when needed.
func ModuleSource() (string, error) {
	out, err := exec.Command("go", "mod", "download", "-json", "go.temporal.io/server@"+Version).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s%s", err, ee.Stderr, out)
		}
		return "", fmt.Errorf("temporalcluster: go mod download go.temporal.io/server@%s: %w", Version, err)
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(out, &m); err != nil {
		return "", fmt.Errorf("temporalcluster: go mod download: %w", err)
	}
	if m.Dir == "" {
		return "", fmt.Errorf("temporalcluster: go mod download go.temporal.io/server@%s: no directory (%s)", Version, m.Error)
	}
	return m.Dir, nil
}

func (t Tools) check() error {
	for _, f := range []struct{ env, path string }{
		{EnvServer, t.Server}, {EnvSQLTool, t.SQLTool},
		{EnvSource, filepath.Join(t.Source, "config", "development-postgres12.yaml")},
		{EnvSource, filepath.Join(t.Source, "schema", "postgresql", "v12", "temporal", "versioned")},
		{EnvSource, filepath.Join(t.Source, "schema", "postgresql", "v12", "visibility", "versioned")},
	} {
		if _, err := os.Stat(f.path); err != nil {
			return fmt.Errorf("temporalcluster: %s: %w (run `make cluster-tools`)", f.env, err)
		}
	}
	return nil
}

// Options say how to run one cluster.
type Options struct {
	Tools Tools
	// Dir holds the config, the server's log and the archival directories.
	Dir string
	// AdminURL is a PostgreSQL superuser connection (storetest.AdminURL()).
	// The cluster's login role and its two databases are created through it
	// and the databases dropped on Stop.
	AdminURL string
	// Namespace is created (retention 24 h) once the frontend answers,
	// before Start returns. Empty: "default". "-": none.
	Namespace string
	// DynamicConfig are YAML documents merged, in order, over the module's
	// dynamicconfig/development-sql.yaml and the kit's own settings (eager
	// activity execution on, no version check); a later key wins.
	DynamicConfig []string
	// LogLevel of the server (debug, info, warn, error). Empty: info.
	LogLevel string
	// StartTimeout bounds schema setup and start-up. Zero: 3 minutes.
	StartTimeout time.Duration
	// Logf, when set, reports the steps and their durations.
	Logf func(format string, args ...any)
}

// The login role the server uses, as in the module's config and the compose
// deployment.
const (
	RoleName     = "temporal"
	RolePassword = "temporal"
)

// dbTarget is where the server keeps its state.
type dbTarget struct {
	hostPort         string
	host, port       string
	user, password   string
	main, visibility string
}

// Cluster is one running Temporal server.
type Cluster struct {
	// Address is the frontend's gRPC host:port.
	Address string
	// HTTPAddress is the frontend's HTTP API host:port.
	HTTPAddress string
	// MetricsAddress serves the server's Prometheus metrics.
	MetricsAddress string
	// Namespace is the namespace Start created ("" if none).
	Namespace string
	// LogPath is the server's combined stdout and stderr.
	LogPath string
	// Databases are the persistence and visibility database names.
	Databases [2]string

	opts    Options
	cmd     *exec.Cmd
	done    chan struct{}
	logFile *os.File
	mu      sync.Mutex
	stopped bool
}

// Start creates the databases, renders the config, starts the server and
// waits until the frontend answers and the namespace exists. On error,
// whatever was started is stopped again (the log stays in Dir).
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	if opts.LogLevel == "" {
		opts.LogLevel = "info"
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 3 * time.Minute
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if err := opts.Tools.check(); err != nil {
		return nil, err
	}
	if opts.Dir == "" || opts.AdminURL == "" {
		return nil, errors.New("temporalcluster: Options.Dir and Options.AdminURL are required")
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()

	var b [4]byte
	_, _ = rand.Read(b[:])
	base := fmt.Sprintf("%s%d_%s", dbPrefix, time.Now().Unix(), hex.EncodeToString(b[:]))
	db, err := newDBTarget(opts.AdminURL, base, base+"_vis")
	if err != nil {
		return nil, err
	}
	c = &Cluster{opts: opts, Databases: [2]string{db.main, db.visibility}, LogPath: filepath.Join(opts.Dir, "temporal-server.log")}
	defer func() {
		if err != nil {
			_ = c.Stop()
			c = nil
		}
	}()

	t0 := time.Now()
	if err := ensureRole(ctx, opts.AdminURL); err != nil {
		return c, err
	}
	dropAbandoned(ctx, opts.AdminURL, opts.Logf)
	if err := c.setupSchemas(ctx, db); err != nil {
		return c, err
	}
	opts.Logf("temporalcluster: databases %s and %s created and migrated in %s", db.main, db.visibility, time.Since(t0).Round(time.Millisecond))

	p, err := newPorts()
	if err != nil {
		return c, err
	}
	c.Address = fmt.Sprintf("127.0.0.1:%d", p.frontendGRPC)
	c.HTTPAddress = fmt.Sprintf("127.0.0.1:%d", p.frontendHTTP)
	c.MetricsAddress = fmt.Sprintf("127.0.0.1:%d", p.metrics)
	staticSrc, err := os.ReadFile(filepath.Join(opts.Tools.Source, "config", "development-postgres12.yaml"))
	if err != nil {
		return c, err
	}
	dynSrc, err := os.ReadFile(filepath.Join(opts.Tools.Source, "config", "dynamicconfig", "development-sql.yaml"))
	if err != nil {
		return c, err
	}
	dynPath := filepath.Join(opts.Dir, "config", "dynamicconfig", "dynamic.yaml")
	static, err := staticConfig(string(staticSrc), db, p, dynPath, filepath.Join(opts.Dir, "archival"), opts.LogLevel)
	if err != nil {
		return c, err
	}
	dynamic, err := dynamicConfig(string(dynSrc), p, opts.DynamicConfig...)
	if err != nil {
		return c, err
	}
	if err := writeConfig(opts.Dir, static, dynamic); err != nil {
		return c, err
	}

	t1 := time.Now()
	if err := c.startServer(); err != nil {
		return c, err
	}
	if err := c.waitReady(ctx); err != nil {
		return c, err
	}
	opts.Logf("temporalcluster: server %s up at %s in %s (namespace %q)", Version, c.Address, time.Since(t1).Round(time.Millisecond), c.Namespace)
	return c, nil
}

func newDBTarget(adminURL, main, visibility string) (dbTarget, error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return dbTarget{}, fmt.Errorf("temporalcluster: admin URL: %w", err)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		host = "127.0.0.1"
	}
	if port == "" {
		port = "5432"
	}
	return dbTarget{
		hostPort: net.JoinHostPort(host, port), host: host, port: port,
		user: RoleName, password: RolePassword, main: main, visibility: visibility,
	}, nil
}

// ensureRole creates the server's login role (allowed to create its
// databases) unless it exists.
func ensureRole(ctx context.Context, adminURL string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("temporalcluster: connect to PostgreSQL as admin: %w", err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, fmt.Sprintf(`DO $$ BEGIN
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%s') THEN
			CREATE ROLE %s LOGIN CREATEDB PASSWORD '%s';
		END IF;
	END $$`, RoleName, RoleName, RolePassword))
	// Two test binaries creating the role at once: one of them loses.
	if err != nil && !strings.Contains(err.Error(), "already exists") && !strings.Contains(err.Error(), "23505") {
		return fmt.Errorf("temporalcluster: create role %s: %w", RoleName, err)
	}
	return nil
}

// dbPrefix starts the name of every database a cluster creates; the unix
// time of its creation follows.
const dbPrefix = "temporal_kit_"

// abandonedAfter is the age from which a cluster database is taken for the
// leftover of a test binary that was killed before it could drop it.
const abandonedAfter = 6 * time.Hour

// dropAbandoned drops cluster databases older than abandonedAfter. Errors
// are only reported: they never stop a new cluster.
func dropAbandoned(ctx context.Context, adminURL string, logf func(string, ...any)) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE $1", dbPrefix+"%")
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, name := range names {
		ts, _, _ := strings.Cut(strings.TrimPrefix(name, dbPrefix), "_")
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || time.Since(time.Unix(sec, 0)) < abandonedAfter {
			continue
		}
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			logf("temporalcluster: drop abandoned database %s: %v", name, err)
		} else {
			logf("temporalcluster: dropped abandoned database %s", name)
		}
	}
}

// setupSchemas runs the schema tool for both databases exactly as the
// compose deployment's temporal-schema job does: create-database,
// setup-schema -v 0.0, update-schema from the module's versioned schemas.
func (c *Cluster) setupSchemas(ctx context.Context, db dbTarget) error {
	for _, d := range []struct{ name, schema string }{{db.main, "temporal"}, {db.visibility, "visibility"}} {
		dir := filepath.Join(c.opts.Tools.Source, "schema", "postgresql", "v12", d.schema, "versioned")
		base := []string{"--plugin", "postgres12", "--ep", db.host, "-p", db.port, "-u", db.user, "--pw", db.password, "--db", d.name}
		for _, step := range [][]string{{"create-database"}, {"setup-schema", "-v", "0.0"}, {"update-schema", "-d", dir}} {
			cmd := exec.CommandContext(ctx, c.opts.Tools.SQLTool, append(base, step...)...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("temporalcluster: sql %s on %s: %w\n%s", step[0], d.name, err, out)
			}
		}
	}
	return nil
}

func (c *Cluster) startServer() error {
	f, err := os.OpenFile(c.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(c.opts.Tools.Server, "--root", c.opts.Dir, "--config", "config", "--env", "development", "--allow-no-auth", "start")
	cmd.Dir = c.opts.Dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("temporalcluster: start server: %w", err)
	}
	c.cmd, c.logFile, c.done = cmd, f, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(c.done)
	}()
	return nil
}

// waitReady waits for the frontend and creates the namespace (the namespace
// registry may refuse it while the cluster is still starting: retried).
func (c *Cluster) waitReady(ctx context.Context) error {
	nc, err := client.NewNamespaceClient(client.Options{HostPort: c.Address, Logger: quietLogger{}})
	if err != nil {
		return err
	}
	defer nc.Close()
	tc, err := client.NewLazyClient(client.Options{HostPort: c.Address, Logger: quietLogger{}})
	if err != nil {
		return err
	}
	defer tc.Close()
	var last error
	for {
		last = c.readyStep(ctx, nc, tc)
		if last == nil {
			return nil
		}
		select {
		case <-c.done:
			return fmt.Errorf("temporalcluster: server exited during start (%v)\n%s", c.cmd.ProcessState, Tail(c.LogPath, 40))
		case <-ctx.Done():
			return fmt.Errorf("temporalcluster: server not ready within %s: %v\n%s", c.opts.StartTimeout, last, Tail(c.LogPath, 40))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (c *Cluster) readyStep(ctx context.Context, nc client.NamespaceClient, tc client.Client) error {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := tc.CheckHealth(rctx, &client.CheckHealthRequest{}); err != nil {
		return err
	}
	if c.opts.Namespace == "-" {
		return nil
	}
	err := nc.Register(rctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: c.opts.Namespace, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	})
	var exists *serviceerror.NamespaceAlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return err
	}
	if _, err := nc.Describe(rctx, c.opts.Namespace); err != nil {
		return err
	}
	c.Namespace = c.opts.Namespace
	return nil
}

// Stop ends the server (SIGTERM, SIGKILL after 15 s) and drops its
// databases. It is safe to call more than once.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	c.stopped = true
	var errs []error
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(15 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
			errs = append(errs, errors.New("temporalcluster: server did not stop within 15 s of SIGTERM; killed"))
		}
		c.logFile.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.opts.AdminURL)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("temporalcluster: drop databases: %w", err))...)
	}
	defer conn.Close(context.Background())
	for _, name := range c.Databases {
		if name == "" {
			continue
		}
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			errs = append(errs, fmt.Errorf("temporalcluster: drop database %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Kill ends the server with SIGKILL, as a crash would, and waits for it to
// be gone. The databases and the config stay: Restart brings the same
// cluster back.
func (c *Cluster) Kill() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped || c.cmd == nil || c.cmd.Process == nil {
		return errors.New("temporalcluster: kill: the server is not running")
	}
	if err := c.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("temporalcluster: kill: %w", err)
	}
	select {
	case <-c.done:
		return nil
	case <-time.After(15 * time.Second):
		return errors.New("temporalcluster: the server survived SIGKILL for 15 s")
	}
}

// Signal sends sig (SIGINT or SIGTERM for a graceful stop) and waits up to
// limit for the server to exit. It returns the exit state, or an error if
// the server is still running after limit. The databases stay.
func (c *Cluster) Signal(sig syscall.Signal, limit time.Duration) (*os.ProcessState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped || c.cmd == nil || c.cmd.Process == nil {
		return nil, fmt.Errorf("temporalcluster: %s: the server is not running", sig)
	}
	if err := c.cmd.Process.Signal(sig); err != nil {
		return nil, fmt.Errorf("temporalcluster: send %s: %w", sig, err)
	}
	select {
	case <-c.done:
		return c.cmd.ProcessState, nil
	case <-time.After(limit):
		return nil, fmt.Errorf("temporalcluster: the server did not exit within %s of %s\n%s", limit, sig, Tail(c.LogPath, 40))
	}
}

// Restart starts the server again after Kill or Signal, on the same ports,
// config and databases (its log is appended to), and waits until it serves
// the namespace again.
func (c *Cluster) Restart(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return errors.New("temporalcluster: restart: the cluster was stopped")
	}
	if !c.Exited() {
		return errors.New("temporalcluster: restart: the server is still running")
	}
	c.logFile.Close()
	ctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()
	t0 := time.Now()
	if err := c.startServer(); err != nil {
		return err
	}
	if err := c.waitReady(ctx); err != nil {
		return err
	}
	c.opts.Logf("temporalcluster: server restarted at %s in %s", c.Address, time.Since(t0).Round(time.Millisecond))
	return nil
}

// Exited reports whether the server process has ended (on its own or by
// Stop).
func (c *Cluster) Exited() bool {
	if c.done == nil {
		return false
	}
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Tail returns the last n lines of a log file.
func Tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log %s: %v)", path, err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 4*n {
			lines = lines[len(lines)-n:]
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("--- last %d lines of %s ---\n%s", len(lines), path, strings.Join(lines, "\n"))
}

type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
