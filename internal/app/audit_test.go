package app_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchestrator-dev/orchestrator/internal/app"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// auditDB is a database with audit entries, the env the CLI reads, and a
// way to write to it around the store (as its owner would).
type auditDB struct {
	s      *store.Store
	env    map[string]string
	tamper func(t *testing.T, q string, args ...any)
}

func newAuditDB(t *testing.T, d store.Dialect) auditDB {
	t.Helper()
	ctx := context.Background()
	var db auditDB
	if d == store.SQLite {
		url := storetest.URL(t, d)
		s, err := store.Open(ctx, url, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		raw, err := sql.Open("sqlite", strings.TrimPrefix(url, "sqlite://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = raw.Close() })
		db = auditDB{s: s, env: map[string]string{"DATABASE_URL": url}, tamper: func(t *testing.T, q string, args ...any) {
			t.Helper()
			if _, err := raw.Exec(q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}}
	} else {
		pg := storetest.NewPostgres(t)
		s, err := store.Open(ctx, pg.AppURL, store.Options{MaxOpenConns: 2})
		if err != nil {
			t.Fatal(err)
		}
		db = auditDB{s: s, env: map[string]string{"DATABASE_URL": pg.AppURL}, tamper: func(t *testing.T, q string, args ...any) {
			t.Helper()
			conn, err := pgx.Connect(ctx, pg.OwnerURL)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = tx.Rollback(ctx) }()
			if _, err := tx.Exec(ctx, "SELECT set_config('app.tenant_ids', '/teams/support'||chr(31)||'/teams/sales', true)"); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}}
	}
	t.Cleanup(func() { _ = db.s.Close() })
	return db
}

// seedAudit writes n entries of tenant with varied JSON and returns their ids.
func seedAudit(t *testing.T, s *store.Store, tenant string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		e, err := s.AppendAudit(context.Background(), &store.AuditLog{
			Action: "ticket.updated", Resource: "ticket", ResourceID: fmt.Sprintf("T-%d", i), UserID: "svc",
			UserName: "Zoë <svc> & co", Channel: store.ChannelAPIClient, TenantID: tenant,
			OldValues: store.JSON(fmt.Sprintf(`{"z": "a\"b\\c", "n": %d.0}`, i)),
			NewValues: store.JSON(`{"note": "héllo\n€ 😀", "list": [1, 2.5, true, null], "nested": {"b": 1, "a": {}}}`),
			CreatedAt: s.Now().Add(time.Duration(i) * time.Millisecond),
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

func runAuditCLI(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := app.RunWithEnv(context.Background(), append([]string{"audit", "verify"}, args...),
		func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &out, io.Discard)
	return out.String(), err
}

// `orchestrator audit verify` checks every tenant's chain straight from the
// database (exit 0), and names the entry changed, deleted or moved directly
// in the database (exit 1), on both databases.
func TestAuditVerifyCommand(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			cases := []struct {
				name   string
				tamper func(t *testing.T, db auditDB, ids []string)
				want   string
			}{
				{"untouched", nil, "ok /teams/support: 4 entries"},
				{"changed", func(t *testing.T, db auditDB, ids []string) {
					db.tamper(t, "UPDATE audit_logs SET action = 'ticket.deleted' WHERE id = $1", ids[1])
				}, "BROKEN /teams/support at seq 2: changed"},
				{"deleted", func(t *testing.T, db auditDB, ids []string) {
					db.tamper(t, "DELETE FROM audit_logs WHERE id = $1", ids[2])
				}, "BROKEN /teams/support at seq 3: missing"},
				{"swapped", func(t *testing.T, db auditDB, ids []string) {
					db.tamper(t, "UPDATE audit_logs SET seq = 99 WHERE id = $1", ids[0])
					db.tamper(t, "UPDATE audit_logs SET seq = 1 WHERE id = $1", ids[1])
					db.tamper(t, "UPDATE audit_logs SET seq = 2 WHERE id = $1", ids[0])
				}, "BROKEN /teams/support at seq 1: reordered"},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					db := newAuditDB(t, d)
					ids := seedAudit(t, db.s, "/teams/support", 4)
					seedAudit(t, db.s, "/teams/sales", 2)
					if tc.tamper != nil {
						tc.tamper(t, db, ids)
					}
					out, err := runAuditCLI(t, db.env, "--no-anchors")
					if !strings.Contains(out, tc.want) || !strings.Contains(out, "ok /teams/sales: 2 entries") {
						t.Fatalf("audit verify printed:\n%s\nwant %q and the other tenant ok", out, tc.want)
					}
					if (tc.tamper == nil) != (err == nil) {
						t.Fatalf("audit verify: err %v (the exit status)", err)
					}
					// One tenant only.
					out, err = runAuditCLI(t, db.env, "--no-anchors", "--tenant", "/teams/sales", "--json")
					if err != nil || strings.Contains(out, "support") || !strings.Contains(out, `"valid":true`) {
						t.Fatalf("audit verify --tenant /teams/sales: %s %v", out, err)
					}
				})
			}
		})
	}
}

// An export verifies offline, with `audit verify --file` and with the
// script docs/audit.md gives; an export edited after the fact does not.
func TestAuditExportVerifiesOffline(t *testing.T) {
	recipe := auditRecipe(t)
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			db := newAuditDB(t, d)
			seedAudit(t, db.s, "/teams/support", 5)
			var buf bytes.Buffer
			if err := db.s.ExportAudit(context.Background(), store.ScopeOf("/teams/support"), "/teams/support", time.Time{}, time.Time{},
				func(r *store.AuditRecord) error { return jsonLine(&buf, r) }); err != nil {
				t.Fatal(err)
			}
			lines := strings.SplitAfter(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if len(lines) != 5 {
				t.Fatalf("export: %d lines\n%s", len(lines), buf.String())
			}
			lines[len(lines)-1] += "\n"
			variants := []struct {
				name, body, cli, script string
			}{
				{"intact", strings.Join(lines, ""), "ok /teams/support: 5 entries", "OK: seq 1 to 5"},
				{"a range", strings.Join(lines[2:], ""), "3 entries (seq 3 to 5: a range", "OK: seq 3 to 5"},
				{"changed", strings.Join(lines[:1], "") + strings.Replace(lines[1], "T-1", "T-7", 1) + strings.Join(lines[2:], ""),
					"at seq 2: changed", "BROKEN at seq 2: changed"},
				{"deleted", strings.Join(lines[:2], "") + strings.Join(lines[3:], ""), "at seq 3: missing", "BROKEN at seq 3"},
				{"swapped", lines[0] + lines[2] + lines[1] + strings.Join(lines[3:], ""), "at seq 2: reordered", "BROKEN at seq 2"},
			}
			for _, v := range variants {
				t.Run(v.name, func(t *testing.T) {
					path := filepath.Join(t.TempDir(), "export.jsonl")
					if err := os.WriteFile(path, []byte(v.body), 0o600); err != nil {
						t.Fatal(err)
					}
					out, err := runAuditCLI(t, nil, "--file", path)
					if !strings.Contains(out, v.cli) || (err == nil) != (v.name == "intact" || v.name == "a range") {
						t.Errorf("audit verify --file: %q, %v; want %q", out, err, v.cli)
					}
					if recipe == "" {
						return
					}
					cmd := exec.Command("bash", "-c", recipe, "verify-export.sh", path)
					got, err := cmd.CombinedOutput()
					if !strings.Contains(string(got), v.script) || (err == nil) != strings.HasPrefix(v.script, "OK") {
						t.Errorf("the docs' script: %q, %v; want %q", got, err, v.script)
					}
				})
			}
		})
	}
}

