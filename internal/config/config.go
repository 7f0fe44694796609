// Package config reads the orchestrator's settings from the environment in one
// place and validates them in one pass, so that a bad deployment fails at start
// with every problem named instead of failing later on the first request.
package config

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/domain"
	"github.com/orchestrator-dev/orchestrator/internal/keycloak"
)

// Defaults of a consultation's durations (CONSULTATION_MAX_DURATION and
// CONSULTATION_START_TIMEOUT); a workflow input without them means these.
const (
	DefaultConsultationMaxDuration  = domain.DefaultConsultationMaxDuration
	DefaultConsultationStartTimeout = domain.DefaultConsultationStartTimeout
)

// Defaults of the approval policy of a tenant that stored none
// (APPROVAL_TTL, APPROVAL_MAX_TTL; APPROVAL_REMINDERS is empty), and the most
// reminders a policy may list.
const (
	DefaultApprovalTTL    = 72 * time.Hour
	DefaultApprovalMaxTTL = 30 * 24 * time.Hour
	MaxApprovalReminders  = domain.MaxApprovalReminders
	// DefaultMaxQuestions is how many questions an escalation takes unless
	// its tenant's policy says otherwise; a policy allows at most
	// MaxMaxQuestions. A question's time for an answer defaults to the
	// policy's default TTL.
	DefaultMaxQuestions = domain.DefaultMaxQuestions
	MaxMaxQuestions     = domain.MaxMaxQuestions
	// DefaultPolicyMaxTTLCeiling bounds every policy's maxTtl
	// (POLICY_MAX_TTL_CEILING): an escalation, its timers and its dedupe
	// records live no longer than a year unless the operator says so.
	DefaultPolicyMaxTTLCeiling = 365 * 24 * time.Hour
)

// The worker's workflow cache (WORKER_WORKFLOW_CACHE_SIZE): how many
// workflow executions it keeps in memory between their tasks. The SDK's own
// default (10,000) lets memory grow with every waiting escalation, about
// 85 KB each; an escalation evicted from the cache is replayed from its
// history on its next event instead. Below the minimum the cache could fill
// with executions whose tasks are running (which cannot be evicted) and
// refuse new ones.
const (
	DefaultWorkerWorkflowCacheSize = 1000
	MinWorkerWorkflowCacheSize     = 10
	MaxWorkerWorkflowCacheSize     = 100_000
)

// Mode says which process is being configured. Some settings only matter to
// one process, and the dev mode fills in embedded defaults.
type Mode string

const (
	ModeAPI    Mode = "api"
	ModeWorker Mode = "worker"
	ModeDev    Mode = "dev"
	ModeTool   Mode = "tool" // migrate, setup, config, token
)

