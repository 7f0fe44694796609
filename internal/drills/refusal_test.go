package drills

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// Drill 8: the database refuses, rather than hangs, for refusal: the tables'
// owner revokes the application role's privileges (every statement is
// refused with permission denied, SQLSTATE 42501), and for the second half
// of that time PostgreSQL also refuses the processes' connections
// (connection refused). The refusal falls on every database write of an
// escalation: records of escalations created during it, decisions sent
// during it, deadlines (escalations created before it with an expiresAt
// inside it) and reminders (a tenant policy whose reminders fall inside
// it). The full variant refuses for longer than the workflows' one-minute
// budget for a local write. Then the owner grants the privileges again as
// an operator does (`orchestrator migrate` with DATABASE_OWNER_URL), and
// every escalation must end as it should: expired at its deadline, decided,
// reminded exactly once per reminder due, nothing lost or doubled.
//
// The role keeps reading approval_policies: otherwise the API would refuse
// every create before it reaches a workflow, and no record would be refused.
func TestDrillDatabaseRefuses(t *testing.T) { eachServer(t, drillDatabaseRefuses) }

func drillDatabaseRefuses(t *testing.T, c *cluster) {
	proxy := startTCPProxy(t, c.appURL)
	direct := c.appURL
	c.appURL = proxy.url(direct) // the api and worker processes go through it
	api := c.addAPI()
	c.addWorker()
	d := newDriver(t, c, func() []string { return []string{baseURL(api)} })
	ctx := loadContext(t)
	refusal := prof.refusal
	r := &refuser{t: t, c: c, direct: direct, proxy: proxy}

	// The refusal begins at start; everything before it is created by
	// then (lead is ample for a few creates on a loaded machine).
	const lead = 10 * time.Second
	start := time.Now().Add(lead)
	phase2 := start.Add(refusal / 2)
	end := start.Add(refusal)

	// Deadlines from 2 s into the refusal to 2 s before its end, so that
	// both kinds of refusal meet some, and in the full variant the first
	// ones are refused for longer than the local budget.
	expiring := newEscalations(1, prof.refusalExpiring)
	for i, e := range expiring {
		e.want = "expired"
		span := refusal - 4*time.Second
		e.expiresAt = start.Add(2*time.Second + span*time.Duration(i)/time.Duration(max(len(expiring)-1, 1)))
	}
	d.createAll(ctx, expiring, prof.clients, 0)

	// Reminders 3 s into each half of the refusal, counted from the
	// creates (their createdAt is checked below).
	reminded := newEscalations(1+len(expiring), prof.refusalReminded)
	offsets := []time.Duration{
		time.Until(start.Add(3 * time.Second)).Round(time.Second),
		time.Until(phase2.Add(3 * time.Second)).Round(time.Second),
	}
	for _, e := range reminded {
		e.reminders = len(offsets)
	}
	d.putPolicy(ctx, offsets)
	d.createAll(ctx, reminded, prof.clients, 0)
	d.putPolicy(ctx, nil)

	for _, e := range append(append([]*escalation{}, expiring...), reminded...) {
		if e.ID() == "" {
			t.Fatalf("create #%d before the refusal: %v", e.n, e.createErr)
		}
	}
	if time.Now().After(start) {
		t.Fatalf("the escalations before the refusal took more than %s to create: the deadlines and reminders may not fall inside it", lead)
	}

	// Created and decided across the refusal: records and decisions are
	// refused.
	flowing := newEscalations(1+len(expiring)+len(reminded), prof.refusalFlowing)
	time.Sleep(time.Until(start.Add(-2 * time.Second)))
	wait := background(func() { d.flow(ctx, flowing, prof.clients, refusal+4*time.Second, time.Second) })

	time.Sleep(time.Until(start))
	revokedAt := r.revoke()
	t.Logf("refusal: the application role's privileges revoked (%d in flight); for %s", d.inFlight(), refusal)
	time.Sleep(time.Until(phase2))
	refusedAt, cut := r.refuseConnections()
	t.Logf("refusal: connections refused from now on, %d cut (%d in flight)", cut, d.inFlight())
	time.Sleep(time.Until(end))
	restoredAt := r.restore()
	t.Logf("refusal: over after %s (privileges granted again by `orchestrator migrate`, connections accepted)", restoredAt.Sub(revokedAt).Round(100*time.Millisecond))

	// The reminded escalations are decided once the database is back.
	d.decideAll(ctx, reminded, prof.clients)
	wait()
	d.report()

	// The drill proves something only if the refusal met every kind of
	// write.
	inside := func(at time.Time) bool { return at.After(revokedAt) && at.Before(restoredAt) }
	for _, e := range expiring {
		if !inside(e.expiresAt) {
			t.Errorf("#%d's deadline %s is outside the refusal [%s, %s]", e.n, e.expiresAt.Format(time.TimeOnly), revokedAt.Format(time.TimeOnly), restoredAt.Format(time.TimeOnly))
		}
	}
	for _, e := range reminded {
		for i, off := range offsets {
			if at, want := e.createdAt.Add(off), []time.Time{revokedAt, refusedAt}[i]; !at.After(want) || !at.Before([]time.Time{refusedAt, restoredAt}[i]) {
				t.Errorf("#%d's reminder %d at %s is outside its part of the refusal", e.n, i+1, at.Format(time.TimeOnly))
			}
		}
	}
	recordsRefused, decisionsRefused := 0, 0
	for _, e := range flowing {
		e.mu.Lock()
		if !e.firstCreate.Before(revokedAt) && e.firstCreate.Before(refusedAt) && e.createdAt.After(refusedAt) {
			// Reached the workflow while only the privileges were
			// revoked; its record was refused until the end.
			recordsRefused++
		}
		if inside(e.firstDecide) {
			decisionsRefused++
		}
		e.mu.Unlock()
	}
	t.Logf("refusal met %d deadlines, %d reminders, %d records, %d decisions", len(expiring), len(reminded)*len(offsets), recordsRefused, decisionsRefused)
	if recordsRefused == 0 || decisionsRefused == 0 {
		t.Errorf("the refusal met %d records and %d decisions: the drill proved nothing for them", recordsRefused, decisionsRefused)
	}

	checkInvariants(t, c, append(append(expiring, reminded...), flowing...))
}

