package clustertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/orchestrator-dev/orchestrator/internal/devissuer"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
	"github.com/orchestrator-dev/orchestrator/internal/testkit/rig"
	"github.com/orchestrator-dev/orchestrator/internal/testkit/temporalcluster"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

const (
	namespace = "orchestrator-e2e" // created by `orchestrator setup`, not by the harness
	taskQueue = "escalations"
	audience  = "orchestrator-api"
	tenant    = "/teams/support"
)

// The production dynamic config of the compose deployment is applied on top
// of the module's development settings.
const composeDynamicConfig = "../../../deploy/temporal/dynamicconfig/orchestrator.yaml"

// TestProductionShapeOnCluster runs `orchestrator setup`, a worker and an
// api process against a real Temporal cluster and the app's PostgreSQL
// database (as the unprivileged role), then walks an escalation from create
// to consultation over HTTP and checks what ops see in Temporal's SQL
// visibility.
func TestProductionShapeOnCluster(t *testing.T) {
	started := time.Now()
	// An empty database: the owner role migrates it (through setup) and
	// grants the app role, which api and worker connect as.
	db := storetest.NewEmptyPostgres(t) // fails without PostgreSQL in CI
	overlay, err := os.ReadFile(composeDynamicConfig)
	if err != nil {
		t.Fatal(err)
	}
	cluster := temporalcluster.StartT(t, temporalcluster.Options{DynamicConfig: []string{string(overlay)}})
	t.Logf("%s", cluster)

	dir := t.TempDir()
	issuer, issuerURL := startIssuer(t, dir)
	env := func(extra ...string) []string {
		e := []string{
			"DATABASE_URL=" + db.AppURL,
			"DECISION_KEY=cluster-decision-key-0123456789abcdef",
			"TEMPORAL_ADDRESS=" + cluster.Address,
			"TEMPORAL_NAMESPACE=" + namespace,
			"TEMPORAL_TASK_QUEUE=" + taskQueue,
			"OIDC_ISSUER_URL=" + issuerURL,
			"OIDC_AUDIENCE=" + audience,
			"DATA_DIR=" + filepath.Join(dir, "data"),
			"SHUTDOWN_GRACE=5s",
			"LOG_FORMAT=json",
			"LOG_LEVEL=info",
			"JITSI_BASE_URL=https://meet.example.com",
			"JITSI_APP_ID=orchestrator",
			"JITSI_APP_SECRET=a-jitsi-app-secret-of-at-least-32-bytes!",
			"DECISION_KEY=" + strings.Repeat("k", 32) + "-cluster-e2e",
		}
		for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
			if v, ok := os.LookupEnv(k); ok {
				e = append(e, k+"="+v)
			}
		}
		return append(e, extra...)
	}

	// 1. As the compose deployment does: migrate, then setup (migrations
	// again, the namespace, the search attributes on SQL visibility), both
	// with the owner's connection that api and worker never get. A second
	// setup changes nothing.
	t0 := time.Now()
	owner := "DATABASE_OWNER_URL=" + db.OwnerURL
	run(t, env(owner), "migrate")
	out := run(t, env(owner), "setup")
	for _, want := range []string{"database: migrated", "namespace " + namespace + ": created", "search attributes", "registered"} {
		if !strings.Contains(out, want) {
			t.Fatalf("setup output lacks %q:\n%s", want, out)
		}
	}
	if out := run(t, env(owner), "setup"); !strings.Contains(out, "namespace "+namespace+": exists") {
		t.Fatalf("second setup must find the namespace:\n%s", out)
	}
	t.Logf("migrate and setup twice: %s", time.Since(t0).Round(time.Millisecond))

	tc, err := client.Dial(client.Options{HostPort: cluster.Address, Namespace: namespace, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	// `orchestrator setup` returns only once the frontend serves the search
	// attributes (its namespace cache learns them at a refresh, every 2 s):
	// a workflow carrying them starts at the first try.
	searchAttributesUsableAtOnce(t, tc)

	// 2. A worker and an api process, each with its own health address.
	workerAddr, apiAddr := rig.MustFreeAddr(t), rig.MustFreeAddr(t)
	worker := startProc(t, "worker", filepath.Join(dir, "worker.log"), env("WORKER_HTTP_ADDR="+workerAddr),
		rig.HTTPReady("http://"+workerAddr+"/readyz"), "worker")
	api := startProc(t, "api", filepath.Join(dir, "api.log"), env("HTTP_ADDR="+apiAddr, "PUBLIC_BASE_URL=http://"+apiAddr),
		rig.HTTPReady("http://"+apiAddr+"/readyz"), "api")
	h := &httpClient{t: t, base: "http://" + apiAddr}

	mint := func(sub string, roles ...string) string {
		tok, err := issuer.Mint(devissuer.MintOptions{Subject: sub, Name: strings.ToUpper(sub), Groups: []string{tenant}, Roles: roles, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	agent, ceo := mint("agent-1"), mint("ceo-1", "approver")

	// 3. The agent escalates; the CEO approves.
	t1 := time.Now()
	created := h.do("POST", "/api/approvals", agent, map[string]any{
		"tenantId": tenant, "title": "Refund above limit", "description": "2,000 EUR", "priority": "high",
	})
	if created.status != http.StatusCreated {
		t.Fatalf("create: %d %s", created.status, created.body)
	}
	createTook := time.Since(t1)
	ap := created.json(t)
	id, _ := ap["id"].(string)
	if id == "" || ap["status"] != "pending" || ap["priority"] != "high" || ap["requestedBy"] != "agent-1" {
		t.Fatalf("created approval: %s", created.body)
	}
	if r := h.do("GET", "/api/approvals/"+id, agent, nil); r.status != http.StatusOK {
		t.Fatalf("get right after create: %d %s", r.status, r.body)
	}
	pending := h.do("GET", "/api/approvals?tenantId="+url.QueryEscape(tenant)+"&status=pending", agent, nil)
	if pending.status != http.StatusOK || len(items(t, pending)) != 1 {
		t.Fatalf("pending list: %d %s", pending.status, pending.body)
	}
	waitVisibility(t, tc, fmt.Sprintf("TenantId='%s' AND ApprovalStatus='pending'", tenant), []string{"approval-" + id})

	if r := h.do("PATCH", "/api/approvals/"+id, agent, map[string]any{"status": "approved"}); r.status != http.StatusForbidden {
		t.Fatalf("a decision without the approver role: want 403, got %d %s", r.status, r.body)
	}
	t2 := time.Now()
	decided := h.do("PATCH", "/api/approvals/"+id, ceo, map[string]any{"status": "approved", "comment": "go ahead"})
	if decided.status != http.StatusOK {
		t.Fatalf("decide: %d %s", decided.status, decided.body)
	}
	decideTook := time.Since(t2)
	if d := decided.json(t); d["status"] != "approved" || d["approvedBy"] != "ceo-1" || d["comment"] != "go ahead" {
		t.Fatalf("decided approval: %s", decided.body)
	}
	if r := h.do("PATCH", "/api/approvals/"+id, ceo, map[string]any{"status": "rejected"}); r.status != http.StatusConflict {
		t.Fatalf("a second decision: want 409, got %d %s", r.status, r.body)
	}
	t.Logf("create answered in %s, decide in %s", createTook.Round(time.Millisecond), decideTook.Round(time.Millisecond))

	// 4. The consultation the approval opened, and its workflow on the
	// cluster.
	var cons map[string]any
	eventually(t, 20*time.Second, "the approval's consultation", func() error {
		r := h.do("GET", "/api/consultations?tenantId="+url.QueryEscape(tenant), agent, nil)
		if r.status != http.StatusOK {
			return fmt.Errorf("%d %s", r.status, r.body)
		}
		for _, it := range items(t, r) {
			if c := it.(map[string]any); c["approvalId"] == id {
				cons = c
				return nil
			}
		}
		return fmt.Errorf("none for approval %s in %s", id, r.body)
	})
	consID, _ := cons["id"].(string)
	if cons["status"] != "scheduled" || cons["tenantId"] != tenant || !strings.HasPrefix(fmt.Sprint(cons["joinUrl"]), "https://meet.example.com/") {
		t.Fatalf("consultation: %v", cons)
	}
	// The escalation runs the consultation its approval opened (issue 22):
	// the row names it as the owner, and it keeps running, waiting for the
	// start.
	runner := consultationOwner(t, db, consID)
	if want := contract.EscalationWorkflowID(id); runner != want {
		t.Fatalf("consultation %s: run by %s, want the escalation's workflow %s", consID, runner, want)
	}
	eventually(t, 20*time.Second, "the consultation's workflow running", func() error {
		d, err := tc.DescribeWorkflow(context.Background(), runner, "")
		if err != nil {
			return err
		}
		if s := d.RawResponse.GetWorkflowExecutionInfo().GetStatus(); s != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return fmt.Errorf("status %s", s)
		}
		q, err := tc.QueryWorkflow(context.Background(), runner, "", contract.QueryState)
		if err != nil {
			return fmt.Errorf("state query: %w", err)
		}
		var state contract.EscalationState
		if err := q.Get(&state); err != nil {
			return fmt.Errorf("state query: %w", err)
		}
		if state.ConsultationID != consID || state.Consultation == nil || state.Consultation.Status != "scheduled" {
			return fmt.Errorf("state: consultation %q %+v", state.ConsultationID, state.Consultation)
		}
		return nil
	})

	// 5. The audit trail of the approval.
	eventually(t, 20*time.Second, "the audit trail", func() error {
		r := h.do("GET", "/api/audit/resource/approval/"+id, agent, nil)
		if r.status != http.StatusOK {
			return fmt.Errorf("%d %s", r.status, r.body)
		}
		var actions []string
		var approved map[string]any
		for _, it := range items(t, r) {
			e := it.(map[string]any)
			actions = append(actions, fmt.Sprint(e["action"]))
			if e["action"] == "approval.approved" {
				approved = e
			}
		}
		if !slices.Contains(actions, "approval.created") || approved == nil {
			return fmt.Errorf("want approval.created and approval.approved, got %v", actions)
		}
		old, _ := approved["oldValues"].(map[string]any)
		nw, _ := approved["newValues"].(map[string]any)
		if approved["userId"] != "ceo-1" || old["status"] != "pending" || nw["status"] != "approved" {
			return fmt.Errorf("decision entry: %v", approved)
		}
		return nil
	})

	// 6. What ops see: the search attributes on SQL visibility, queried with
	// the SDK and, when it is at hand, with the Temporal CLI.
	q := fmt.Sprintf("TenantId='%s' AND ApprovalStatus='approved'", tenant)
	waitVisibility(t, tc, q, []string{"approval-" + id})
	waitVisibility(t, tc, fmt.Sprintf("TenantId='%s' AND ApprovalStatus='pending'", tenant), nil)
	waitVisibility(t, tc, "Priority='high' AND RequestedBy='agent-1'", []string{"approval-" + id})
	if cli := os.Getenv("TEMPORAL_CLI"); cli != "" {
		out, err := exec.Command(cli, "workflow", "list", "--address", cluster.Address, "--namespace", namespace,
			"--query", q, "--output", "json").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "approval-"+id) {
			t.Errorf("temporal workflow list --query %q: %v\n%s", q, err, out)
		}
	}

	// 7. An ops decision by signal, as the README shows it: the workflow
	// applies the API's rules and records the channel ops-signal.
	second := h.do("POST", "/api/approvals", agent, map[string]any{"tenantId": tenant, "title": "Suspicious refund"})
	if second.status != http.StatusCreated {
		t.Fatalf("create: %d %s", second.status, second.body)
	}
	id2 := second.json(t)["id"].(string)
	if err := tc.SignalWorkflow(context.Background(), "approval-"+id2, "", "decision", map[string]any{
		"status": "rejected", "deciderId": "ops-jane", "deciderName": "Jane (ops)", "comment": "fraud",
	}); err != nil {
		t.Fatalf("signal decision: %v", err)
	}
	eventually(t, 20*time.Second, "the ops decision applied", func() error {
		r := h.do("GET", "/api/approvals/"+id2, agent, nil)
		if m := r.json(t); m["status"] != "rejected" || m["approvedBy"] != "ops-jane" {
			return fmt.Errorf("%s", r.body)
		}
		r = h.do("GET", "/api/audit/resource/approval/"+id2, agent, nil)
		for _, it := range items(t, r) {
			if e := it.(map[string]any); e["action"] == "approval.rejected" && e["channel"] == "ops-signal" {
				return nil
			}
		}
		return fmt.Errorf("no approval.rejected entry with channel ops-signal: %s", r.body)
	})
	waitVisibility(t, tc, fmt.Sprintf("TenantId='%s' AND ApprovalStatus='rejected'", tenant), []string{"approval-" + id2})

	// 8. Both processes drain and exit cleanly on SIGTERM.
	api.terminate(20 * time.Second)
	worker.terminate(20 * time.Second)
	if cluster.Exited() {
		t.Fatalf("the Temporal server exited during the test\n%s", temporalcluster.Tail(cluster.LogPath, 60))
	}
	t.Logf("whole test: %s", time.Since(started).Round(time.Millisecond))
}

// searchAttributesUsableAtOnce starts (and terminates) a probe workflow
// carrying the search attributes, once: setup must have waited until the
// frontend accepts them (a create right after setup failed with "no mapping
// defined for search attribute" before it did).
func searchAttributesUsableAtOnce(t *testing.T, tc client.Client) {
	t.Helper()
	_, err := tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: "setup-probe", TaskQueue: "setup-probe", WorkflowExecutionTimeout: time.Minute,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			contract.TenantIDKey.ValueSet("setup-probe"), contract.ApprovalIDKey.ValueSet("setup-probe")),
	}, "SetupProbe")
	if err != nil {
		t.Fatalf("a start carrying the search attributes right after setup: %v", err)
	}
	if err := tc.TerminateWorkflow(context.Background(), "setup-probe", "", "probe"); err != nil {
		t.Fatal(err)
	}
}