// Config is every setting of the orchestrator. Field tags name the environment
// variable; `secret` marks values that Print masks.
type Config struct {
	Mode Mode `env:"-"`

	HTTPAddr       string        `env:"HTTP_ADDR"`
	WorkerHTTPAddr string        `env:"WORKER_HTTP_ADDR"`
	PublicBaseURL  string        `env:"PUBLIC_BASE_URL"`
	ShutdownGrace  time.Duration `env:"SHUTDOWN_GRACE"`
	LogLevel       string        `env:"LOG_LEVEL"`
	LogFormat      string        `env:"LOG_FORMAT"`
	DataDir        string        `env:"DATA_DIR"`

	// WorkerWorkflowCacheSize bounds the workflow executions a worker (and
	// dev mode) keeps in memory; see DefaultWorkerWorkflowCacheSize.
	WorkerWorkflowCacheSize int `env:"WORKER_WORKFLOW_CACHE_SIZE"`
	// How the worker polls and how much it runs at once (worker.go in this
	// package says why each default).
	WorkerWorkflowTaskPollers          Pollers       `env:"WORKER_WORKFLOW_TASK_POLLERS"`
	WorkerActivityTaskPollers          Pollers       `env:"WORKER_ACTIVITY_TASK_POLLERS"`
	WorkerStickyScheduleToStartTimeout time.Duration `env:"WORKER_STICKY_SCHEDULE_TO_START_TIMEOUT"`
	WorkerMaxConcurrentLocalActivities int           `env:"WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES"`

	DatabaseURL string `env:"DATABASE_URL" secret:"url"`
	// DatabaseOwnerURL is the connection migrate and setup use: a role that
	// owns the tables, unlike DATABASE_URL's, which then only gets the
	// privileges the application needs. Empty: migrations run as
	// DATABASE_URL's role (the one-process dev setup).
	DatabaseOwnerURL string `env:"DATABASE_OWNER_URL" secret:"url"`

	TemporalAddress       string `env:"TEMPORAL_ADDRESS"`
	TemporalNamespace     string `env:"TEMPORAL_NAMESPACE"`
	TemporalTaskQueue     string `env:"TEMPORAL_TASK_QUEUE"`
	TemporalTLSCAFile     string `env:"TEMPORAL_TLS_CA_FILE"`
	TemporalTLSCertFile   string `env:"TEMPORAL_TLS_CERT_FILE"`
	TemporalTLSKeyFile    string `env:"TEMPORAL_TLS_KEY_FILE"`
	TemporalTLSServerName string `env:"TEMPORAL_TLS_SERVER_NAME"`
	TemporalAPIKey        string `env:"TEMPORAL_API_KEY" secret:"true"`
	// TemporalCompression is the gRPC compression of requests to Temporal:
	// gzip saves bandwidth to a cluster across a network; on loopback
	// (dev) it only costs CPU on both ends.
	TemporalCompression string `env:"TEMPORAL_GRPC_COMPRESSION"`

	OIDCIssuerURL    string   `env:"OIDC_ISSUER_URL"`
	OIDCAudience     string   `env:"OIDC_AUDIENCE"`
	OIDCDiscoveryURL string   `env:"OIDC_DISCOVERY_URL"`
	OIDCJWKSURL      string   `env:"OIDC_JWKS_URL"`
	OIDCAllowedAlgs  []string `env:"OIDC_ALLOWED_ALGS"`
	// ApproverRole makes its holders approvers in every tenant they belong
	// to; ApproverSubgroup names the group under a tenant's group whose
	// members approve there. Either is switched off by setting it empty.
	ApproverRole     string `env:"APPROVER_ROLE"`
	ApproverSubgroup string `env:"APPROVER_SUBGROUP"`
	// DecisionKey seals the decisions the API and the Matrix receiver send
	// to workflows, so the worker can tell them from decisions sent through
	// Temporal directly (recorded as ops). api and worker share it; dev
	// mode makes one in DATA_DIR.
	DecisionKey string `env:"DECISION_KEY" secret:"true"`

	// OIDCJWKSMinRefresh is the least time between two fetches of the
	// issuer's signing keys: tokens naming unknown keys cannot make the API
	// fetch them more often than this.
	OIDCJWKSMinRefresh time.Duration `env:"OIDC_JWKS_MIN_REFRESH"`

	// The Keycloak directory answers who a person is and what they may do
	// when no token of theirs is at hand (Matrix, Chatwoot). It is on when
	// a client id and secret are set; KeycloakAdminURL is derived from the
	// issuer unless set, e.g. to an internal hostname. A grant withdrawn in
	// Keycloak stays in effect for up to KeycloakDirectoryCacheTTL.
	KeycloakAdminURL          string        `env:"KEYCLOAK_ADMIN_URL"`
	KeycloakAdminClientID     string        `env:"KEYCLOAK_ADMIN_CLIENT_ID"`
	KeycloakAdminClientSecret string        `env:"KEYCLOAK_ADMIN_CLIENT_SECRET" secret:"true"`
	KeycloakDirectoryCacheTTL time.Duration `env:"KEYCLOAK_DIRECTORY_CACHE_TTL"`

	DevIssuerAddr  string `env:"DEV_ISSUER_ADDR"`
	TemporalCLI    string `env:"TEMPORAL_CLI"`
	TemporalUIPort int    `env:"TEMPORAL_UI_PORT"`

	ChatwootBaseURL         string            `env:"CHATWOOT_BASE_URL"`
	ChatwootAPIToken        string            `env:"CHATWOOT_API_TOKEN" secret:"true"`
	ChatwootWebhookSecret   string            `env:"CHATWOOT_WEBHOOK_SECRET" secret:"true"`
	ChatwootWebhookUnsigned bool              `env:"CHATWOOT_WEBHOOK_UNSIGNED"`
	ChatwootWebhookSecrets  map[string]string `env:"CHATWOOT_WEBHOOK_SECRETS" secret:"map"`
	ChatwootAccountTenants  map[string]string `env:"CHATWOOT_ACCOUNT_TENANTS"`
	ChatwootTemplatesFile   string            `env:"CHATWOOT_TEMPLATES_FILE"`

	JitsiBaseURL        string `env:"JITSI_BASE_URL"`
	JitsiAppID          string `env:"JITSI_APP_ID"`
	JitsiAppSecret      string `env:"JITSI_APP_SECRET" secret:"true"`
	JitsiPrivateKeyFile string `env:"JITSI_PRIVATE_KEY_FILE"`
	JitsiKeyID          string `env:"JITSI_KEY_ID"`

	ConsultationMaxDuration  time.Duration `env:"CONSULTATION_MAX_DURATION"`
	ConsultationStartTimeout time.Duration `env:"CONSULTATION_START_TIMEOUT"`

	// The approval policy of a tenant that stored none: how long an
	// escalation waits for a decision by default and at most, and when
	// reminders go out (offsets after creation). See CheckApprovalPolicy.
	ApprovalTTL       time.Duration `env:"APPROVAL_TTL"`
	ApprovalMaxTTL    time.Duration `env:"APPROVAL_MAX_TTL"`
	ApprovalReminders Durations     `env:"APPROVAL_REMINDERS"`
	// PolicyMaxTTLCeiling is the longest maxTtl any policy may set.
	PolicyMaxTTLCeiling time.Duration `env:"POLICY_MAX_TTL_CEILING"`
	// CreateRateLimit bounds the escalations one caller creates in one
	// tenant (POST /api/approvals, Chatwoot triggers), counted in the
	// database across API replicas.
	CreateRateLimit RateLimit `env:"CREATE_RATE_LIMIT"`
	// WebhookDedupeRetention is how long handled webhook deliveries are
	// remembered; a scheduled job deletes older ones.
	WebhookDedupeRetention time.Duration `env:"WEBHOOK_DEDUPE_RETENTION"`

	MatrixHomeserverURL string            `env:"MATRIX_HOMESERVER_URL"`
	MatrixASToken       string            `env:"MATRIX_AS_TOKEN" secret:"true"`
	MatrixHSToken       string            `env:"MATRIX_HS_TOKEN" secret:"true"`
	MatrixRoomID        string            `env:"MATRIX_ROOM_ID"`
	MatrixUserSubjects  map[string]string `env:"MATRIX_USER_SUBJECTS"`
	// MatrixCommandRooms are the rooms !approve and !reject are taken from
	// (MATRIX_ROOM_ID when unset); commands anywhere else are ignored.
	MatrixCommandRooms []string `env:"MATRIX_COMMAND_ROOMS"`
	// ChatwootAgentSubjects maps Chatwoot agent ids to Keycloak subjects,
	// so that an agent who escalates cannot approve it as themselves; an
	// agent not listed is looked up by verified email in the directory.
	ChatwootAgentSubjects map[string]string `env:"CHATWOOT_AGENT_SUBJECTS"`

	// WebhookSecrets are each generic webhook service's Standard Webhooks
	// secret, whsec_ + base64 of at least 24 bytes (see WebhookKey).
	WebhookSecrets map[string]string `env:"WEBHOOK_SECRETS" secret:"map"`
	// WebhookTenants are the tenants each generic webhook service may write
	// to ("billing=/teams/support|/teams/finance,crm=/teams/sales"): the
	// secret proves which service sends, this says where it may record.
	WebhookTenants map[string][]string `env:"WEBHOOK_TENANTS"`

	// Events out (events.go in this package): the retry schedule of a
	// delivery, the time one attempt may take, whether private addresses
	// may receive, the task queue the deliveries run on, and how long
	// finished deliveries and their events are kept.
	EventsRetrySchedule  Durations     `env:"EVENTS_RETRY_SCHEDULE"`
	EventsAttemptTimeout time.Duration `env:"EVENTS_ATTEMPT_TIMEOUT"`
	EventsAllowPrivate   bool          `env:"EVENTS_ALLOW_PRIVATE"`
	EventsTaskQueue      string        `env:"EVENTS_TASK_QUEUE"`
	EventsRetention      time.Duration `env:"EVENTS_RETENTION"`

	OTLPEndpoint string `env:"OTEL_EXPORTER_OTLP_ENDPOINT"`
}