// putPolicy sets the tenant's approval policy: the default deadlines and
// these reminders.
func (d *driver) putPolicy(ctx context.Context, reminders []time.Duration) {
	d.t.Helper()
	rs := []string{}
	for _, r := range reminders {
		rs = append(rs, store.FormatDuration(r))
	}
	body := map[string]any{"defaultTtl": "72h", "maxTtl": "720h", "reminders": rs}
	a, err := d.send(ctx, &session{}, http.MethodPut, "/api/policies?tenantId="+url.QueryEscape(tenant), decider, body, "")
	if err != nil || a.status != http.StatusOK {
		d.t.Fatalf("PUT /api/policies %v: %d %s %v", rs, a.status, a.body, err)
	}
	d.c.policyUpdates++
}

// refuser makes the drill's database refuse the application and lets it
// back in.
type refuser struct {
	t      *testing.T
	c      *cluster
	direct string // the application role's URL, not through the proxy
	proxy  *tcpProxy
	tables []string
}

// revoke takes every privilege the application role has on the tables but
// approval_policies, as the tables' owner, and checks that the role is
// refused.
func (r *refuser) revoke() time.Time {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	owner, err := pgx.Connect(ctx, r.c.ownerURL)
	if err != nil {
		r.t.Fatalf("connect as the owner: %v", err)
	}
	defer owner.Close(context.Background())
	rows, err := owner.Query(ctx, `SELECT relname FROM pg_class
		WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'p') AND relname <> 'approval_policies' ORDER BY relname`)
	if err != nil {
		r.t.Fatal(err)
	}
	r.tables, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(r.tables) == 0 {
		r.t.Fatalf("list the tables: %v %v", r.tables, err)
	}
	role := pgx.Identifier{appRole(r.direct)}.Sanitize()
	for _, tbl := range r.tables {
		if _, err := owner.Exec(ctx, "REVOKE ALL ON TABLE "+pgx.Identifier{tbl}.Sanitize()+" FROM "+role); err != nil {
			r.t.Fatalf("revoke on %s: %v", tbl, err)
		}
	}
	at := time.Now()
	if err := r.probe(ctx, r.direct); !isSQLState(err, "42501") {
		r.t.Fatalf("after REVOKE the application role reads approvals: want permission denied (42501), got %v", err)
	}
	return at
}

