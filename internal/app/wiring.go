package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/orchestrator-dev/orchestrator/activities"
	"github.com/orchestrator-dev/orchestrator/api"
	"github.com/orchestrator-dev/orchestrator/internal/auth"
	"github.com/orchestrator-dev/orchestrator/internal/chatwoot"
	"github.com/orchestrator-dev/orchestrator/internal/config"
	"github.com/orchestrator-dev/orchestrator/internal/events"
	"github.com/orchestrator-dev/orchestrator/internal/jitsi"
	"github.com/orchestrator-dev/orchestrator/internal/keycloak"
	"github.com/orchestrator-dev/orchestrator/internal/matrix"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/telemetry"
	"github.com/orchestrator-dev/orchestrator/worker"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// newTelemetry builds the process's metrics registry (one per process) and
// its tracing, off unless OTEL_EXPORTER_OTLP_ENDPOINT is set.
func newTelemetry(ctx context.Context, cfg *config.Config, env config.Getenv, service string, log *slog.Logger) (*telemetry.Telemetry, error) {
	protocol := ""
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if v, ok := lookup(env, k); ok && v != "" && protocol == "" {
			protocol = v
		}
	}
	return telemetry.Setup(ctx, telemetry.Options{
		Registry: prometheus.NewRegistry(), Service: service, Log: log,
		Tracing: telemetry.TracingOptions{Endpoint: cfg.OTLPEndpoint, Protocol: protocol},
	})
}

func lookup(env config.Getenv, k string) (string, bool) {
	if env == nil {
		return os.LookupEnv(k)
	}
	return env(k)
}

// closeTelemetry flushes traces on the way out.
func closeTelemetry(t *telemetry.Telemetry, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.Shutdown(ctx); err != nil {
		log.Warn("telemetry shutdown", "error", err.Error())
	}
}

// dialTemporal connects to the configured Temporal frontend; tel (nil for
// the operator commands) adds the SDK metrics and the tracing interceptor.
func dialTemporal(ctx context.Context, cfg *config.Config, log *slog.Logger, tel *telemetry.Telemetry) (client.Client, error) {
	opts := client.Options{
		HostPort:  cfg.TemporalAddress,
		Namespace: cfg.TemporalNamespace,
		Logger:    tlog.NewStructuredLogger(log.With("component", "temporal-sdk")),
	}
	if err := tel.TemporalClientOptions(&opts); err != nil {
		return nil, fmt.Errorf("temporal telemetry: %w", err)
	}
	if cfg.TemporalTLSCAFile != "" || cfg.TemporalTLSCertFile != "" || cfg.TemporalTLSServerName != "" || cfg.TemporalAPIKey != "" {
		tc, err := temporalTLS(cfg)
		if err != nil {
			return nil, err
		}
		opts.ConnectionOptions.TLS = tc
	}
	if cfg.TemporalAPIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(cfg.TemporalAPIKey)
	}
	if cfg.TemporalCompression == "none" {
		opts.ConnectionOptions.GrpcCompression = &client.GrpcCompressionNone{}
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s (namespace %s): %w", cfg.TemporalAddress, cfg.TemporalNamespace, err)
	}
	return c, nil
}