// Getenv looks a variable up; tests pass a map-backed one.
type Getenv func(string) (string, bool)

// Load reads and validates the configuration for mode. The error lists every
// bad variable, each with what is wrong.
func Load(mode Mode, getenv Getenv) (*Config, error) {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	r := reader{get: getenv}
	c := &Config{Mode: mode}

	dataDir := r.str("DATA_DIR", ".data")
	c.DataDir = dataDir
	c.HTTPAddr = r.str("HTTP_ADDR", "127.0.0.1:8080")
	c.WorkerHTTPAddr = r.str("WORKER_HTTP_ADDR", "127.0.0.1:9090")
	c.WorkerWorkflowCacheSize = r.integer("WORKER_WORKFLOW_CACHE_SIZE", DefaultWorkerWorkflowCacheSize)
	c.loadWorker(&r)
	c.PublicBaseURL = strings.TrimRight(r.str("PUBLIC_BASE_URL", "http://"+c.HTTPAddr), "/")
	c.ShutdownGrace = r.duration("SHUTDOWN_GRACE", 30*time.Second)
	c.LogLevel = r.oneOf("LOG_LEVEL", "info", "debug", "info", "warn", "error")
	c.LogFormat = r.oneOf("LOG_FORMAT", "json", "json", "text")

	c.DatabaseURL = r.str("DATABASE_URL", "sqlite://"+filepath.Join(dataDir, "orchestrator.db"))
	c.DatabaseOwnerURL = r.str("DATABASE_OWNER_URL", "")

	c.TemporalAddress = r.str("TEMPORAL_ADDRESS", "127.0.0.1:7233")
	c.TemporalNamespace = r.str("TEMPORAL_NAMESPACE", "default")
	c.TemporalTaskQueue = r.str("TEMPORAL_TASK_QUEUE", "escalations")
	c.TemporalTLSCAFile = r.str("TEMPORAL_TLS_CA_FILE", "")
	c.TemporalTLSCertFile = r.str("TEMPORAL_TLS_CERT_FILE", "")
	c.TemporalTLSKeyFile = r.str("TEMPORAL_TLS_KEY_FILE", "")
	c.TemporalTLSServerName = r.str("TEMPORAL_TLS_SERVER_NAME", "")
	c.TemporalAPIKey = r.str("TEMPORAL_API_KEY", "")
	compression := "gzip"
	if mode == ModeDev {
		compression = "none"
	}
	c.TemporalCompression = r.oneOf("TEMPORAL_GRPC_COMPRESSION", compression, "gzip", "none")

	c.DevIssuerAddr = r.str("DEV_ISSUER_ADDR", "127.0.0.1:8081")
	c.TemporalCLI = r.str("TEMPORAL_CLI", "")
	c.TemporalUIPort = r.integer("TEMPORAL_UI_PORT", 8233)
	defaultIssuer := ""
	if mode == ModeDev {
		defaultIssuer = "http://" + c.DevIssuerAddr
	}
	c.OIDCIssuerURL = strings.TrimRight(r.str("OIDC_ISSUER_URL", defaultIssuer), "/")
	c.OIDCAudience = r.str("OIDC_AUDIENCE", "orchestrator-api")
	c.OIDCDiscoveryURL = r.str("OIDC_DISCOVERY_URL", "")
	c.OIDCJWKSURL = r.str("OIDC_JWKS_URL", "")
	c.OIDCAllowedAlgs = r.list("OIDC_ALLOWED_ALGS", []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})
	c.OIDCJWKSMinRefresh = r.duration("OIDC_JWKS_MIN_REFRESH", 30*time.Second)
	c.KeycloakAdminURL = strings.TrimRight(r.str("KEYCLOAK_ADMIN_URL", ""), "/")
	c.KeycloakAdminClientID = r.str("KEYCLOAK_ADMIN_CLIENT_ID", "")
	c.KeycloakAdminClientSecret = r.str("KEYCLOAK_ADMIN_CLIENT_SECRET", "")
	c.KeycloakDirectoryCacheTTL = r.duration("KEYCLOAK_DIRECTORY_CACHE_TTL", time.Minute)
	c.ApproverRole = r.switchable("APPROVER_ROLE", "approver")
	c.ApproverSubgroup = r.switchable("APPROVER_SUBGROUP", "approvers")
	c.DecisionKey = r.str("DECISION_KEY", "")
	if strings.Contains(c.ApproverSubgroup, "/") {
		r.bad("APPROVER_SUBGROUP", "is the name of one group, without slashes (e.g. approvers)")
	}

	c.ChatwootBaseURL = strings.TrimRight(r.str("CHATWOOT_BASE_URL", ""), "/")
	c.ChatwootAPIToken = r.str("CHATWOOT_API_TOKEN", "")
	c.ChatwootWebhookSecret = r.str("CHATWOOT_WEBHOOK_SECRET", "")
	c.ChatwootWebhookUnsigned = r.boolean("CHATWOOT_WEBHOOK_UNSIGNED", false)
	c.ChatwootWebhookSecrets = r.pairs("CHATWOOT_WEBHOOK_SECRETS")
	c.ChatwootAccountTenants = r.pairs("CHATWOOT_ACCOUNT_TENANTS")
	c.ChatwootTemplatesFile = r.str("CHATWOOT_TEMPLATES_FILE", "")

	c.JitsiBaseURL = strings.TrimRight(r.str("JITSI_BASE_URL", ""), "/")
	c.JitsiAppID = r.str("JITSI_APP_ID", "")
	c.JitsiAppSecret = r.str("JITSI_APP_SECRET", "")
	c.JitsiPrivateKeyFile = r.str("JITSI_PRIVATE_KEY_FILE", "")
	c.JitsiKeyID = r.str("JITSI_KEY_ID", "")

	c.ConsultationMaxDuration = r.duration("CONSULTATION_MAX_DURATION", DefaultConsultationMaxDuration)
	c.ConsultationStartTimeout = r.duration("CONSULTATION_START_TIMEOUT", DefaultConsultationStartTimeout)
	c.ApprovalTTL = r.duration("APPROVAL_TTL", DefaultApprovalTTL)
	c.ApprovalMaxTTL = r.duration("APPROVAL_MAX_TTL", DefaultApprovalMaxTTL)
	c.ApprovalReminders = r.durations("APPROVAL_REMINDERS")
	c.PolicyMaxTTLCeiling = r.duration("POLICY_MAX_TTL_CEILING", DefaultPolicyMaxTTLCeiling)
	c.CreateRateLimit = r.rateLimit("CREATE_RATE_LIMIT", DefaultCreateRateLimit)
	c.WebhookDedupeRetention = r.duration("WEBHOOK_DEDUPE_RETENTION", DefaultWebhookDedupeRetention)
	if c.WebhookDedupeRetention < MinWebhookDedupeRetention {
		r.bad("WEBHOOK_DEDUPE_RETENTION", fmt.Sprintf("must be at least %s (default %s)", MinWebhookDedupeRetention, DefaultWebhookDedupeRetention))
	}

	c.MatrixHomeserverURL = strings.TrimRight(r.str("MATRIX_HOMESERVER_URL", ""), "/")
	c.MatrixASToken = r.str("MATRIX_AS_TOKEN", "")
	c.MatrixHSToken = r.str("MATRIX_HS_TOKEN", "")
	c.MatrixRoomID = r.str("MATRIX_ROOM_ID", "")
	c.MatrixUserSubjects = r.pairs("MATRIX_USER_SUBJECTS")
	c.MatrixCommandRooms = r.list("MATRIX_COMMAND_ROOMS", nil)
	c.ChatwootAgentSubjects = r.pairs("CHATWOOT_AGENT_SUBJECTS")
	for _, agent := range sortedKeys(c.ChatwootAgentSubjects) {
		if n, err := strconv.ParseInt(agent, 10, 64); err != nil || n <= 0 {
			r.bad("CHATWOOT_AGENT_SUBJECTS", fmt.Sprintf("agent id %q is not a positive number", agent))
		}
	}
	if len(c.MatrixCommandRooms) == 0 && c.MatrixRoomID != "" {
		c.MatrixCommandRooms = []string{c.MatrixRoomID}
	}

	c.WebhookSecrets = r.pairs("WEBHOOK_SECRETS")
	c.WebhookTenants = r.pairLists("WEBHOOK_TENANTS")
	c.loadEvents(&r)
	c.OTLPEndpoint = r.str("OTEL_EXPORTER_OTLP_ENDPOINT", "")

	c.validate(&r)
	if len(r.problems) > 0 {
		return nil, &Error{Problems: r.problems}
	}
	return c, nil
}

