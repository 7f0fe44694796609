package telemetry

import (
	"context"
	"fmt"
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
	return m.reg.Register(newCachedGauges(o, MetricPendingErrors, "Failed counts of pending escalations.",
		func(ctx context.Context) ([]int64, error) {
			n, err := count(ctx)
			return []int64{n}, err
		},
		prometheus.NewDesc(MetricEscalationsPending,
			"Escalations waiting for a decision (Temporal visibility, cached between scrapes).", nil, nil)))
}

// cachedGauges reports gauges that one count yields together, counted on
// scrape at most once per TTL, with a counter of failed counts.
type cachedGauges struct {
	descs  []*prometheus.Desc
	errors prometheus.Counter
	count  func(ctx context.Context) ([]int64, error) // one value per desc
	opts   PendingOptions

	mu        sync.Mutex // held across a count: concurrent scrapes share it
	checkedAt time.Time
	okAt      time.Time
	values    []float64
	have      bool
}

func newCachedGauges(o PendingOptions, errorsName, errorsHelp string, count func(context.Context) ([]int64, error), descs ...*prometheus.Desc) *cachedGauges {
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
	return &cachedGauges{
		descs:  descs,
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: errorsName, Help: errorsHelp}),
		count:  count, opts: o,
	}
}

func (p *cachedGauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range p.descs {
		ch <- d
	}
	p.errors.Describe(ch)
}

// Collect counts (or reuses the count) first, so the error counter of the
// same scrape already includes a failure of this count.
func (p *cachedGauges) Collect(ch chan<- prometheus.Metric) {
	if vs, ok := p.get(); ok {
		for i, d := range p.descs {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, vs[i])
		}
	}
	p.errors.Collect(ch)
}

func (p *cachedGauges) get() ([]float64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.opts.Now()
	if p.checkedAt.IsZero() || now.Sub(p.checkedAt) >= p.opts.TTL {
		p.checkedAt = now
		ctx, cancel := context.WithTimeout(context.Background(), p.opts.Timeout)
		ns, err := p.count(ctx)
		cancel()
		if err == nil && len(ns) != len(p.descs) {
			err = fmt.Errorf("count returned %d values for %d gauges", len(ns), len(p.descs))
		}
		if err != nil {
			p.errors.Inc()
		} else {
			p.values = make([]float64, len(ns))
			for i, n := range ns {
				p.values[i] = float64(n)
			}
			p.okAt, p.have = now, true
		}
	}
	if !p.have || now.Sub(p.okAt) > p.opts.MaxStale {
		return nil, false
	}
	return p.values, true
}
