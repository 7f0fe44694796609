// Package composetest checks docker-compose.yml, deploy/compose.managed.yml, the Dockerfile and
// .env.example against what the orchestrator needs at run time. There is no Docker engine in CI,
// so the compose files are loaded and interpolated with compose-go, the library the docker compose
// CLI itself uses, and the tests assert on the resulting model.
package composetest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"
)

const (
	composeFile = "docker-compose.yml"
	managedFile = "deploy/compose.managed.yml"
	envExample  = ".env.example"

	// The realm that deploy/keycloak/orchestrator-realm.json defines.
	realm = "orchestrator"
)

// appServices run the orchestrator image; they all read the same environment.
var appServices = []string{"api", "worker", "migrate", "setup"}

// oneShots exit when done; others wait for them with service_completed_successfully.
var oneShots = []string{"temporal-schema", "temporal-namespace", "migrate", "setup"}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found at %s: %v", root, err)
	}
	return root
}

// exampleEnv returns the variables .env.example sets, as `cp .env.example .env` would give them.
func exampleEnv(t *testing.T) map[string]string {
	t.Helper()
	env, err := dotenv.GetEnvFromFile(nil, []string{filepath.Join(repoRoot(t), envExample)})
	if err != nil {
		t.Fatalf("read %s: %v", envExample, err)
	}
	return env
}

// load interpolates and loads the compose files with env as the only environment (the process
// environment is deliberately ignored so that the test does not depend on the machine).
func load(t *testing.T, env map[string]string, files ...string) (*types.Project, error) {
	t.Helper()
	root := repoRoot(t)
	if len(files) == 0 {
		files = []string{composeFile}
	}
	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join(root, f))
	}
	opts, err := cli.NewProjectOptions(paths, cli.WithWorkingDirectory(root))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range env {
		opts.Environment[k] = v
	}
	return opts.LoadProject(context.Background())
}

func mustLoad(t *testing.T, env map[string]string, files ...string) *types.Project {
	t.Helper()
	p, err := load(t, env, files...)
	if err != nil {
		t.Fatalf("load %v with %s: %v", files, envExample, err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("service %q is missing (have %v)", name, p.ServiceNames())
	}
	return s
}

func env(s types.ServiceConfig, key string) (string, bool) {
	v, ok := s.Environment[key]
	if !ok || v == nil {
		return "", false
	}
	return *v, true
}

func mustEnv(t *testing.T, s types.ServiceConfig, key string) string {
	t.Helper()
	v, ok := env(s, key)
	if !ok || strings.TrimSpace(v) == "" {
		t.Fatalf("service %s: %s is not set", s.Name, key)
	}
	return v
}

func TestExpectedServicesExist(t *testing.T) {
	p := mustLoad(t, exampleEnv(t))
	for _, name := range []string{
		"postgres", "temporal-schema", "temporal", "temporal-namespace", "temporal-ui",
		"keycloak", "migrate", "setup", "api", "worker",
	} {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("service %q is missing (have %v)", name, p.ServiceNames())
		}
	}
}

// splitImage returns repository and tag of an image reference ("" when untagged).
func splitImage(ref string) (repo, tag string) {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	slash := strings.LastIndex(ref, "/")
	if colon := strings.LastIndex(ref, ":"); colon > slash {
		return ref[:colon], ref[colon+1:]
	}
	return ref, ""
}

func TestImagesArePinned(t *testing.T) {
	p := mustLoad(t, exampleEnv(t))
	for _, s := range p.Services {
		if s.Build != nil {
			continue
		}
		repo, tag := splitImage(s.Image)
		switch {
		case s.Image == "":
			t.Errorf("service %s has neither image nor build", s.Name)
		case tag == "" && !strings.Contains(s.Image, "@sha256:"):
			t.Errorf("service %s: image %q has no tag: it would float to latest", s.Name, s.Image)
		case tag == "latest" || strings.HasPrefix(tag, "latest-"):
			t.Errorf("service %s: image %q is not pinned to a version", s.Name, s.Image)
		case !regexp.MustCompile(`^v?\d+\.\d+(\.\d+)?`).MatchString(tag):
			t.Errorf("service %s: image %q: tag %q is not an exact version", s.Name, s.Image, tag)
		}
		if strings.HasSuffix(repo, "temporalio/auto-setup") {
			t.Errorf("service %s uses %s: the auto-setup image is deprecated and not for production; "+
				"use temporalio/server with the admin-tools schema job", s.Name, s.Image)
		}
	}
}

