package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	enumspb "go.temporal.io/api/enums/v1"
	operatorv1 "go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/orchestrator-dev/orchestrator/internal/config"
	"github.com/orchestrator-dev/orchestrator/internal/devissuer"
	"github.com/orchestrator-dev/orchestrator/internal/events"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/telemetry"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

func load(env config.Getenv, mode config.Mode) (*config.Config, error) {
	return config.Load(mode, env)
}

// process is what every long-running command builds first.
type process struct {
	cfg   *config.Config
	log   *slog.Logger
	tel   *telemetry.Telemetry
	store *store.Store
	tc    client.Client
	// waker is the store's OnDeliveriesQueued hook: deliveries queued in
	// this process wake its delivery loops at once.
	waker   *events.Waker
	closers []func()
}

// close releases what boot opened, in reverse order.
func (p *process) close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
}

// temporalDialTimeout bounds the Temporal connection at start, whatever the
// SDK's own per-call deadlines happen to be: a process that cannot reach
// Temporal says so in seconds and leaves the retrying to its supervisor,
// instead of waiting silently.
const temporalDialTimeout = 10 * time.Second

// boot reads the configuration for mode, then opens telemetry, the database
// (migrating it when asked) and the Temporal connection. prepare, when set,
// runs before the database is opened (dev mode starts its Temporal server
// there). On error everything opened so far is closed and the error names
// what could not be reached, and where.
func boot(ctx context.Context, env config.Getenv, mode config.Mode, service string, stderr io.Writer, migrate bool,
	prepare func(*config.Config) (func(), error)) (_ *process, err error) {
	cfg, err := load(env, mode)
	if err != nil {
		return nil, err
	}
	// The deferred close works on p, never on the result: a failed boot
	// returns a nil process, and closing that would panic and hide err.
	p := &process{cfg: cfg, log: newLogger(cfg.LogLevel, cfg.LogFormat, stderr).With("process", string(mode)), waker: events.NewWaker()}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if p.tel, err = newTelemetry(ctx, cfg, env, service, p.log); err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	p.closers = append(p.closers, func() { closeTelemetry(p.tel, p.log) })
	if prepare != nil {
		stop, perr := prepare(cfg)
		if perr != nil {
			return nil, perr
		}
		p.closers = append(p.closers, stop)
	}
	dbAt := config.MaskURL(cfg.DatabaseURL)
	p.log.Info("opening the database", "database", dbAt)
	if p.store, err = openStore(ctx, cfg, p.log, migrate, store.Options{CountStatement: p.tel.Metrics.DBStatement, OnDeliveriesQueued: p.waker.Wake}); err != nil {
		return nil, fmt.Errorf("open the database at %s: %w", dbAt, err)
	}
	p.closers = append(p.closers, func() { _ = p.store.Close() })
	pool, err := p.store.Pool()
	if err != nil {
		return nil, err
	}
	if err := p.tel.Metrics.RegisterDBPool(pool); err != nil {
		return nil, err
	}
	p.log.Info("connecting to Temporal", "address", cfg.TemporalAddress, "namespace", cfg.TemporalNamespace, "timeout", temporalDialTimeout.String())
	dialCtx, cancel := context.WithTimeout(ctx, temporalDialTimeout)
	defer cancel()
	started := time.Now()
	if p.tc, err = dialTemporal(dialCtx, cfg, p.log, p.tel); err != nil {
		if timedOut(err) {
			// dialTemporal names the address; a timeout also says how long
			// the server was given, so nobody waits for it to come back.
			return nil, fmt.Errorf("%w (no answer within %s)", err, time.Since(started).Round(time.Second))
		}
		return nil, err
	}
	p.closers = append(p.closers, p.tc.Close)
	return p, nil
}

// timedOut reports whether err is a deadline, from the context or from a gRPC
// call (the SDK gives up on the server's capabilities with its own deadline).
func timedOut(err error) bool {
	var deadline *serviceerror.DeadlineExceeded
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &deadline) || status.Code(err) == codes.DeadlineExceeded
}

