package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// policyEntry is the audit entry a caller hands PutPolicy: who, and the
// default that applied before.
func policyEntry(user string, defaults store.Policy) *store.AuditLog {
	return &store.AuditLog{UserID: user, UserName: "Casey", Channel: store.ChannelAPI,
		OldValues: store.MustJSON(defaults.View(store.PolicySourceDefault))}
}

var configuredDefault = store.Policy{DefaultTTL: 72 * time.Hour, MaxTTL: 720 * time.Hour}

// policyAudit reads the tenant's policy.updated entries, oldest first, with
// their values decoded.
func policyAudit(t *testing.T, s *store.Store, scope store.Scope, tenant string) (entries []store.AuditLog, olds, news []store.PolicyView) {
	t.Helper()
	entries, err := s.ResourceAudit(context.Background(), scope, store.ResourcePolicy, tenant, 50)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		var o, n store.PolicyView
		if err := json.Unmarshal(e.OldValues, &o); err != nil {
			t.Fatalf("old values %s: %v", e.OldValues, err)
		}
		if err := json.Unmarshal(e.NewValues, &n); err != nil {
			t.Fatalf("new values %s: %v", e.NewValues, err)
		}
		olds, news = append(olds, o), append(news, n)
	}
	return entries, olds, news
}

func TestPolicyNoneStored(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		p, stored, err := s.GetPolicy(ctx, store.ScopeOf("/teams/support"), "/teams/support")
		if err != nil || stored || p != nil {
			t.Fatalf("a tenant without a policy: want (nil, false, nil), got (%+v, %v, %v)", p, stored, err)
		}
		for _, scope := range []store.Scope{store.ScopeOf("/teams/engineering"), {}} {
			if _, _, err := s.GetPolicy(ctx, scope, "/teams/support"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("a tenant outside the scope %v: want ErrNotFound, got %v", scope.Tenants(), err)
			}
		}
	})
}

func TestPutPolicy(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const tenant = "/teams/support"
		scope := store.ScopeOf(tenant)
		first := store.Policy{TenantID: tenant, DefaultTTL: 48 * time.Hour, MaxTTL: 240 * time.Hour,
			Reminders: []time.Duration{24 * time.Hour, 4 * time.Hour}, UpdatedBy: "ceo-1"}
		old, err := s.PutPolicy(ctx, first, policyEntry("ceo-1", configuredDefault))
		if err != nil || old != nil {
			t.Fatalf("first policy: old=%+v err=%v (nothing was stored before)", old, err)
		}
		got, stored, err := s.GetPolicy(ctx, scope, tenant)
		if err != nil || !stored {
			t.Fatalf("read back: stored=%v err=%v", stored, err)
		}
		if got.TenantID != tenant || got.DefaultTTL != 48*time.Hour || got.MaxTTL != 240*time.Hour || got.UpdatedBy != "ceo-1" ||
			!slices.Equal(got.Reminders, []time.Duration{4 * time.Hour, 24 * time.Hour}) {
			t.Fatalf("read back %+v: want the times stored, reminders ascending", got)
		}
		if got.UpdatedAt.IsZero() || got.UpdatedAt.Location() != time.UTC || time.Since(got.UpdatedAt) > time.Minute {
			t.Fatalf("updatedAt %v: want the store's clock, in UTC", got.UpdatedAt)
		}

		second := store.Policy{TenantID: tenant, DefaultTTL: 90 * time.Minute, MaxTTL: 240 * time.Hour, UpdatedBy: "ceo-2"}
		old, err = s.PutPolicy(ctx, second, policyEntry("ceo-2", configuredDefault))
		if err != nil {
			t.Fatal(err)
		}
		if old == nil || !old.SameSettings(*got) || old.UpdatedBy != "ceo-1" || !old.UpdatedAt.Equal(got.UpdatedAt) {
			t.Fatalf("second policy: old=%+v, want the first as stored (%+v)", old, got)
		}
		got, _, err = s.GetPolicy(ctx, scope, tenant)
		if err != nil || got.DefaultTTL != 90*time.Minute || len(got.Reminders) != 0 || got.UpdatedBy != "ceo-2" {
			t.Fatalf("after the update: %+v %v", got, err)
		}

		entries, olds, news := policyAudit(t, s, scope, tenant)
		if len(entries) != 2 {
			t.Fatalf("want one policy.updated entry per change, got %d", len(entries))
		}
		for i, e := range entries {
			if e.Action != "policy.updated" || e.Resource != "policy" || e.ResourceID != tenant || e.TenantID != tenant ||
				e.Channel != store.ChannelAPI || e.UserName != "Casey" {
				t.Errorf("entry %d: %+v", i, e)
			}
		}
		if entries[0].UserID != "ceo-1" || entries[1].UserID != "ceo-2" {
			t.Errorf("entries by %s, %s: want ceo-1, ceo-2", entries[0].UserID, entries[1].UserID)
		}
		// The first change replaced the default; the second the first.
		if o := olds[0]; o.Source != "default" || o.DefaultTTL != "72h" || o.MaxTTL != "720h" || len(o.Reminders) != 0 || o.UpdatedAt != nil {
			t.Errorf("old values of the first change: %+v, want the default", o)
		}
		if n := news[0]; n.Source != "tenant" || n.TenantID != tenant || n.DefaultTTL != "48h" || n.MaxTTL != "240h" ||
			!slices.Equal(n.Reminders, []string{"4h", "24h"}) || n.UpdatedBy != "ceo-1" || n.UpdatedAt == nil {
			t.Errorf("new values of the first change: %+v", n)
		}
		if o := olds[1]; o.Source != "tenant" || o.DefaultTTL != "48h" || !slices.Equal(o.Reminders, []string{"4h", "24h"}) || o.UpdatedBy != "ceo-1" {
			t.Errorf("old values of the second change: %+v, want the first policy", o)
		}
		if n := news[1]; n.DefaultTTL != "1h30m" || n.MaxTTL != "240h" || n.Reminders == nil || len(n.Reminders) != 0 || n.UpdatedBy != "ceo-2" {
			t.Errorf("new values of the second change: %+v", n)
		}

		// The same settings again (a retried PUT) change nothing.
		again := second
		again.UpdatedBy = "ceo-3"
		old, err = s.PutPolicy(ctx, again, policyEntry("ceo-3", configuredDefault))
		if err != nil || old == nil || old.UpdatedBy != "ceo-2" {
			t.Fatalf("unchanged policy: old=%+v err=%v", old, err)
		}
		if got, _, _ := s.GetPolicy(ctx, scope, tenant); got.UpdatedBy != "ceo-2" {
			t.Fatalf("an unchanged policy was rewritten by %s", got.UpdatedBy)
		}
		if entries, _, _ := policyAudit(t, s, scope, tenant); len(entries) != 2 {
			t.Fatalf("an unchanged policy wrote an audit entry: %d entries", len(entries))
		}
	})
}

