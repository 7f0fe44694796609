package telemetry

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/api/workflowservice/v1"
)

// CountFunc counts something on demand (a scrape).
type CountFunc func(ctx context.Context) (int64, error)

// WorkflowCounter is the part of the Temporal client a visibility count needs.
type WorkflowCounter interface {
	CountWorkflow(ctx context.Context, req *workflowservice.CountWorkflowExecutionsRequest) (*workflowservice.CountWorkflowExecutionsResponse, error)
}

// VisibilityCount counts the workflows matching query in the client's namespace.
func VisibilityCount(c WorkflowCounter, query string) CountFunc {
	return func(ctx context.Context) (int64, error) {
		resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query})
		if err != nil {
			return 0, err
		}
		return resp.GetCount(), nil
	}
}

// PendingOptions tune RegisterPending.
type PendingOptions struct {
	// TTL is how long a count is reused between scrapes (default 10s).
	TTL time.Duration
	// Timeout bounds one count (default 3s).
	Timeout time.Duration
	// MaxStale is how long the last good count is still reported while
	// counting fails (default 6×TTL); after that the gauge is left out.
	MaxStale time.Duration
	// Now replaces the clock (tests).
	Now func() time.Time
}

// RegisterPending adds orchestrator_escalations_pending, counted by count on
// scrape at most once per TTL, and orchestrator_escalations_pending_errors_total.
// A failing count is counted, never fatal to the scrape. Each replica reports
// the same figure: aggregate with max(), not sum().
func (m *Metrics) RegisterPending(count CountFunc, o PendingOptions) error {
	if o.TTL <= 0 {
		o.TTL = 10 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.MaxStale <= 0 {
		o.MaxStale = 6 * o.TTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	p := &pendingCollector{
		desc: prometheus.NewDesc(MetricEscalationsPending,
			"Escalations waiting for a decision (Temporal visibility, cached between scrapes).", nil, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: MetricPendingErrors,
			Help: "Failed counts of pending escalations.",
		}),
		count: count, opts: o,
	}
	return m.reg.Register(p)
}

type pendingCollector struct {
	desc   *prometheus.Desc
	errors prometheus.Counter
	count  CountFunc
	opts   PendingOptions

	mu        sync.Mutex // held across a count: concurrent scrapes share it
	checkedAt time.Time
	okAt      time.Time
	value     float64
	have      bool
}

func (p *pendingCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- p.desc
	p.errors.Describe(ch)
}

// Collect counts (or reuses the count) first, so the error counter of the
// same scrape already includes a failure of this count.
func (p *pendingCollector) Collect(ch chan<- prometheus.Metric) {
	if v, ok := p.get(); ok {
		ch <- prometheus.MustNewConstMetric(p.desc, prometheus.GaugeValue, v)
	}
	p.errors.Collect(ch)
}

func (p *pendingCollector) get() (float64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.opts.Now()
	if p.checkedAt.IsZero() || now.Sub(p.checkedAt) >= p.opts.TTL {
		p.checkedAt = now
		ctx, cancel := context.WithTimeout(context.Background(), p.opts.Timeout)
		n, err := p.count(ctx)
		cancel()
		if err != nil {
			p.errors.Inc()
		} else {
			p.value, p.okAt, p.have = float64(n), now, true
		}
	}
	if !p.have || now.Sub(p.okAt) > p.opts.MaxStale {
		return 0, false
	}
	return p.value, true
}