func temporalTLS(cfg *config.Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TemporalTLSServerName}
	if cfg.TemporalTLSCAFile != "" {
		pem, err := os.ReadFile(cfg.TemporalTLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("TEMPORAL_TLS_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("TEMPORAL_TLS_CA_FILE: no PEM certificate found")
		}
		tc.RootCAs = pool
	}
	if cfg.TemporalTLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TemporalTLSCertFile, cfg.TemporalTLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("TEMPORAL_TLS_CERT_FILE/TEMPORAL_TLS_KEY_FILE: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// openStore connects to the database as the application (DATABASE_URL),
// when migrate is set after applying pending migrations (migrateDatabase).
// opts carries the process's hooks: the statement counter (telemetry's
// orchestrator_db_statements_total) and the delivery loops' wake-up after
// a commit queued deliveries; the zero value has neither.
func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger, migrate bool, opts store.Options) (*store.Store, error) {
	if migrate {
		if _, err := migrateDatabase(ctx, cfg, log); err != nil {
			return nil, err
		}
	}
	return store.Open(ctx, cfg.DatabaseURL, opts)
}

// migrateDatabase applies pending migrations and returns their versions.
// With DATABASE_OWNER_URL it connects as that role, which owns the tables,
// and then grants DATABASE_URL's role exactly what the application needs, so
// that the application cannot switch row-level security off. Without it, it
// connects as DATABASE_URL's role (the one-process dev setup, where that role
// owns the tables).
func migrateDatabase(ctx context.Context, cfg *config.Config, log *slog.Logger) ([]int, error) {
	dsn, appRole := cfg.DatabaseURL, ""
	if cfg.DatabaseOwnerURL != "" {
		dsn, appRole = cfg.DatabaseOwnerURL, cfg.AppRole()
	}
	s, err := store.Open(ctx, dsn, store.Options{MaxOpenConns: 2})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	applied, err := s.Migrate(ctx)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42501" && appRole == "" {
		return nil, fmt.Errorf("%w (this role may not change the schema: set DATABASE_OWNER_URL to the tables' owner)", err)
	}
	if err != nil {
		return nil, err
	}
	if len(applied) > 0 {
		log.Info("database migrated", "applied", applied)
	}
	if appRole != "" {
		if err := s.GrantAppRole(ctx, appRole); err != nil {
			return nil, err
		}
		log.Info("application role granted its privileges", "role", appRole)
	}
	return applied, nil
}

func newVerifier(cfg *config.Config) (*auth.Verifier, error) {
	return auth.NewVerifier(auth.VerifierConfig{
		IssuerURL: cfg.OIDCIssuerURL, Audience: cfg.OIDCAudience,
		DiscoveryURL: cfg.OIDCDiscoveryURL, JWKSURL: cfg.OIDCJWKSURL, AllowedAlgs: cfg.OIDCAllowedAlgs,
		JWKSMinRefresh: cfg.OIDCJWKSMinRefresh,
		Approvers:      &auth.Approvers{Role: cfg.ApproverRole, Subgroup: cfg.ApproverSubgroup},
	})
}

// newActivities builds the activity dependencies.
func newActivities(cfg *config.Config, s *store.Store, log *slog.Logger, m *telemetry.Metrics) (*activities.Activities, error) {
	signer, err := newJitsi(cfg)
	if err != nil {
		return nil, err
	}
	tmpl, err := chatwoot.LoadTemplates(cfg.ChatwootTemplatesFile)
	if err != nil {
		return nil, fmt.Errorf("CHATWOOT_TEMPLATES_FILE: %w", err)
	}
	out := &activities.Outbound{
		Store: s, Templates: tmpl, Jitsi: signer, ApproverRole: cfg.ApproverRole, BaseURL: cfg.PublicBaseURL,
		Log: log.With("component", "outbound"), Metrics: m.ExternalCall,
	}
	if cfg.ChatwootEnabled() {
		out.Chatwoot = chatwoot.New(cfg.ChatwootBaseURL, cfg.ChatwootAPIToken, nil)
		if err := out.Chatwoot.Validate(); err != nil {
			return nil, fmt.Errorf("CHATWOOT_BASE_URL: %w", err)
		}
	}
	if cfg.MatrixHomeserverURL != "" {
		out.Matrix, out.MatrixRoomID = matrix.New(cfg.MatrixHomeserverURL, cfg.MatrixASToken, nil), cfg.MatrixRoomID
	}
	acts := &activities.Activities{Store: s, Notifier: out, Log: log}
	if m != nil {
		acts.Metrics = m
	}
	return acts, nil
}

