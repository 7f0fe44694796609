package config_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/config"
	"github.com/orchestrator-dev/orchestrator/internal/domain"
)

func env(m map[string]string) config.Getenv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaultsForDev(t *testing.T) {
	c, err := config.Load(config.ModeDev, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.OIDCIssuerURL != "http://127.0.0.1:8081" || c.DatabaseURL != "sqlite://.data/orchestrator.db" ||
		c.TemporalAddress != "127.0.0.1:7233" || c.ConsultationMaxDuration != 2*time.Hour || c.ApproverRole != "approver" {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

// The API never falls back to the dev issuer: without OIDC_ISSUER_URL it
// refuses to start.
func TestAPIRequiresAnIssuer(t *testing.T) {
	_, err := config.Load(config.ModeAPI, env(nil))
	var ce *config.Error
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "OIDC_ISSUER_URL") {
		t.Fatalf("want an error naming OIDC_ISSUER_URL, got %v", err)
	}
}

func TestEveryBadVariableIsNamed(t *testing.T) {
	_, err := config.Load(config.ModeAPI, env(map[string]string{
		"OIDC_ISSUER_URL":           "not a url",
		"DATABASE_URL":              "mysql://x",
		"SHUTDOWN_GRACE":            "soon",
		"OIDC_ALLOWED_ALGS":         "RS256,HS256",
		"CHATWOOT_BASE_URL":         "https://chat.example.com",
		"CHATWOOT_ACCOUNT_TENANTS":  "x=/teams/a,broken",
		"LOG_LEVEL":                 "loud",
		"CONSULTATION_MAX_DURATION": "-1h",
		"TEMPORAL_TLS_CERT_FILE":    "/tmp/cert.pem",
	}))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, name := range []string{"OIDC_ISSUER_URL", "DATABASE_URL", "SHUTDOWN_GRACE", "OIDC_ALLOWED_ALGS", "CHATWOOT_API_TOKEN",
		"CHATWOOT_ACCOUNT_TENANTS", "LOG_LEVEL", "CONSULTATION_MAX_DURATION", "TEMPORAL_TLS_KEY_FILE"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
}

func TestPrintMasksSecrets(t *testing.T) {
	c, err := config.Load(config.ModeWorker, env(map[string]string{
		"DATABASE_URL":            "postgres://app:s3cr3t-db@db:5432/orchestrator?sslmode=require",
		"TEMPORAL_API_KEY":        "tk-secret-key",
		"CHATWOOT_BASE_URL":       "https://chat.example.com",
		"CHATWOOT_API_TOKEN":      "cw-secret-token",
		"CHATWOOT_WEBHOOK_SECRET": "cw-hook-secret",
		"JITSI_APP_ID":            "app",
		"JITSI_APP_SECRET":        "jitsi-secret-of-enough-length-123456",
		"WEBHOOK_SECRETS":         "billing=whsec_Y3JtLXNlY3JldC1jcm0tc2VjcmV0LWNybS1zZWNyZXQ=",
		"WEBHOOK_TENANTS":         "billing=/teams/support|/teams/finance",
		"DECISION_KEY":            "decision-key-secret-0123456789abcdef",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := c.Print(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, secret := range []string{"s3cr3t-db", "tk-secret-key", "cw-secret-token", "cw-hook-secret", "jitsi-secret-of-enough", "Y3JtLXNlY3JldC1jcm0tc2VjcmV0LWNybS1zZWNyZXQ=", "decision-key-secret"} {
		if strings.Contains(out, secret) {
			t.Errorf("config output shows a secret (%s):\n%s", secret, out)
		}
	}
	for _, shown := range []string{"DATABASE_URL=postgres://app:xxxxx@db:5432/orchestrator?sslmode=require", "WEBHOOK_SECRETS=billing=********", "CHATWOOT_BASE_URL=https://chat.example.com",
		"WEBHOOK_TENANTS=billing=/teams/support|/teams/finance"} {
		if !strings.Contains(out, shown) {
			t.Errorf("config output lacks %q:\n%s", shown, out)
		}
	}
}

// Every generic webhook service has a secret and the tenants it may write
// to; anything else fails at start, naming the service.
func TestWebhookTenants(t *testing.T) {
	load := func(secrets, tenants string) (*config.Config, error) {
		return config.Load(config.ModeTool, env(map[string]string{"WEBHOOK_SECRETS": secrets, "WEBHOOK_TENANTS": tenants}))
	}
	c, err := load("billing="+ghS1+",crm="+ghS2, " billing = /teams/support | /teams/finance ,crm=/teams/sales")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"billing": {"/teams/support", "/teams/finance"}, "crm": {"/teams/sales"}}
	if !reflect.DeepEqual(c.WebhookTenants, want) {
		t.Fatalf("WebhookTenants = %v, want %v", c.WebhookTenants, want)
	}
	for _, bad := range []struct{ secrets, tenants, mention string }{
		{"billing=" + ghS1, "", `service "billing" has a secret in WEBHOOK_SECRETS but no tenants`},
		{"billing=" + ghS1 + ",crm=" + ghS2, "billing=/teams/support", `service "crm" has a secret`},
		{"billing=" + ghS1, "billing=/teams/support,crm=/teams/sales", `service "crm" has no secret`},
		{"billing=" + ghS1, "billing=|", `entry "billing" lists nothing`},
		{"billing=" + ghS1, "billing=/teams/\x01", `is not a tenant id`},
		{"billing=" + ghS1, "billing=/" + strings.Repeat("t", 256), `is not a tenant id`},
		{"billing=" + ghS1, "billing", `is not key=value`},
	} {
		_, err := load(bad.secrets, bad.tenants)
		if err == nil || !strings.Contains(err.Error(), "WEBHOOK_TENANTS: ") || !strings.Contains(err.Error(), bad.mention) {
			t.Errorf("WEBHOOK_SECRETS=%q WEBHOOK_TENANTS=%q: err = %v, want one naming WEBHOOK_TENANTS and %s", bad.secrets, bad.tenants, err, bad.mention)
		}
	}
	if c, err := load("", ""); err != nil || len(c.WebhookTenants) != 0 {
		t.Errorf("no generic webhooks: %v, %v", c, err)
	}
}

// The configuration accepts exactly the tenant ids the domain does (the
// store scopes by the same rule), so that a configured tenant is one a
// delivery can name.
func TestWebhookTenantsAcceptValidTenantIDs(t *testing.T) {
	for _, id := range []string{"/teams/support", "agent-1", "/teams/ü", "/a:b", "/teams/\x7f/x", "/teams/\u0085/x", "/teams/\ufffd/x",
		"/teams/\xff/x", strings.Repeat("x", 256), strings.Repeat("x", 257), strings.Repeat("é", 129)} {
		_, err := config.Load(config.ModeTool, env(map[string]string{"WEBHOOK_SECRETS": "billing=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "WEBHOOK_TENANTS": "billing=" + id}))
		if (err == nil) != domain.ValidTenantID(id) {
			t.Errorf("tenant %q: config error %v, domain.ValidTenantID %v", id, err, domain.ValidTenantID(id))
		}
	}
}

func TestJWKSMinRefresh(t *testing.T) {
	base := map[string]string{"OIDC_ISSUER_URL": "https://sso.example.com/realms/acme", "DECISION_KEY": strings.Repeat("k", 32)}
	c, err := config.Load(config.ModeAPI, env(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.OIDCJWKSMinRefresh != 30*time.Second {
		t.Fatalf("default OIDC_JWKS_MIN_REFRESH = %s, want 30s", c.OIDCJWKSMinRefresh)
	}
	for _, bad := range []string{"0s", "500ms", "2h", "-1m", "soon"} {
		base["OIDC_JWKS_MIN_REFRESH"] = bad
		if _, err := config.Load(config.ModeAPI, env(base)); err == nil || !strings.Contains(err.Error(), "OIDC_JWKS_MIN_REFRESH") {
			t.Errorf("OIDC_JWKS_MIN_REFRESH=%s: err = %v, want one naming the variable", bad, err)
		}
	}
}

func TestDatabaseOwnerURL(t *testing.T) {
	const app = "postgres://orchestrator:app-secret@db:5432/orchestrator"
	c, err := config.Load(config.ModeTool, env(map[string]string{
		"DATABASE_URL": app, "DATABASE_OWNER_URL": "postgres://orchestrator_owner:owner-secret@db:5432/orchestrator",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.AppRole() != "orchestrator" {
		t.Errorf("AppRole = %q", c.AppRole())
	}
	var b strings.Builder
	if err := c.Print(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "owner-secret") || !strings.Contains(b.String(), "DATABASE_OWNER_URL=postgres://orchestrator_owner:") {
		t.Errorf("DATABASE_OWNER_URL printed unmasked or not at all:\n%s", b.String())
	}
	for _, tc := range []struct{ name, app, owner string }{
		{"same role", app, "postgres://orchestrator:other@db:5432/orchestrator"},
		{"sqlite owner", app, "sqlite://x.db"},
		{"sqlite app", "sqlite://x.db", "postgres://orchestrator_owner:s@db:5432/orchestrator"},
		{"app without a user", "postgres://db:5432/orchestrator", "postgres://orchestrator_owner:s@db:5432/orchestrator"},
		{"not a URL", app, "mysql://x"},
	} {
		_, err := config.Load(config.ModeTool, env(map[string]string{"DATABASE_URL": tc.app, "DATABASE_OWNER_URL": tc.owner}))
		if err == nil || !strings.Contains(err.Error(), "DATABASE_") {
			t.Errorf("%s: err = %v, want one naming the variable", tc.name, err)
		}
	}
}

func TestDecisionKeyRequiredForSplitProcesses(t *testing.T) {
	for _, mode := range []config.Mode{config.ModeAPI, config.ModeWorker} {
		base := map[string]string{"OIDC_ISSUER_URL": "https://sso.example.com/realms/acme"}
		if _, err := config.Load(mode, env(base)); err == nil || !strings.Contains(err.Error(), "DECISION_KEY") {
			t.Fatalf("%s without DECISION_KEY: %v", mode, err)
		}
		base["DECISION_KEY"] = "too-short"
		if _, err := config.Load(mode, env(base)); err == nil || !strings.Contains(err.Error(), "at least 32 bytes") {
			t.Fatalf("%s with a short DECISION_KEY: %v", mode, err)
		}
	}
	if _, err := config.Load(config.ModeDev, env(nil)); err != nil {
		t.Fatalf("dev mode makes its own key: %v", err)
	}
}

func TestApproverSettingsCanBeSwitchedOff(t *testing.T) {
	c, err := config.Load(config.ModeDev, env(map[string]string{"APPROVER_ROLE": "", "APPROVER_SUBGROUP": ""}))
	if err != nil {
		t.Fatal(err)
	}
	if c.ApproverRole != "" || c.ApproverSubgroup != "" {
		t.Fatalf("set empty, both must be off: %q %q", c.ApproverRole, c.ApproverSubgroup)
	}
	c, err = config.Load(config.ModeDev, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.ApproverRole != "approver" || c.ApproverSubgroup != "approvers" {
		t.Fatalf("defaults: %q %q", c.ApproverRole, c.ApproverSubgroup)
	}
	if _, err := config.Load(config.ModeDev, env(map[string]string{"APPROVER_SUBGROUP": "a/b"})); err == nil {
		t.Fatal("a subgroup with a slash must be refused")
	}
}

func TestKeycloakDirectory(t *testing.T) {
	issuer := map[string]string{"OIDC_ISSUER_URL": "https://sso.example.com/realms/acme"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range issuer {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}

	c, err := config.Load(config.ModeDev, env(issuer))
	if err != nil {
		t.Fatal(err)
	}
	if c.KeycloakDirectoryEnabled() || c.KeycloakAdminURL != "" || c.KeycloakDirectoryCacheTTL != time.Minute {
		t.Fatalf("defaults: enabled=%v admin=%q ttl=%s; want off, none, 1m", c.KeycloakDirectoryEnabled(), c.KeycloakAdminURL, c.KeycloakDirectoryCacheTTL)
	}

	creds := map[string]string{"KEYCLOAK_ADMIN_CLIENT_ID": "orchestrator-directory", "KEYCLOAK_ADMIN_CLIENT_SECRET": "kc-directory-secret"}
	c, err = config.Load(config.ModeDev, env(with(creds)))
	if err != nil {
		t.Fatal(err)
	}
	if !c.KeycloakDirectoryEnabled() || c.KeycloakAdminURL != "https://sso.example.com/admin/realms/acme" {
		t.Fatalf("with credentials: enabled=%v admin=%q; want on, derived from the issuer", c.KeycloakDirectoryEnabled(), c.KeycloakAdminURL)
	}
	var b strings.Builder
	if err := c.Print(&b); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); strings.Contains(out, "kc-directory-secret") || !strings.Contains(out, "KEYCLOAK_ADMIN_CLIENT_SECRET=********") ||
		!strings.Contains(out, "KEYCLOAK_ADMIN_URL=https://sso.example.com/admin/realms/acme") {
		t.Fatalf("config output:\n%s", out)
	}

	override := with(creds)
	override["KEYCLOAK_ADMIN_URL"] = "http://keycloak:8080/admin/realms/acme/"
	override["KEYCLOAK_DIRECTORY_CACHE_TTL"] = "0s"
	c, err = config.Load(config.ModeDev, env(override))
	if err != nil {
		t.Fatal(err)
	}
	if c.KeycloakAdminURL != "http://keycloak:8080/admin/realms/acme" || c.KeycloakDirectoryCacheTTL != 0 {
		t.Fatalf("override: admin=%q ttl=%s", c.KeycloakAdminURL, c.KeycloakDirectoryCacheTTL)
	}

	for name, tc := range map[string]struct {
		vars map[string]string
		want string // variable named, with a word of its message
	}{
		"id without secret":   {with(map[string]string{"KEYCLOAK_ADMIN_CLIENT_ID": "x"}), "KEYCLOAK_ADMIN_CLIENT_SECRET: KEYCLOAK_ADMIN_CLIENT_ID and KEYCLOAK_ADMIN_CLIENT_SECRET must be set together"},
		"secret without id":   {with(map[string]string{"KEYCLOAK_ADMIN_CLIENT_SECRET": "x"}), "KEYCLOAK_ADMIN_CLIENT_SECRET: KEYCLOAK_ADMIN_CLIENT_ID and KEYCLOAK_ADMIN_CLIENT_SECRET must be set together"},
		"issuer URL as admin": {with(map[string]string{"KEYCLOAK_ADMIN_CLIENT_ID": "x", "KEYCLOAK_ADMIN_CLIENT_SECRET": "y", "KEYCLOAK_ADMIN_URL": "https://sso.example.com/realms/acme"}), "KEYCLOAK_ADMIN_URL: must be an absolute http(s) URL ending in /admin/realms/<realm>"},
		"admin URL alone":     {with(map[string]string{"KEYCLOAK_ADMIN_URL": "https://sso.example.com/admin/realms/acme"}), "KEYCLOAK_ADMIN_URL: has no effect"},
		"issuer not a realm":  {map[string]string{"KEYCLOAK_ADMIN_CLIENT_ID": "x", "KEYCLOAK_ADMIN_CLIENT_SECRET": "y"}, "KEYCLOAK_ADMIN_URL: is required"},
		"negative TTL":        {with(map[string]string{"KEYCLOAK_DIRECTORY_CACHE_TTL": "-1s"}), "KEYCLOAK_DIRECTORY_CACHE_TTL: -1s is not between"},
		"TTL too long":        {with(map[string]string{"KEYCLOAK_DIRECTORY_CACHE_TTL": "1h"}), "KEYCLOAK_DIRECTORY_CACHE_TTL: 1h0m0s is not between"},
		"TTL not a duration":  {with(map[string]string{"KEYCLOAK_DIRECTORY_CACHE_TTL": "soon"}), "KEYCLOAK_DIRECTORY_CACHE_TTL: \"soon\" is not a duration"},
	} {
		_, err := config.Load(config.ModeDev, env(tc.vars))
		var ce *config.Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", name, err, tc.want)
		}
	}
}

func TestChatwootWebhookSecrets(t *testing.T) {
	c, err := config.Load(config.ModeTool, env(map[string]string{
		"CHATWOOT_WEBHOOK_SECRETS": "1=cw-one-secret,2=cw-two-secret",
		"CHATWOOT_ACCOUNT_TENANTS": "1=/teams/a,2=/teams/b",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.ChatwootWebhookSecrets["1"] != "cw-one-secret" || c.ChatwootWebhookSecrets["2"] != "cw-two-secret" {
		t.Fatalf("secrets = %v", c.ChatwootWebhookSecrets)
	}
	var b strings.Builder
	if err := c.Print(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "cw-one-secret") || !strings.Contains(b.String(), "CHATWOOT_WEBHOOK_SECRETS=1=********,2=********") {
		t.Errorf("CHATWOOT_WEBHOOK_SECRETS printed unmasked or not at all:\n%s", b.String())
	}
	// The single secret stays valid for one account.
	if _, err := config.Load(config.ModeTool, env(map[string]string{
		"CHATWOOT_WEBHOOK_SECRET": "s", "CHATWOOT_ACCOUNT_TENANTS": "1=/teams/a",
	})); err != nil {
		t.Errorf("one secret, one account: %v", err)
	}
	// Unsigned deliveries stay possible for one account.
	if _, err := config.Load(config.ModeTool, env(map[string]string{
		"CHATWOOT_WEBHOOK_UNSIGNED": "true", "CHATWOOT_ACCOUNT_TENANTS": "1=/teams/a",
	})); err != nil {
		t.Errorf("unsigned, one account: %v", err)
	}
	for _, tc := range []struct {
		name, want string
		env        map[string]string
	}{
		{"one secret for several accounts", "CHATWOOT_WEBHOOK_SECRET", map[string]string{
			"CHATWOOT_WEBHOOK_SECRET": "s", "CHATWOOT_ACCOUNT_TENANTS": "1=/teams/a,2=/teams/b"}},
		{"both forms", "CHATWOOT_WEBHOOK_SECRET", map[string]string{
			"CHATWOOT_WEBHOOK_SECRET": "s", "CHATWOOT_WEBHOOK_SECRETS": "1=s1"}},
		{"unsigned with secrets", "CHATWOOT_WEBHOOK_UNSIGNED", map[string]string{
			"CHATWOOT_WEBHOOK_UNSIGNED": "true", "CHATWOOT_WEBHOOK_SECRETS": "1=s1"}},
		{"unsigned with several accounts", "CHATWOOT_WEBHOOK_UNSIGNED", map[string]string{
			"CHATWOOT_WEBHOOK_UNSIGNED": "true", "CHATWOOT_ACCOUNT_TENANTS": "1=/teams/a,2=/teams/b"}},
		{"account not a number", "CHATWOOT_WEBHOOK_SECRETS", map[string]string{"CHATWOOT_WEBHOOK_SECRETS": "one=s1"}},
		{"entry without a secret", "CHATWOOT_WEBHOOK_SECRETS", map[string]string{"CHATWOOT_WEBHOOK_SECRETS": "1="}},
	} {
		_, err := config.Load(config.ModeTool, env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one naming %s", tc.name, err, tc.want)
		}
	}
}

// The workflow cache is bounded by default (memory must not grow with the
// number of waiting escalations) and a size outside the range is refused at
// start, naming the variable.
func TestWorkerWorkflowCacheSize(t *testing.T) {
	base := map[string]string{"DECISION_KEY": strings.Repeat("k", 32)}
	c, err := config.Load(config.ModeWorker, env(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.WorkerWorkflowCacheSize != 1000 {
		t.Fatalf("default WORKER_WORKFLOW_CACHE_SIZE = %d, want 1000", c.WorkerWorkflowCacheSize)
	}
	base["WORKER_WORKFLOW_CACHE_SIZE"] = "250"
	if c, err = config.Load(config.ModeWorker, env(base)); err != nil || c.WorkerWorkflowCacheSize != 250 {
		t.Fatalf("WORKER_WORKFLOW_CACHE_SIZE=250: got %v, %v", c, err)
	}
	var b strings.Builder
	if err := c.Print(&b); err != nil || !strings.Contains(b.String(), "WORKER_WORKFLOW_CACHE_SIZE=250\n") {
		t.Fatalf("config does not print the cache size:\n%s (%v)", b.String(), err)
	}
	for _, bad := range []string{"0", "9", "100001", "-5", "1e3", "lots"} {
		base["WORKER_WORKFLOW_CACHE_SIZE"] = bad
		if _, err := config.Load(config.ModeDev, env(base)); err == nil || !strings.Contains(err.Error(), "WORKER_WORKFLOW_CACHE_SIZE") {
			t.Errorf("WORKER_WORKFLOW_CACHE_SIZE=%s: err = %v, want one naming the variable", bad, err)
		}
	}
}

// Generic webhook secrets are Standard Webhooks secrets: whsec_ and the
// standard base64 of at least 24 bytes. Anything else fails at start,
// naming the service and never quoting the secret.
func TestWebhookSecretsAreStandardWebhooksSecrets(t *testing.T) {
	load := func(secret string) error {
		_, err := config.Load(config.ModeTool, env(map[string]string{"WEBHOOK_SECRETS": "billing=" + secret, "WEBHOOK_TENANTS": "billing=/teams/support"}))
		return err
	}
	for _, ok := range []string{ghS1, ghS2, "whsec_" + strings.Repeat("A", 44)} {
		if err := load(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []struct{ secret, mention string }{
		{"billing-secret-billing-secret-billing", "must start with whsec_"},
		{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with whsec_"},
		{"whsec_not*base64*at*all*not*base64*", "standard base64"},
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", "standard base64"},
		{"whsec_c2hvcnQtc2hvcnQtc2hvcnQ=", "decodes to 17 bytes, fewer than 24"},
		{"whsec_", "decodes to 0 bytes"},
	} {
		err := load(bad.secret)
		if err == nil || !strings.Contains(err.Error(), `WEBHOOK_SECRETS: service "billing": the secret `) || !strings.Contains(err.Error(), bad.mention) {
			t.Errorf("%q: err = %v, want one naming WEBHOOK_SECRETS, the service and %q", bad.secret, err, bad.mention)
			continue
		}
		if len(bad.secret) > len("whsec_") && strings.Contains(err.Error(), strings.TrimPrefix(bad.secret, "whsec_")) {
			t.Errorf("the error quotes the secret: %v", err)
		}
	}
}

const (
	ghS1 = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	ghS2 = "whsec_Y3JtLXNlY3JldC1jcm0tc2VjcmV0LWNybS1zZWNyZXQ="
)

// Requests to Temporal are gzip-compressed across a network, not on one
// machine (dev), unless the variable says otherwise; anything but gzip or
// none is refused.
func TestTemporalGRPCCompression(t *testing.T) {
	base := map[string]string{"DECISION_KEY": strings.Repeat("k", 32)}
	for mode, want := range map[config.Mode]string{config.ModeWorker: "gzip", config.ModeDev: "none"} {
		c, err := config.Load(mode, env(base))
		if err != nil || c.TemporalCompression != want {
			t.Fatalf("%s: compression %q (%v), want %q", mode, c.TemporalCompression, err, want)
		}
	}
	base["TEMPORAL_GRPC_COMPRESSION"] = "GZIP"
	if c, err := config.Load(config.ModeDev, env(base)); err != nil || c.TemporalCompression != "gzip" {
		t.Fatalf("dev with gzip: %v %v", c, err)
	}
	base["TEMPORAL_GRPC_COMPRESSION"] = "zstd"
	if _, err := config.Load(config.ModeWorker, env(base)); err == nil || !strings.Contains(err.Error(), "TEMPORAL_GRPC_COMPRESSION") {
		t.Fatalf("zstd: %v, want an error naming the variable", err)
	}
}
