package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/config"
)

// By default the worker polls with the SDK's autoscaling behaviour for
// workflow and activity tasks (fixed workflow pollers can all sit on an
// empty sticky queue: docs/benchmarks.md, "The stall"), keeps sticky tasks
// 10 s and derives its local-activity slots from the database pool.
func TestWorkerPollerDefaults(t *testing.T) {
	c, err := config.Load(config.ModeWorker, env(map[string]string{"DECISION_KEY": strings.Repeat("k", 32)}))
	if err != nil {
		t.Fatal(err)
	}
	auto := config.Pollers{Autoscaling: true}
	if c.WorkerWorkflowTaskPollers != auto || c.WorkerActivityTaskPollers != auto {
		t.Fatalf("pollers: workflow %+v, activity %+v; want autoscaling for both", c.WorkerWorkflowTaskPollers, c.WorkerActivityTaskPollers)
	}
	if c.WorkerStickyScheduleToStartTimeout != 10*time.Second {
		t.Fatalf("sticky schedule-to-start timeout %s, want 10s", c.WorkerStickyScheduleToStartTimeout)
	}
	for pool, want := range map[int]int{1: 4, 2: 4, 20: 40} {
		if got := c.LocalActivitySlots(pool); got != want {
			t.Errorf("local activity slots for a pool of %d: %d, want %d", pool, got, want)
		}
	}
}

// Each setting is read, printed back the way it is written, and refused at
// start with the variable named when it makes no sense.
func TestWorkerPollerSettings(t *testing.T) {
	base := map[string]string{
		"DECISION_KEY":                            strings.Repeat("k", 32),
		"WORKER_WORKFLOW_TASK_POLLERS":            "autoscaling:50",
		"WORKER_ACTIVITY_TASK_POLLERS":            "8",
		"WORKER_STICKY_SCHEDULE_TO_START_TIMEOUT": "30s",
		"WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES":  "7",
	}
	c, err := config.Load(config.ModeWorker, env(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.WorkerWorkflowTaskPollers != (config.Pollers{Autoscaling: true, Max: 50}) || c.WorkerActivityTaskPollers != (config.Pollers{Fixed: 8}) ||
		c.WorkerStickyScheduleToStartTimeout != 30*time.Second || c.LocalActivitySlots(1) != 7 {
		t.Fatalf("settings not read: %+v %+v %s %d", c.WorkerWorkflowTaskPollers, c.WorkerActivityTaskPollers,
			c.WorkerStickyScheduleToStartTimeout, c.LocalActivitySlots(1))
	}
	var b strings.Builder
	if err := c.Print(&b); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"WORKER_WORKFLOW_TASK_POLLERS=autoscaling:50\n", "WORKER_ACTIVITY_TASK_POLLERS=8\n",
		"WORKER_STICKY_SCHEDULE_TO_START_TIMEOUT=30s\n", "WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES=7\n"} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("config does not print %q:\n%s", line, b.String())
		}
	}
	for name, bads := range map[string][]string{
		// One fixed workflow poller makes the SDK panic.
		"WORKER_WORKFLOW_TASK_POLLERS":            {"1", "0", "-2", "autoscaling:0", "autoscaling:", "auto", "1001", "mixed"},
		"WORKER_ACTIVITY_TASK_POLLERS":            {"0", "autoscaling:x", "lots"},
		"WORKER_STICKY_SCHEDULE_TO_START_TIMEOUT": {"0s", "500ms", "1500ms", "6m", "soon"},
		"WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES":  {"-1", "10001", "many"},
	} {
		for _, bad := range bads {
			e := map[string]string{"DECISION_KEY": strings.Repeat("k", 32), name: bad}
			if _, err := config.Load(config.ModeWorker, env(e)); err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%s: err = %v, want one naming the variable", name, bad, err)
			}
		}
	}
	for v, want := range map[string]config.Pollers{"2": {Fixed: 2}, " Autoscaling ": {Autoscaling: true}, "autoscaling:1": {Autoscaling: true, Max: 1}} {
		if got, err := config.ParsePollers(v, 2); err != nil || got != want {
			t.Errorf("ParsePollers(%q) = %+v, %v; want %+v", v, got, err, want)
		}
	}
}