func (c *Config) validate(r *reader) {
	if _, _, err := SplitDatabaseURL(c.DatabaseURL); err != nil {
		r.bad("DATABASE_URL", err.Error())
	}
	if c.DatabaseOwnerURL != "" {
		c.validateOwnerURL(r)
	}
	switch {
	case c.DecisionKey == "" && (c.Mode == ModeAPI || c.Mode == ModeWorker):
		r.bad("DECISION_KEY", "is required: a secret of at least 32 bytes that api and worker share (e.g. openssl rand -hex 32)")
	case c.DecisionKey != "" && len(c.DecisionKey) < 32:
		r.bad("DECISION_KEY", "must be at least 32 bytes (e.g. openssl rand -hex 32)")
	}
	if c.Mode == ModeAPI || c.Mode == ModeDev {
		if c.OIDCIssuerURL == "" {
			r.bad("OIDC_ISSUER_URL", "is required: the URL of the Keycloak realm that issues access tokens (e.g. https://sso.example.com/realms/acme)")
		}
		if c.OIDCAudience == "" {
			r.bad("OIDC_AUDIENCE", "must not be empty")
		}
		for _, a := range c.OIDCAllowedAlgs {
			if a == "none" || strings.HasPrefix(strings.ToUpper(a), "HS") {
				r.bad("OIDC_ALLOWED_ALGS", fmt.Sprintf("%q is not allowed: only asymmetric algorithms can verify tokens", a))
			}
		}
	}
	for _, u := range []struct{ name, val string }{
		{"OIDC_ISSUER_URL", c.OIDCIssuerURL}, {"OIDC_DISCOVERY_URL", c.OIDCDiscoveryURL},
		{"OIDC_JWKS_URL", c.OIDCJWKSURL}, {"PUBLIC_BASE_URL", c.PublicBaseURL},
		{"CHATWOOT_BASE_URL", c.ChatwootBaseURL}, {"JITSI_BASE_URL", c.JitsiBaseURL},
		{"MATRIX_HOMESERVER_URL", c.MatrixHomeserverURL},
	} {
		if u.val == "" {
			continue
		}
		if p, err := url.Parse(u.val); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			r.bad(u.name, fmt.Sprintf("%q is not an absolute http(s) URL", u.val))
		}
	}
	// Below a second the throttle no longer protects the issuer; above an
	// hour a rotated key would be refused for too long.
	if c.OIDCJWKSMinRefresh < time.Second || c.OIDCJWKSMinRefresh > time.Hour {
		r.bad("OIDC_JWKS_MIN_REFRESH", fmt.Sprintf("%s is not between 1s and 1h", c.OIDCJWKSMinRefresh))
	}
	if c.OIDCDiscoveryURL != "" && c.OIDCJWKSURL != "" {
		r.bad("OIDC_JWKS_URL", "set either OIDC_DISCOVERY_URL or OIDC_JWKS_URL, not both")
	}
	c.settleKeycloakDirectory(r)
	if (c.ChatwootBaseURL == "") != (c.ChatwootAPIToken == "") {
		r.bad("CHATWOOT_API_TOKEN", "CHATWOOT_BASE_URL and CHATWOOT_API_TOKEN must be set together")
	}
	if c.ChatwootWebhookSecret != "" && c.ChatwootWebhookUnsigned {
		r.bad("CHATWOOT_WEBHOOK_UNSIGNED", "cannot be true while CHATWOOT_WEBHOOK_SECRET is set")
	}
	// Nothing in an unsigned delivery says which account sent it: with
	// several accounts, one account's agents could post as another's.
	if c.ChatwootWebhookUnsigned && len(c.ChatwootAccountTenants) > 1 {
		r.bad("CHATWOOT_WEBHOOK_UNSIGNED", "cannot be true while CHATWOOT_ACCOUNT_TENANTS maps several accounts: "+
			"an unsigned delivery cannot prove its account; set CHATWOOT_WEBHOOK_SECRETS (1=secret,2=other) instead")
	}
	c.validateChatwootSecrets(r)
	for acct := range c.ChatwootAccountTenants {
		if n, err := strconv.Atoi(acct); err != nil || n <= 0 {
			r.bad("CHATWOOT_ACCOUNT_TENANTS", fmt.Sprintf("account id %q is not a positive number", acct))
		}
	}
	if c.JitsiAppSecret != "" && c.JitsiPrivateKeyFile != "" {
		r.bad("JITSI_PRIVATE_KEY_FILE", "set either JITSI_APP_SECRET (HS256) or JITSI_PRIVATE_KEY_FILE (RS256), not both")
	}
	if (c.JitsiAppSecret != "" || c.JitsiPrivateKeyFile != "") && c.JitsiAppID == "" {
		r.bad("JITSI_APP_ID", "is required when Jitsi tokens are configured")
	}
	if c.JitsiPrivateKeyFile != "" && c.JitsiKeyID == "" {
		r.bad("JITSI_KEY_ID", "is required with JITSI_PRIVATE_KEY_FILE")
	}
	if (c.TemporalTLSCertFile == "") != (c.TemporalTLSKeyFile == "") {
		r.bad("TEMPORAL_TLS_KEY_FILE", "TEMPORAL_TLS_CERT_FILE and TEMPORAL_TLS_KEY_FILE must be set together")
	}
	if c.ConsultationMaxDuration <= 0 {
		r.bad("CONSULTATION_MAX_DURATION", "must be positive")
	}
	if n := c.WorkerWorkflowCacheSize; n < MinWorkerWorkflowCacheSize || n > MaxWorkerWorkflowCacheSize {
		r.bad("WORKER_WORKFLOW_CACHE_SIZE", fmt.Sprintf("%d is not between %d and %d (workflow executions kept in memory; default %d)",
			n, MinWorkerWorkflowCacheSize, MaxWorkerWorkflowCacheSize, DefaultWorkerWorkflowCacheSize))
	}
	if c.ConsultationStartTimeout <= 0 {
		r.bad("CONSULTATION_START_TIMEOUT", "must be positive")
	}
	c.validateApprovalPolicy(r)
	if c.MatrixHSToken != "" && len(c.MatrixUserSubjects) > 0 && !c.KeycloakDirectoryEnabled() {
		r.bad("MATRIX_USER_SUBJECTS", "Matrix users decide only with approver authority, which is read from Keycloak: set KEYCLOAK_ADMIN_CLIENT_ID and KEYCLOAK_ADMIN_CLIENT_SECRET")
	}
	if c.MatrixHomeserverURL != "" && (c.MatrixASToken == "" || c.MatrixHSToken == "" || c.MatrixRoomID == "") {
		r.bad("MATRIX_HOMESERVER_URL", "needs MATRIX_AS_TOKEN, MATRIX_HS_TOKEN and MATRIX_ROOM_ID too")
	}
	c.validateWebhookTenants(r)
}

