package telemetry

import (
	"testing"
	"time"
)

func TestEventMetrics(t *testing.T) {
	m := newTestMetrics(t)
	e, err := m.RegisterEvents()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	e.now = func() time.Time { return now }
	e.DeliveryAttempt("retry", 20*time.Millisecond)
	e.DeliveryAttempt("delivered", 30*time.Millisecond)
	a, b := now.Add(-time.Minute), now.Add(-time.Hour)
	e.PendingSince("s1", &a)
	e.PendingSince("s2", &b)
	e.PendingSince("s2", nil) // its loop ended

	if f := family(t, m.Registry(), MetricEventOldestPending); f == nil || f.GetMetric()[0].GetGauge().GetValue() != 60 {
		t.Errorf("oldest pending: %v, want 60", f)
	}
	f := family(t, m.Registry(), MetricEventAttempts)
	if f == nil {
		t.Fatal("no attempts metric")
	}
	got := map[string]float64{}
	for _, s := range f.GetMetric() {
		got[labelsOf(s)["outcome"]] = s.GetCounter().GetValue()
	}
	if got["retry"] != 1 || got["delivered"] != 1 || len(got) != 4 {
		t.Errorf("attempts by outcome %v, want every outcome present and one retry, one delivered", got)
	}
	if f := family(t, m.Registry(), MetricEventAttemptDuration); f == nil || f.GetMetric()[0].GetHistogram().GetSampleCount() != 2 {
		t.Errorf("attempt durations %v", f)
	}
	var nilMetrics *EventMetrics
	nilMetrics.DeliveryAttempt("delivered", time.Second)
	nilMetrics.PendingSince("s", nil)
}
