package loadtest

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// A soak passes only when every server ran every phase, every phase
// completed escalations and no create was answered 503.
func TestJudgeSoak(t *testing.T) {
	good := func(n int) SoakPhase { return SoakPhase{Phase: n, Duration: 30 * time.Second, Completed: 700} }
	run := func(server string, planned int, phases ...SoakPhase) *SoakRun {
		return &SoakRun{Server: server, Planned: planned, Phases: phases}
	}
	stalled := good(3)
	stalled.Completed, stalled.Errors, stalled.FirstError = 0, 32, "POST /api/approvals: 503"
	unavailable := good(2)
	unavailable.Unavailable = 4
	for _, tc := range []struct {
		name string
		runs []*SoakRun
		want []string // substrings of the failures, in order; none: passes
	}{
		{"every phase completes", []*SoakRun{run("dev server", 2, good(1), good(2)), run("cluster", 2, good(1), good(2))}, nil},
		{"nothing soaked", nil, []string{"no server was soaked"}},
		{"a phase completes nothing", []*SoakRun{run("dev server", 3, good(1), good(2), stalled)},
			[]string{"dev server, phase 3: no escalation completed (32 errors; first: POST /api/approvals: 503)"}},
		{"a create answered 503", []*SoakRun{run("dev server", 2, good(1)), run("cluster", 2, good(1), unavailable)},
			[]string{"dev server: 1 of 2 phases ran", "cluster, phase 2: 4 creates answered 503"}},
		{"a stall ends the run early", []*SoakRun{run("cluster", 20, good(1), stalled)},
			[]string{"cluster, phase 3: no escalation completed", "cluster: 2 of 20 phases ran"}},
	} {
		got := JudgeSoak(tc.runs)
		if len(got) != len(tc.want) {
			t.Errorf("%s: failures %q, want %d matching %q", tc.name, got, len(tc.want), tc.want)
			continue
		}
		for i, w := range tc.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("%s: failure %d is %q, want it to say %q", tc.name, i, got[i], w)
			}
		}
	}
}

// The report is a markdown table a phase a line, and says whether the soak
// passed.
func TestSoakMarkdown(t *testing.T) {
	p := SoakPhase{Phase: 1, Duration: 20 * time.Second, Completed: 500, CreateP50: 400 * time.Millisecond, DecideP50: 600 * time.Millisecond,
		NormalPollers: 1, StickyPollers: 3, CachedWorkflows: 999, ForcedEvictions: 120, RunningConsultations: 1500}
	rep := &SoakReport{Options: SoakOptions{Phases: 1, PhaseDuration: 20 * time.Second, Concurrency: 32},
		Runs: []*SoakRun{{Server: "dev server", Detail: "d", Planned: 1, Phases: []SoakPhase{p}}}}
	var b bytes.Buffer
	rep.Markdown(&b, "loadtest -soak")
	for _, want := range []string{"| 1 | 500 | 25.0 | 400.0 | 600.0 | 0 | 0 | 0 | 1/3 | 999 | 120 | 1500 |", "**Soak passed:**"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	rep.Runs[0].Phases[0].Completed = 0
	b.Reset()
	rep.Markdown(&b, "loadtest -soak")
	if !strings.Contains(b.String(), "**Soak failed:**") {
		t.Errorf("a stalled soak reads as passed:\n%s", b.String())
	}
}

// The SDK repeats the cache's size under one series per workflow type: the
// soak reads it once, not summed; pollers are summed per kind.
func TestSoakReadsTheWorkerMetrics(t *testing.T) {
	text := `temporal_num_pollers{poller_type="workflow_sticky_task",task_queue="q"} 14
temporal_num_pollers{poller_type="workflow_task",task_queue="q"} 15
temporal_sticky_cache_forced_eviction_total{task_queue="q"} 554
temporal_sticky_cache_size{task_queue="q",workflow_type="Consultation"} 632
temporal_sticky_cache_size{task_queue="q",workflow_type="Escalation"} 632
`
	if n, err := maxMetric(strings.NewReader(text), "temporal_sticky_cache_size"); err != nil || n != 632 {
		t.Errorf("cache size %v, %v; want 632", n, err)
	}
	if n, err := sumMetric(strings.NewReader(text), "temporal_num_pollers", `poller_type="workflow_task"`); err != nil || n != 15 {
		t.Errorf("normal pollers %v, %v; want 15", n, err)
	}
	if n, err := sumMetric(strings.NewReader(text), "temporal_sticky_cache_forced_eviction_total"); err != nil || n != 554 {
		t.Errorf("forced evictions %v, %v; want 554", n, err)
	}
}