func TestImageVersionsMatchTheSupportedLines(t *testing.T) {
	p := mustLoad(t, exampleEnv(t))
	want := map[string]string{ // service: repository, tag prefix
		"temporal":           "temporalio/server 1.29.",
		"temporal-schema":    "temporalio/admin-tools 1.29.",
		"temporal-namespace": "temporalio/admin-tools 1.29.",
		"temporal-ui":        "temporalio/ui 2.",
		"keycloak":           "quay.io/keycloak/keycloak 26.",
		"postgres":           "postgres 17.",
	}
	for name, w := range want {
		wantRepo, wantTag, _ := strings.Cut(w, " ")
		repo, tag := splitImage(service(t, p, name).Image)
		if strings.TrimPrefix(repo, "docker.io/") != wantRepo || !strings.HasPrefix(tag, wantTag) {
			t.Errorf("service %s: image %s:%s, want %s:%s*", name, repo, tag, wantRepo, wantTag)
		}
	}
	// The schema job must apply exactly the schema of the server version that runs on it.
	_, server := splitImage(service(t, p, "temporal").Image)
	for _, name := range []string{"temporal-schema", "temporal-namespace"} {
		_, tools := splitImage(service(t, p, name).Image)
		if toolsServer, _, _ := strings.Cut(tools, "-"); toolsServer != server {
			t.Errorf("service %s: admin-tools %s is for server %s, but the server runs %s",
				name, tools, toolsServer, server)
		}
	}
}

func TestAppServicesRunTheImageBuiltFromTheDockerfile(t *testing.T) {
	root := repoRoot(t)
	p := mustLoad(t, exampleEnv(t))
	image := ""
	for _, name := range appServices {
		s := service(t, p, name)
		if s.Build == nil {
			t.Errorf("service %s is not built from the repository", name)
			continue
		}
		if s.Build.Context != root {
			t.Errorf("service %s: build context %s, want the repository root %s", name, s.Build.Context, root)
		}
		if df := s.Build.Dockerfile; df != "" && df != "Dockerfile" && df != filepath.Join(root, "Dockerfile") {
			t.Errorf("service %s: dockerfile %s, want Dockerfile", name, df)
		}
		if image == "" {
			image = s.Image
		} else if s.Image != image {
			t.Errorf("service %s: image %q differs from %q: the app services must run one build", name, s.Image, image)
		}
		if len(s.Entrypoint) > 0 {
			t.Errorf("service %s overrides the entrypoint (%v): the image's /orchestrator must run", name, s.Entrypoint)
		}
		if want := []string{name}; !slices.Equal(s.Command, want) {
			t.Errorf("service %s: command %q, want %q", name, s.Command, want)
		}
	}
}

// published returns the service's published ports as "hostIP:published->target".
func published(s types.ServiceConfig) []string {
	var out []string
	for _, p := range s.Ports {
		out = append(out, fmt.Sprintf("%s:%s->%d", p.HostIP, p.Published, p.Target))
	}
	return out
}

func publishes(s types.ServiceConfig, hostPort string, target uint32) (types.ServicePortConfig, bool) {
	for _, p := range s.Ports {
		if p.Published == hostPort && p.Target == target {
			return p, true
		}
	}
	return types.ServicePortConfig{}, false
}

func TestPublishedPorts(t *testing.T) {
	p := mustLoad(t, exampleEnv(t))
	for _, c := range []struct {
		service  string
		host     string
		target   uint32
		loopback bool // no authentication in front: reachable from this host only
	}{
		{"api", "8080", 8080, false},
		{"keycloak", "8180", 8080, false},
		{"temporal-ui", "8233", 8080, true},
	} {
		s := service(t, p, c.service)
		port, ok := publishes(s, c.host, c.target)
		if !ok {
			t.Errorf("service %s: want host port %s published to container port %d, have %v",
				c.service, c.host, c.target, published(s))
			continue
		}
		if c.loopback && port.HostIP != "127.0.0.1" {
			t.Errorf("service %s: host port %s is bound to %q: it has no authentication, bind it to 127.0.0.1",
				c.service, c.host, port.HostIP)
		}
	}
	// Temporal's frontend has no authentication in this stack; the database is never published.
	for _, port := range service(t, p, "temporal").Ports {
		if port.HostIP != "127.0.0.1" {
			t.Errorf("service temporal publishes %s->%d on %q: bind it to 127.0.0.1", port.Published, port.Target, port.HostIP)
		}
	}
	if ports := published(service(t, p, "postgres")); len(ports) > 0 {
		t.Errorf("service postgres publishes %v: the database must stay on the compose network", ports)
	}
}