func TestPutPolicyRefusesInvalidPolicies(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		valid := store.Policy{TenantID: "/teams/support", DefaultTTL: time.Hour, MaxTTL: 2 * time.Hour, UpdatedBy: "ceo-1"}
		for name, change := range map[string]func(p *store.Policy){
			"default longer than max":  func(p *store.Policy) { p.DefaultTTL = 3 * time.Hour },
			"zero max":                 func(p *store.Policy) { p.MaxTTL = 0 },
			"negative default":         func(p *store.Policy) { p.DefaultTTL = -time.Hour },
			"fraction of a second":     func(p *store.Policy) { p.DefaultTTL = time.Hour + time.Millisecond },
			"reminder at the max":      func(p *store.Policy) { p.Reminders = []time.Duration{2 * time.Hour} },
			"reminder zero":            func(p *store.Policy) { p.Reminders = []time.Duration{0} },
			"reminder twice":           func(p *store.Policy) { p.Reminders = []time.Duration{time.Minute, time.Minute} },
			"eleven reminders":         func(p *store.Policy) { p.Reminders = make([]time.Duration, 11) },
			"no tenant":                func(p *store.Policy) { p.TenantID = "" },
			"no author":                func(p *store.Policy) { p.UpdatedBy = "" },
			"author with a NUL":        func(p *store.Policy) { p.UpdatedBy = "ceo\x00" },
			"tenant with a line break": func(p *store.Policy) { p.TenantID = "/teams/\nsupport" },
			"101 questions":            func(p *store.Policy) { p.MaxQuestions = 101 },
			"answer longer than max":   func(p *store.Policy) { p.AnswerTTL = 3 * time.Hour },
			"answer in a fraction":     func(p *store.Policy) { p.AnswerTTL = time.Millisecond },
		} {
			p := valid
			change(&p)
			if _, err := s.PutPolicy(ctx, p, policyEntry("ceo-1", configuredDefault)); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("%s: want ErrInvalid, got %v", name, err)
			}
		}
		if _, err := s.PutPolicy(ctx, valid, nil); err == nil {
			t.Error("a policy change without its audit entry was stored")
		}
		if _, stored, err := s.GetPolicy(ctx, store.ScopeOf("/teams/support"), "/teams/support"); err != nil || stored {
			t.Fatalf("a refused policy was stored: stored=%v err=%v", stored, err)
		}
		if entries, _, _ := policyAudit(t, s, store.ScopeOf("/teams/support"), "/teams/support"); len(entries) != 0 {
			t.Fatalf("refused changes wrote %d audit entries", len(entries))
		}
	})
}