// validateApprovalPolicy holds the default approval policy to the rules of
// every tenant's policy.
func (c *Config) validateApprovalPolicy(r *reader) {
	vars := map[string]string{"defaultTtl": "APPROVAL_TTL", "maxTtl": "APPROVAL_MAX_TTL", "reminders": "APPROVAL_REMINDERS"}
	for _, p := range CheckApprovalPolicy(c.ApprovalTTL, c.ApprovalMaxTTL, c.ApprovalReminders) {
		r.bad(vars[p.Field], p.Detail)
	}
	switch {
	case c.PolicyMaxTTLCeiling <= 0 || c.PolicyMaxTTLCeiling%time.Second != 0:
		r.bad("POLICY_MAX_TTL_CEILING", "must be a positive whole number of seconds (default 8760h)")
	case c.ApprovalMaxTTL > c.PolicyMaxTTLCeiling:
		r.bad("APPROVAL_MAX_TTL", fmt.Sprintf("must not be longer than POLICY_MAX_TTL_CEILING (%s)", c.PolicyMaxTTLCeiling))
	}
}

// PolicyProblem is one way an approval policy breaks the rules
// (domain.PolicyProblem).
type PolicyProblem = domain.PolicyProblem

// CheckApprovalPolicy applies the rules every approval policy follows, the
// configured default and each tenant's (domain.CheckApprovalPolicy).
func CheckApprovalPolicy(defaultTTL, maxTTL time.Duration, reminders []time.Duration) []PolicyProblem {
	return domain.CheckApprovalPolicy(defaultTTL, maxTTL, reminders)
}

