package app_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
	"github.com/orchestrator-dev/orchestrator/internal/testkit/promnames"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// prometheusOwn are the series Prometheus makes itself for every target.
var prometheusOwn = []string{"up"}

// The alert rules and the dashboard in deploy/ use only metric names a
// running orchestrator exports. `orchestrator dev` runs the API and the
// worker in one process on one registry, so its /metrics is the union of
// what the api and worker processes serve. Several SDK series appear only
// after their event (a workflow completed or failed, a workflow task failed,
// a workflow evicted from a full cache), so the flow makes each happen.
func TestAlertsAndDashboardUseExportedMetrics(t *testing.T) {
	used := map[string][]string{} // metric name -> where it is used
	read := func(path string, exprs func([]byte) ([]promnames.Expr, error)) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("..", "..", path))
		if err != nil {
			t.Fatal(err)
		}
		es, err := exprs(b)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, e := range es {
			names, err := promnames.MetricNames(e.Expr)
			if err != nil {
				t.Fatalf("%s, %s: %v", path, e.Where, err)
			}
			if len(names) == 0 {
				t.Errorf("%s, %s: no metric in %q", path, e.Where, e.Expr)
			}
			for _, n := range names {
				used[n] = append(used[n], path+": "+e.Where)
			}
		}
	}
	read("deploy/prometheus/alerts.yml", promnames.RuleExprs)
	read("deploy/grafana/dashboards/orchestrator.json", promnames.DashboardExprs)
	if len(used) < 20 {
		t.Fatalf("only %d metric names found in the rules and the dashboard: the extraction is broken", len(used))
	}

	env := newEnv(t, storetest.URL(t, store.SQLite))
	env["WORKER_WORKFLOW_CACHE_SIZE"] = "10" // the smallest: twelve escalations overflow it
	s := startStack(t, env)
	agent := s.token("agent-1", support)
	ceo := s.token("ceo-1", support, "approver")
	var ids []string
	for range 12 {
		r := s.do("POST", "/api/approvals", agent, map[string]any{"tenantId": "/teams/support", "title": "Watch me"})
		if r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		ids = append(ids, r.json(t)["id"].(string))
	}
	for _, id := range ids[:2] {
		if r := s.do("PATCH", "/api/approvals/"+id, ceo, map[string]any{"status": "rejected"}); r.status != http.StatusOK {
			t.Fatalf("reject: %d %s", r.status, r.body)
		}
	}
	// A withdrawal is written by a regular activity (a decision, by now,
	// inside its workflow task): the activity series appear.
	if r := s.do("POST", "/api/approvals/"+ids[2]+"/withdraw", agent, map[string]any{"comment": "solved"}); r.status != http.StatusOK {
		t.Fatalf("withdraw: %d %s", r.status, r.body)
	}
	// A workflow type no worker has (workflow task failures) and a
	// consultation that cannot be recorded (a failed workflow).
	ctx := context.Background()
	queue := env["TEMPORAL_TASK_QUEUE"]
	tc := devServer.Client()
	unknown, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "alerts-unknown-" + queue, TaskQueue: queue}, "NoSuchWorkflow")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tc.TerminateWorkflow(ctx, unknown.GetID(), unknown.GetRunID(), "test over") })
	broken, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "alerts-broken-" + queue, TaskQueue: queue},
		contract.ConsultationWorkflow, contract.ConsultationInput{})
	if err != nil {
		t.Fatal(err)
	}
	if err := broken.Get(ctx, nil); err == nil {
		t.Fatal("a consultation without a tenant did not fail: the failed-workflow series will not appear")
	}

	// Counters appear as the worker gets to them; wait for the last (bounded).
	var missing []string
	for deadline := time.Now().Add(60 * time.Second); ; {
		exported := scrapeNames(t, s.base+"/metrics")
		missing = missing[:0]
		for n := range used {
			if !exported[n] && !slices.Contains(prometheusOwn, n) {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	slices.Sort(missing)
	for _, n := range missing {
		t.Errorf("%s is not exported by a running orchestrator; used in\n\t%s", n, strings.Join(used[n], "\n\t"))
	}
}

// scrapeNames returns the sample names of a /metrics page (histograms as
// their _bucket, _sum and _count series).
func scrapeNames(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	names := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}