func TestAppServicesCanBeScaled(t *testing.T) {
	p := mustLoad(t, exampleEnv(t))
	for _, name := range []string{"api", "worker"} {
		if cn := service(t, p, name).ContainerName; cn != "" {
			t.Errorf("service %s has container_name %q: replicas need generated names", name, cn)
		}
	}
	if ports := published(service(t, p, "worker")); len(ports) > 0 {
		t.Errorf("service worker publishes %v: a fixed host port stops `--scale worker=N`", ports)
	}
	// API_PORT may be a range, one host port per replica.
	env := exampleEnv(t)
	env["API_PORT"] = "8080-8083"
	p = mustLoad(t, env)
	if ports := published(service(t, p, "api")); len(ports) != 1 || !strings.Contains(ports[0], "8080-8083->8080") {
		t.Errorf("API_PORT=8080-8083: api publishes %v, want the range 8080-8083 to 8080", ports)
	}
}

func TestLongRunningServicesHaveHealthchecksAndRestart(t *testing.T) {
	p := mustLoad(t, exampleEnv(t))
	for _, s := range p.Services {
		if slices.Contains(oneShots, s.Name) {
			// A one-shot that restarts after success never counts as completed.
			if s.Restart == types.RestartPolicyAlways || s.Restart == types.RestartPolicyUnlessStopped {
				t.Errorf("one-shot %s has restart %q: it would run forever", s.Name, s.Restart)
			}
			continue
		}
		if s.Restart == "" || s.Restart == types.RestartPolicyNo {
			t.Errorf("long-running service %s has no restart policy", s.Name)
		}
		hc := s.HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Test[0] == "NONE" {
			t.Errorf("long-running service %s has no healthcheck", s.Name)
		}
	}
}

func TestAppHealthchecksProbeTheBinaryWithoutAShell(t *testing.T) {
	p := mustLoad(t, exampleEnv(t))
	for name, addrVar := range map[string]string{"api": "HTTP_ADDR", "worker": "WORKER_HTTP_ADDR"} {
		s := service(t, p, name)
		if s.HealthCheck == nil {
			t.Errorf("service %s has no healthcheck", name)
			continue
		}
		test := s.HealthCheck.Test
		// The distroless image has no /bin/sh: CMD-SHELL could never succeed.
		if len(test) < 3 || test[0] != "CMD" || test[1] != "/orchestrator" || test[2] != "healthcheck" {
			t.Errorf("service %s: healthcheck %q, want [CMD /orchestrator healthcheck --url …]", name, test)
			continue
		}
		i := slices.Index(test, "--url")
		if i < 0 || i+1 >= len(test) {
			t.Errorf("service %s: healthcheck %q has no --url", name, test)
			continue
		}
		u, err := url.Parse(test[i+1])
		if err != nil {
			t.Errorf("service %s: healthcheck URL %q: %v", name, test[i+1], err)
			continue
		}
		_, port, _ := net.SplitHostPort(mustEnv(t, s, addrVar))
		if u.Port() != port {
			t.Errorf("service %s: healthcheck probes port %s but %s listens on port %s", name, u.Port(), addrVar, port)
		}
	}
}

func TestKeycloakHealthcheckUsesTheManagementPort(t *testing.T) {
	p := mustLoad(t, exampleEnv(t))
	kc := service(t, p, "keycloak")
	if v, _ := env(kc, "KC_HEALTH_ENABLED"); v != "true" {
		t.Errorf("keycloak: KC_HEALTH_ENABLED=%q: without it /health/ready does not exist and the service never becomes healthy", v)
	}
	if kc.HealthCheck == nil {
		t.Fatal("keycloak has no healthcheck")
	}
	test := strings.Join(kc.HealthCheck.Test, " ")
	// Since Keycloak 25 the health endpoints are on the management port, and the image has no curl.
	if !strings.Contains(test, "/9000") || !strings.Contains(test, "/health/ready") {
		t.Errorf("keycloak healthcheck %q does not ask /health/ready on the management port 9000", test)
	}
	for _, tool := range []string{"curl", "wget"} {
		if strings.Contains(test, tool) {
			t.Errorf("keycloak healthcheck uses %s, which the Keycloak image does not have", tool)
		}
	}
	if strings.Contains(test, "$$") {
		t.Errorf("keycloak healthcheck %q still has $$ after interpolation", test)
	}
}

func requireDependency(t *testing.T, p *types.Project, from, on, condition string) {
	t.Helper()
	d, ok := service(t, p, from).DependsOn[on]
	if !ok {
		t.Errorf("service %s does not depend on %s (want condition %s)", from, on, condition)
		return
	}
	if d.Condition != condition {
		t.Errorf("service %s depends on %s with condition %q, want %q", from, on, d.Condition, condition)
	}
}

