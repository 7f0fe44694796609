package config

import (
	"fmt"
	"time"
)

// Events out (Standard Webhooks deliveries to a tenant's subscriptions).
//
// The default retry schedule spans about 32 hours after the first attempt
// (5s, 5m, 30m, 2h, 5h, 10h, 10h), so a receiver down for a day still gets
// every event; tests and demos set seconds. After the last entry the
// delivery is failed and visible (GET /api/subscriptions/:id/deliveries).
var DefaultEventsRetrySchedule = Durations{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// Bounds of the events settings.
const (
	DefaultEventsAttemptTimeout = 10 * time.Second
	// An attempt longer than this would hold a delivery slot for long;
	// a retry waiting longer than a week is a misconfiguration.
	MaxEventsAttemptTimeout = 2 * time.Minute
	MaxEventsRetryDelay     = 7 * 24 * time.Hour
	MaxEventsRetries        = 50
	// Finished deliveries (and events no delivery holds any more) older
	// than the retention are deleted by the delivery loops: a month to look
	// back at what a receiver got, and at least a day so that an operator
	// can still read yesterday's failures.
	DefaultEventsRetention = 30 * 24 * time.Hour
	MinEventsRetention     = 24 * time.Hour
)

// loadEvents reads the events settings: the retry schedule, the per-attempt
// timeout, whether private addresses may receive (on by default in dev
// mode only, where receivers run on the same machine) and the task queue
// the deliveries run on (their own, so a slow receiver never takes an
// escalation's activity slot) and how long finished deliveries are kept.
func (c *Config) loadEvents(r *reader) {
	c.EventsRetrySchedule = r.durations("EVENTS_RETRY_SCHEDULE")
	if _, set := r.get("EVENTS_RETRY_SCHEDULE"); !set {
		c.EventsRetrySchedule = append(Durations(nil), DefaultEventsRetrySchedule...)
	}
	c.EventsAttemptTimeout = r.duration("EVENTS_ATTEMPT_TIMEOUT", DefaultEventsAttemptTimeout)
	c.EventsAllowPrivate = r.boolean("EVENTS_ALLOW_PRIVATE", c.Mode == ModeDev)
	c.EventsTaskQueue = r.str("EVENTS_TASK_QUEUE", c.TemporalTaskQueue+"-events")
	c.EventsRetention = r.duration("EVENTS_RETENTION", DefaultEventsRetention)

	switch n := len(c.EventsRetrySchedule); {
	case n == 0:
		r.bad("EVENTS_RETRY_SCHEDULE", "must list at least one delay (comma-separated durations, default "+DefaultEventsRetrySchedule.String()+")")
	case n > MaxEventsRetries:
		r.bad("EVENTS_RETRY_SCHEDULE", fmt.Sprintf("lists %d delays, at most %d are allowed", n, MaxEventsRetries))
	}
	for _, d := range c.EventsRetrySchedule {
		if d <= 0 || d > MaxEventsRetryDelay {
			r.bad("EVENTS_RETRY_SCHEDULE", fmt.Sprintf("%s is not between 0 and %s", d, MaxEventsRetryDelay))
		}
	}
	if d := c.EventsAttemptTimeout; d < 100*time.Millisecond || d > MaxEventsAttemptTimeout {
		r.bad("EVENTS_ATTEMPT_TIMEOUT", fmt.Sprintf("%s is not between 100ms and %s (default %s)", d, MaxEventsAttemptTimeout, DefaultEventsAttemptTimeout))
	}
	if c.EventsRetention < MinEventsRetention {
		r.bad("EVENTS_RETENTION", fmt.Sprintf("%s is less than %s (default %s)", c.EventsRetention, MinEventsRetention, DefaultEventsRetention))
	}
	if c.EventsTaskQueue == c.TemporalTaskQueue {
		r.bad("EVENTS_TASK_QUEUE", "must differ from TEMPORAL_TASK_QUEUE: deliveries must never take the escalations' activity slots")
	}
}
