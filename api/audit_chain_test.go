package api_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	commonpb "go.temporal.io/api/common/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/orchestrator-dev/orchestrator/api"
	"github.com/orchestrator-dev/orchestrator/internal/auth"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"

	_ "github.com/glebarez/go-sqlite" // direct writes to the SQLite file
)

const chainTenant = "/teams/support"

// chainAuth: "ceo" approves in the tenant, "agent" is a member only.
type chainAuth struct{}

func (chainAuth) Verify(_ context.Context, raw string) (*auth.Principal, error) {
	p := &auth.Principal{Subject: raw, Groups: []string{chainTenant}}
	switch raw {
	case "ceo":
		p.Roles = []string{"approver"}
	case "agent":
	default:
		return nil, &auth.Error{Reason: "unknown token"}
	}
	return p, nil
}

func (chainAuth) Ready(context.Context) error { return nil }

// anchorTemporal holds ended escalations whose results carry audit heads.
type anchorTemporal struct {
	client.Client
	heads map[string]store.AuditHead
}

func (f anchorTemporal) ListWorkflow(_ context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	if !strings.Contains(req.GetQuery(), "TenantId = '"+chainTenant+"'") || !strings.Contains(req.GetQuery(), "ExecutionStatus = 'Completed'") {
		return nil, fmt.Errorf("unexpected query %q", req.GetQuery())
	}
	out := &workflowservice.ListWorkflowExecutionsResponse{}
	for id := range f.heads {
		out.Executions = append(out.Executions, &workflowpb.WorkflowExecutionInfo{
			Execution: &commonpb.WorkflowExecution{WorkflowId: id, RunId: "run-" + id}})
	}
	return out, nil
}

func (f anchorTemporal) GetWorkflow(_ context.Context, id, _ string) client.WorkflowRun {
	h := f.heads[id]
	return anchorRun{state: contract.EscalationState{Phase: "done", AuditHead: &h}}
}

type anchorRun struct {
	client.WorkflowRun
	state contract.EscalationState
}

func (r anchorRun) Get(_ context.Context, v any) error {
	*v.(*contract.EscalationState) = r.state
	return nil
}

type chainRig struct {
	h        http.Handler
	s        *store.Store
	ids      []string
	temporal *anchorTemporal
	exec     func(t *testing.T, q string, args ...any)
}

