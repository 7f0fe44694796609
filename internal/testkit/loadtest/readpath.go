package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchestrator-dev/orchestrator/internal/devissuer"
	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// ReadResult compares the list endpoint with the plain indexed query.
type ReadResult struct {
	Rows, Tenants, Requests int
	API, SQL                *samples
	Profiles                []string // of the orchestrator over the timed requests (-profile)
}

const benchRole = "orchestrator_bench_app"

// readPath seeds ReadRows approvals across ReadTenants tenants in a fresh
// PostgreSQL database owned by an unprivileged role (row-level security in
// force, as in production), then times GET /api/approvals?tenantId= against
// the same page read with plain SQL.
func (e *env) readPath(ctx context.Context, srv *server) (*ReadResult, error) {
	rows, tenants, requests := e.opts.ReadRows, e.opts.ReadTenants, e.opts.ReadRequests
	if rows <= 0 {
		rows = 100_000
	}
	if tenants <= 0 {
		tenants = 100
	}
	if requests <= 0 {
		requests = 2000
	}
	admin, err := pgx.Connect(ctx, e.opts.PostgresAdminURL)
	if err != nil {
		return nil, err
	}
	defer admin.Close(context.Background())
	var b [6]byte
	_, _ = rand.Read(b[:])
	db := "orch_bench_" + hex.EncodeToString(b[:])
	for _, q := range []string{
		fmt.Sprintf(`DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%s') THEN CREATE ROLE %s LOGIN NOSUPERUSER NOBYPASSRLS; END IF; END $$`, benchRole, benchRole),
		fmt.Sprintf("CREATE DATABASE %s OWNER %s", db, benchRole),
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			return nil, fmt.Errorf("prepare database: %w", err)
		}
	}
	defer func() { _, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)") }()
	u, err := url.Parse(e.opts.PostgresAdminURL)
	if err != nil {
		return nil, err
	}
	appURL := *u
	appURL.User, appURL.Path = url.User(benchRole), "/"+db
	adminDB := *u
	adminDB.Path = "/" + db

	st, err := store.Open(ctx, appURL.String(), store.Options{})
	if err != nil {
		return nil, err
	}
	if _, err := st.Migrate(ctx); err != nil {
		return nil, err
	}
	_ = st.Close()

	seed, err := pgx.Connect(ctx, adminDB.String())
	if err != nil {
		return nil, err
	}
	defer seed.Close(context.Background())
	base := time.Now().Add(-time.Duration(rows) * time.Second).UTC()
	src := make([][]any, 0, rows)
	for i := 0; i < rows; i++ {
		created := base.Add(time.Duration(i) * time.Second)
		src = append(src, []any{store.NewID(), fmt.Sprintf("/teams/t%03d", i%tenants), fmt.Sprintf("Escalation %d", i), "",
			[]string{"pending", "approved", "rejected"}[i%3], "medium", "agent-1", "{}", created, created})
	}
	if _, err := seed.CopyFrom(ctx, pgx.Identifier{"approvals"},
		[]string{"id", "tenant_id", "title", "description", "status", "priority", "requested_by", "metadata", "created_at", "updated_at"},
		pgx.CopyFromRows(src)); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	if _, err := seed.Exec(ctx, "ANALYZE approvals"); err != nil {
		return nil, err
	}

	dir := filepath.Join(e.dir, "read")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	orc, err := e.startOrchestrator(ctx, srv, appURL.String(), dir)
	if err != nil {
		return nil, err
	}
	defer orc.stop()

	res := &ReadResult{Rows: rows, Tenants: tenants, Requests: requests, API: &samples{}, SQL: &samples{}}
	tokens, err := readerTokens(dir, orc.issuerURL, tenants)
	if err != nil {
		return nil, err
	}
	pick := func() string {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(tenants)))
		return fmt.Sprintf("/teams/t%03d", n.Int64())
	}
	// Warm both paths.
	for i := 0; i < 200; i++ {
		t := pick()
		_, _ = orc.call(ctx, "GET", "/api/approvals?tenantId="+url.QueryEscape(t), tokens[t], nil, 200)
	}
	const q = `SELECT id, tenant_id, title, description, status, priority, requested_by, requested_by_name, approved_by,
		approved_by_name, comment, metadata, conversation_account_id, conversation_id, created_at, updated_at, decided_at
		FROM approvals WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC LIMIT 51`
	sqlConn, err := pgx.Connect(ctx, appURL.String())
	if err != nil {
		return nil, err
	}
	defer sqlConn.Close(context.Background())
	// The plain query reads as the table owner with the scope set once for
	// the session: what a hand-written handler would do without the API.
	if _, err := sqlConn.Exec(ctx, "SELECT set_config('app.tenant_ids', $1, false)", allTenants(tenants)); err != nil {
		return nil, err
	}
	for i := 0; i < 200; i++ {
		r, _ := sqlConn.Query(ctx, q, pick())
		r.Close()
	}
	orc.startProfile()
	for i := 0; i < requests; i++ {
		t := pick()
		start := time.Now()
		if _, err := orc.call(ctx, "GET", "/api/approvals?tenantId="+url.QueryEscape(t), tokens[t], nil, 200); err != nil {
			return nil, err
		}
		res.API.add(time.Since(start))
		start = time.Now()
		r, err := sqlConn.Query(ctx, q, t)
		if err != nil {
			return nil, err
		}
		n := 0
		for r.Next() {
			vals, err := r.Values()
			if err != nil || len(vals) == 0 {
				r.Close()
				return nil, fmt.Errorf("read row: %v", err)
			}
			n++
		}
		r.Close()
		if n == 0 {
			return nil, fmt.Errorf("plain query for %s found nothing", t)
		}
		res.SQL.add(time.Since(start))
	}
	res.Profiles = e.keepProfiles(orc.writeProfiles(), "read-path")
	return res, nil
}

func allTenants(n int) string {
	s := ""
	for i := 0; i < n; i++ {
		if i > 0 {
			s += "\x1f"
		}
		s += fmt.Sprintf("/teams/t%03d", i)
	}
	return s
}

// readerTokens mints one token per tenant: a member of that team only.
func readerTokens(dir, issuerURL string, tenants int) (map[string]string, error) {
	iss, err := devissuer.Open(dir, issuerURL, "orchestrator-api")
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, tenants)
	for i := 0; i < tenants; i++ {
		t := fmt.Sprintf("/teams/t%03d", i)
		tok, err := iss.Mint(devissuer.MintOptions{Subject: fmt.Sprintf("reader-%d", i), Groups: []string{t}, TTL: time.Hour})
		if err != nil {
			return nil, err
		}
		out[t] = tok
	}
	return out, nil
}