// newJitsi builds the join-link signer (plain links without a secret or key).
func newJitsi(cfg *config.Config) (*jitsi.Signer, error) {
	jc := jitsi.Config{BaseURL: cfg.JitsiBaseURL, AppID: cfg.JitsiAppID, AppSecret: cfg.JitsiAppSecret, KeyID: cfg.JitsiKeyID}
	if cfg.JitsiPrivateKeyFile != "" {
		pem, err := os.ReadFile(cfg.JitsiPrivateKeyFile)
		if err != nil {
			return nil, fmt.Errorf("JITSI_PRIVATE_KEY_FILE: %w", err)
		}
		jc.PrivateKeyPEM = pem
	}
	signer, err := jitsi.New(jc)
	if err != nil {
		return nil, fmt.Errorf("JITSI settings: %w", err)
	}
	return signer, nil
}

// newAPIHandler builds the HTTP API, with /metrics (and the pending
// escalations gauge, counted in Temporal visibility, and the deadline gauges,
// counted in the store) on tel's registry.
func newAPIHandler(cfg *config.Config, s *store.Store, tc client.Client, v api.Authenticator, log *slog.Logger, tel *telemetry.Telemetry) (http.Handler, error) {
	signer, err := newJitsi(cfg)
	if err != nil {
		return nil, err
	}
	pending := telemetry.VisibilityCount(tc, contract.WaitingQuery(cfg.TemporalTaskQueue))
	if err := tel.Metrics.RegisterPending(pending, telemetry.PendingOptions{}); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	// Deadlines are counted in the database, where every waiting
	// escalation's expires_at is (Temporal has no deadline search attribute).
	if err := tel.Metrics.RegisterDeadlines(s.DeadlineCounts, telemetry.PendingOptions{}); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	dir, err := newDirectory(cfg, log)
	if err != nil {
		return nil, err
	}
	var notice api.MatrixNoticeFunc
	if cfg.MatrixHomeserverURL != "" {
		mc := matrix.New(cfg.MatrixHomeserverURL, cfg.MatrixASToken, nil)
		notice = func(ctx context.Context, room, txnID, body string) error {
			_, err := mc.SendNotice(ctx, room, txnID, body)
			return err
		}
	}
	var note api.ChatwootNoteFunc
	if cfg.ChatwootEnabled() {
		cw := chatwoot.New(cfg.ChatwootBaseURL, cfg.ChatwootAPIToken, nil)
		if err := cw.Validate(); err != nil {
			return nil, fmt.Errorf("CHATWOOT_BASE_URL: %w", err)
		}
		note = func(ctx context.Context, conv store.Conversation, echoID, text string) error {
			_, err := cw.PostMessage(ctx, int(conv.AccountID), int(conv.ConversationID), chatwoot.NewMessage{Content: text, Private: true, EchoID: echoID})
			return err
		}
	}
	return api.New(api.Deps{
		Store: s, Temporal: tc, Auth: v, Log: log, Directory: dir, MatrixNotice: notice, ChatwootNote: note,
		TaskQueue: cfg.TemporalTaskQueue, ApproverRole: cfg.ApproverRole, DecisionKey: contract.DecisionKey(cfg.DecisionKey),
		ConsultationMaxDuration: cfg.ConsultationMaxDuration, ConsultationStartTimeout: cfg.ConsultationStartTimeout,
		DefaultPolicy:       store.Policy{DefaultTTL: cfg.ApprovalTTL, MaxTTL: cfg.ApprovalMaxTTL, Reminders: cfg.ApprovalReminders},
		PolicyMaxTTLCeiling: cfg.PolicyMaxTTLCeiling, CreateRateLimit: cfg.CreateRateLimit,
		Events:             &events.Starter{Temporal: tc, TaskQueue: cfg.EventsTaskQueue},
		EventsAllowPrivate: cfg.EventsAllowPrivate,
		JoinURL: func(room string, u api.JoinUser) (string, error) {
			link, err := signer.JoinURL(room, jitsi.User{ID: u.ID, Name: u.Name, Email: u.Email, Moderator: u.Moderator}, time.Now())
			tel.Metrics.ExternalCall("jitsi", map[bool]string{true: "issued", false: "failed"}[err == nil])
			return link, err
		},
		Middleware: tel.HTTPMiddleware(), Metrics: tel.Metrics.Handler(),
		Webhooks: api.Webhooks{
			ChatwootSecret: cfg.ChatwootWebhookSecret, ChatwootUnsigned: cfg.ChatwootWebhookUnsigned, ChatwootSecrets: cfg.ChatwootWebhookSecrets,
			ChatwootAccountTenants: cfg.ChatwootAccountTenants, MatrixHSToken: cfg.MatrixHSToken,
			MatrixUserSubjects: cfg.MatrixUserSubjects, MatrixCommandRooms: cfg.MatrixCommandRooms, Secrets: cfg.WebhookSecrets,
			ChatwootAgentSubjects: cfg.ChatwootAgentSubjects,
			ServiceTenants:        cfg.WebhookTenants,
		},
	}), nil
}