// refuseConnections closes the processes' way to PostgreSQL: connections
// are refused, and those open are cut.
func (r *refuser) refuseConnections() (time.Time, int) {
	r.t.Helper()
	cut := r.proxy.refuse()
	at := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.probe(ctx, r.proxy.url(r.direct)); !errors.Is(err, syscall.ECONNREFUSED) {
		r.t.Fatalf("through the closed proxy: want connection refused, got %v", err)
	}
	return at, cut
}

// restore grants the privileges back as an operator does, with `orchestrator
// migrate` run as the owner, opens the connections again and checks that
// the role reads the tables.
func (r *refuser) restore() time.Time {
	r.t.Helper()
	if err := r.proxy.accept(); err != nil {
		r.t.Fatalf("proxy: %v", err)
	}
	cmd := exec.Command(binary, "migrate")
	cmd.Env = r.c.appEnv(map[string]string{"DATABASE_URL": r.direct, "DATABASE_OWNER_URL": r.c.ownerURL})
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("orchestrator migrate as the owner: %v\n%s", err, out)
	}
	at := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.probe(ctx, r.proxy.url(r.direct)); err != nil {
		r.t.Fatalf("after the refusal the application role cannot read approvals: %v", err)
	}
	return at
}

// probe reads approvals as the application role through u.
func (r *refuser) probe(ctx context.Context, u string) error {
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "SELECT 1 FROM approvals LIMIT 1")
	return err
}

func isSQLState(err error, code string) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == code
}

func appRole(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil || u.User == nil {
		panic(fmt.Sprintf("DATABASE_URL without a user: %q", dbURL))
	}
	return u.User.Username()
}

// tcpProxy forwards connections to PostgreSQL until refuse closes its
// listener (connections are then refused, the port being free) and cuts the
// connections open; accept listens again on the same address.
type tcpProxy struct {
	t      *testing.T
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

func startTCPProxy(t *testing.T, dbURL string) *tcpProxy {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	p := &tcpProxy{t: t, addr: freeAddr(t), target: target, conns: map[net.Conn]struct{}{}}
	if err := p.accept(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.refuse() })
	return p
}

// url is dbURL with the proxy as its host.
func (p *tcpProxy) url(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		p.t.Fatal(err)
	}
	u.Host = p.addr
	return u.String()
}

func (p *tcpProxy) accept() error {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return fmt.Errorf("listen on %s again: %w", p.addr, err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
	return nil
}

// refuse stops listening and cuts every open connection; it returns how many
// it cut.
func (p *tcpProxy) refuse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	n := 0
	for c := range p.conns {
		c.Close()
		n++
	}
	clear(p.conns)
	return n / 2
}

func (p *tcpProxy) pipe(client net.Conn) {
	server, err := net.DialTimeout("tcp", p.target, 10*time.Second)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // refused meanwhile
		p.mu.Unlock()
		client.Close()
		server.Close()
		return
	}
	p.conns[client], p.conns[server] = struct{}{}, struct{}{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, dir := range [][2]net.Conn{{client, server}, {server, client}} {
		wg.Go(func() {
			_, _ = io.Copy(dir[0], dir[1])
			dir[0].Close()
			dir[1].Close()
		})
	}
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}