// CheckQuestionPolicy applies the rules of a policy's questions
// (domain.CheckQuestionPolicy).
func CheckQuestionPolicy(maxQuestions int, answerTTL, maxTTL time.Duration) []PolicyProblem {
	return domain.CheckQuestionPolicy(maxQuestions, answerTTL, maxTTL)
}

// Durations is a list of durations, read from and printed as "4h,24h".
type Durations []time.Duration

// String prints the list the way APPROVAL_REMINDERS takes it.
func (l Durations) String() string {
	parts := make([]string, len(l))
	for i, d := range l {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}

// validateOwnerURL checks that DATABASE_OWNER_URL and DATABASE_URL name two
// different PostgreSQL roles: the point is that the application's role is
// not the tables' owner.
func (c *Config) validateOwnerURL(r *reader) {
	driver, _, err := SplitDatabaseURL(c.DatabaseOwnerURL)
	switch {
	case err != nil:
		r.bad("DATABASE_OWNER_URL", err.Error())
		return
	case driver != "postgres":
		r.bad("DATABASE_OWNER_URL", "only PostgreSQL has roles: leave it unset with SQLite")
		return
	}
	if d, _, _ := SplitDatabaseURL(c.DatabaseURL); d != "postgres" {
		r.bad("DATABASE_URL", "must be a postgres:// URL when DATABASE_OWNER_URL is set")
		return
	}
	app := c.AppRole()
	if app == "" {
		r.bad("DATABASE_URL", "must name its user (postgres://<app role>:…@…) when DATABASE_OWNER_URL is set: that role gets the application's grants")
		return
	}
	if owner, err := url.Parse(c.DatabaseOwnerURL); err == nil && owner.User != nil && owner.User.Username() == app {
		r.bad("DATABASE_OWNER_URL", fmt.Sprintf("names the same role as DATABASE_URL (%q): the application's role must not own the tables", app))
	}
}

// AppRole is the PostgreSQL role DATABASE_URL connects as, when it names one.
func (c *Config) AppRole() string {
	u, err := url.Parse(c.DatabaseURL)
	if err != nil || u.User == nil {
		return ""
	}
	return u.User.Username()
}

// validateWebhookTenants requires every generic webhook service to have both
// a secret and at least one tenant. A service with a secret and no tenants
// could only ever be refused, which an operator would otherwise learn from
// the sender's failed deliveries; tenants without a secret are a typo.
func (c *Config) validateWebhookTenants(r *reader) {
	for _, svc := range sortedKeys(c.WebhookSecrets) {
		if _, err := WebhookKey(c.WebhookSecrets[svc]); err != nil {
			r.bad("WEBHOOK_SECRETS", fmt.Sprintf("service %q: the secret %v", svc, err))
		}
	}
	for _, svc := range sortedKeys(c.WebhookSecrets) {
		if len(c.WebhookTenants[svc]) == 0 {
			r.bad("WEBHOOK_TENANTS", fmt.Sprintf("service %q has a secret in WEBHOOK_SECRETS but no tenants to write to: "+
				"add %s=<tenant>|<tenant>, e.g. %s=/teams/support", svc, svc, svc))
		}
	}
	for _, svc := range slices.Sorted(maps.Keys(c.WebhookTenants)) {
		if _, ok := c.WebhookSecrets[svc]; !ok {
			r.bad("WEBHOOK_TENANTS", fmt.Sprintf("service %q has no secret in WEBHOOK_SECRETS", svc))
		}
		for _, t := range c.WebhookTenants[svc] {
			if !domain.ValidTenantID(t) {
				r.bad("WEBHOOK_TENANTS", fmt.Sprintf("service %q: %q is not a tenant id (at most 256 bytes, no control characters)", svc, t))
			}
		}
	}
}

// validateChatwootSecrets keeps one secret from signing for several
// accounts: whoever holds it could post as any of them.
func (c *Config) validateChatwootSecrets(r *reader) {
	for acct := range c.ChatwootWebhookSecrets {
		if n, err := strconv.Atoi(acct); err != nil || n <= 0 {
			r.bad("CHATWOOT_WEBHOOK_SECRETS", fmt.Sprintf("account id %q is not a positive number", acct))
		}
	}
	if len(c.ChatwootWebhookSecrets) == 0 {
		if c.ChatwootWebhookSecret != "" && len(c.ChatwootAccountTenants) > 1 {
			r.bad("CHATWOOT_WEBHOOK_SECRET", "is one secret for every account, but CHATWOOT_ACCOUNT_TENANTS maps several: "+
				"set CHATWOOT_WEBHOOK_SECRETS (1=secret,2=other) so that each account signs its own deliveries")
		}
		return
	}
	if c.ChatwootWebhookSecret != "" {
		r.bad("CHATWOOT_WEBHOOK_SECRET", "set either CHATWOOT_WEBHOOK_SECRETS (one secret per account) or, for a single account, CHATWOOT_WEBHOOK_SECRET")
	}
	if c.ChatwootWebhookUnsigned {
		r.bad("CHATWOOT_WEBHOOK_UNSIGNED", "cannot be true while CHATWOOT_WEBHOOK_SECRETS is set")
	}
}

// ChatwootEnabled reports whether outgoing Chatwoot calls are configured.
func (c *Config) ChatwootEnabled() bool { return c.ChatwootBaseURL != "" && c.ChatwootAPIToken != "" }

// KeycloakDirectoryEnabled reports whether the Keycloak Admin REST API
// client is configured.
func (c *Config) KeycloakDirectoryEnabled() bool {
	return c.KeycloakAdminClientID != "" && c.KeycloakAdminClientSecret != ""
}

// settleKeycloakDirectory checks the directory settings and, when the
// directory is on without KEYCLOAK_ADMIN_URL, derives it from the issuer so
// that `config` shows the URL actually used.
func (c *Config) settleKeycloakDirectory(r *reader) {
	if (c.KeycloakAdminClientID == "") != (c.KeycloakAdminClientSecret == "") {
		r.bad("KEYCLOAK_ADMIN_CLIENT_SECRET", "KEYCLOAK_ADMIN_CLIENT_ID and KEYCLOAK_ADMIN_CLIENT_SECRET must be set together (a confidential client whose service account has view-users, query-groups and query-clients)")
	}
	switch {
	case c.KeycloakAdminURL != "" && c.KeycloakAdminClientID == "":
		r.bad("KEYCLOAK_ADMIN_URL", "has no effect without KEYCLOAK_ADMIN_CLIENT_ID and KEYCLOAK_ADMIN_CLIENT_SECRET")
	case c.KeycloakAdminURL != "":
		if err := keycloak.ValidateAdminURL(c.KeycloakAdminURL); err != nil {
			r.bad("KEYCLOAK_ADMIN_URL", "must be an absolute http(s) URL ending in /admin/realms/<realm> (e.g. http://keycloak:8080/admin/realms/acme)")
		}
	case c.KeycloakDirectoryEnabled():
		admin, err := keycloak.AdminURLFromIssuer(c.OIDCIssuerURL)
		if err != nil {
			r.bad("KEYCLOAK_ADMIN_URL", "is required: it cannot be derived from OIDC_ISSUER_URL, which does not end in /realms/<realm>")
		}
		c.KeycloakAdminURL = admin
	}
	// Zero turns the cache off. Above ten minutes, an approver removed in
	// Keycloak would keep deciding for too long.
	if c.KeycloakDirectoryCacheTTL < 0 || c.KeycloakDirectoryCacheTTL > 10*time.Minute {
		r.bad("KEYCLOAK_DIRECTORY_CACHE_TTL", fmt.Sprintf("%s is not between 0s (no cache) and 10m", c.KeycloakDirectoryCacheTTL))
	}
}

// SplitDatabaseURL returns the driver ("postgres" or "sqlite") and the DSN the
// driver takes (domain.SplitDatabaseURL, which the store opens by).
func SplitDatabaseURL(raw string) (driver, dsn string, err error) {
	return domain.SplitDatabaseURL(raw)
}

// Error lists every invalid variable.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	return "invalid configuration:\n  " + strings.Join(e.Problems, "\n  ")
}