func TestStartupOrder(t *testing.T) {
	p := mustLoad(t, exampleEnv(t))
	const (
		healthy   = types.ServiceConditionHealthy
		completed = types.ServiceConditionCompletedSuccessfully
	)
	for _, d := range []struct{ from, on, condition string }{
		{"temporal-schema", "postgres", healthy},
		{"temporal", "postgres", healthy},
		{"temporal", "temporal-schema", completed},
		{"temporal-namespace", "temporal", healthy},
		{"temporal-ui", "temporal", healthy},
		{"migrate", "postgres", healthy},
		{"setup", "postgres", healthy},
		{"setup", "temporal", healthy},
		{"setup", "temporal-namespace", completed},
		// setup also applies migrations: running after migrate keeps the two from racing.
		{"setup", "migrate", completed},
		{"api", "migrate", completed},
		{"api", "setup", completed},
		{"api", "keycloak", healthy},
		{"worker", "migrate", completed},
		{"worker", "setup", completed},
	} {
		requireDependency(t, p, d.from, d.on, d.condition)
	}
	// Every service waited on for health must have a healthcheck, and every one waited on for
	// completion must be a one-shot, or the dependent never starts.
	for _, s := range p.Services {
		for on, d := range s.DependsOn {
			dep := service(t, p, on)
			switch d.Condition {
			case healthy:
				if dep.HealthCheck == nil || dep.HealthCheck.Disable {
					t.Errorf("%s waits for %s to be healthy, but %s has no healthcheck", s.Name, on, on)
				}
			case completed:
				if !slices.Contains(oneShots, on) {
					t.Errorf("%s waits for %s to complete, but %s is not a one-shot", s.Name, on, on)
				}
			}
		}
	}
}

func TestAppEnvironmentIsCompleteForProduction(t *testing.T) {
	envFile := exampleEnv(t)
	p := mustLoad(t, envFile)
	first := service(t, p, appServices[0])
	for _, name := range appServices {
		s := service(t, p, name)
		dsn := mustEnv(t, s, "DATABASE_URL")
		u, err := url.Parse(dsn)
		if err != nil {
			t.Errorf("service %s: DATABASE_URL does not parse: %v", name, err)
			continue
		}
		if u.Scheme != "postgres" && u.Scheme != "postgresql" {
			t.Errorf("service %s: DATABASE_URL scheme %q, want postgres (the sqlite default is for dev only)", name, u.Scheme)
		}
		if u.Host != "postgres:5432" || u.Path != "/orchestrator" {
			t.Errorf("service %s: DATABASE_URL points to %s%s, want postgres:5432/orchestrator", name, u.Host, u.Path)
		}
		if pw, _ := u.User.Password(); pw != envFile["ORCHESTRATOR_DB_PASSWORD"] {
			t.Errorf("service %s: DATABASE_URL password is not ORCHESTRATOR_DB_PASSWORD", name)
		}
		if got := mustEnv(t, s, "TEMPORAL_ADDRESS"); got != "temporal:7233" {
			t.Errorf("service %s: TEMPORAL_ADDRESS=%q, want temporal:7233", name, got)
		}
		mustEnv(t, s, "TEMPORAL_NAMESPACE")
		mustEnv(t, s, "TEMPORAL_TASK_QUEUE")
		mustEnv(t, s, "OIDC_AUDIENCE")
		issuer := mustEnv(t, s, "OIDC_ISSUER_URL")
		if u, err := url.Parse(issuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			t.Errorf("service %s: OIDC_ISSUER_URL=%q is not an absolute URL", name, issuer)
		}
		jwks, _ := env(s, "OIDC_JWKS_URL")
		discovery, _ := env(s, "OIDC_DISCOVERY_URL")
		if (jwks == "") == (discovery == "") {
			t.Errorf("service %s: set exactly one of OIDC_JWKS_URL (%q) and OIDC_DISCOVERY_URL (%q)", name, jwks, discovery)
		}
		// In a container 127.0.0.1 (the binary's default) is unreachable from the port mapping.
		if got := mustEnv(t, s, "HTTP_ADDR"); got != "0.0.0.0:8080" {
			t.Errorf("service %s: HTTP_ADDR=%q, want 0.0.0.0:8080", name, got)
		}
		if got := mustEnv(t, s, "WORKER_HTTP_ADDR"); got != "0.0.0.0:9090" {
			t.Errorf("service %s: WORKER_HTTP_ADDR=%q, want 0.0.0.0:9090", name, got)
		}
		// setup must register the search attributes on the namespace the worker polls, migrate
		// must migrate the database the api reads: one environment for all.
		for k, v := range first.Environment {
			if w, ok := s.Environment[k]; !ok || (v == nil) != (w == nil) || (v != nil && *v != *w) {
				t.Errorf("service %s: %s differs from service %s", name, k, first.Name)
			}
		}
		extra := 0
		for k := range migrationOnly {
			if _, ok := s.Environment[k]; ok {
				extra++
			}
		}
		if len(s.Environment)-extra != len(first.Environment) {
			t.Errorf("service %s has %d variables besides %v, %s has %d", name, len(s.Environment)-extra, slices.Collect(maps.Keys(migrationOnly)), first.Name, len(first.Environment))
		}
	}
	// migrate and setup connect as the owner of the same database.
	for _, name := range migrationServices {
		s := service(t, p, name)
		app, err := url.Parse(mustEnv(t, s, "DATABASE_URL"))
		if err != nil {
			t.Fatal(err)
		}
		owner, err := url.Parse(mustEnv(t, s, "DATABASE_OWNER_URL"))
		if err != nil {
			t.Fatalf("service %s: DATABASE_OWNER_URL does not parse: %v", name, err)
		}
		if owner.Host != app.Host || owner.Path != app.Path {
			t.Errorf("service %s: DATABASE_OWNER_URL points to %s%s, DATABASE_URL to %s%s", name, owner.Host, owner.Path, app.Host, app.Path)
		}
		if pw, _ := owner.User.Password(); pw != envFile["ORCHESTRATOR_OWNER_DB_PASSWORD"] {
			t.Errorf("service %s: DATABASE_OWNER_URL password is not ORCHESTRATOR_OWNER_DB_PASSWORD", name)
		}
		if owner.User.Username() == app.User.Username() {
			t.Errorf("service %s: migrations run as the app's role %s", name, app.User.Username())
		}
	}
	ns := mustEnv(t, service(t, p, "temporal-namespace"), "NAMESPACE")
	if got := mustEnv(t, first, "TEMPORAL_NAMESPACE"); got != ns {
		t.Errorf("temporal-namespace creates %q but the app uses TEMPORAL_NAMESPACE=%q", ns, got)
	}
}

