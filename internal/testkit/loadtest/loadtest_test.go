package loadtest

import (
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	updatepb "go.temporal.io/api/update/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestParseProcStat(t *testing.T) {
	// A command name with a space and a parenthesis must not shift the
	// fields; utime 250 and stime 50 ticks are 3 s.
	line := "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 2000000 777 18446744073709551615"
	st := parseProcStat(line)
	if st.parseError != nil {
		t.Fatal(st.parseError)
	}
	if st.comm != "my (odd) name" || st.ppid != 1 || st.cpu != 3*time.Second || st.rssPages != 777 {
		t.Fatalf("got %+v", st)
	}
	for _, bad := range []string{"", "12 no-parens S 1", "12 (x) S 1 2 3"} {
		if parseProcStat(bad).parseError == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestSumMetric(t *testing.T) {
	text := `# HELP temporal_sticky_cache_miss_total misses
# TYPE temporal_sticky_cache_miss_total counter
temporal_sticky_cache_miss_total{namespace="default",workflow_type="Escalation"} 7
temporal_sticky_cache_miss_total{namespace="default",workflow_type="Consultation"} 2
temporal_sticky_cache_miss_total_extra{workflow_type="Escalation"} 100
go_memstats_heap_inuse_bytes 1.5e+06
`
	for _, c := range []struct {
		name  string
		match []string
		want  float64
	}{
		{"temporal_sticky_cache_miss_total", nil, 9},
		{"temporal_sticky_cache_miss_total", []string{`workflow_type="Escalation"`}, 7},
		{"go_memstats_heap_inuse_bytes", nil, 1.5e6},
		{"absent_metric", nil, 0},
	} {
		got, err := sumMetric(strings.NewReader(text), c.name, c.match...)
		if err != nil || got != c.want {
			t.Errorf("%s %v: got %v, %v; want %v", c.name, c.match, got, err, c.want)
		}
	}
}

// ev builds a history event at t0+ms.
func ev(id int64, ms int, typ enumspb.EventType, set func(*historypb.HistoryEvent)) *historypb.HistoryEvent {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e := &historypb.HistoryEvent{EventId: id, EventType: typ, EventTime: timestamppb.New(t0.Add(time.Duration(ms) * time.Millisecond))}
	if set != nil {
		set(e)
	}
	return e
}

func accepted(name, updateID string) func(*historypb.HistoryEvent) {
	return func(e *historypb.HistoryEvent) {
		e.Attributes = &historypb.HistoryEvent_WorkflowExecutionUpdateAcceptedEventAttributes{
			WorkflowExecutionUpdateAcceptedEventAttributes: &historypb.WorkflowExecutionUpdateAcceptedEventAttributes{
				AcceptedRequest: &updatepb.Request{Meta: &updatepb.Meta{UpdateId: updateID}, Input: &updatepb.Input{Name: name}},
			}}
	}
}

func completed(updateID string) func(*historypb.HistoryEvent) {
	return func(e *historypb.HistoryEvent) {
		e.Attributes = &historypb.HistoryEvent_WorkflowExecutionUpdateCompletedEventAttributes{
			WorkflowExecutionUpdateCompletedEventAttributes: &historypb.WorkflowExecutionUpdateCompletedEventAttributes{
				Meta: &updatepb.Meta{UpdateId: updateID},
			}}
	}
}

func wftStarted(scheduled int64) func(*historypb.HistoryEvent) {
	return func(e *historypb.HistoryEvent) {
		e.Attributes = &historypb.HistoryEvent_WorkflowTaskStartedEventAttributes{
			WorkflowTaskStartedEventAttributes: &historypb.WorkflowTaskStartedEventAttributes{ScheduledEventId: scheduled}}
	}
}

func wftCompleted(started int64) func(*historypb.HistoryEvent) {
	return func(e *historypb.HistoryEvent) {
		e.Attributes = &historypb.HistoryEvent_WorkflowTaskCompletedEventAttributes{
			WorkflowTaskCompletedEventAttributes: &historypb.WorkflowTaskCompletedEventAttributes{StartedEventId: started}}
	}
}

func actStarted(scheduled int64) func(*historypb.HistoryEvent) {
	return func(e *historypb.HistoryEvent) {
		e.Attributes = &historypb.HistoryEvent_ActivityTaskStartedEventAttributes{
			ActivityTaskStartedEventAttributes: &historypb.ActivityTaskStartedEventAttributes{ScheduledEventId: scheduled}}
	}
}

func actCompleted(started int64) func(*historypb.HistoryEvent) {
	return func(e *historypb.HistoryEvent) {
		e.Attributes = &historypb.HistoryEvent_ActivityTaskCompletedEventAttributes{
			ActivityTaskCompletedEventAttributes: &historypb.ActivityTaskCompletedEventAttributes{StartedEventId: started}}
	}
}

// An escalation's history as the workflow writes it: the create update in
// the first task, then the decide update in a task, its activity, and the
// task that completes the update.
func escalationHistory() []*historypb.HistoryEvent {
	return []*historypb.HistoryEvent{
		ev(1, 0, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, nil),
		ev(2, 0, enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, nil),
		ev(3, 10, enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED, wftStarted(2)),
		ev(4, 70, enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, wftCompleted(3)),
		ev(5, 70, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED, accepted("created", "u1")),
		ev(6, 71, enumspb.EVENT_TYPE_MARKER_RECORDED, nil),
		ev(7, 72, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED, completed("u1")),
		ev(8, 5000, enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, nil),
		ev(9, 5004, enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED, wftStarted(8)),
		ev(10, 5020, enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, wftCompleted(9)),
		ev(11, 5020, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED, accepted("decide", "u2")),
		ev(12, 5021, enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, nil),
		ev(13, 5023, enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED, actStarted(12)),
		ev(14, 5053, enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, actCompleted(13)),
		ev(15, 5053, enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, nil),
		ev(16, 5060, enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED, wftStarted(15)),
		ev(17, 5080, enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, wftCompleted(16)),
		ev(18, 5081, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED, completed("u2")),
		ev(19, 5082, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, nil),
	}
}

func TestUpdateStep(t *testing.T) {
	h := escalationHistory()
	create, ok := updateStep(h, "created")
	want := stepTimes{Span: 72 * time.Millisecond, TaskWait: 10 * time.Millisecond, TaskRun: 60 * time.Millisecond, Tasks: 1, Events: 6}
	if !ok || create != want {
		t.Fatalf("create: got %+v (%v), want %+v", create, ok, want)
	}
	// The decide step starts at the task that accepted it (event 8), not
	// at the workflow's start, and ends at its completion.
	decide, ok := updateStep(h, "decide")
	want = stepTimes{Span: 81 * time.Millisecond, TaskWait: 11 * time.Millisecond, TaskRun: 36 * time.Millisecond,
		ActivityWait: 2 * time.Millisecond, ActivityRun: 30 * time.Millisecond, Tasks: 2, Activs: 1, Events: 11}
	if !ok || decide != want {
		t.Fatalf("decide: got %+v (%v), want %+v", decide, ok, want)
	}
	if _, ok := updateStep(h, "start"); ok {
		t.Fatal("an update that is not in the history must not be found")
	}
	// Cut off before the decide completed: not a step.
	if _, ok := updateStep(h[:15], "decide"); ok {
		t.Fatal("an update without its completion must not be found")
	}
	whole, ok := wholeHistory(h)
	if !ok || whole.Span != 5082*time.Millisecond || whole.Tasks != 3 || whole.Activs != 1 || whole.Events != 19 {
		t.Fatalf("whole: got %+v", whole)
	}
}

func TestSpread(t *testing.T) {
	ids := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	if got := spread(ids, 20); len(got) != 10 {
		t.Fatalf("fewer ids than asked: want all 10, got %v", got)
	}
	if got := strings.Join(spread(ids, 5), ""); got != "acegi" {
		t.Fatalf("want every second id from the start to the end, got %q", got)
	}
}

func TestSamplesQuantile(t *testing.T) {
	var s samples
	if s.quantile(.5) != 0 {
		t.Fatal("no samples: want 0")
	}
	for i := 100; i >= 1; i-- {
		s.add(time.Duration(i) * time.Millisecond)
	}
	if got := s.quantile(.5); got != 50*time.Millisecond {
		t.Fatalf("p50 of 1..100 ms: got %s", got)
	}
	if got := s.quantile(.99); got != 99*time.Millisecond {
		t.Fatalf("p99 of 1..100 ms: got %s", got)
	}
}

// A latency target is not met by a shape that completed nothing, whose
// quantiles read zero.
func TestMetOnNeedsSamples(t *testing.T) {
	var empty, some samples
	some.add(time.Millisecond)
	if got := metOn(true, &some, &empty); got != "no samples" {
		t.Fatalf("with an empty side: %q", got)
	}
	if metOn(true, &some) != "yes" || metOn(false, &some) != "no" {
		t.Fatal("with samples the comparison decides")
	}
}