type reader struct {
	get      Getenv
	problems []string
}

func (r *reader) bad(name, why string) { r.problems = append(r.problems, name+": "+why) }

func (r *reader) str(name, def string) string {
	if v, ok := r.get(name); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

// switchable is a setting that has a default when unset and is switched off
// when set to the empty string.
func (r *reader) switchable(name, def string) string {
	if v, ok := r.get(name); ok {
		return strings.TrimSpace(v)
	}
	return def
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		r.bad(name, fmt.Sprintf("%q is not a duration (examples: 30s, 2h)", v))
		return def
	}
	return d
}

// durations reads a comma-separated list of durations ("4h,24h"); unset or
// empty is none.
func (r *reader) durations(name string) Durations {
	var out Durations
	for _, v := range r.list(name, nil) {
		d, err := time.ParseDuration(v)
		if err != nil {
			r.bad(name, fmt.Sprintf("%q is not a duration (a comma-separated list such as 4h,24h)", v))
			continue
		}
		out = append(out, d)
	}
	return out
}

func (r *reader) integer(name string, def int) int {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		r.bad(name, fmt.Sprintf("%q is not a non-negative whole number", v))
		return def
	}
	return n
}

func (r *reader) boolean(name string, def bool) bool {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.bad(name, fmt.Sprintf("%q is not true or false", v))
		return def
	}
	return b
}