// startIssuer serves a dev OIDC issuer on a loopback port; the api verifies
// its tokens through the same code path as Keycloak's.
func startIssuer(t *testing.T, dir string) (*devissuer.Issuer, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	iss, err := devissuer.Open(filepath.Join(dir, "issuer"), u, audience)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: iss.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return iss, u
}

// run executes one command of the binary to its end and returns its output.
func run(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("orchestrator %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// waitVisibility polls visibility (eventually consistent) until query
// returns exactly the workflow ids want.
func waitVisibility(t *testing.T, tc client.Client, query string, want []string) {
	t.Helper()
	sort.Strings(want)
	eventually(t, 20*time.Second, "visibility "+query, func() error {
		resp, err := tc.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, Query: query})
		if err != nil {
			return err
		}
		got := []string{}
		for _, e := range resp.Executions {
			got = append(got, e.GetExecution().GetWorkflowId())
		}
		sort.Strings(got)
		if !slices.Equal(got, append([]string{}, want...)) {
			return fmt.Errorf("want %v, got %v", want, got)
		}
		return nil
	})
}

func eventually(t *testing.T, limit time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s: %v", what, limit, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type httpClient struct {
	t    *testing.T
	base string
}

type response struct {
	status int
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("not a JSON object (%d): %v: %s", r.status, err, r.body)
	}
	return m
}

func items(t *testing.T, r response) []any {
	t.Helper()
	it, ok := r.json(t)["items"].([]any)
	if !ok {
		t.Fatalf("no items in %s", r.body)
	}
	return it
}

func (c *httpClient) do(method, path, token string, body any) response {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, body: b}
}

type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}

// consultationOwner reads the workflow that runs consultation id from its
// row (workflow_id, which no API view shows), as the superuser on the
// test's database: row-level security binds even the tables' owner.
func consultationOwner(t *testing.T, db storetest.Postgres, id string) string {
	t.Helper()
	u, err := url.Parse(storetest.AdminURL())
	if err != nil {
		t.Fatalf("parse TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + db.Name
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatalf("connect as the superuser: %v", err)
	}
	defer conn.Close(context.Background())
	var wid *string
	if err := conn.QueryRow(ctx, `SELECT workflow_id FROM consultations WHERE id = $1`, id).Scan(&wid); err != nil {
		t.Fatalf("read consultation %s: %v", id, err)
	}
	return contract.ConsultationOwner(store.Consultation{ID: id, WorkflowID: wid})
}