func TestOIDCIssuerIsThePublicKeycloakURL(t *testing.T) {
	p := mustLoad(t, exampleEnv(t))
	kc := service(t, p, "keycloak")
	api := service(t, p, "api")

	if !slices.Contains(kc.Command, "start-dev") || !slices.Contains(kc.Command, "--import-realm") {
		t.Errorf("keycloak command %q, want start-dev --import-realm", kc.Command)
	}
	hostname := mustEnv(t, kc, "KC_HOSTNAME")
	public, err := url.Parse(hostname)
	if err != nil || public.Scheme == "" || public.Host == "" {
		t.Fatalf("KC_HOSTNAME=%q must be a full URL (scheme and host) so that the issuer does not depend on who asks", hostname)
	}
	if v, _ := env(kc, "KC_HOSTNAME_BACKCHANNEL_DYNAMIC"); v != "true" {
		t.Errorf("KC_HOSTNAME_BACKCHANNEL_DYNAMIC=%q, want true: the API reaches Keycloak at its container name", v)
	}
	// What tokens carry as iss must be what the API accepts.
	if got, want := mustEnv(t, api, "OIDC_ISSUER_URL"), strings.TrimRight(hostname, "/")+"/realms/"+realm; got != want {
		t.Errorf("OIDC_ISSUER_URL=%q, but Keycloak issues tokens as %q", got, want)
	}
	// A localhost issuer only works if that is where the host port really is.
	if public.Hostname() == "localhost" || public.Hostname() == "127.0.0.1" {
		if _, ok := publishes(kc, public.Port(), 8080); !ok {
			t.Errorf("KC_HOSTNAME=%s, but keycloak publishes %v", hostname, published(kc))
		}
	}
	// The keys are fetched over the compose network, where Keycloak listens on 8080.
	jwks, err := url.Parse(mustEnv(t, api, "OIDC_JWKS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	if jwks.Host != "keycloak:8080" {
		t.Errorf("OIDC_JWKS_URL host %q, want keycloak:8080 (the API container cannot reach localhost:8180)", jwks.Host)
	}
	if want := "/realms/" + realm + "/protocol/openid-connect/certs"; jwks.Path != want {
		t.Errorf("OIDC_JWKS_URL path %q, want %q", jwks.Path, want)
	}
}

func TestKeycloakImportsTheRealmDirectory(t *testing.T) {
	root := repoRoot(t)
	p := mustLoad(t, exampleEnv(t))
	for _, v := range service(t, p, "keycloak").Volumes {
		if v.Target != "/opt/keycloak/data/import" {
			continue
		}
		if v.Type != types.VolumeTypeBind || v.Source != filepath.Join(root, "deploy", "keycloak") {
			t.Errorf("keycloak import volume is %s %s, want a bind of deploy/keycloak", v.Type, v.Source)
		}
		if !v.ReadOnly {
			t.Error("keycloak import volume should be read-only")
		}
		// The OIDC URLs name the realm; the imported file must define it.
		files, _ := filepath.Glob(filepath.Join(v.Source, "*.json"))
		var realms []string
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var r struct {
				Realm string `json:"realm"`
			}
			if err := json.Unmarshal(b, &r); err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			realms = append(realms, r.Realm)
		}
		if !slices.Contains(realms, realm) {
			t.Errorf("deploy/keycloak imports realms %q, but the API expects tokens from realm %q", realms, realm)
		}
		return
	}
	t.Error("keycloak does not mount deploy/keycloak at /opt/keycloak/data/import")
}