// The questions of a policy round-trip; a policy stored before them reads
// as the defaults (5 questions, the default TTL for an answer).
func TestPolicyQuestionsRoundTrip(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		scope := store.ScopeOf("/teams/support")
		p := store.Policy{TenantID: "/teams/support", DefaultTTL: time.Hour, MaxTTL: 2 * time.Hour, UpdatedBy: "ceo-1"}
		if _, err := s.PutPolicy(ctx, p, policyEntry("ceo-1", configuredDefault)); err != nil {
			t.Fatal(err)
		}
		got, _, err := s.GetPolicy(ctx, scope, "/teams/support")
		if err != nil || got.Questions() != 5 || got.AnswerWait() != time.Hour || got.AnswerTTL != 0 {
			t.Fatalf("defaults: %+v %v", got, err)
		}
		p.MaxQuestions, p.AnswerTTL = 3, 30*time.Minute
		if old, err := s.PutPolicy(ctx, p, policyEntry("ceo-1", configuredDefault)); err != nil || old.SameSettings(p) {
			t.Fatalf("a change of the questions alone is a change: %+v %v", old, err)
		}
		got, _, err = s.GetPolicy(ctx, scope, "/teams/support")
		if err != nil || got.Questions() != 3 || got.AnswerWait() != 30*time.Minute {
			t.Fatalf("stored: %+v %v", got, err)
		}
		if _, news := policyNews(t, s, scope); news[len(news)-1].MaxQuestions != 3 || news[len(news)-1].AnswerTTL != "30m" {
			t.Fatalf("audit new values: %+v", news)
		}
	})
}

func policyNews(t *testing.T, s *store.Store, scope store.Scope) ([]store.AuditLog, []store.PolicyView) {
	t.Helper()
	entries, _, news := policyAudit(t, s, scope, "/teams/support")
	return entries, news
}

// Another tenant's policy and its audit trail are invisible, even to a
// scope that only differs from it by one tenant.
func TestPolicyTenantScope(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const eng, support = "/teams/engineering", "/teams/support"
		p := store.Policy{TenantID: eng, DefaultTTL: time.Hour, MaxTTL: 2 * time.Hour, UpdatedBy: "cto-1"}
		if _, err := s.PutPolicy(ctx, p, policyEntry("cto-1", configuredDefault)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.GetPolicy(ctx, store.ScopeOf(support), eng); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another tenant's policy: want ErrNotFound, got %v", err)
		}
		got, stored, err := s.GetPolicy(ctx, store.ScopeOf(support, eng), support)
		if err != nil || stored || got != nil {
			t.Fatalf("support's policy for a caller of both tenants: want none stored, got %+v %v %v", got, stored, err)
		}
		if got, stored, err := s.GetPolicy(ctx, store.ScopeOf(support, eng), eng); err != nil || !stored || got.TenantID != eng {
			t.Fatalf("engineering's own policy: %+v %v %v", got, stored, err)
		}
		if entries, err := s.ResourceAudit(ctx, store.ScopeOf(support), store.ResourcePolicy, eng, 10); err != nil || len(entries) != 0 {
			t.Fatalf("another tenant's policy audit: %d entries, %v", len(entries), err)
		}
		if s.Dialect() == store.Postgres {
			// Row-level security: a read that declares no tenant sees no policy.
			if n, err := s.UnscopedCountForTest(ctx, "approval_policies"); err != nil || n != 0 {
				t.Fatalf("unscoped SELECT on approval_policies returned %d rows (%v): row-level security is not in force", n, err)
			}
		}
	})
}

