package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Defaults of how the worker polls and runs tasks (docs/benchmarks.md, "The
// stall", has the measurements behind them).
//
// Pollers default to the SDK's autoscaling behaviour. Its fixed behaviour
// (the SDK's default when nothing is set: two "mixed" workflow pollers) sends
// every poll to the sticky queue while the last sticky answer reported a
// backlog, and forgets that hint only when a sticky poll comes back empty, up
// to a minute later: under load both pollers wait on an empty sticky queue
// while every new escalation's first task waits on the normal one. The
// autoscaling behaviour runs separate sticky and normal pollers and always
// keeps one on the normal queue.
//
// The sticky schedule-to-start timeout is how long a workflow task waits for
// the worker that has the execution cached before any worker may take it
// (and replay the history). The SDK's 5 s is short for a loaded machine:
// a busy but healthy worker loses its cached executions to replays, which
// load it further. 10 s keeps them; a crashed worker delays each of its
// executions' next task by up to that long (a worker that stops cleanly
// hands them over at once).
const (
	DefaultWorkerStickyScheduleToStartTimeout = 10 * time.Second
	// MaxWorkerPollers bounds any poller setting; the SDK's own autoscaling
	// maximum is 100.
	MaxWorkerPollers = 1000
)

// Pollers is a poller behaviour: the SDK's autoscaling (Max 0: the SDK's
// bound) or a fixed maximum of Fixed pollers. Read from and printed as
// "autoscaling", "autoscaling:<max>" or "<n>".
type Pollers struct {
	Autoscaling bool
	// Max bounds autoscaling; 0 leaves the SDK's maximum.
	Max int
	// Fixed is the number of pollers when not autoscaling.
	Fixed int
}

// String prints the setting the way the variable takes it.
func (p Pollers) String() string {
	switch {
	case p.Autoscaling && p.Max > 0:
		return "autoscaling:" + strconv.Itoa(p.Max)
	case p.Autoscaling:
		return "autoscaling"
	}
	return strconv.Itoa(p.Fixed)
}

// ParsePollers reads a poller setting; minFixed is the least number of fixed
// pollers the kind allows (the SDK refuses a single workflow poller).
func ParsePollers(v string, minFixed int) (Pollers, error) {
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "autoscaling" {
		return Pollers{Autoscaling: true}, nil
	}
	if rest, ok := strings.CutPrefix(v, "autoscaling:"); ok {
		n, err := strconv.Atoi(rest)
		if err != nil || n < 1 || n > MaxWorkerPollers {
			return Pollers{}, fmt.Errorf("%q: the autoscaling maximum must be a whole number between 1 and %d", v, MaxWorkerPollers)
		}
		return Pollers{Autoscaling: true, Max: n}, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < minFixed || n > MaxWorkerPollers {
		return Pollers{}, fmt.Errorf("%q is not autoscaling, autoscaling:<max> or a number of pollers between %d and %d", v, minFixed, MaxWorkerPollers)
	}
	return Pollers{Fixed: n}, nil
}

// loadWorker reads the worker's poller, stickiness and local-activity
// settings. Only the worker and dev mode use them, but every mode validates
// them so that `orchestrator config` shows what a worker would run with.
func (c *Config) loadWorker(r *reader) {
	pollers := func(name string, minFixed int) Pollers {
		v := r.str(name, "autoscaling")
		p, err := ParsePollers(v, minFixed)
		if err != nil {
			r.bad(name, err.Error())
			return Pollers{Autoscaling: true}
		}
		return p
	}
	// The SDK panics on a single fixed workflow poller: with one mixed
	// poller, sticky and normal polls would take turns.
	c.WorkerWorkflowTaskPollers = pollers("WORKER_WORKFLOW_TASK_POLLERS", 2)
	c.WorkerActivityTaskPollers = pollers("WORKER_ACTIVITY_TASK_POLLERS", 1)

	c.WorkerStickyScheduleToStartTimeout = r.duration("WORKER_STICKY_SCHEDULE_TO_START_TIMEOUT", DefaultWorkerStickyScheduleToStartTimeout)
	if d := c.WorkerStickyScheduleToStartTimeout; d < time.Second || d > 5*time.Minute || d%time.Second != 0 {
		// The server counts it in whole seconds.
		r.bad("WORKER_STICKY_SCHEDULE_TO_START_TIMEOUT", fmt.Sprintf("%s is not a whole number of seconds between 1s and 5m (default %s)",
			d, DefaultWorkerStickyScheduleToStartTimeout))
	}

	// 0: derived from the store's connection pool when the worker starts
	// (LocalActivitySlots).
	c.WorkerMaxConcurrentLocalActivities = r.integer("WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES", 0)
	if n := c.WorkerMaxConcurrentLocalActivities; n > 10_000 {
		r.bad("WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES", fmt.Sprintf("%d is more than 10000 (0 derives it from the database pool)", n))
	}
}

// LocalActivitySlots is how many local activities the worker runs at once:
// WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES, or when 0 two per connection of
// the store's pool (poolConns; SQLite has one), at least 4. The workflows'
// local activities are database writes, some with a Chatwoot call or a
// Temporal start between two of them: two per connection keep each
// connection busy while the other is away from it, and the floor keeps a
// one-connection pool from also serialising those calls. Without a bound
// (the SDK's 1000) a burst queues hundreds of writes on the pool, where they
// spend their time budgets waiting and push the API's queries back.
func (c *Config) LocalActivitySlots(poolConns int) int {
	if c.WorkerMaxConcurrentLocalActivities > 0 {
		return c.WorkerMaxConcurrentLocalActivities
	}
	return max(2*poolConns, 4)
}