func runAPI(ctx context.Context, env config.Getenv, stderr io.Writer) error {
	p, err := boot(ctx, env, config.ModeAPI, telemetry.ServiceAPI, stderr, false, nil)
	if err != nil {
		return err
	}
	defer p.close()
	v, err := newVerifier(p.cfg)
	if err != nil {
		return fmt.Errorf("OIDC settings: %w", err)
	}
	h, err := newAPIHandler(p.cfg, p.store, p.tc, v, p.log, p.tel)
	if err != nil {
		return err
	}
	return serveHTTP(ctx, p.cfg.HTTPAddr, h, p.cfg.ShutdownGrace, p.log)
}

func runWorker(ctx context.Context, env config.Getenv, stderr io.Writer) error {
	p, err := boot(ctx, env, config.ModeWorker, telemetry.ServiceWorker, stderr, false, nil)
	if err != nil {
		return err
	}
	defer p.close()
	cfg, s, tc, log, tel := p.cfg, p.store, p.tc, p.log, p.tel
	state := newWorkerState()
	if err := tel.Metrics.RegisterWorkerPolling(state.Polling); err != nil {
		return err
	}
	w, err := newWorker(cfg, s, tc, log, tel.Metrics, state)
	if err != nil {
		return err
	}
	ew, err := newEventsWorker(cfg, s, tc, log, tel.Metrics, p.waker, state)
	if err != nil {
		return err
	}
	ensureRetentionSchedule(ctx, cfg, tc, log)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return serveHTTP(gctx, cfg.WorkerHTTPAddr, workerHTTP(s, tc, state.Polling, tel.Metrics.Handler()), cfg.ShutdownGrace, log)
	})
	g.Go(func() error { return runTemporalWorker(gctx, workers{w, ew}, state, log) })
	return g.Wait()
}

// runTemporalWorker polls until ctx ends, then stops polling and lets running
// activities finish (worker StopTimeout). A worker that stops by itself
// (state learns it from the SDK's OnFatalError: a non-retryable poll error
// such as a deleted namespace) ends the function with its cause, and with it
// the process, non-zero: the API or the health endpoints answering on would
// hide a process that no longer runs a single workflow, while a supervisor
// restarts one that exits.
func runTemporalWorker(ctx context.Context, w interface {
	Start() error
	Stop()
}, state *workerState, log *slog.Logger) error {
	if err := w.Start(); err != nil {
		return fmt.Errorf("start the Temporal worker: %w", err)
	}
	state.polling.Store(true)
	log.Info("worker polling")
	select {
	case <-ctx.Done():
		state.polling.Store(false)
		log.Info("worker stopping")
		w.Stop()
		return nil
	case <-state.stopped:
		err := state.err()
		log.Error("the Temporal worker stopped by itself; the process exits so that its supervisor restarts it", "error", err.Error())
		w.Stop() // the SDK stops it too; this waits for the same cleanup
		return fmt.Errorf("the Temporal worker stopped: %w", err)
	}
}

// workerHTTP serves the worker's health endpoints and, when metrics is set,
// its Prometheus metrics at /metrics.
func workerHTTP(s interface{ Ping(context.Context) error }, tc client.Client, polling func() bool, metrics http.Handler) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	if metrics != nil {
		r.GET("/metrics", gin.WrapH(metrics))
	}
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
		defer cancel()
		checks := gin.H{"database": "ok", "temporal": "ok", "worker": "polling"}
		status := http.StatusOK
		if !polling() {
			// Reachable servers do not make a worker that does not poll
			// ready: no workflow of this process moves.
			checks["worker"], status = "not polling", http.StatusServiceUnavailable
		}
		if err := s.Ping(ctx); err != nil {
			checks["database"], status = "unavailable", http.StatusServiceUnavailable
		}
		if _, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			checks["temporal"], status = "unavailable", http.StatusServiceUnavailable
		}
		c.JSON(status, gin.H{"checks": checks})
	})
	return r
}

func runMigrate(ctx context.Context, env config.Getenv, stdout, stderr io.Writer) error {
	cfg, err := load(env, config.ModeTool)
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	applied, err := migrateDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "migrations applied: %v\n", applied)
	return nil
}

