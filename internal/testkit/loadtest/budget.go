package loadtest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"

	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// The budget is the server work one escalation costs, counted from its
// histories rather than timed: history events, workflow tasks, markers,
// local and regular activities, search-attribute upserts, timers and
// workflow executions, each attributed to the step of the escalation it
// comes from. On a small machine the rate follows these counts (issue 22),
// and unlike a rate they do not depend on the machine: a change that
// alters them shows up exactly, in `make bench` and in the fixture test
// (budget_test.go).

// Cost is what a history, or a part of one, writes on the Temporal server.
type Cost struct {
	Events int
	// WorkflowTasks counts the tasks scheduled (each a round of
	// persistence writes on the server and a trip to a worker).
	WorkflowTasks int
	// Markers are every marker recorded: local activities, versions
	// (GetVersion) and side effects.
	Markers         int
	LocalActivities int // LocalActivity markers
	Activities      int // regular activities scheduled
	Upserts         int // search-attribute upserts
	Timers          int // timers started
	Executions      int // workflow executions started
}

func (c *Cost) add(o Cost) {
	c.Events += o.Events
	c.WorkflowTasks += o.WorkflowTasks
	c.Markers += o.Markers
	c.LocalActivities += o.LocalActivities
	c.Activities += o.Activities
	c.Upserts += o.Upserts
	c.Timers += o.Timers
	c.Executions += o.Executions
}

// costOf is what one event adds.
func costOf(e *historypb.HistoryEvent) Cost {
	c := Cost{Events: 1}
	switch e.GetEventType() {
	case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
		c.WorkflowTasks = 1
	case enumspb.EVENT_TYPE_MARKER_RECORDED:
		c.Markers = 1
		if e.GetMarkerRecordedEventAttributes().GetMarkerName() == markerLocalActivity {
			c.LocalActivities = 1
		}
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
		c.Activities = 1
	case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
		c.Upserts = 1
	case enumspb.EVENT_TYPE_TIMER_STARTED:
		c.Timers = 1
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
		c.Executions = 1
	}
	return c
}

// The SDK's marker names (a SideEffect marker belongs to the step that
// drew it).
const (
	markerLocalActivity = "LocalActivity"
	markerVersion       = "Version"
)

// Steps events are attributed to, besides the updates' own (create,
// decide, request-info, provide-info, withdraw; the consultation's call
// start and end, whichever workflow runs it).
const (
	stepStart   = "start"          // a workflow's start and its first task (the escalation's: create)
	stepRecord  = "record"         // the row written by a local activity of its own (older generations: approval, consultation)
	stepNotify  = "notify"         // a notification (outbox.go), inline or as an activity of its own
	stepVersion = "version marker" // workflow.GetVersion: its marker and TemporalChangeVersion upsert
	// stepConsultation is what opening an approval's consultation costs the
	// escalation: older generations' StartConsultation local activity; in
	// the compact one, which runs the consultation itself, the start
	// timeout's timer its decide task starts.
	stepConsultation  = "consultation start"
	stepTimerFired    = "timer fired" // the deadline, a reminder, the time for an answer
	stepComplete      = "complete"
	stepSignal        = "signal"
	stepContinueAsNew = "continue as new"
)

// stepOfUpdate names the step an update is.
func stepOfUpdate(workflowType, name string) string {
	switch {
	case name == contract.UpdateCreated && workflowType == contract.EscalationWorkflow:
		return "create"
	case name == contract.UpdateCreated:
		return stepStart
	case name == contract.UpdateStart || name == contract.UpdateEnd:
		// The consultation's own workflow's, or (compact generation) the
		// escalation's that runs the consultation its approval opened.
		return "call " + name
	}
	return name
}

// stepOfActivity names the step of an activity (local or regular); the
// writes an update asks for (ApplyDecision, ChangeStatus, the
// consultation's transitions) are that update's step, current, and so is
// the compact generation's one activity a step (Step: the write, the first
// attempt of its notifications, the audit anchor when it ends the
// escalation).
func stepOfActivity(activityType, current string) string {
	switch activityType {
	case "RecordApproval", "RecordConsultation":
		return stepRecord
	case "Notify":
		return stepNotify
	case "StartConsultation":
		return stepConsultation
	}
	return current
}

// BudgetLine is the cost of one step of one workflow.
type BudgetLine struct {
	Workflow, Step string
	Cost
}

// Budget is what one scenario (e.g. an approved escalation up to its
// consultation's start) costs: by step, in the order the steps first
// appear, and by event type.
type Budget struct {
	Name  string
	Lines []BudgetLine
	// EventTypes counts events by type (EVENT_TYPE_ left off).
	EventTypes map[string]int
	// Samples is how many escalations the figures are the mean of (1 for a
	// fixture); the counts are then per escalation, rounded.
	Samples int
}