// newWorker builds the activities and the Temporal worker that runs them;
// state learns when the worker stops by itself.
func newWorker(cfg *config.Config, s *store.Store, tc client.Client, log *slog.Logger, m *telemetry.Metrics, state *workerState) (sdkworker.Worker, error) {
	acts, err := newActivities(cfg, s, log, m)
	if err != nil {
		return nil, err
	}
	// Activities start consultations through the same client as the worker.
	acts.Temporal = tc
	pool, err := s.Pool()
	if err != nil {
		return nil, err
	}
	setWorkflowCacheSize(cfg.WorkerWorkflowCacheSize, log)
	opts := workerOptions(cfg, pool.Stats().MaxOpenConnections, state)
	// Statements are counted by the activity that sent them.
	opts.Interceptors = append(opts.Interceptors, telemetry.StatementOrigins())
	if !opts.WorkflowTaskPollers.Autoscaling {
		log.Warn("fixed workflow-task pollers: they can all wait on an empty sticky queue while new workflows wait on the normal one "+
			"(docs/benchmarks.md, \"The stall\"); autoscaling avoids it", "WORKER_WORKFLOW_TASK_POLLERS", opts.WorkflowTaskPollers.String())
	}
	log.Info("worker options", "workflow_task_pollers", opts.WorkflowTaskPollers.String(), "activity_task_pollers", opts.ActivityTaskPollers.String(),
		"sticky_schedule_to_start_timeout", opts.StickyScheduleToStartTimeout.String(), "local_activity_slots", opts.MaxConcurrentLocalActivities)
	return worker.New(tc, acts, opts)
}

// workerOptions are the worker's settings from cfg: its pollers, stickiness,
// slots (local activities bounded by the store's pool of poolConns
// connections) and the fatal-error hook that marks state stopped.
func workerOptions(cfg *config.Config, poolConns int, state *workerState) worker.Options {
	return worker.Options{
		TaskQueue: cfg.TemporalTaskQueue, StopTimeout: cfg.ShutdownGrace, DecisionKey: contract.DecisionKey(cfg.DecisionKey),
		MaxConcurrentWorkflowTasks:   workflowTaskSlots(cfg.WorkerWorkflowCacheSize),
		MaxConcurrentLocalActivities: cfg.LocalActivitySlots(poolConns),
		WorkflowTaskPollers:          cfg.WorkerWorkflowTaskPollers,
		ActivityTaskPollers:          cfg.WorkerActivityTaskPollers,
		StickyScheduleToStartTimeout: cfg.WorkerStickyScheduleToStartTimeout,
		OnFatalError:                 state.fail,
	}
}