// runSetup idempotently prepares a non-dev deployment: the namespace (when
// the server allows creating it), the search attributes, the database.
func runSetup(ctx context.Context, env config.Getenv, stdout, stderr io.Writer) error {
	cfg, err := load(env, config.ModeTool)
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	s, err := openStore(ctx, cfg, log, true, store.Options{})
	if err != nil {
		return err
	}
	_ = s.Close()
	fmt.Fprintln(stdout, "database: migrated")

	dialCtx, cancel := context.WithTimeout(ctx, temporalDialTimeout)
	tc, err := dialTemporal(dialCtx, cfg, log, nil)
	cancel()
	if err != nil {
		return err
	}
	defer tc.Close()
	_, err = tc.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: cfg.TemporalNamespace, WorkflowExecutionRetentionPeriod: durationpb.New(30 * 24 * time.Hour),
	})
	var exists *serviceerror.NamespaceAlreadyExists
	var denied *serviceerror.PermissionDenied
	switch {
	case err == nil:
		fmt.Fprintf(stdout, "namespace %s: created\n", cfg.TemporalNamespace)
		time.Sleep(2 * time.Second) // the namespace cache takes a moment to see it
	case errors.As(err, &exists):
		fmt.Fprintf(stdout, "namespace %s: exists\n", cfg.TemporalNamespace)
	case errors.As(err, &denied):
		fmt.Fprintf(stdout, "namespace %s: not created (not allowed; create it with your provider's tools)\n", cfg.TemporalNamespace)
	default:
		log.Warn("register namespace", "error", err.Error())
	}
	if err := registerSearchAttributes(ctx, tc, cfg.TemporalNamespace); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "search attributes %v: registered\n", contract.SearchAttributeNames())
	return nil
}

// registerSearchAttributes adds the attributes the namespace lacks (an
// upgrade adds new ones beside those there already), then waits until the
// frontend serves them: it learns them at its next namespace-cache refresh,
// and an escalation started before that fails. A visibility query naming
// every attribute succeeds only once they are all known.
func registerSearchAttributes(ctx context.Context, tc client.Client, namespace string) error {
	names := contract.SearchAttributeNames()
	for attempt := 0; ; attempt++ {
		err := addMissingSearchAttributes(ctx, tc, namespace, names)
		if err == nil {
			break
		}
		if attempt >= 10 {
			return fmt.Errorf("register search attributes %v: %w", names, err)
		}
		time.Sleep(time.Second)
	}
	query := make([]string, len(names))
	for i, n := range names {
		query[i] = n + " = ''"
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := tc.WorkflowService().ListWorkflowExecutions(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: namespace, PageSize: 1, Query: strings.Join(query, " AND "),
		})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("search attributes %v registered but not yet served by the frontend: %w", names, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func addMissingSearchAttributes(ctx context.Context, tc client.Client, namespace string, names []string) error {
	have, err := tc.OperatorService().ListSearchAttributes(ctx, &operatorv1.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for _, n := range names {
		if _, ok := have.GetCustomAttributes()[n]; !ok {
			missing[n] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = tc.OperatorService().AddSearchAttributes(ctx, &operatorv1.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
	var already *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &already) {
		return err
	}
	return nil
}

func runConfig(env config.Getenv, stdout io.Writer) error {
	cfg, err := load(env, config.ModeTool)
	if err != nil {
		return err
	}
	return cfg.Print(stdout)
}

func runToken(env config.Getenv, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token", stderr)
	sub := fs.String("sub", "", "subject (user id); required")
	name := fs.String("name", "", "display name")
	email := fs.String("email", "", "email address")
	ttl := fs.Duration("ttl", time.Hour, "lifetime of the token")
	var groups, roles multiFlag
	fs.Var(&groups, "group", "group path, e.g. /teams/support (repeatable)")
	fs.Var(&roles, "role", "realm role, e.g. approver (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *sub == "" {
		return errors.New("token: --sub is required")
	}
	cfg, err := load(env, config.ModeDev)
	if err != nil {
		return err
	}
	iss, err := devissuer.Open(cfg.DataDir, cfg.OIDCIssuerURL, cfg.OIDCAudience)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	tok, err := iss.Mint(devissuer.MintOptions{Subject: *sub, Name: *name, Email: *email, Groups: groups, Roles: roles, TTL: *ttl})
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

func runHealthcheck(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("healthcheck", stderr)
	url := fs.String("url", "http://127.0.0.1:8080/healthz", "URL that must answer 200")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d", *url, resp.StatusCode)
	}
	return nil
}