// Total is the whole scenario's cost.
func (b *Budget) Total() Cost {
	var c Cost
	for _, l := range b.Lines {
		c.add(l.Cost)
	}
	return c
}

// Step is the cost of workflow's step (zero if it has none).
func (b *Budget) Step(workflow, step string) Cost {
	for _, l := range b.Lines {
		if l.Workflow == workflow && l.Step == step {
			return l.Cost
		}
	}
	return Cost{}
}

// add counts events of a workflow, attributed to steps by label.
func (b *Budget) add(workflow string, events []*historypb.HistoryEvent, steps []string) {
	if b.EventTypes == nil {
		b.EventTypes = map[string]int{}
	}
	for i, e := range events {
		at := -1
		for j, l := range b.Lines {
			if l.Workflow == workflow && l.Step == steps[i] {
				at = j
				break
			}
		}
		if at < 0 {
			b.Lines = append(b.Lines, BudgetLine{Workflow: workflow, Step: steps[i]})
			at = len(b.Lines) - 1
		}
		b.Lines[at].add(costOf(e))
		b.EventTypes[strings.TrimPrefix(e.GetEventType().String(), "EVENT_TYPE_")]++
	}
}

// workflowName is what a history's budget lines call its workflow:
// "escalation", "consultation", or the type as it is.
func workflowName(workflowType string) string {
	switch workflowType {
	case contract.EscalationWorkflow:
		return "escalation"
	case contract.ConsultationWorkflow:
		return "consultation"
	}
	return workflowType
}

// workflowTypeOf reads the type from a history's first event.
func workflowTypeOf(events []*historypb.HistoryEvent) string {
	if len(events) == 0 {
		return ""
	}
	return events[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName()
}

// stepsOf attributes every event of a workflow's history to a step:
//   - a workflow task, and the commands it completes with, to what
//     scheduled it: the workflow's start, the update it accepted, the
//     activity or timer that completed, a signal;
//   - an update's events to the update;
//   - a local activity's marker and a regular activity's events to the
//     activity's own step where it has one (record, notify, consultation
//     start), else to the step that ran it (the decision's write is the
//     decide step's);
//   - a timer cancelled to the step whose task cancelled it;
//   - a timer the escalation's decide task starts that is not one of its
//     own waits ("Until the deadline", ...) to "consultation start": the
//     start timeout of the consultation the escalation runs itself;
//   - a version marker and the TemporalChangeVersion upsert that goes
//     with it to "version marker".
func stepsOf(events []*historypb.HistoryEvent) []string {
	wfType := workflowTypeOf(events)
	out := make([]string, len(events))
	current := stepStart
	if wfType == contract.EscalationWorkflow {
		current = "create"
	}
	start := current
	updates := map[string]string{} // update id → step
	activity := map[int64]string{} // scheduled event id → step
	tasks := map[int64]string{}    // workflow task completed event id → step
	for i, e := range events {
		step := current
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			step = start
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
			current = taskTrigger(events, i, wfType, current, activity)
			step = current
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			tasks[e.GetEventId()] = current
		case enumspb.EVENT_TYPE_TIMER_STARTED:
			if wfType == contract.EscalationWorkflow && current == contract.UpdateDecide && !escalationTimer(e) {
				step = stepConsultation
			}
		case enumspb.EVENT_TYPE_TIMER_CANCELED:
			if s, ok := tasks[e.GetTimerCanceledEventAttributes().GetWorkflowTaskCompletedEventId()]; ok {
				step = s
			}
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
			a := e.GetWorkflowExecutionUpdateAcceptedEventAttributes()
			current = stepOfUpdate(wfType, a.GetAcceptedRequest().GetInput().GetName())
			updates[a.GetProtocolInstanceId()] = current
			step = current
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
			if s, ok := updates[e.GetWorkflowExecutionUpdateCompletedEventAttributes().GetMeta().GetUpdateId()]; ok {
				step = s
			}
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			switch m := e.GetMarkerRecordedEventAttributes(); m.GetMarkerName() {
			case markerVersion:
				step = stepVersion
			case markerLocalActivity:
				step = stepOfActivity(localActivityType(m), current)
			}
		case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
			fields := e.GetUpsertWorkflowSearchAttributesEventAttributes().GetSearchAttributes().GetIndexedFields()
			if _, ok := fields["TemporalChangeVersion"]; ok && len(fields) == 1 {
				step = stepVersion
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			step = stepOfActivity(e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName(), current)
			activity[e.GetEventId()] = step
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED, enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
			enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED, enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
			enumspb.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED, enumspb.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
			if s, ok := activity[activityScheduledID(e)]; ok {
				step = s
			}
		case enumspb.EVENT_TYPE_TIMER_FIRED:
			step = stepTimerFired
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			step = stepSignal
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
			step = stepComplete
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
			step = stepContinueAsNew
		}
		out[i] = step
	}
	return out
}

// taskTrigger names what scheduled the workflow task at events[i]: the
// event before it (an activity's or a timer's end, a signal, the start),
// or else the update the task accepted (updates are written after the task
// that accepts them).
func taskTrigger(events []*historypb.HistoryEvent, i int, wfType, current string, activity map[int64]string) string {
	if i > 0 {
		switch prev := events[i-1]; prev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			return current
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED,
			enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT, enumspb.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
			if s, ok := activity[activityScheduledID(prev)]; ok {
				return s
			}
		case enumspb.EVENT_TYPE_TIMER_FIRED:
			return stepTimerFired
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			return stepSignal
		}
	}
	for j := i + 1; j < len(events); j++ {
		switch events[j].GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED, enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			continue
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
			return stepOfUpdate(wfType, events[j].GetWorkflowExecutionUpdateAcceptedEventAttributes().GetAcceptedRequest().GetInput().GetName())
		}
		break
	}
	return current
}