func (r *reader) oneOf(name, def string, allowed ...string) string {
	v := strings.ToLower(r.str(name, def))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.bad(name, fmt.Sprintf("%q is not one of %s", v, strings.Join(allowed, ", ")))
	return def
}

func (r *reader) list(name string, def []string) []string {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// pairs reads "k1=v1,k2=v2".
func (r *reader) pairs(name string) map[string]string {
	v := r.str(name, "")
	out := map[string]string{}
	if v == "" {
		return out
	}
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		k, val, ok := strings.Cut(p, "=")
		if !ok || strings.TrimSpace(k) == "" || strings.TrimSpace(val) == "" {
			r.bad(name, fmt.Sprintf("entry %q is not key=value", maskPair(p)))
			continue
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(val)
	}
	return out
}

// pairLists reads "k1=a|b,k2=c": pairs whose values are "|"-separated lists
// (tenant ids contain "/" and ":", never "|" in practice).
func (r *reader) pairLists(name string) map[string][]string {
	out := map[string][]string{}
	pairs := r.pairs(name)
	for _, k := range sortedKeys(pairs) {
		var list []string
		for _, item := range strings.Split(pairs[k], "|") {
			if item = strings.TrimSpace(item); item != "" {
				list = append(list, item)
			}
		}
		if len(list) == 0 {
			r.bad(name, fmt.Sprintf("entry %q lists nothing: separate its values with |", k))
			continue
		}
		out[k] = list
	}
	return out
}

func maskPair(p string) string {
	k, _, _ := strings.Cut(p, "=")
	return k + "=…"
}

// sortedKeys keeps printed output stable.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// WebhookSecretPrefix starts every generic webhook secret (Standard Webhooks).
const WebhookSecretPrefix = "whsec_"

// minWebhookKey is the shortest HMAC key a service may sign with: the
// specification's own example secret is 24 bytes.
const minWebhookKey = 24

// WebhookKey returns the HMAC key of a Standard Webhooks secret, the bytes
// the base64 after whsec_ stands for. Its errors never quote the secret.
func WebhookKey(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, WebhookSecretPrefix)
	if !ok {
		return nil, fmt.Errorf("must start with %s (Standard Webhooks); generate one with: echo %s$(openssl rand -base64 32)",
			WebhookSecretPrefix, WebhookSecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("is not %s followed by standard base64 (with padding)", WebhookSecretPrefix)
	}
	if len(key) < minWebhookKey {
		return nil, fmt.Errorf("decodes to %d bytes, fewer than %d; generate one with: echo %s$(openssl rand -base64 32)",
			len(key), minWebhookKey, WebhookSecretPrefix)
	}
	return key, nil
}