func TestBindMountSourcesExist(t *testing.T) {
	p := mustLoad(t, exampleEnv(t))
	for _, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("service %s mounts %s, which does not exist: docker would mount an empty directory", s.Name, v.Source)
			}
		}
	}
}

func TestTemporalUIWriteActionsComeFromEnv(t *testing.T) {
	for _, c := range []struct {
		name string
		set  *string
		want string
	}{
		{"from .env.example", nil, "true"},
		{"unset defaults to read-only", ptr(""), "true"},
		{"operator opt-in", ptr("false"), "false"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := exampleEnv(t)
			if c.set != nil {
				if *c.set == "" {
					delete(e, "TEMPORAL_DISABLE_WRITE_ACTIONS")
				} else {
					e["TEMPORAL_DISABLE_WRITE_ACTIONS"] = *c.set
				}
			}
			ui := service(t, mustLoad(t, e), "temporal-ui")
			if got, _ := env(ui, "TEMPORAL_DISABLE_WRITE_ACTIONS"); got != c.want {
				t.Errorf("TEMPORAL_DISABLE_WRITE_ACTIONS=%q, want %q", got, c.want)
			}
			if got, _ := env(ui, "TEMPORAL_ADDRESS"); got != "temporal:7233" {
				t.Errorf("temporal-ui TEMPORAL_ADDRESS=%q, want temporal:7233", got)
			}
		})
	}
}

func ptr(s string) *string { return &s }

// initSQL returns the SQL of the postgres init scripts mounted into the postgres service.
func initSQL(t *testing.T, p *types.Project) string {
	t.Helper()
	for _, v := range service(t, p, "postgres").Volumes {
		if v.Target != "/docker-entrypoint-initdb.d" {
			continue
		}
		files, err := filepath.Glob(filepath.Join(v.Source, "*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no init scripts in %s", v.Source)
		}
		var all strings.Builder
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			all.Write(b)
		}
		return all.String()
	}
	t.Fatal("postgres does not mount an init directory at /docker-entrypoint-initdb.d")
	return ""
}

