package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/config"
)

func TestEventsDefaults(t *testing.T) {
	dev, err := config.Load(config.ModeDev, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := dev.EventsRetrySchedule.String(); got != "5s,5m0s,30m0s,2h0m0s,5h0m0s,10h0m0s,10h0m0s" {
		t.Errorf("EVENTS_RETRY_SCHEDULE default %s", got)
	}
	var total time.Duration
	for _, d := range dev.EventsRetrySchedule {
		total += d
	}
	if total < 24*time.Hour {
		t.Errorf("the default schedule retries for %s, less than a day", total)
	}
	if dev.EventsRetention != 720*time.Hour {
		t.Errorf("EVENTS_RETENTION default %s, want 30 days", dev.EventsRetention)
	}
	if dev.EventsAttemptTimeout != 10*time.Second || !dev.EventsAllowPrivate || dev.EventsTaskQueue != "escalations-events" {
		t.Errorf("dev events settings %s %v %q", dev.EventsAttemptTimeout, dev.EventsAllowPrivate, dev.EventsTaskQueue)
	}
	w, err := config.Load(config.ModeWorker, env(map[string]string{"DECISION_KEY": strings.Repeat("k", 32), "TEMPORAL_TASK_QUEUE": "q"}))
	if err != nil {
		t.Fatal(err)
	}
	if w.EventsAllowPrivate || w.EventsTaskQueue != "q-events" {
		t.Errorf("worker: private %v, queue %q; want private addresses refused outside dev and q-events", w.EventsAllowPrivate, w.EventsTaskQueue)
	}
}

func TestEventsSettingsRead(t *testing.T) {
	c, err := config.Load(config.ModeDev, env(map[string]string{
		"EVENTS_RETRY_SCHEDULE": "100ms, 200ms,1s", "EVENTS_ATTEMPT_TIMEOUT": "2s", "EVENTS_ALLOW_PRIVATE": "false", "EVENTS_TASK_QUEUE": "deliveries",
		"EVENTS_RETENTION": "24h",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.EventsRetrySchedule.String() != "100ms,200ms,1s" || c.EventsAttemptTimeout != 2*time.Second || c.EventsAllowPrivate || c.EventsTaskQueue != "deliveries" || c.EventsRetention != 24*time.Hour {
		t.Fatalf("read %+v", c)
	}
}

func TestBadEventsSettingsAreNamed(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"EVENTS_RETRY_SCHEDULE", "", "at least one delay"},
		{"EVENTS_RETRY_SCHEDULE", "5s,soon", "not a duration"},
		{"EVENTS_RETRY_SCHEDULE", "5s,-1s", "not between"},
		{"EVENTS_RETRY_SCHEDULE", "5s,200h", "not between"},
		{"EVENTS_ATTEMPT_TIMEOUT", "1h", "not between"},
		{"EVENTS_ATTEMPT_TIMEOUT", "1ms", "not between"},
		{"EVENTS_ALLOW_PRIVATE", "perhaps", "EVENTS_ALLOW_PRIVATE"},
		{"EVENTS_TASK_QUEUE", "escalations", "must differ"},
		{"EVENTS_RETENTION", "23h", "less than 24h"},
		{"EVENTS_RETENTION", "-1h", "less than 24h"},
		{"EVENTS_RETENTION", "a month", "EVENTS_RETENTION"},
	} {
		_, err := config.Load(config.ModeDev, env(map[string]string{tc.name: tc.value}))
		if err == nil || !strings.Contains(err.Error(), tc.name) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%q: want an error naming it (%q), got %v", tc.name, tc.value, tc.want, err)
		}
	}
}
