package loadtest

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// samples collects latencies from many goroutines.
type samples struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *samples) add(d time.Duration) {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
}

func (s *samples) n() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.d)
}

// quantile returns the q-quantile (nearest rank).
func (s *samples) quantile(q float64) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.d) == 0 {
		return 0
	}
	c := append([]time.Duration(nil), s.d...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	i := int(q*float64(len(c)) + 0.5)
	if i >= len(c) {
		i = len(c) - 1
	}
	if i > 0 && q < 1 {
		i--
	}
	return c[i]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }

// Result is one shape's figures.
type Result struct {
	Name        string
	Concurrency int
	Duration    time.Duration
	Completed   int
	Errors      int
	// Cut counts escalations or workflows still in flight when the window
	// ended (not counted as completed or as errors).
	Cut int
	// Unavailable counts creates the API answered 503 (product only).
	Unavailable int
	E2E         *samples
	Steps       map[string]*samples // create, decide, visible (product only)
	firstErr    atomic.Value        // the first error, for the report
	ids         idList              // of the completed escalations or workflows
}

func newResult(name string, concurrency int, d time.Duration, steps ...string) *Result {
	r := &Result{Name: name, Concurrency: concurrency, Duration: d, E2E: &samples{}, Steps: map[string]*samples{}}
	for _, s := range steps {
		r.Steps[s] = &samples{}
	}
	return r
}

// idList collects ids from many goroutines.
type idList struct {
	mu  sync.Mutex
	ids []string
}

func (l *idList) add(id string) {
	l.mu.Lock()
	l.ids = append(l.ids, id)
	l.mu.Unlock()
}

func (l *idList) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ids...)
}

// FirstError is the first failure seen, if any.
func (r *Result) FirstError() string {
	if v, ok := r.firstErr.Load().(string); ok {
		return v
	}
	return ""
}

// Rate is completed escalations per second.
func (r *Result) Rate() float64 { return float64(r.Completed) / r.Duration.Seconds() }
