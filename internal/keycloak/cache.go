package keycloak

import (
	"context"
	"errors"
	"sync"
	"time"
)

// cache keeps answers for a short time and merges concurrent identical
// lookups into one request, so that a burst of chat commands from one person
// costs Keycloak one round of requests. It holds at most size answers.
//
// Only answers are kept: successes, ErrNotFound and ErrAmbiguous. Failures
// are not, so an outage ends for callers as soon as Keycloak is back.
type cache struct {
	ttl  time.Duration
	size int
	now  func() time.Time

	mu      sync.Mutex
	entries map[string]cacheEntry
	calls   map[string]*cacheCall
}

type cacheEntry struct {
	val     any
	err     error
	expires time.Time
}

type cacheCall struct {
	done chan struct{}
	val  any
	err  error
}

func newCache(ttl time.Duration, size int, now func() time.Time) *cache {
	return &cache{
		ttl: ttl, size: size, now: now,
		entries: make(map[string]cacheEntry),
		calls:   make(map[string]*cacheCall),
	}
}

// do returns the cached answer for key, joins a lookup of key already under
// way, or runs fetch.
func (c *cache) do(ctx context.Context, key string, fetch func(context.Context) (any, error)) (any, error) {
	for {
		c.mu.Lock()
		if e, ok := c.entries[key]; ok {
			if c.now().Before(e.expires) {
				c.mu.Unlock()
				return e.val, e.err
			}
			delete(c.entries, key)
		}
		if call, ok := c.calls[key]; ok {
			c.mu.Unlock()
			select {
			case <-call.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			// The caller that ran the lookup may have given up on its own
			// context; that says nothing about this caller, who asks again.
			if isContextError(call.err) && ctx.Err() == nil {
				continue
			}
			return call.val, call.err
		}
		call := &cacheCall{done: make(chan struct{})}
		c.calls[key] = call
		c.mu.Unlock()

		c.run(ctx, key, call, fetch)
		return call.val, call.err
	}
}

func (c *cache) run(ctx context.Context, key string, call *cacheCall, fetch func(context.Context) (any, error)) {
	// Deferred so that waiters are released even if fetch panics.
	defer func() {
		c.mu.Lock()
		delete(c.calls, key)
		if c.ttl > 0 && isAnswer(call.err) {
			c.store(key, cacheEntry{val: call.val, err: call.err, expires: c.now().Add(c.ttl)})
		}
		c.mu.Unlock()
		close(call.done)
	}()
	// Stays the answer if fetch panics, so that waiters see a failure
	// rather than an empty success, and nothing is cached.
	call.err = errors.New("keycloak: lookup did not complete")
	call.val, call.err = fetch(ctx)
}

// store adds an entry, making room first. c.mu is held.
func (c *cache) store(key string, e cacheEntry) {
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.size {
		now := c.now()
		for k, old := range c.entries {
			if !now.Before(old.expires) {
				delete(c.entries, k)
			}
		}
		// Every entry lives equally long, so the one expiring first is the
		// oldest; a scan is cheap at the sizes used here and runs only when
		// the cache is full.
		for len(c.entries) >= c.size {
			var oldest string
			var first time.Time
			found := false
			for k, old := range c.entries {
				if !found || old.expires.Before(first) {
					oldest, first, found = k, old.expires, true
				}
			}
			delete(c.entries, oldest)
		}
	}
	c.entries[key] = e
}

// len reports the number of stored entries, expired ones included.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// isAnswer reports whether err (or its absence) is what Keycloak holds
// rather than a failure to ask it.
func isAnswer(err error) bool {
	return err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrAmbiguous)
}

func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
