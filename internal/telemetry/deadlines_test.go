package telemetry

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

type fakeDeadlines struct {
	calls         int
	within        time.Duration
	near, overdue int64
	err           error
}

func (f *fakeDeadlines) count(ctx context.Context, within time.Duration) (int64, int64, error) {
	f.calls++
	f.within = within
	if _, ok := ctx.Deadline(); !ok {
		return 0, 0, errors.New("count without a deadline")
	}
	return f.near, f.overdue, f.err
}

// Both gauges come from one count per TTL, over the fixed window; a failed
// count is counted and the last good figures stay until they are stale.
func TestDeadlineGaugesAreCachedAndSurviveErrors(t *testing.T) {
	m := newTestMetrics(t)
	now := time.Unix(1_700_000_000, 0)
	fd := &fakeDeadlines{near: 4, overdue: 1}
	if err := m.RegisterDeadlines(fd.count, PendingOptions{TTL: 10 * time.Second, Now: func() time.Time { return now }}); err != nil {
		t.Fatal(err)
	}
	gauges := func() (near, overdue float64, ok bool) {
		n, o := find(t, m.reg, MetricEscalationsNearDeadline, nil), find(t, m.reg, MetricEscalationsOverdue, nil)
		if (n == nil) != (o == nil) {
			t.Fatalf("one deadline gauge without the other: near %v, overdue %v", n, o)
		}
		return n.GetGauge().GetValue(), o.GetGauge().GetValue(), n != nil
	}
	errorsCounted := func() float64 { return find(t, m.reg, MetricDeadlineErrors, nil).GetCounter().GetValue() }

	// find gathers once per gauge: one count serves both.
	if n, o, ok := gauges(); !ok || n != 4 || o != 1 || fd.calls != 1 || fd.within != NearDeadlineWindow {
		t.Fatalf("near %v overdue %v (present %v) after %d counts over %s, want 4 and 1 after 1 over %s", n, o, ok, fd.calls, fd.within, NearDeadlineWindow)
	}
	fd.near, fd.overdue = 6, 0
	now = now.Add(10 * time.Second)
	if n, o, _ := gauges(); n != 6 || o != 0 || fd.calls != 2 {
		t.Fatalf("after the TTL: near %v overdue %v after %d counts, want 6 and 0 after 2", n, o, fd.calls)
	}

	fd.err = errors.New("database unavailable")
	now = now.Add(10 * time.Second)
	if n, o, ok := gauges(); !ok || n != 6 || o != 0 {
		t.Fatalf("on error: near %v overdue %v (present %v), want the last good 6 and 0", n, o, ok)
	}
	if got := errorsCounted(); got != 1 {
		t.Fatalf("errors = %v, want 1", got)
	}
	for range 6 {
		now = now.Add(10 * time.Second)
		gauges()
	}
	if _, _, ok := gauges(); ok {
		t.Fatal("stale deadline counts are still reported")
	}
}

func TestDeadlineGaugesAbsentUntilFirstCount(t *testing.T) {
	m := newTestMetrics(t)
	fd := &fakeDeadlines{err: errors.New("down")}
	if err := m.RegisterDeadlines(fd.count, PendingOptions{}); err != nil {
		t.Fatal(err)
	}
	body := scrape(t, m)
	for _, name := range []string{MetricEscalationsNearDeadline, MetricEscalationsOverdue} {
		if strings.Contains(body, name+" ") {
			t.Fatalf("%s reported although no count ever succeeded", name)
		}
	}
	if !strings.Contains(body, MetricDeadlineErrors+" 1") {
		t.Fatalf("the failed count is not counted:\n%s", body)
	}
}
