package telemetry

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
)

type fakeCount struct {
	calls int
	n     int64
	err   error
}

func (f *fakeCount) count(ctx context.Context) (int64, error) {
	f.calls++
	if _, ok := ctx.Deadline(); !ok {
		return 0, errors.New("count without a deadline")
	}
	return f.n, f.err
}

func TestPendingGaugeIsCachedAndSurvivesErrors(t *testing.T) {
	m := newTestMetrics(t)
	now := time.Unix(1_700_000_000, 0)
	fc := &fakeCount{n: 3}
	if err := m.RegisterPending(fc.count, PendingOptions{TTL: 10 * time.Second, Now: func() time.Time { return now }}); err != nil {
		t.Fatal(err)
	}
	gauge := func() (float64, bool) {
		s := find(t, m.reg, MetricEscalationsPending, nil)
		return s.GetGauge().GetValue(), s != nil
	}
	errorsCounted := func() float64 { return find(t, m.reg, MetricPendingErrors, nil).GetCounter().GetValue() }

	if v, ok := gauge(); !ok || v != 3 {
		t.Fatalf("pending = %v (present %v), want 3", v, ok)
	}
	fc.n = 5
	now = now.Add(5 * time.Second)
	if v, _ := gauge(); v != 3 || fc.calls != 1 {
		t.Fatalf("within the TTL: pending = %v after %d counts, want the cached 3 after 1", v, fc.calls)
	}
	now = now.Add(5 * time.Second)
	if v, _ := gauge(); v != 5 || fc.calls != 2 {
		t.Fatalf("after the TTL: pending = %v after %d counts, want 5 after 2", v, fc.calls)
	}

	// Visibility fails: counted, the scrape goes on with the last value…
	fc.err = errors.New("visibility unavailable")
	now = now.Add(10 * time.Second)
	if v, ok := gauge(); !ok || v != 5 {
		t.Fatalf("on error: pending = %v (present %v), want the last good 5", v, ok)
	}
	if got := errorsCounted(); got != 1 {
		t.Fatalf("errors = %v, want 1", got)
	}
	// …until the last good value is too old: then the gauge is left out.
	for range 6 {
		now = now.Add(10 * time.Second)
		gauge()
	}
	if _, ok := gauge(); ok {
		t.Fatal("a stale pending count is still reported")
	}
	if got := errorsCounted(); got != 7 {
		t.Fatalf("errors = %v, want 7", got)
	}
}

func TestPendingGaugeAbsentUntilFirstCount(t *testing.T) {
	m := newTestMetrics(t)
	fc := &fakeCount{err: errors.New("down")}
	if err := m.RegisterPending(fc.count, PendingOptions{}); err != nil {
		t.Fatal(err)
	}
	body := scrape(t, m)
	if strings.Contains(body, MetricEscalationsPending+" ") {
		t.Fatal("pending gauge reported although no count ever succeeded")
	}
	if !strings.Contains(body, MetricPendingErrors+" 1") {
		t.Fatalf("the failed count is not counted:\n%s", body)
	}
}

type fakeVisibility struct {
	req *workflowservice.CountWorkflowExecutionsRequest
}

func (f *fakeVisibility) CountWorkflow(_ context.Context, req *workflowservice.CountWorkflowExecutionsRequest) (*workflowservice.CountWorkflowExecutionsResponse, error) {
	f.req = req
	return &workflowservice.CountWorkflowExecutionsResponse{Count: 42}, nil
}

func TestVisibilityCountQuery(t *testing.T) {
	const q = "WorkflowType = 'Escalation'"
	fv := &fakeVisibility{}
	n, err := VisibilityCount(fv, q)(context.Background())
	if err != nil || n != 42 || fv.req.GetQuery() != q {
		t.Fatalf("count = %d, %v, query %q", n, err, fv.req.GetQuery())
	}
}
