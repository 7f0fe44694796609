package keycloak

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// A burst of identical lookups costs one fetch even with caching off.
func TestCacheMergesConcurrentLookups(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCache(0, 10, time.Now)
		release := make(chan struct{})
		var fetches atomic.Int32
		fetch := func(context.Context) (any, error) {
			fetches.Add(1)
			<-release
			return "answer", nil
		}
		var wg sync.WaitGroup
		results := make([]any, 8)
		for i := range results {
			wg.Go(func() { results[i], _ = c.do(t.Context(), "k", fetch) })
		}
		synctest.Wait() // every caller is now fetching or waiting for the fetch
		close(release)
		wg.Wait()
		if n := fetches.Load(); n != 1 {
			t.Fatalf("fetches = %d, want 1", n)
		}
		for i, r := range results {
			if r != "answer" {
				t.Fatalf("caller %d got %v", i, r)
			}
		}
		if c.len() != 0 {
			t.Fatal("a zero TTL stored an entry")
		}
	})
}

// When the caller running the fetch gives up, a waiting caller whose own
// context is fine fetches for itself instead of inheriting the cancellation.
func TestCacheWaiterOutlivesCanceledLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCache(time.Minute, 10, time.Now)
		var fetches atomic.Int32
		fetch := func(ctx context.Context) (any, error) {
			if fetches.Add(1) == 1 {
				<-ctx.Done()
				return nil, ctx.Err()
			}
			return "answer", nil
		}
		leaderCtx, cancel := context.WithCancel(t.Context())
		var leaderErr error
		var got any
		var err error
		var wg sync.WaitGroup
		wg.Go(func() { _, leaderErr = c.do(leaderCtx, "k", fetch) })
		synctest.Wait()
		wg.Go(func() { got, err = c.do(t.Context(), "k", fetch) })
		synctest.Wait()
		cancel()
		wg.Wait()
		if !errors.Is(leaderErr, context.Canceled) {
			t.Fatalf("leader err = %v, want context.Canceled", leaderErr)
		}
		if err != nil || got != "answer" || fetches.Load() != 2 {
			t.Fatalf("waiter got %v, %v after %d fetches; want answer, nil after 2", got, err, fetches.Load())
		}
	})
}

// A panicking fetch releases its waiters with an error and caches nothing.
func TestCachePanicReleasesWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCache(time.Minute, 10, time.Now)
		release := make(chan struct{})
		var waiterErr error
		var wg sync.WaitGroup
		wg.Go(func() {
			defer func() { _ = recover() }()
			_, _ = c.do(t.Context(), "k", func(context.Context) (any, error) { <-release; panic("boom") })
		})
		synctest.Wait()
		wg.Go(func() {
			_, waiterErr = c.do(t.Context(), "k", func(context.Context) (any, error) { return "late", nil })
		})
		synctest.Wait()
		close(release)
		wg.Wait()
		if waiterErr == nil {
			t.Fatal("waiter of a panicked fetch got no error")
		}
		if c.len() != 0 {
			t.Fatal("a panicked fetch was cached")
		}
	})
}
