package telemetry

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// NearDeadlineWindow is how close a deadline must be for a waiting
// escalation to count as near it: an hour leaves approvers time to act once
// someone is paged. Fixed, so that the alert's threshold means one thing.
const NearDeadlineWindow = time.Hour

// DeadlineCountFunc counts the waiting escalations whose deadline falls
// within the next within (near) and those past it (overdue), across tenants
// (store.Store.DeadlineCounts).
type DeadlineCountFunc func(ctx context.Context, within time.Duration) (near, overdue int64, err error)

// RegisterDeadlines adds orchestrator_escalations_near_deadline (waiting,
// deadline within NearDeadlineWindow) and orchestrator_escalations_overdue
// (waiting past the deadline: the workflow's timer should have expired them,
// so a lasting figure means expiry is stuck), both from one count on scrape
// at most once per TTL, and orchestrator_escalations_deadline_errors_total.
// A failing count is counted, never fatal to the scrape. Each replica reports
// the same figures: aggregate with max(), not sum().
func (m *Metrics) RegisterDeadlines(count DeadlineCountFunc, o PendingOptions) error {
	return m.reg.Register(newCachedGauges(o, MetricDeadlineErrors, "Failed counts of escalations near or past their deadline.",
		func(ctx context.Context) ([]int64, error) {
			near, overdue, err := count(ctx, NearDeadlineWindow)
			return []int64{near, overdue}, err
		},
		prometheus.NewDesc(MetricEscalationsNearDeadline,
			"Escalations waiting for a decision whose deadline falls within the next hour (database, cached between scrapes).", nil, nil),
		prometheus.NewDesc(MetricEscalationsOverdue,
			"Escalations still waiting for a decision past their deadline, not yet expired (database, cached between scrapes).", nil, nil)))
}
