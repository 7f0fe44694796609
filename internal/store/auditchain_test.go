package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

// The canonical encoding and the hash are pinned: docs/audit.md specifies
// them byte for byte, and an auditor's own implementation must reproduce
// these values. A change here breaks every chain already written.
func TestAuditCanonicalVectors(t *testing.T) {
	key := "approval:0190d0c8-7d2b-7c3e-9f00-5b2f1c3d4e5f:created"
	e := &store.AuditLog{
		Seq: 1, ID: "0190d0c8-7d2b-7c3e-9f00-5b2f1c3d4e60", TenantID: "/teams/support", EventKey: &key,
		Action: "approval.created", Resource: "approval", ResourceID: "0190d0c8-7d2b-7c3e-9f00-5b2f1c3d4e5f",
		UserID: "agent-1", UserName: "Alex Agent <a&b>", Channel: "api",
		NewValues: store.JSON(`{"title": "Refund €2,000", "amount": 2000.50, "a": [1, 1e2, "\u00e9"]}`),
		CreatedAt: time.Date(2026, 12, 7, 19, 16, 20, 123456789, time.UTC),
	}
	canon, err := store.CanonicalAudit(e)
	if err != nil {
		t.Fatal(err)
	}
	const wantCanon = `{"action":"approval.created","channel":"api","createdAt":"2026-12-07T19:16:20.123456Z",` +
		`"eventKey":"approval:0190d0c8-7d2b-7c3e-9f00-5b2f1c3d4e5f:created","id":"0190d0c8-7d2b-7c3e-9f00-5b2f1c3d4e60",` +
		`"metadata":null,"newValues":{"a":[1,100,"é"],"amount":2000.5,"title":"Refund €2,000"},"oldValues":null,` +
		`"resource":"approval","resourceId":"0190d0c8-7d2b-7c3e-9f00-5b2f1c3d4e5f","seq":1,"tenantId":"/teams/support",` +
		`"userId":"agent-1","userName":"Alex Agent <a&b>"}`
	if string(canon) != wantCanon {
		t.Fatalf("canonical form:\n got %s\nwant %s", canon, wantCanon)
	}
	h1, err := store.AuditHash(e, store.GenesisHash)
	if err != nil {
		t.Fatal(err)
	}
	const wantH1 = "8bf98efd2fa753333c1d17c6ecf880e23daa457dc18fde8b40948de4fdb7bb80"
	e2 := *e
	e2.Seq, e2.ID, e2.EventKey, e2.NewValues = 2, "0190d0c8-7d2b-7c3e-9f00-5b2f1c3d4e61", nil, nil
	e2.OldValues = store.JSON(`{"status":"pending"}`)
	h2, err := store.AuditHash(&e2, h1)
	if err != nil {
		t.Fatal(err)
	}
	const wantH2 = "9a1a00e3ef302853d38ec44b2f440a886e130147e5210b0341964f174f95fa5b"
	if h1 != wantH1 || h2 != wantH2 {
		t.Fatalf("hashes: got %s, %s; want %s, %s", h1, h2, wantH1, wantH2)
	}
}

// tamperable is a store whose database a test can also write directly, as
// its owner would (PostgreSQL) or anyone holding the file (SQLite).
type tamperable struct {
	s    *store.Store
	exec func(t *testing.T, tenant, sql string, args ...any)
}

