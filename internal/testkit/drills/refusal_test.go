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
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/testkit/rig"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Drill 8: the database refuses, rather than hangs, for refusal, in three
// equal phases: the tables' owner revokes the application role's write
// privileges (reads work, so creates and decisions reach their workflows,
// whose every write is refused with permission denied, SQLSTATE 42501), then
// all its privileges (the API's reads are refused too), then PostgreSQL also
// refuses the processes' connections (connection refused). The refusal meets
// every database write of an escalation: records of escalations created
// during it, decisions sent during it, deadlines (escalations created before
// it with an expiresAt inside it) and reminders (a tenant policy whose
// reminders fall inside it). The full variant refuses for longer than the
// workflows' one-minute budget for a local write. Then the owner grants the
// privileges again as an operator does (`orchestrator migrate` with
// DATABASE_OWNER_URL), and every escalation must end as it should: expired at
// its deadline, decided, reminded exactly once per reminder, nothing lost or
// doubled.
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
	phase := func(i int) time.Time { return start.Add(refusal * time.Duration(i) / 3) } // phase(3) is the end

	// Deadlines from 2 s into the refusal to 2 s before its end, so that
	// every phase meets some, and in the full variant the first ones are
	// refused for longer than the local budget.
	expiring := newEscalations(1, prof.refusalExpiring)
	for i, e := range expiring {
		e.want = "expired"
		span := refusal - 4*time.Second
		e.expiresAt = start.Add(2*time.Second + span*time.Duration(i)/time.Duration(max(len(expiring)-1, 1)))
	}
	d.createAll(ctx, expiring, prof.clients, 0)

	// A reminder 2 s into each phase, counted from the creates.
	reminded := newEscalations(1+len(expiring), prof.refusalReminded)
	var offsets []time.Duration
	for i := range 3 {
		offsets = append(offsets, time.Until(phase(i).Add(2*time.Second)).Round(time.Second))
	}
	for _, e := range reminded {
		e.reminders = len(offsets)
	}
	d.putPolicy(ctx, offsets)
	d.createAll(ctx, reminded, prof.clients, 0)
	d.putPolicy(ctx, nil)

	// Decided during the refusal, a third in each phase.
	deciding := newEscalations(1+len(expiring)+len(reminded), prof.refusalDeciding)
	d.createAll(ctx, deciding, prof.clients, 0)

	for _, e := range slices.Concat(expiring, reminded, deciding) {
		if e.ID() == "" {
			t.Fatalf("create #%d before the refusal: %v", e.n, e.createErr)
		}
	}
	if left := time.Until(start); left <= 0 {
		t.Fatalf("the escalations before the refusal took more than %s to create: the deadlines and reminders may not fall inside it", lead)
	} else {
		t.Logf("refusal: %d escalations created before it in %s; reminders at %v", len(expiring)+len(reminded)+len(deciding), lead-left, offsets)
	}

	// Created and decided across the refusal: their records are refused.
	flowing := newEscalations(1+len(expiring)+len(reminded)+len(deciding), prof.refusalFlowing)
	time.Sleep(time.Until(start.Add(-2 * time.Second)))
	var waits []func()
	waits = append(waits, background(func() { d.flow(ctx, flowing, prof.clients, refusal+4*time.Second, time.Second) }))

	steps := []struct {
		what  string
		apply func() int
	}{
		{"write privileges revoked", func() int { r.revoke("INSERT, UPDATE, DELETE"); return 0 }},
		{"all privileges revoked", func() int { r.revoke("ALL"); return 0 }},
		{"connections refused", r.refuseConnections},
	}
	var at [4]time.Time // when each phase began, and the end
	for i, step := range steps {
		time.Sleep(time.Until(phase(i)))
		cut := step.apply()
		at[i] = time.Now()
		t.Logf("refusal phase %d: %s (%d connections cut, %d escalations in flight)", i+1, step.what, cut, d.inFlight())
		part := deciding[len(deciding)*i/3 : len(deciding)*(i+1)/3]
		waits = append(waits, background(func() {
			sleepCtx(ctx, time.Second)
			d.decideAll(ctx, part, prof.clients)
		}))
	}
	time.Sleep(time.Until(phase(3)))
	r.restore()
	at[3] = time.Now()
	t.Logf("refusal: over after %s (privileges granted again by `orchestrator migrate`, connections accepted)", at[3].Sub(at[0]).Round(100*time.Millisecond))

	// The reminded escalations are decided once the database is back and
	// every reminder due is out.
	c.awaitReminders(ctx, reminded)
	d.decideAll(ctx, reminded, prof.clients)
	for _, w := range waits {
		w()
	}
	d.report()

	// The drill proves something only if the refusal met every kind of
	// write.
	phaseOf := func(when time.Time) int {
		for i := range 3 {
			if !when.Before(at[i]) && when.Before(at[i+1]) {
				return i
			}
		}
		return -1
	}
	var deadlines, reminders, records, decisions [3]int
	for _, e := range expiring {
		if p := phaseOf(e.expiresAt); p < 0 {
			t.Errorf("#%d's deadline %s is outside the refusal", e.n, e.expiresAt.Format(time.TimeOnly))
		} else {
			deadlines[p]++
		}
	}
	for _, e := range reminded {
		for i, off := range offsets {
			if p := phaseOf(e.createdAt.Add(off)); p < 0 {
				t.Errorf("#%d's reminder %d at %s is outside the refusal", e.n, i+1, e.createdAt.Add(off).Format(time.TimeOnly))
			} else {
				reminders[p]++
			}
		}
	}
	for _, e := range slices.Concat(flowing, deciding) {
		e.mu.Lock()
		// A record or decision sent while the API could read reached the
		// workflow; one that completed after the connections were refused
		// was refused until the end.
		if p := phaseOf(e.firstCreate); p >= 0 && p < 2 && e.createdAt.After(at[2]) {
			records[p]++
		}
		if p := phaseOf(e.firstDecide); p >= 0 && (p == 2 || e.decidedAt.After(at[2])) {
			decisions[p]++
		}
		e.mu.Unlock()
	}
	t.Logf("refusal met, by phase: deadlines %v, reminders %v, records %v, decisions %v", deadlines, reminders, records, decisions)
	if records[0]+records[1] == 0 || decisions[0] == 0 || decisions[1]+decisions[2] == 0 {
		t.Errorf("the refusal met records %v and decisions %v: the drill proved nothing for them", records, decisions)
	}

	checkInvariants(t, c, slices.Concat(expiring, reminded, deciding, flowing))
}