// escalationTimer says whether a timer is one of the escalation's own
// waits (lifecycle.go: "Until the deadline", "Until the reminder", ...),
// by the summary it was started with.
func escalationTimer(e *historypb.HistoryEvent) bool {
	var summary string
	if p := e.GetUserMetadata().GetSummary(); p != nil && json.Unmarshal(p.GetData(), &summary) == nil {
		return strings.HasPrefix(summary, "Until the ")
	}
	return false
}

func activityScheduledID(e *historypb.HistoryEvent) int64 {
	switch e.GetEventType() {
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
		return e.GetActivityTaskStartedEventAttributes().GetScheduledEventId()
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
		return e.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED:
		return e.GetActivityTaskFailedEventAttributes().GetScheduledEventId()
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
		return e.GetActivityTaskTimedOutEventAttributes().GetScheduledEventId()
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED:
		return e.GetActivityTaskCancelRequestedEventAttributes().GetScheduledEventId()
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
		return e.GetActivityTaskCanceledEventAttributes().GetScheduledEventId()
	}
	return 0
}

// localActivityType reads the activity type a LocalActivity marker
// records (the SDK's marker data, JSON).
func localActivityType(m *historypb.MarkerRecordedEventAttributes) string {
	for _, p := range m.GetDetails()["data"].GetPayloads() {
		var d struct{ ActivityType string }
		if json.Unmarshal(p.GetData(), &d) == nil && d.ActivityType != "" {
			return d.ActivityType
		}
	}
	return ""
}

// untilWaiting is a history up to where the workflow first waits: its
// first workflow task and the commands it completed with (a consultation
// born of an approval, waiting for its call to start).
func untilWaiting(events []*historypb.HistoryEvent) []*historypb.HistoryEvent {
	completed := false
	for i, e := range events {
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			completed = true
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, enumspb.EVENT_TYPE_TIMER_FIRED,
			enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			// Not a command of the first task: what came after the wait.
			if completed {
				return events[:i]
			}
		}
	}
	return events
}

// questionRound is the part of an escalation's history a question and its
// answer cost: from the task that accepted the request-info update to the
// last event before the next task after the provide-info update (the
// answer's notification included). ok is false without both.
func questionRound(events []*historypb.HistoryEvent) (round []*historypb.HistoryEvent, steps []string, ok bool) {
	all := stepsOf(events)
	from, last := -1, -1
	for i, s := range all {
		if s == contract.UpdateRequestInfo && from < 0 {
			from = i
		}
		if s == contract.UpdateProvideInfo && from >= 0 {
			last = i
		}
	}
	if from < 0 || last < 0 {
		return nil, nil, false
	}
	to := len(events)
	for i := last + 1; i < len(events); i++ {
		if events[i].GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED {
			to = i
			break
		}
	}
	return events[from:to], all[from:to], true
}

// The scenarios of the budget.
const (
	BudgetApproved = "approved escalation, up to its consultation's start"
	BudgetExpired  = "expired escalation"
	BudgetQuestion = "question round (request-info + provide-info)"
)