func openTamperable(t *testing.T, d store.Dialect) tamperable {
	t.Helper()
	ctx := context.Background()
	if d == store.SQLite {
		url := storetest.URL(t, d)
		s, err := store.Open(ctx, url, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		if _, err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("sqlite", strings.TrimPrefix(url, "sqlite://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return tamperable{s: s, exec: func(t *testing.T, _ string, q string, args ...any) {
			t.Helper()
			if _, err := db.Exec(q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}}
	}
	pg := storetest.NewPostgres(t)
	s, err := store.Open(ctx, pg.AppURL, store.Options{MaxOpenConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return tamperable{s: s, exec: func(t *testing.T, tenant, q string, args ...any) {
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
		// FORCE ROW LEVEL SECURITY binds the owner too.
		if _, err := tx.Exec(ctx, "SELECT set_config('app.tenant_ids', $1, true)", tenant); err != nil {
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

// appendEntries writes n entries to tenant, one second apart, and returns them.
func appendEntries(t *testing.T, s *store.Store, tenant string, n int) []*store.AuditLog {
	t.Helper()
	var out []*store.AuditLog
	base := s.Now()
	for i := range n {
		e := &store.AuditLog{
			Action: "ticket.updated", Resource: "ticket", ResourceID: fmt.Sprintf("T-%d", i), UserID: "svc-1",
			UserName: "Service", Channel: store.ChannelAPIClient, TenantID: tenant,
			NewValues: store.JSON(fmt.Sprintf(`{"n": %d, "tags": ["x", "y"]}`, i)), Metadata: store.JSON(`{"b":1,"a":2}`),
			CreatedAt: base.Add(time.Duration(i) * time.Second),
		}
		got, err := s.AppendAudit(context.Background(), e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, got)
	}
	return out
}

func verify(t *testing.T, s *store.Store, tenant string) *store.AuditVerification {
	t.Helper()
	v, err := s.VerifyAudit(context.Background(), store.ScopeOf(tenant), tenant)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func wantBroken(t *testing.T, v *store.AuditVerification, seq int64, reason string) {
	t.Helper()
	if v.Valid || v.BrokenSeq == nil || *v.BrokenSeq != seq || v.Reason != reason {
		t.Fatalf("want broken at seq %d (%s), got %+v (brokenSeq %v)", seq, reason, v, v.BrokenSeq)
	}
}

// An untouched trail verifies; one changed field, one deleted entry or two
// swapped entries, written directly in the database, are reported at the
// entry concerned. Another tenant's chain is not affected.
func TestAuditChainDetectsTampering(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			const tenant, other = "/teams/support", "/teams/sales"
			cases := []struct {
				name   string
				tamper func(t *testing.T, db tamperable, e []*store.AuditLog)
				seq    int64
				reason string
			}{
				{"untouched", func(*testing.T, tamperable, []*store.AuditLog) {}, 0, ""},
				{"changed", func(t *testing.T, db tamperable, e []*store.AuditLog) {
					db.exec(t, tenant, "UPDATE audit_logs SET user_id = 'ceo-1' WHERE id = $1", e[2].ID)
				}, 3, store.BrokenChanged},
				{"changed json", func(t *testing.T, db tamperable, e []*store.AuditLog) {
					db.exec(t, tenant, `UPDATE audit_logs SET new_values = '{"n":99,"tags":["x","y"]}' WHERE id = $1`, e[1].ID)
				}, 2, store.BrokenChanged},
				{"changed time", func(t *testing.T, db tamperable, e []*store.AuditLog) {
					db.exec(t, tenant, "UPDATE audit_logs SET created_at = $1 WHERE id = $2", e[3].CreatedAt.Add(-time.Hour), e[3].ID)
				}, 4, store.BrokenChanged},
				{"deleted", func(t *testing.T, db tamperable, e []*store.AuditLog) {
					db.exec(t, tenant, "DELETE FROM audit_logs WHERE id = $1", e[2].ID)
				}, 3, store.BrokenMissing},
				{"deleted last", func(t *testing.T, db tamperable, e []*store.AuditLog) {
					// Only an anchor outside the database shows this one
					// (TestAuditAnchors); the chain itself stays valid.
					db.exec(t, tenant, "DELETE FROM audit_logs WHERE id = $1", e[4].ID)
				}, 0, ""},
				{"inserted around the store", func(t *testing.T, db tamperable, e []*store.AuditLog) {
					db.exec(t, tenant, `INSERT INTO audit_logs (id, action, resource, resource_id, user_id, tenant_id, created_at, seq, prev_hash, hash)
						VALUES ($1, 'approval.approved', 'approval', 'a', 'ceo-1', $2, $3, 6, $4, $5)`,
						store.NewID(), tenant, e[4].CreatedAt, e[4].Hash, strings.Repeat("f", 64))
				}, 6, store.BrokenChanged},
				{"swapped", func(t *testing.T, db tamperable, e []*store.AuditLog) {
					db.exec(t, tenant, "UPDATE audit_logs SET seq = 1000 WHERE id = $1", e[1].ID)
					db.exec(t, tenant, "UPDATE audit_logs SET seq = 2 WHERE id = $1", e[3].ID)
					db.exec(t, tenant, "UPDATE audit_logs SET seq = 4 WHERE id = $1", e[1].ID)
				}, 2, store.BrokenReordered},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					db := openTamperable(t, d)
					entries := appendEntries(t, db.s, tenant, 5)
					appendEntries(t, db.s, other, 3)
					if v := verify(t, db.s, tenant); !v.Valid || v.Entries != 5 || v.Head.Seq != 5 || v.Head.Hash != entries[4].Hash {
						t.Fatalf("before tampering: %+v", v)
					}
					tc.tamper(t, db, entries)
					v := verify(t, db.s, tenant)
					if tc.reason == "" {
						if !v.Valid {
							t.Fatalf("want valid, got %+v", v)
						}
					} else {
						wantBroken(t, v, tc.seq, tc.reason)
					}
					if v := verify(t, db.s, other); !v.Valid || v.Entries != 3 {
						t.Fatalf("the other tenant: %+v", v)
					}
				})
			}
		})
	}
}

// On SQLite, where nothing stops it, an entry inserted without a place in
// the chain is reported as unchained.
func TestAuditChainReportsUnchainedEntries(t *testing.T) {
	db := openTamperable(t, store.SQLite)
	appendEntries(t, db.s, "/teams/support", 2)
	db.exec(t, "/teams/support", `INSERT INTO audit_logs (id, action, resource, resource_id, user_id, tenant_id, created_at)
		VALUES ($1, 'approval.approved', 'approval', 'a', 'ceo-1', '/teams/support', $2)`, store.NewID(), time.Now().UTC())
	wantBroken(t, verify(t, db.s, "/teams/support"), 3, store.BrokenUnchained)
}

// Concurrent appends of one tenant make one gapless, valid chain; a retried
// entry (same event key) takes no seq.
func TestAuditChainConcurrentAppends(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const tenant = "/teams/support"
		const workers, each = 8, 15
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					key := fmt.Sprintf("k-%d-%d", w, i%10) // some keys repeat: retries
					_, err := s.AppendAudit(ctx, &store.AuditLog{
						EventKey: &key, Action: "ticket.updated", Resource: "ticket", ResourceID: key, UserID: "svc",
						Channel: store.ChannelAPIClient, TenantID: tenant, CreatedAt: s.Now(),
					})
					if err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		v := verify(t, s, tenant)
		if !v.Valid || v.Entries != workers*10 || v.Head.Seq != workers*10 {
			t.Fatalf("after concurrent appends: %+v", v)
		}
	})
}

// Entries written before the chain existed are chained by the migration,
// oldest first, on both databases.
func TestAuditMigrationChainsExistingEntries(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			all, err := store.Migrations(d)
			if err != nil {
				t.Fatal(err)
			}
			var exec func(q string, args ...any)
			var url string
			if d == store.SQLite {
				url = storetest.URL(t, d)
				db, err := sql.Open("sqlite", strings.TrimPrefix(url, "sqlite://"))
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				exec = func(q string, args ...any) {
					if _, err := db.Exec(q, args...); err != nil {
						t.Fatalf("%s: %v", q, err)
					}
				}
			} else {
				pg := storetest.NewEmptyPostgres(t)
				url = pg.OwnerURL
				conn, err := pgx.Connect(ctx, pg.OwnerURL)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(ctx)
				exec = func(q string, args ...any) {
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
				}
			}
			exec(`CREATE TABLE schema_migrations (version integer PRIMARY KEY, name varchar(200) NOT NULL, applied_at varchar(40) NOT NULL)`)
			for _, m := range all {
				if m.Version >= 12 {
					break
				}
				exec(m.SQL)
				exec(`INSERT INTO schema_migrations VALUES ($1, $2, $3)`, m.Version, m.Name, "2026-01-01T00:00:00Z")
			}
			base := time.Date(2026, 11, 1, 10, 0, 0, 123456000, time.UTC)
			// Inserted out of time order, with JSON not in canonical form.
			for i, row := range []struct {
				id     string
				tenant string
				at     int
			}{
				{"0190d0c8-7d2b-7c3e-9f00-000000000003", "/teams/support", 3},
				{"0190d0c8-7d2b-7c3e-9f00-000000000001", "/teams/support", 1},
				{"0190d0c8-7d2b-7c3e-9f00-000000000009", "/teams/sales", 1},
				{"0190d0c8-7d2b-7c3e-9f00-000000000002", "/teams/support", 2},
			} {
				at := base.Add(time.Duration(row.at) * time.Minute)
				if d == store.SQLite {
					exec(`INSERT INTO audit_logs (id, action, resource, resource_id, user_id, tenant_id, new_values, created_at)
						VALUES ($1, 'approval.created', 'approval', 'a', 'agent-1', $2, $3, $4)`,
						row.id, row.tenant, fmt.Sprintf(`{"z": 1, "a": [%d]}`, i), at.Format("2006-01-02 15:04:05.999999999-07:00"))
				} else {
					exec(`INSERT INTO audit_logs (id, action, resource, resource_id, user_id, tenant_id, new_values, created_at)
						VALUES ($1, 'approval.created', 'approval', 'a', 'agent-1', $2, $3, $4)`,
						row.id, row.tenant, fmt.Sprintf(`{"z": 1, "a": [%d]}`, i), at)
				}
			}
			s, err := store.Open(ctx, url, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Migrate(ctx); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			scope := store.ScopeOf("/teams/support", "/teams/sales")
			v, err := s.VerifyAudit(ctx, scope, "/teams/support")
			if err != nil || !v.Valid || v.Entries != 3 {
				t.Fatalf("support after the migration: %+v %v", v, err)
			}
			var ids []string
			if err := s.ExportAudit(ctx, scope, "/teams/support", time.Time{}, time.Time{}, func(r *store.AuditRecord) error {
				ids = append(ids, fmt.Sprintf("%d:%s", r.Seq, r.ID[len(r.ID)-1:]))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if strings.Join(ids, " ") != "1:1 2:2 3:3" {
				t.Fatalf("chained in the order %v, want oldest first", ids)
			}
			if v, err := s.VerifyAudit(ctx, scope, "/teams/sales"); err != nil || !v.Valid || v.Entries != 1 {
				t.Fatalf("sales after the migration: %+v %v", v, err)
			}
			// New entries continue the chain.
			appendEntries(t, s, "/teams/support", 2)
			if v, err := s.VerifyAudit(ctx, scope, "/teams/support"); err != nil || !v.Valid || v.Entries != 5 {
				t.Fatalf("support after two more: %+v %v", v, err)
			}
		})
	}
}

// The application role may only INSERT and SELECT audit entries; and even a
// role granted more (a reporting or DBA role) cannot UPDATE, DELETE or
// TRUNCATE them: the trigger refuses everyone but the tables' owner.
func TestAuditTrailIsAppendOnlyOnPostgres(t *testing.T) {
	pg := storetest.NewPostgres(t)
	ctx := context.Background()
	s, err := store.Open(ctx, pg.AppURL, store.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	entries := appendEntries(t, s, "/teams/support", 2)

	app, err := pgx.Connect(ctx, pg.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(ctx)
	refused := func(stmt, want string) {
		t.Helper()
		tx, err := app.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if _, err := tx.Exec(ctx, "SELECT set_config('app.tenant_ids', '/teams/support', true)"); err != nil {
			t.Fatal(err)
		}
		var args []any
		if strings.Contains(stmt, "$1") {
			args = append(args, entries[0].ID)
		}
		_, err = tx.Exec(ctx, stmt, args...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s as the app role: want %q, got %v", stmt, want, err)
		}
	}
	stmts := []string{
		"UPDATE audit_logs SET user_id = 'ceo-1' WHERE id = $1",
		"DELETE FROM audit_logs WHERE id = $1",
		"TRUNCATE audit_logs",
	}
	for _, stmt := range stmts {
		refused(stmt, "permission denied")
	}
	// Granted the rights by the owner, the role is still refused.
	owner, err := pgx.Connect(ctx, pg.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(ctx)
	var role string
	if err := app.QueryRow(ctx, "SELECT current_user").Scan(&role); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Exec(ctx, "GRANT UPDATE, DELETE, TRUNCATE ON audit_logs TO "+pgx.Identifier{role}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range stmts {
		refused(stmt, "audit_logs is append-only")
	}
	if v := verify(t, s, "/teams/support"); !v.Valid || v.Entries != 2 {
		t.Fatalf("after the refused statements: %+v", v)
	}
}

// An export of a time window is the contiguous seq range of the entries in
// it, and verifies as a range.
func TestAuditExportWindow(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		e := appendEntries(t, s, "/teams/support", 5)
		var recs []store.AuditRecord
		err := s.ExportAudit(context.Background(), store.ScopeOf("/teams/support"), "/teams/support", e[1].CreatedAt, e[3].CreatedAt,
			func(r *store.AuditRecord) error { recs = append(recs, *r); return nil })
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2 || recs[0].Seq != 2 || recs[1].Seq != 3 || recs[0].PrevHash != e[0].Hash {
			t.Fatalf("the window [entry 2, entry 4): %+v", recs)
		}
		v, err := store.VerifyAuditRecords(recs)
		if err != nil || !v.Valid || v.FromSeq != 2 || v.Head.Seq != 3 {
			t.Fatalf("the window verified: %+v %v", v, err)
		}
		if _, err := s.VerifyAudit(context.Background(), store.ScopeOf("/teams/sales"), "/teams/support"); err != store.ErrNotFound {
			t.Fatalf("another tenant's chain: %v, want ErrNotFound", err)
		}
	})
}