func newChainRig(t *testing.T, d store.Dialect) *chainRig {
	t.Helper()
	ctx := context.Background()
	r := &chainRig{temporal: &anchorTemporal{heads: map[string]store.AuditHead{}}}
	if d == store.SQLite {
		u := storetest.URL(t, d)
		s, err := store.Open(ctx, u, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		if _, err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		r.s = s
		// A second handle on the same file, as anyone holding it.
		raw, err := sql.Open("sqlite", strings.TrimPrefix(u, "sqlite://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = raw.Close() })
		r.exec = func(t *testing.T, q string, args ...any) {
			t.Helper()
			if _, err := raw.Exec(q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	} else {
		pg := storetest.NewPostgres(t)
		s, err := store.Open(ctx, pg.AppURL, store.Options{MaxOpenConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		r.s = s
		r.exec = func(t *testing.T, q string, args ...any) {
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
			if _, err := tx.Exec(ctx, "SELECT set_config('app.tenant_ids', $1, true)", chainTenant); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 5 {
		e, err := r.s.AppendAudit(ctx, &store.AuditLog{
			Action: "ticket.updated", Resource: "ticket", ResourceID: fmt.Sprintf("T-%d", i), UserID: "svc",
			Channel: store.ChannelAPIClient, TenantID: chainTenant, NewValues: store.JSON(`{"b": 2, "a": [1, 2]}`),
			CreatedAt: r.s.Now().Add(time.Duration(i) * time.Millisecond),
		})
		if err != nil {
			t.Fatal(err)
		}
		r.ids = append(r.ids, e.ID)
		if i == 2 || i == 4 {
			// Escalations that ended after the third and the fifth entry.
			r.temporal.heads[fmt.Sprintf("escalation-%d", i)] = store.AuditHead{Seq: e.Seq, Hash: e.Hash}
		}
	}
	r.h = api.New(api.Deps{
		Store: r.s, Temporal: *r.temporal, Auth: chainAuth{}, Log: hostileLogger(), TaskQueue: "escalations",
		ApproverRole: "approver", ConsultationMaxDuration: time.Hour, ConsultationStartTimeout: time.Hour, Timeout: 10 * time.Second,
	})
	return r
}

func (r *chainRig) get(t *testing.T, token, path string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	r.h.ServeHTTP(rec, req)
	return rec
}

func (r *chainRig) verify(t *testing.T) store.AuditVerification {
	t.Helper()
	rec := r.get(t, "ceo", "/api/audit/verify?tenantId="+url.QueryEscape(chainTenant))
	if rec.Code != http.StatusOK {
		t.Fatalf("verify: %d %s", rec.Code, rec.Body)
	}
	var v store.AuditVerification
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// GET /api/audit/verify reports the entry changed, deleted or moved
// directly in the database, and a chain rewritten or cut consistently by
// its anchors in Temporal; an untouched chain verifies against them.
func TestAuditVerifyRoute(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			cases := []struct {
				name   string
				tamper func(t *testing.T, r *chainRig)
				seq    int64
				reason string
			}{
				{"untouched", nil, 0, ""},
				{"changed", func(t *testing.T, r *chainRig) {
					r.exec(t, "UPDATE audit_logs SET user_name = 'someone else' WHERE id = $1", r.ids[1])
				}, 2, store.BrokenChanged},
				{"deleted", func(t *testing.T, r *chainRig) {
					r.exec(t, "DELETE FROM audit_logs WHERE id = $1", r.ids[3])
				}, 4, store.BrokenMissing},
				{"swapped", func(t *testing.T, r *chainRig) {
					r.exec(t, "UPDATE audit_logs SET seq = 77 WHERE id = $1", r.ids[2])
					r.exec(t, "UPDATE audit_logs SET seq = 3 WHERE id = $1", r.ids[3])
					r.exec(t, "UPDATE audit_logs SET seq = 4 WHERE id = $1", r.ids[2])
				}, 3, store.BrokenReordered},
				{"last deleted: the anchor shows it", func(t *testing.T, r *chainRig) {
					r.exec(t, "DELETE FROM audit_logs WHERE id = $1", r.ids[4])
				}, 5, store.BrokenMissing},
				{"rewritten with fresh hashes: the anchor shows it", func(t *testing.T, r *chainRig) {
					r.rewriteFrom(t, 1)
				}, 3, store.BrokenChanged},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					r := newChainRig(t, d)
					if tc.tamper != nil {
						tc.tamper(t, r)
					}
					v := r.verify(t)
					if v.AnchorsChecked != 2 {
						t.Errorf("anchors checked: %d, want 2", v.AnchorsChecked)
					}
					if tc.reason == "" {
						if !v.Valid || v.Entries != 5 || v.Head.Seq != 5 {
							t.Fatalf("want valid, got %+v", v)
						}
						return
					}
					if v.Valid || v.BrokenSeq == nil || *v.BrokenSeq != tc.seq || v.Reason != tc.reason {
						t.Fatalf("want broken at %d (%s), got %+v", tc.seq, tc.reason, v)
					}
				})
			}
		})
	}
}

// rewriteFrom changes the entry at index i and recomputes its hash and
// every later one: a chain consistent in itself.
func (r *chainRig) rewriteFrom(t *testing.T, i int) {
	t.Helper()
	var recs []store.AuditRecord
	if err := r.s.ExportAudit(context.Background(), store.ScopeOf(chainTenant), chainTenant, time.Time{}, time.Time{},
		func(rec *store.AuditRecord) error { recs = append(recs, *rec); return nil }); err != nil {
		t.Fatal(err)
	}
	prev := recs[i].PrevHash
	for j := i; j < len(recs); j++ {
		e, err := recs[j].Entry()
		if err != nil {
			t.Fatal(err)
		}
		if j == i {
			e.UserID = "ceo-1"
		}
		h, err := store.AuditHash(e, prev)
		if err != nil {
			t.Fatal(err)
		}
		r.exec(t, "UPDATE audit_logs SET user_id = $1, prev_hash = $2, hash = $3 WHERE id = $4", e.UserID, prev, h, e.ID)
		prev = h
	}
	if v := r.verifyWithoutAnchors(t); !v.Valid {
		t.Fatalf("the rewritten chain should be consistent in itself: %+v", v)
	}
}

func (r *chainRig) verifyWithoutAnchors(t *testing.T) *store.AuditVerification {
	v, err := r.s.VerifyAudit(context.Background(), store.ScopeOf(chainTenant), chainTenant)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Verify and export need approver authority in a tenant the caller belongs
// to; the export is JSON Lines that verifies offline.
func TestAuditExportRoute(t *testing.T) {
	r := newChainRig(t, store.SQLite)
	q := "?tenantId=" + url.QueryEscape(chainTenant)
	for _, c := range []struct {
		token, path string
		want        int
	}{
		{"agent", "/api/audit/verify" + q, 403},
		{"agent", "/api/audit/export" + q, 403},
		{"ceo", "/api/audit/verify?tenantId=" + url.QueryEscape("/teams/other"), 403},
		{"ceo", "/api/audit/export?tenantId=" + url.QueryEscape("/teams/other"), 403},
		{"ceo", "/api/audit/export" + q + "&from=yesterday", 400},
	} {
		if rec := r.get(t, c.token, c.path); rec.Code != c.want {
			t.Errorf("%s as %s: %d, want %d", c.path, c.token, rec.Code, c.want)
		}
	}
	rec := r.get(t, "ceo", "/api/audit/export"+q)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/jsonl" {
		t.Fatalf("export: %d %s", rec.Code, rec.Header())
	}
	var recs []store.AuditRecord
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		var rr store.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &rr); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rr)
	}
	v, err := store.VerifyAuditRecords(recs)
	if err != nil || !v.Valid || v.Entries != 5 || len(recs) != 5 || string(recs[0].NewValues) != `{"a":[1,2],"b":2}` {
		t.Fatalf("the export: %+v %v %s", v, err, recs[0].NewValues)
	}
	// A window in the future holds nothing.
	rec = r.get(t, "ceo", "/api/audit/export"+q+"&from=2999-01-01T00:00:00Z")
	if rec.Code != 200 || rec.Body.Len() != 0 {
		t.Fatalf("an empty window: %d %q", rec.Code, rec.Body)
	}
}