// Two first policies of one tenant at once: both are stored, one after the
// other, and each audit entry's old values are what it replaced.
func TestPutPolicyConcurrentFirstPolicies(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const tenant = "/teams/support"
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := store.Policy{TenantID: tenant, DefaultTTL: time.Duration(i+1) * time.Hour, MaxTTL: 10 * time.Hour, UpdatedBy: fmt.Sprintf("ceo-%d", i)}
				_, errs[i] = s.PutPolicy(ctx, p, policyEntry(p.UpdatedBy, configuredDefault))
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("writer %d: %v", i, err)
			}
		}
		entries, olds, news := policyAudit(t, s, store.ScopeOf(tenant), tenant)
		if len(entries) != len(errs) {
			t.Fatalf("want %d entries, got %d", len(errs), len(entries))
		}
		defaults := 0
		for i := range entries {
			if olds[i].Source == store.PolicySourceDefault {
				defaults++
				continue
			}
			// Every other change replaced the one recorded just before it.
			if i == 0 || olds[i].DefaultTTL != news[i-1].DefaultTTL || olds[i].UpdatedBy != news[i-1].UpdatedBy {
				t.Errorf("entry %d replaced %+v; the entry before set %+v", i, olds[i], news[max(i-1, 0)])
			}
		}
		if defaults != 1 {
			t.Errorf("%d changes say they replaced the default; exactly the first did", defaults)
		}
		got, _, err := s.GetPolicy(ctx, store.ScopeOf(tenant), tenant)
		if err != nil || store.FormatDuration(got.DefaultTTL) != news[len(news)-1].DefaultTTL {
			t.Fatalf("stored %+v (%v); the last entry set %+v", got, err, news[len(news)-1])
		}
	})
}

// The race the concurrent test above may or may not hit, forced: another
// transaction inserts the tenant's first policy after PutPolicy found none,
// and commits while PutPolicy's insert waits on it. PutPolicy then replaces
// that policy and records it as the old values, not the default.
func TestPutPolicyLosesTheFirstInsertRace(t *testing.T) {
	s, conn := openPostgres(t)
	ctx := context.Background()
	const tenant = "/teams/support"
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SELECT set_config('app.tenant_ids', $1, true)", tenant); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO approval_policies (tenant_id, default_ttl_seconds, max_ttl_seconds, reminders, updated_at, updated_by)
		VALUES ($1, 3600, 7200, '[600]', now(), 'rival')`, tenant); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		p := store.Policy{TenantID: tenant, DefaultTTL: 2 * time.Hour, MaxTTL: 4 * time.Hour, UpdatedBy: "ceo-1"}
		old, err := s.PutPolicy(ctx, p, policyEntry("ceo-1", configuredDefault))
		if err == nil && (old == nil || old.UpdatedBy != "rival" || old.DefaultTTL != time.Hour) {
			err = fmt.Errorf("old = %+v, want the rival's policy", old)
		}
		done <- err
	}()
	// Wait until PutPolicy's insert waits for the rival's row.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var waiting int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("PutPolicy finished without waiting for the uncommitted rival: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("PutPolicy never waited for the rival's insert")
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_, olds, news := policyAudit(t, s, store.ScopeOf(tenant), tenant)
	if len(olds) != 1 || olds[0].UpdatedBy != "rival" || olds[0].DefaultTTL != "1h" || !slices.Equal(olds[0].Reminders, []string{"10m"}) ||
		news[0].DefaultTTL != "2h" || news[0].UpdatedBy != "ceo-1" {
		t.Fatalf("audit old %+v new %+v: want the rival's policy replaced by ceo-1's", olds, news)
	}
}

// The application role can change policies but neither remove them nor
// lift their tenant isolation.
func TestAppRoleCannotRemovePolicies(t *testing.T) {
	_, conn := openPostgres(t)
	ctx := context.Background()
	for _, sql := range []string{
		"DELETE FROM approval_policies",
		"TRUNCATE approval_policies",
		"ALTER TABLE approval_policies NO FORCE ROW LEVEL SECURITY",
		"DROP POLICY tenant_isolation ON approval_policies",
	} {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tx.Exec(ctx, sql)
		_ = tx.Rollback(ctx)
		var pg *pgconn.PgError
		if !errors.As(err, &pg) || pg.Code != "42501" {
			t.Errorf("%s: want insufficient_privilege (42501), got %v", sql, err)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		72 * time.Hour: "72h", 90 * time.Minute: "1h30m", 30 * time.Minute: "30m", 45 * time.Second: "45s",
		time.Hour + 30*time.Second: "1h0m30s", 2*time.Minute + 5*time.Second: "2m5s",
	} {
		got := store.FormatDuration(d)
		if got != want {
			t.Errorf("%v: got %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(got); err != nil || back != d {
			t.Errorf("%q reads back as %v (%v)", got, back, err)
		}
	}
}