// setWorkflowCacheSize bounds the worker's workflow cache
// (WORKER_WORKFLOW_CACHE_SIZE). Escalations wait for days, and the SDK keeps
// every execution it ran in memory up to its default of 10,000 (about 85 KB
// each, measured); bounded, the least recently used waiting escalation is
// evicted and replayed from its history on its next event, which costs
// that event one history fetch and a replay (docs/benchmarks.md has the
// figures).
//
// The Go SDK holds this size in a package variable shared by every worker of
// the process and reads it when the first worker starts, so it cannot be a
// worker option: it is set here, from the configuration, right before the
// process builds its one worker (the worker and dev commands each build
// exactly one), and nowhere else.
func setWorkflowCacheSize(size int, log *slog.Logger) {
	sdkworker.SetStickyWorkflowCacheSize(size)
	log.Info("workflow cache bounded", "executions", size, "workflow_task_slots", workflowTaskSlots(size))
}

// workflowTaskSlots keeps the worker's concurrent workflow tasks at half the
// cache (at most the SDK's default of 1000): an execution whose task is
// running is pinned in the cache, and a cache full of pinned executions
// fails the next task instead of evicting.
func workflowTaskSlots(cacheSize int) int {
	return min(cacheSize/2, 1000)
}

// serveHTTP serves h on addr until ctx ends, then drains in-flight requests
// for up to grace.
func serveHTTP(ctx context.Context, addr string, h http.Handler, grace time.Duration, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	log.Info("draining HTTP server", "addr", addr, "grace", grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		if !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("drain %s: %w", addr, err)
		}
		// The process was asked to stop and stops: requests still running
		// after the grace period are cut, which is worth a warning, not a
		// failed exit that would read as a crash.
		log.Warn("drain grace expired; closing the remaining connections", "addr", addr, "grace", grace.String())
		_ = srv.Close()
	}
	return nil
}

// newDirectory finds people in Keycloak's directory, with the groups and
// roles (realm roles and the API client's) that say where they approve:
// what a token of theirs would say. Nil when the directory is not configured.
func newDirectory(cfg *config.Config, log *slog.Logger) (api.Directory, error) {
	if !cfg.KeycloakDirectoryEnabled() {
		return nil, nil
	}
	d, err := keycloak.New(keycloak.Config{
		AdminURL: cfg.KeycloakAdminURL, ClientID: cfg.KeycloakAdminClientID, ClientSecret: cfg.KeycloakAdminClientSecret,
		CacheTTL: cfg.KeycloakDirectoryCacheTTL, Logger: log.With("component", "keycloak-directory"),
	})
	if err != nil {
		return nil, fmt.Errorf("KEYCLOAK_ADMIN settings: %w", err)
	}
	return &directory{d: d, audience: cfg.OIDCAudience, rule: auth.Approvers{Role: cfg.ApproverRole, Subgroup: cfg.ApproverSubgroup}}, nil
}

type directory struct {
	d        *keycloak.Directory
	audience string
	rule     auth.Approvers
}

func (k *directory) Principal(ctx context.Context, subject string) (*auth.Principal, error) {
	u, err := k.d.User(ctx, subject)
	if errors.Is(err, keycloak.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return k.principal(ctx, u)
}

func (k *directory) ByVerifiedEmail(ctx context.Context, email string) (*auth.Principal, error) {
	u, err := k.d.UserByVerifiedEmail(ctx, email)
	if errors.Is(err, keycloak.ErrNotFound) || errors.Is(err, keycloak.ErrAmbiguous) || errors.Is(err, keycloak.ErrInvalidArgument) {
		return nil, nil // nobody, or nobody for sure: the agent stays unmapped
	} else if err != nil {
		return nil, err
	}
	return k.principal(ctx, u)
}

func (k *directory) principal(ctx context.Context, u *keycloak.User) (*auth.Principal, error) {
	if !u.Enabled {
		return nil, nil
	}
	groups, err := k.d.Groups(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	roles, err := k.d.RealmRoles(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	clientRoles, err := k.d.ClientRoles(ctx, u.ID, k.audience)
	if err != nil && !errors.Is(err, keycloak.ErrNotFound) {
		return nil, err
	}
	rule := k.rule
	return &auth.Principal{
		Subject: u.ID, Name: u.DisplayName(), Email: u.Email, Groups: groups,
		Roles: append(roles, clientRoles...), Approvers: &rule,
	}, nil
}