// awaitReminders waits until every escalation of es has posted the
// reminders it is due, or its workflow has closed.
func (c *cluster) awaitReminders(ctx context.Context, es []*escalation) {
	deadline := time.Now().Add(prof.converge)
	for _, e := range es {
		for time.Now().Before(deadline) {
			n := 0
			for _, m := range c.cw.Messages(chatwootAcct, e.conv) {
				if echoReminder(e.ID(), m.EchoID) {
					n++
				}
			}
			if n >= e.reminders {
				break
			}
			if d, err := c.tc.DescribeWorkflow(ctx, contract.EscalationWorkflowID(e.ID()), ""); err == nil &&
				d.RawResponse.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
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
}

// revoke takes privileges (ALL, or a list) on every table but
// approval_policies from the application role, as the tables' owner, and
// checks that the role is refused.
func (r *refuser) revoke(privileges string) {
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
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(tables) == 0 {
		r.t.Fatalf("list the tables: %v %v", tables, err)
	}
	role := pgx.Identifier{appRole(r.direct)}.Sanitize()
	for _, tbl := range tables {
		if _, err := owner.Exec(ctx, "REVOKE "+privileges+" ON TABLE "+pgx.Identifier{tbl}.Sanitize()+" FROM "+role); err != nil {
			r.t.Fatalf("revoke %s on %s: %v", privileges, tbl, err)
		}
	}
	probe := "INSERT INTO audit_logs DEFAULT VALUES" // refused before any constraint is checked
	if privileges == "ALL" {
		probe = "SELECT 1 FROM approvals LIMIT 1"
	}
	if err := r.probe(ctx, r.direct, probe); !isSQLState(err, "42501") {
		r.t.Fatalf("after REVOKE %s the application role runs %q: want permission denied (42501), got %v", privileges, probe, err)
	}
}

// refuseConnections closes the processes' way to PostgreSQL: connections
// are refused, and those open are cut.
func (r *refuser) refuseConnections() (cut int) {
	r.t.Helper()
	cut = r.proxy.refuse()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.probe(ctx, r.proxy.url(r.direct), "SELECT 1"); !errors.Is(err, syscall.ECONNREFUSED) {
		r.t.Fatalf("through the closed proxy: want connection refused, got %v", err)
	}
	return cut
}

// restore grants the privileges back as an operator does, with `orchestrator
// migrate` run as the owner, opens the connections again and checks that
// the role reads the tables.
func (r *refuser) restore() {
	r.t.Helper()
	if err := r.proxy.accept(); err != nil {
		r.t.Fatalf("proxy: %v", err)
	}
	cmd := exec.Command(binary, "migrate")
	cmd.Env = r.c.appEnv(map[string]string{"DATABASE_URL": r.direct, "DATABASE_OWNER_URL": r.c.ownerURL})
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("orchestrator migrate as the owner: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.probe(ctx, r.proxy.url(r.direct), "SELECT 1 FROM approvals LIMIT 1"); err != nil {
		r.t.Fatalf("after the refusal the application role cannot read approvals: %v", err)
	}
}

// probe runs sql as the application role through u.
func (r *refuser) probe(ctx context.Context, u, sql string) error {
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
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
	p := &tcpProxy{t: t, addr: rig.MustFreeAddr(t), target: target, conns: map[net.Conn]struct{}{}}
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