// jsonLine writes r as the API's export does.
func jsonLine(w io.Writer, r *store.AuditRecord) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// auditRecipe is the offline script of docs/audit.md; "" (skipped, loudly)
// where bash, jq or sha256sum are missing, except in CI.
func auditRecipe(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/audit.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- recipe:start -->\n```bash\n")
	script, _, ok2 := strings.Cut(rest, "```\n<!-- recipe:end -->")
	if !ok || !ok2 {
		t.Fatal("docs/audit.md: the recipe markers are gone")
	}
	for _, tool := range []string{"bash", "jq", "sha256sum", "paste"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is needed for the offline recipe test: %v", tool, err)
			}
			t.Logf("SKIPPING the docs' script: no %s", tool)
			return ""
		}
	}
	return script
}

// An escalation that ends records its tenant's chain head in its result;
// `audit verify` (CLI and API) finds it through Temporal's visibility and
// holds the database to it: deleting the newest entries, which leaves a
// chain consistent in itself, is reported.
func TestAuditAnchorsInTemporal(t *testing.T) {
	url := storetest.URL(t, store.SQLite)
	env := newEnv(t, url)
	s := startStack(t, env)
	tenant := "/teams/audit-" + filepath.Base(t.TempDir())
	agent := s.token("agent-1", []string{tenant})
	ceo := s.token("ceo-1", []string{tenant}, "approver")

	created := s.do("POST", "/api/approvals", agent, map[string]any{"tenantId": tenant, "title": "Refund above limit"})
	if created.status != http.StatusCreated {
		t.Fatalf("create: %d %s", created.status, created.body)
	}
	id := created.json(t)["id"].(string)
	if r := s.do("PATCH", "/api/approvals/"+id, ceo, map[string]any{"status": "rejected", "comment": "no"}); r.status != http.StatusOK {
		t.Fatalf("decide: %d %s", r.status, r.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var state contract.EscalationState
	if err := devServer.Client().GetWorkflow(ctx, "approval-"+id, "").Get(ctx, &state); err != nil {
		t.Fatalf("the escalation's result: %v", err)
	}
	if state.AuditHead == nil || state.AuditHead.Seq < 2 || len(state.AuditHead.Hash) != 64 {
		t.Fatalf("the result carries no audit head: %+v", state.AuditHead)
	}
	waitVisibility(t, fmt.Sprintf("ExecutionStatus='Completed' AND TenantId='%s' AND WorkflowId='approval-%s'", tenant, id))

	out, err := runAuditCLI(t, env, "--tenant", tenant)
	if err != nil || !strings.Contains(out, "ok "+tenant) || !strings.Contains(out, "1 anchors checked") {
		t.Fatalf("audit verify with Temporal: %q %v", out, err)
	}
	v := s.do("GET", "/api/audit/verify?tenantId="+neturl.QueryEscape(tenant), ceo, nil).json(t)
	if v["valid"] != true || v["anchorsChecked"] != float64(1) {
		t.Fatalf("GET /api/audit/verify: %v", v)
	}

	// The newest entries deleted: the chain alone still verifies, the
	// anchor does not.
	raw, err := sql.Open("sqlite", strings.TrimPrefix(url, "sqlite://"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec("DELETE FROM audit_logs WHERE tenant_id = $1 AND seq >= $2", tenant, state.AuditHead.Seq); err != nil {
		t.Fatal(err)
	}
	if out, err := runAuditCLI(t, env, "--tenant", tenant, "--no-anchors"); err != nil {
		t.Fatalf("without anchors the cut chain verifies: %q %v", out, err)
	}
	out, err = runAuditCLI(t, env, "--tenant", tenant)
	want := fmt.Sprintf("BROKEN %s at seq %d: missing", tenant, state.AuditHead.Seq)
	if err == nil || !strings.Contains(out, want) {
		t.Fatalf("audit verify after the cut: %q %v; want %q", out, err, want)
	}
}
