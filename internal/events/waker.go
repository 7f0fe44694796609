package events

import "sync"

// Waker tells the delivery loops running in this process that deliveries
// were queued for their subscription, so they send at once instead of at
// their next poll. It is the store's OnDeliveriesQueued hook. A loop in
// another process learns it by polling (Dispatcher.Poll).
type Waker struct {
	mu    sync.Mutex
	loops map[string]map[chan struct{}]struct{}
}

// NewWaker returns a waker with no loop listening.
func NewWaker() *Waker { return &Waker{loops: map[string]map[chan struct{}]struct{}{}} }

// Wake nudges every loop of the subscriptions; it never blocks.
func (w *Waker) Wake(subscriptionIDs []string) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range subscriptionIDs {
		for c := range w.loops[id] {
			select {
			case c <- struct{}{}:
			default: // already nudged
			}
		}
	}
}

// listen returns the channel a loop of the subscription is nudged on, and
// how to stop listening.
func (w *Waker) listen(subscriptionID string) (<-chan struct{}, func()) {
	c := make(chan struct{}, 1)
	if w == nil {
		return c, func() {}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.loops[subscriptionID] == nil {
		w.loops[subscriptionID] = map[chan struct{}]struct{}{}
	}
	w.loops[subscriptionID][c] = struct{}{}
	return c, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.loops[subscriptionID], c)
		if len(w.loops[subscriptionID]) == 0 {
			delete(w.loops, subscriptionID)
		}
	}
}