// untilCall is the part of an escalation's history that runs the
// consultation its approval opened (the compact generation) up to where
// it waits for the call to start: the task that accepted the decision and
// the commands it completed with (the decision's write, the deadline's
// timer cancelled, the start timeout's timer), and whatever else the
// decision still caused before the consultation's life goes on (a
// notification that went on as an activity). It ends before the first
// event of the consultation's call (the start or end update's task) or of
// a timer firing after the decision (the start timeout), the window the
// harness reads the statement counter over (budgetrun.go: up to the
// escalation's settling once it waits). A history without a decision is
// whole.
func untilCall(events []*historypb.HistoryEvent, steps []string) ([]*historypb.HistoryEvent, []string) {
	decided := false
	for i, e := range events {
		if steps[i] == contract.UpdateDecide {
			decided = true
		}
		if !decided {
			continue
		}
		if steps[i] == "call "+contract.UpdateStart || steps[i] == "call "+contract.UpdateEnd ||
			e.GetEventType() == enumspb.EVENT_TYPE_TIMER_FIRED {
			return events[:i], steps[:i]
		}
	}
	return events, steps
}

// approvedBudget is an approved escalation up to its consultation's start.
// Older generations, whose consultation has its own workflow: the
// escalation's whole history and the consultation's up to where it waits
// for the call to start. The compact generation (no consultation history:
// the escalation runs the consultation): the escalation's history up to
// where it waits for the call (untilCall).
func approvedBudget(escalation, consultation []*historypb.HistoryEvent) *Budget {
	b := &Budget{Name: BudgetApproved, Samples: 1}
	if len(consultation) == 0 {
		esc, steps := untilCall(escalation, stepsOf(escalation))
		b.add(workflowName(workflowTypeOf(escalation)), esc, steps)
		return b
	}
	b.add(workflowName(workflowTypeOf(escalation)), escalation, stepsOf(escalation))
	c := untilWaiting(consultation)
	b.add(workflowName(workflowTypeOf(consultation)), c, stepsOf(c))
	return b
}

// expiredBudget is an expired escalation's whole history.
func expiredBudget(escalation []*historypb.HistoryEvent) *Budget {
	b := &Budget{Name: BudgetExpired, Samples: 1}
	b.add(workflowName(workflowTypeOf(escalation)), escalation, stepsOf(escalation))
	return b
}

// questionBudget is one question round of an escalation's history.
func questionBudget(escalation []*historypb.HistoryEvent) (*Budget, error) {
	round, steps, ok := questionRound(escalation)
	if !ok {
		return nil, fmt.Errorf("no request-info and provide-info in the history")
	}
	b := &Budget{Name: BudgetQuestion, Samples: 1}
	b.add(workflowName(workflowTypeOf(escalation)), round, steps)
	return b, nil
}

// meanBudget is the per-escalation mean of budgets of one scenario (the
// harness measures several escalations; their shapes can differ, e.g. a
// notification that fell back to a regular activity). Counts are
// rounded to the nearest whole; Samples says how many there were.
func meanBudget(bs []*Budget) *Budget {
	if len(bs) == 0 {
		return nil
	}
	type key struct{ wf, step string }
	sum := map[key]*Cost{}
	var order []key
	types := map[string]int{}
	for _, b := range bs {
		for _, l := range b.Lines {
			k := key{l.Workflow, l.Step}
			if sum[k] == nil {
				sum[k] = &Cost{}
				order = append(order, k)
			}
			sum[k].add(l.Cost)
		}
		for t, n := range b.EventTypes {
			types[t] += n
		}
	}
	n := len(bs)
	div := func(v int) int { return (v + n/2) / n }
	out := &Budget{Name: bs[0].Name, Samples: n, EventTypes: map[string]int{}}
	for _, k := range order {
		c := sum[k]
		out.Lines = append(out.Lines, BudgetLine{Workflow: k.wf, Step: k.step, Cost: Cost{
			Events: div(c.Events), WorkflowTasks: div(c.WorkflowTasks), Markers: div(c.Markers),
			LocalActivities: div(c.LocalActivities), Activities: div(c.Activities), Upserts: div(c.Upserts),
			Timers: div(c.Timers), Executions: div(c.Executions),
		}})
	}
	for t, v := range types {
		out.EventTypes[t] = div(v)
	}
	return out
}

// sortedTypes lists event types by count, most first.
func sortedTypes(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for t := range m {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		if m[out[i]] != m[out[j]] {
			return m[out[i]] > m[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}

// Issue 22's target for an approved escalation up to its consultation's
// start: half of the 36 events and 4 workflow tasks it cost before (the
// bounded generation, v7 fixtures).
const (
	TargetEvents        = 18
	TargetWorkflowTasks = 2
)

// budgetTargetMet says whether an approved escalation's budget is within
// the target, and the target's text.
func budgetTargetMet(b *Budget) (bool, string) {
	t := b.Total()
	return t.Events <= TargetEvents && t.WorkflowTasks <= TargetWorkflowTasks,
		fmt.Sprintf("≤ %d events, ≤ %d workflow tasks", TargetEvents, TargetWorkflowTasks)
}