// roleOptions returns the options of `CREATE ROLE name …;` in sql, upper-cased.
func roleOptions(t *testing.T, sql, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?is)CREATE\s+ROLE\s+"?` + regexp.QuoteMeta(name) + `"?\s+([^;]*);`).FindStringSubmatch(sql)
	if m == nil {
		t.Fatalf("the postgres init scripts do not create role %q", name)
	}
	return strings.ToUpper(m[1])
}

func hasOption(options, opt string) bool {
	return regexp.MustCompile(`(^|\s)` + opt + `(\s|$)`).MatchString(options)
}

// The app's role and the migrations' role are two roles, neither superuser nor BYPASSRLS; the
// database (and so every table the migrations create) belongs to the migrations' role, so the app's
// role can neither switch row-level security off nor change a policy.
func TestAppRoleIsSubjectToRowLevelSecurity(t *testing.T) {
	p := mustLoad(t, exampleEnv(t))
	sql := initSQL(t, p)
	u, err := url.Parse(mustEnv(t, service(t, p, "api"), "DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	o, err := url.Parse(mustEnv(t, service(t, p, "migrate"), "DATABASE_OWNER_URL"))
	if err != nil {
		t.Fatal(err)
	}
	user, owner, db := u.User.Username(), o.User.Username(), strings.TrimPrefix(u.Path, "/")
	super := mustEnv(t, service(t, p, "postgres"), "POSTGRES_USER")
	if user == super || owner == super {
		t.Fatalf("the app (%q) or the migrations (%q) connect as the superuser: row-level security would not apply", user, owner)
	}
	if user == owner {
		t.Fatalf("the app connects as %q, the role that owns the tables: it could switch row-level security off", user)
	}
	for _, role := range []string{user, owner} {
		opts := roleOptions(t, sql, role)
		for _, forbidden := range []string{"SUPERUSER", "BYPASSRLS"} {
			if hasOption(opts, forbidden) {
				t.Errorf("role %s is created with %s: the tables' row-level security would not apply", role, forbidden)
			}
			if !hasOption(opts, "NO"+forbidden) {
				t.Errorf("role %s: state NO%s explicitly", role, forbidden)
			}
		}
		if !hasOption(opts, "LOGIN") {
			t.Errorf("role %s cannot log in", role)
		}
	}
	if !regexp.MustCompile(`(?i)CREATE\s+DATABASE\s+"?` + db + `"?\s+OWNER\s+"?` + owner + `"?`).MatchString(sql) {
		t.Errorf("the init scripts do not create database %s owned by %s", db, owner)
	}
	if !regexp.MustCompile(`(?i)GRANT\s+CONNECT\s+ON\s+DATABASE\s+"?` + db + `"?\s+TO\s+"?` + user + `"?`).MatchString(sql) {
		t.Errorf("the init scripts do not let %s connect to %s", user, db)
	}
}

func TestTemporalServerConfiguration(t *testing.T) {
	root := repoRoot(t)
	p := mustLoad(t, exampleEnv(t))
	srv := service(t, p, "temporal")
	if db := mustEnv(t, srv, "DB"); db != "postgres12" && db != "postgres12_pgx" {
		t.Errorf("temporal DB=%q: the server's config template knows postgres12 and postgres12_pgx", db)
	}
	if seeds := mustEnv(t, srv, "POSTGRES_SEEDS"); seeds != "postgres" {
		t.Errorf("temporal POSTGRES_SEEDS=%q, want the postgres service", seeds)
	}
	if v := mustEnv(t, srv, "BIND_ON_IP"); v != "0.0.0.0" {
		t.Errorf("temporal BIND_ON_IP=%q, want 0.0.0.0 so that other containers reach the frontend", v)
	}
	// The schema job, the server and the init script must agree on the databases and the role.
	sql := initSQL(t, p)
	user := mustEnv(t, srv, "POSTGRES_USER")
	opts := roleOptions(t, sql, user)
	if hasOption(opts, "SUPERUSER") {
		t.Errorf("role %s need not be a superuser", user)
	}
	schema := service(t, p, "temporal-schema")
	for _, k := range []string{"DB", "DB_PORT", "POSTGRES_SEEDS", "POSTGRES_USER", "POSTGRES_PWD", "DBNAME", "VISIBILITY_DBNAME"} {
		if a, b := mustEnv(t, srv, k), mustEnv(t, schema, k); a != b {
			t.Errorf("%s is %q for temporal but %q for temporal-schema", k, a, b)
		}
	}
	for _, k := range []string{"DBNAME", "VISIBILITY_DBNAME"} {
		db := mustEnv(t, srv, k)
		if !regexp.MustCompile(`(?i)CREATE\s+DATABASE\s+"?` + db + `"?\s+OWNER\s+"?` + user + `"?`).MatchString(sql) {
			t.Errorf("the init scripts do not create database %s (%s) owned by %s", db, k, user)
		}
	}
	// The dynamic config file must exist behind the mount the server reads it through.
	dc := mustEnv(t, srv, "DYNAMIC_CONFIG_FILE_PATH")
	if !filepath.IsAbs(dc) {
		dc = filepath.Join("/etc/temporal", dc) // the image's working directory
	}
	found := false
	for _, v := range srv.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		if rel, err := filepath.Rel(v.Target, dc); err == nil && !strings.HasPrefix(rel, "..") {
			found = true
			b, err := os.ReadFile(filepath.Join(v.Source, rel))
			if err != nil {
				t.Errorf("DYNAMIC_CONFIG_FILE_PATH=%s: %v", dc, err)
			} else if !regexp.MustCompile(`(?m)^[a-zA-Z]+\.[a-zA-Z.]+:\s*$`).Match(b) {
				t.Errorf("%s has no dynamic config key", filepath.Join(v.Source, rel))
			}
		}
	}
	if !found {
		t.Errorf("DYNAMIC_CONFIG_FILE_PATH=%s is not inside a bind mount of the temporal service", dc)
	}
	if _, err := os.Stat(filepath.Join(root, "deploy", "temporal", "dynamicconfig")); err != nil {
		t.Error(err)
	}
	// The schema job runs the script mounted from deploy/temporal.
	if len(schema.Entrypoint) == 0 {
		t.Fatal("temporal-schema has no entrypoint: the admin-tools image would only sleep")
	}
	script := schema.Entrypoint[len(schema.Entrypoint)-1]
	mounted := false
	for _, v := range schema.Volumes {
		if v.Target == script {
			mounted = true
			b, err := os.ReadFile(v.Source)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"temporal-sql-tool", "setup-schema", "update-schema", "postgresql/v12", "/temporal/versioned", "/visibility/versioned"} {
				if !strings.Contains(string(b), want) {
					t.Errorf("%s does not mention %s", v.Source, want)
				}
			}
		}
	}
	if !mounted {
		t.Errorf("temporal-schema runs %s, which is not mounted", script)
	}
}

func TestRequiredSecretsHaveNoDefaults(t *testing.T) {
	for _, secret := range []string{
		"POSTGRES_PASSWORD", "TEMPORAL_DB_PASSWORD", "ORCHESTRATOR_DB_PASSWORD", "ORCHESTRATOR_OWNER_DB_PASSWORD",
		"KC_BOOTSTRAP_ADMIN_PASSWORD",
	} {
		t.Run(secret, func(t *testing.T) {
			e := exampleEnv(t)
			if e[secret] == "" {
				t.Fatalf("%s has no placeholder in %s", secret, envExample)
			}
			delete(e, secret)
			_, err := load(t, e)
			if err == nil {
				t.Fatalf("compose loads without %s: the secret must be required (${%s:?…}), not defaulted", secret, secret)
			}
			if !strings.Contains(err.Error(), secret) {
				t.Errorf("error without %s does not name it: %v", secret, err)
			}
		})
	}
}

var interpolated = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)`)

