package composetest

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"
)

// prometheusConfig is the part of deploy/prometheus/prometheus.yml the stack relies on.
type prometheusConfig struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName      string `yaml:"job_name"`
		DNSSDConfigs []struct {
			Names []string `yaml:"names"`
			Type  string   `yaml:"type"`
			Port  int      `yaml:"port"`
		} `yaml:"dns_sd_configs"`
	} `yaml:"scrape_configs"`
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), path))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// mountedAt returns the host path bind-mounted at target in s, or "".
func mountedAt(s types.ServiceConfig, target string) string {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind && v.Target == target {
			return v.Source
		}
	}
	return ""
}

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return p
}

// Prometheus scrapes every api and worker replica where they serve /metrics, under the job
// names the alert rules match, and loads the rules the repository tests.
func TestPrometheusScrapesTheAppAndLoadsTheTestedRules(t *testing.T) {
	root := repoRoot(t)
	p := mustLoad(t, exampleEnv(t))
	prom := service(t, p, "prometheus")
	if src := mountedAt(prom, "/etc/prometheus/prometheus.yml"); src != filepath.Join(root, "deploy/prometheus/prometheus.yml") {
		t.Errorf("prometheus mounts %q as its configuration, want deploy/prometheus/prometheus.yml", src)
	}
	var cfg prometheusConfig
	readYAML(t, "deploy/prometheus/prometheus.yml", &cfg)
	if len(cfg.RuleFiles) == 0 {
		t.Error("prometheus.yml loads no rule file")
	}
	for _, f := range cfg.RuleFiles {
		if src := mountedAt(prom, f); src != filepath.Join(root, "deploy/prometheus/alerts.yml") {
			t.Errorf("prometheus.yml loads %s, where the service mounts %q, not deploy/prometheus/alerts.yml", f, src)
		}
	}

	want := map[string]struct{ service, port string }{
		"orchestrator-api":    {"api", port(t, mustEnv(t, service(t, p, "api"), "HTTP_ADDR"))},
		"orchestrator-worker": {"worker", port(t, mustEnv(t, service(t, p, "worker"), "WORKER_HTTP_ADDR"))},
	}
	var jobs []string
	for _, sc := range cfg.ScrapeConfigs {
		jobs = append(jobs, sc.JobName)
		w, ok := want[sc.JobName]
		if !ok {
			continue
		}
		// One A record per replica: `--scale` needs no change to the configuration.
		if len(sc.DNSSDConfigs) != 1 || !slices.Equal(sc.DNSSDConfigs[0].Names, []string{w.service}) ||
			sc.DNSSDConfigs[0].Type != "A" {
			t.Errorf("job %s: want the A records of service %s, have %+v", sc.JobName, w.service, sc.DNSSDConfigs)
			continue
		}
		if got := sc.DNSSDConfigs[0].Port; got == 0 || w.port != strconv.Itoa(got) {
			t.Errorf("job %s scrapes port %d, but %s serves /metrics on %s", sc.JobName, got, w.service, w.port)
		}
	}
	for job := range want {
		if !slices.Contains(jobs, job) {
			t.Errorf("prometheus.yml has no job %s (have %v)", job, jobs)
		}
	}

	// Every job matcher of the rules names (or matches) a job Prometheus has.
	rules, err := os.ReadFile(filepath.Join(root, "deploy/prometheus/alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	matchers := regexp.MustCompile(`\bjob\s*(=~|=)\s*"([^"]*)"`).FindAllStringSubmatch(string(rules), -1)
	if len(matchers) == 0 {
		t.Fatal("alerts.yml matches no job: the test below would check nothing")
	}
	for _, m := range matchers {
		re := regexp.MustCompile("^(?:" + regexp.QuoteMeta(m[2]) + ")$")
		if m[1] == "=~" {
			re = regexp.MustCompile("^(?:" + m[2] + ")$")
		}
		if !slices.ContainsFunc(jobs, re.MatchString) {
			t.Errorf("alerts.yml matches job%s%q, which is none of prometheus.yml's jobs %v", m[1], m[2], jobs)
		}
	}
}

// Grafana shows the repository's dashboard on the stack's Prometheus, behind a password from
// .env, on this host only; Prometheus has no authentication, so it is on this host only too.
func TestGrafanaProvisionsTheDashboard(t *testing.T) {
	root := repoRoot(t)
	p := mustLoad(t, exampleEnv(t))
	g := service(t, p, "grafana")
	if src := mountedAt(g, "/etc/grafana/provisioning"); src != filepath.Join(root, "deploy/grafana/provisioning") {
		t.Errorf("grafana mounts %q as its provisioning, want deploy/grafana/provisioning", src)
	}
	var providers struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, "deploy/grafana/provisioning/dashboards/orchestrator.yml", &providers)
	if len(providers.Providers) != 1 {
		t.Fatalf("want one dashboard provider, have %d", len(providers.Providers))
	}
	dir := providers.Providers[0].Options.Path
	if src := mountedAt(g, dir); src != filepath.Join(root, "deploy/grafana/dashboards") {
		t.Errorf("the dashboards are read from %s, where grafana mounts %q, not deploy/grafana/dashboards", dir, src)
	}
	var ds struct {
		Datasources []struct {
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	readYAML(t, "deploy/grafana/provisioning/datasources/prometheus.yml", &ds)
	promPort := ""
	for _, pp := range service(t, p, "prometheus").Ports {
		promPort = strconv.Itoa(int(pp.Target))
	}
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].URL != "http://prometheus:"+promPort {
		t.Errorf("data sources %+v, want the prometheus service at http://prometheus:%s", ds.Datasources, promPort)
	}

	for _, name := range []string{"prometheus", "grafana"} {
		for _, pp := range service(t, p, name).Ports {
			if pp.HostIP != "127.0.0.1" {
				t.Errorf("service %s publishes %s->%d on %q: bind it to 127.0.0.1", name, pp.Published, pp.Target, pp.HostIP)
			}
		}
	}
	e := exampleEnv(t)
	if e["GRAFANA_ADMIN_PASSWORD"] == "" {
		t.Fatalf("GRAFANA_ADMIN_PASSWORD has no placeholder in %s", envExample)
	}
	delete(e, "GRAFANA_ADMIN_PASSWORD")
	if _, err := load(t, e); err == nil || !strings.Contains(err.Error(), "GRAFANA_ADMIN_PASSWORD") {
		t.Errorf("compose loads without GRAFANA_ADMIN_PASSWORD (err %v): Grafana would start with its default admin password", err)
	}
}

// Every alert links its own entry of the runbook, and the entry exists.
func TestEveryAlertHasARunbookEntry(t *testing.T) {
	root := repoRoot(t)
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, "deploy/prometheus/alerts.yml", &rules)
	doc, err := os.ReadFile(filepath.Join(root, "docs/operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	headings := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		if h, ok := strings.CutPrefix(line, "### "); ok {
			headings[strings.TrimSpace(h)] = true
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if !headings[r.Alert] {
				t.Errorf("alert %s has no entry (### %s) in docs/operations.md", r.Alert, r.Alert)
			}
			if want := "docs/operations.md#" + strings.ToLower(r.Alert); r.Annotations["runbook_url"] != want {
				t.Errorf("alert %s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
			}
			if r.Annotations["summary"] == "" {
				t.Errorf("alert %s has no summary", r.Alert)
			}
		}
	}
	if n < 6 {
		t.Fatalf("only %d alerts in deploy/prometheus/alerts.yml", n)
	}
}
