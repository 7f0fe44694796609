package app

import (
	"errors"
	"sync"
	"sync/atomic"
)

// workerState is what the process knows of its Temporal worker: polling
// from a successful start until it stops, and, when it stopped by itself,
// why. /readyz and the orchestrator_worker_polling gauge read it;
// runTemporalWorker waits on it.
type workerState struct {
	polling atomic.Bool
	once    sync.Once
	stopped chan struct{} // closed by fail
	mu      sync.Mutex
	cause   error
}

func newWorkerState() *workerState { return &workerState{stopped: make(chan struct{})} }

// Polling reports whether the worker polls.
func (s *workerState) Polling() bool { return s.polling.Load() }

// fail records that the worker stopped by itself (the SDK's OnFatalError);
// the first cause wins.
func (s *workerState) fail(err error) {
	if err == nil {
		err = errors.New("the worker stopped without a cause")
	}
	s.polling.Store(false)
	s.once.Do(func() {
		s.mu.Lock()
		s.cause = err
		s.mu.Unlock()
		close(s.stopped)
	})
}

func (s *workerState) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cause
}
