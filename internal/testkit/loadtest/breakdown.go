package loadtest

import (
	"context"
	"fmt"
	"sort"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
)

// Where an escalation's time goes, read from its history: each step (the
// create update, the decide update, or a whole baseline workflow) is cut
// into the time its workflow tasks waited for a worker (scheduled →
// started: matching, the server's queues, a busy worker), the time the
// worker spent on them (started → completed: workflow code, local
// activities such as the database writes and inline notifications), and
// the same two for regular activities. The client-observed latency minus
// the step's span in history is what the history cannot see: HTTP, the
// API, the frontend and the update's round trip.

// stepTimes are one step's parts.
type stepTimes struct {
	Span          time.Duration // first to last event of the step
	TaskWait      time.Duration // workflow tasks: scheduled → started
	TaskRun       time.Duration // workflow tasks: started → completed
	ActivityWait  time.Duration // activities: scheduled → started
	ActivityRun   time.Duration // activities: started → completed
	Tasks, Activs int
	Events        int // history events in the step
}

// Breakdown is the median of each part over the sampled workflows.
type Breakdown struct {
	Step    string // "create", "decide", "whole"
	Label   string // e.g. "product, alone"
	Samples int
	// Client is the median latency the client saw for the same step (zero
	// when it is not comparable, e.g. baselines).
	Client                                             time.Duration
	Span, TaskWait, TaskRun, ActivityWait, ActivityRun time.Duration
	Tasks, Activities, Events                          float64
}

// updateStep cuts the step of the update named name out of a history: from
// the workflow task scheduled before the one that accepted the update to
// the update's completion. ok is false when the update is not in it.
func updateStep(events []*historypb.HistoryEvent, name string) (stepTimes, bool) {
	acceptedAt, updateID := -1, ""
	for i, e := range events {
		if a := e.GetWorkflowExecutionUpdateAcceptedEventAttributes(); a != nil && a.GetAcceptedRequest().GetInput().GetName() == name {
			acceptedAt, updateID = i, a.GetAcceptedRequest().GetMeta().GetUpdateId()
			break
		}
	}
	if acceptedAt < 0 {
		return stepTimes{}, false
	}
	first := -1
	for i := acceptedAt; i >= 0; i-- {
		if events[i].GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED {
			first = i
			break
		}
	}
	last := -1
	for i := acceptedAt; i < len(events); i++ {
		if c := events[i].GetWorkflowExecutionUpdateCompletedEventAttributes(); c != nil && c.GetMeta().GetUpdateId() == updateID {
			last = i
			break
		}
	}
	if first < 0 || last < 0 {
		return stepTimes{}, false
	}
	return stepOf(events[first : last+1]), true
}

// stepOf sums the parts of the events given (a step's span of a history).
// A task or activity counts when its start and its end are both inside.
func stepOf(events []*historypb.HistoryEvent) stepTimes {
	var st stepTimes
	if len(events) == 0 {
		return st
	}
	at := func(e *historypb.HistoryEvent) time.Time { return e.GetEventTime().AsTime() }
	st.Span = at(events[len(events)-1]).Sub(at(events[0]))
	st.Events = len(events)
	byID := make(map[int64]*historypb.HistoryEvent, len(events))
	for _, e := range events {
		byID[e.GetEventId()] = e
	}
	since := func(id int64, e *historypb.HistoryEvent) (time.Duration, bool) {
		from, ok := byID[id]
		if !ok {
			return 0, false
		}
		return at(e).Sub(at(from)), true
	}
	for _, e := range events {
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			if d, ok := since(e.GetWorkflowTaskStartedEventAttributes().GetScheduledEventId(), e); ok {
				st.TaskWait += d
			}
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			if d, ok := since(e.GetWorkflowTaskCompletedEventAttributes().GetStartedEventId(), e); ok {
				st.TaskRun += d
				st.Tasks++
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			if d, ok := since(e.GetActivityTaskStartedEventAttributes().GetScheduledEventId(), e); ok {
				st.ActivityWait += d
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			if d, ok := since(e.GetActivityTaskCompletedEventAttributes().GetStartedEventId(), e); ok {
				st.ActivityRun += d
				st.Activs++
			}
		}
	}
	return st
}

// history reads a workflow's whole history.
func history(ctx context.Context, c client.Client, workflowID string) ([]*historypb.HistoryEvent, error) {
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var out []*historypb.HistoryEvent
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", workflowID, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// breakdown reads the histories of up to max of ids (evenly spread) and
// returns the median parts of the step cut by cut.
func breakdown(ctx context.Context, c client.Client, label, step string, ids []string, max int,
	cut func([]*historypb.HistoryEvent) (stepTimes, bool)) (*Breakdown, error) {
	var all []stepTimes
	for _, id := range spread(ids, max) {
		events, err := history(ctx, c, id)
		if err != nil {
			return nil, err
		}
		if st, ok := cut(events); ok {
			all = append(all, st)
		}
	}
	b := &Breakdown{Label: label, Step: step, Samples: len(all)}
	if len(all) == 0 {
		return b, nil
	}
	med := func(f func(stepTimes) time.Duration) time.Duration {
		v := make([]time.Duration, len(all))
		for i, st := range all {
			v[i] = f(st)
		}
		sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
		return v[len(v)/2]
	}
	b.Span = med(func(s stepTimes) time.Duration { return s.Span })
	b.TaskWait = med(func(s stepTimes) time.Duration { return s.TaskWait })
	b.TaskRun = med(func(s stepTimes) time.Duration { return s.TaskRun })
	b.ActivityWait = med(func(s stepTimes) time.Duration { return s.ActivityWait })
	b.ActivityRun = med(func(s stepTimes) time.Duration { return s.ActivityRun })
	for _, st := range all {
		b.Tasks += float64(st.Tasks)
		b.Activities += float64(st.Activs)
		b.Events += float64(st.Events)
	}
	n := float64(len(all))
	b.Tasks, b.Activities, b.Events = b.Tasks/n, b.Activities/n, b.Events/n
	return b, nil
}

// spread picks up to n of ids, evenly across the list (the whole run, not
// only its start).
func spread(ids []string, n int) []string {
	if len(ids) <= n {
		return ids
	}
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, ids[i*len(ids)/n])
	}
	return out
}

// wholeHistory is the cut of a whole workflow (baselines).
func wholeHistory(events []*historypb.HistoryEvent) (stepTimes, bool) {
	return stepOf(events), len(events) > 0
}
