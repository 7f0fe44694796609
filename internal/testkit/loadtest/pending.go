package loadtest

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/config"
)

// PendingResult is the memory of the all-in-one process with Pending
// escalations waiting for a decision, and what deciding one costs when the
// worker still holds it in its workflow cache and when it was evicted and
// is replayed from its history.
type PendingResult struct {
	CacheSize  int // WORKER_WORKFLOW_CACHE_SIZE (0: the orchestrator's default)
	Pending    int
	Created    int
	Errors     int
	FirstError string
	CreateTook time.Duration
	// IdleRSS is the process's resident set before the first escalation;
	// SettledRSS with every escalation waiting and its notifications sent;
	// PeakRSS the high-water mark over the whole phase.
	IdleRSS, SettledRSS, PeakRSS int64
	// The process's own figures when settled: heap in use and the heap it
	// keeps without using it (go_memstats_heap_inuse_bytes, heap_idle -
	// heap_released), goroutine stacks (stack_inuse; every cached
	// execution parks its coroutines there), goroutines, and executions in
	// the workflow cache (temporal_sticky_cache_size).
	HeapInuse, HeapRetained, StackInuse, Goroutines, CachedExecutions float64
	// Decisions of waiting escalations one at a time, classed by what the
	// worker did: Cached found the execution in its cache, Evicted had to
	// fetch its history and replay it (temporal_sticky_cache_miss moved).
	Cached, Evicted *samples
	Profiles        []string
}

// cacheLabel names a cache size for the log and the report.
func cacheLabel(size int) string {
	if size == 0 {
		return strconv.Itoa(config.DefaultWorkerWorkflowCacheSize) + " (default)"
	}
	return strconv.Itoa(size)
}

// pending creates e.opts.Pending escalations on a fresh orchestrator with
// the workflow cache at size, leaves them waiting, reads the process's
// memory, then decides the oldest (evicted first) and the newest (still
// cached) alternately, one at a time.
func (e *env) pending(ctx context.Context, srv *server, size int) (*PendingResult, error) {
	r := &PendingResult{CacheSize: size, Pending: e.opts.Pending, Cached: &samples{}, Evicted: &samples{}}
	dir := filepath.Join(e.dir, fmt.Sprintf("pending-%d", size))
	var extra []string
	if size > 0 {
		extra = append(extra, "WORKER_WORKFLOW_CACHE_SIZE="+strconv.Itoa(size))
	}
	orc, err := e.startOrchestrator(ctx, srv, "sqlite://"+filepath.Join(dir, "orchestrator.db"), dir, extra...)
	if err != nil {
		return nil, err
	}
	defer orc.stop()
	time.Sleep(2 * time.Second)
	r.IdleRSS = memStatus(orc.pid(), "VmRSS")
	firstConv := e.convSeq.Load()

	// Create them with as many clients as the concurrent shapes; ids keep
	// the order in which the creates were sent.
	ids := make([]string, e.opts.Pending)
	var next, created, errs atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < e.opts.Concurrency; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(ids) {
					return
				}
				id, err := e.create(ctx, orc)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				ids[i] = id
				if n := created.Add(1); n%1000 == 0 {
					e.logf("  %d created", n)
				}
			}
		}()
	}
	wg.Wait()
	r.CreateTook, r.Created, r.Errors = time.Since(start), int(created.Load()), int(errs.Load())
	if v, ok := firstErr.Load().(string); ok {
		r.FirstError = v
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.waitNotifications(ctx, firstConv, 120*time.Second)
	time.Sleep(5 * time.Second)
	r.SettledRSS = memStatus(orc.pid(), "VmRSS")
	r.HeapInuse, _ = orc.metric(ctx, "go_memstats_heap_inuse_bytes")
	idle, _ := orc.metric(ctx, "go_memstats_heap_idle_bytes")
	released, _ := orc.metric(ctx, "go_memstats_heap_released_bytes")
	r.HeapRetained = idle - released
	r.StackInuse, _ = orc.metric(ctx, "go_memstats_stack_inuse_bytes")
	r.Goroutines, _ = orc.metric(ctx, "go_goroutines")
	r.CachedExecutions, _ = orc.metric(ctx, "temporal_sticky_cache_size")
	r.Profiles = e.keepProfiles(orc.writeProfiles(), fmt.Sprintf("pending-%d-cache-%d", e.opts.Pending, size))

	// Oldest and newest alternately, so that drift over the phase falls on
	// both classes alike.
	var live []string
	for _, id := range ids {
		if id != "" {
			live = append(live, id)
		}
	}
	k := min(e.opts.ReplaySamples, len(live)/2)
	for i := 0; i < k; i++ {
		for _, id := range []string{live[i], live[len(live)-1-i]} {
			if err := e.decideClassified(ctx, orc, id, r); err != nil {
				return nil, err
			}
		}
	}
	r.PeakRSS = memStatus(orc.pid(), "VmHWM")
	return r, nil
}

// decideClassified approves one escalation and files the latency under
// what the worker did, read from its sticky-cache miss counter around the
// call (the decisions are sent one at a time, so nothing else moves it).
func (e *env) decideClassified(ctx context.Context, orc *orchestrator, id string, r *PendingResult) error {
	before, err := orc.metric(ctx, "temporal_sticky_cache_miss_total")
	if err != nil {
		return err
	}
	start := time.Now()
	if _, err := orc.call(ctx, "PATCH", "/api/approvals/"+id, orc.ceo, map[string]any{"status": "approved"}, http.StatusOK); err != nil {
		return fmt.Errorf("decide a pending escalation: %w", err)
	}
	took := time.Since(start)
	after, err := orc.metric(ctx, "temporal_sticky_cache_miss_total")
	if err != nil {
		return err
	}
	if after > before {
		r.Evicted.add(took)
	} else {
		r.Cached.add(took)
	}
	return nil
}