func TestEnvExampleDocumentsEveryVariable(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, envExample))
	if err != nil {
		t.Fatal(err)
	}
	// Set (NAME=value) or shown commented out with its default (# NAME=value).
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#?\s*([A-Za-z_][A-Za-z0-9_]*)=`).FindAllStringSubmatch(string(b), -1) {
		documented[m[1]] = true
	}
	for _, f := range []string{composeFile, managedFile} {
		src, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(src), "$$", "") // $$ escapes a literal dollar
		seen := map[string]bool{}
		for _, m := range interpolated.FindAllStringSubmatch(text, -1) {
			if name := m[1]; !seen[name] {
				seen[name] = true
				if !documented[name] {
					t.Errorf("%s interpolates ${%s}, which %s does not document", f, name, envExample)
				}
			}
		}
	}
}

func TestManagedOverlay(t *testing.T) {
	e := exampleEnv(t)
	e["DATABASE_URL"] = "postgres://orchestrator:s3cret@db.example.com:5432/orchestrator?sslmode=verify-full"
	e["DATABASE_OWNER_URL"] = "postgres://orchestrator_owner:0wn3r@db.example.com:5432/orchestrator?sslmode=verify-full"
	e["TEMPORAL_ADDRESS"] = "orchestrator.a1b2c.tmprl.cloud:7233"
	e["TEMPORAL_NAMESPACE"] = "orchestrator.a1b2c"
	e["TEMPORAL_API_KEY"] = "key"
	p := mustLoad(t, e, composeFile, managedFile)

	for _, name := range []string{"postgres", "temporal-schema", "temporal", "temporal-namespace", "temporal-ui"} {
		if _, ok := p.Services[name]; ok {
			t.Errorf("service %s still starts with the managed overlay", name)
		}
	}
	for _, name := range append([]string{"keycloak"}, appServices...) {
		s := service(t, p, name)
		for on := range s.DependsOn {
			if _, ok := p.Services[on]; !ok {
				t.Errorf("service %s depends on %s, which the managed overlay disables", name, on)
			}
		}
	}
	for _, name := range appServices {
		s := service(t, p, name)
		for _, k := range []string{"DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY"} {
			if got, _ := env(s, k); got != e[k] {
				t.Errorf("service %s: %s=%q, want %q from .env", name, k, got, e[k])
			}
		}
	}
	for _, name := range appServices {
		got, passed := env(service(t, p, name), "DATABASE_OWNER_URL")
		if want := slices.Contains(migrationServices, name); passed != want || (want && got != e["DATABASE_OWNER_URL"]) {
			t.Errorf("service %s: DATABASE_OWNER_URL=%q (set: %v), want it only in %v, from .env", name, got, passed, migrationServices)
		}
	}
	requireDependency(t, p, "setup", "migrate", types.ServiceConditionCompletedSuccessfully)
	requireDependency(t, p, "api", "setup", types.ServiceConditionCompletedSuccessfully)

	// Without a managed database, or without its owner's connection, the overlay must refuse to
	// start rather than fall back (to the bundled database, or to migrating as the app's role).
	for _, k := range []string{"DATABASE_URL", "DATABASE_OWNER_URL"} {
		without := maps.Clone(e)
		delete(without, k)
		if _, err := load(t, without, composeFile, managedFile); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("the managed overlay loads without %s (err %v)", k, err)
		}
	}
}
