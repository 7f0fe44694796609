package loadtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// fixture reads a recorded history of workflows/testdata/histories.
func fixture(t *testing.T, name string) []*historypb.HistoryEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "workflows", "testdata", "histories", name))
	if err != nil {
		t.Fatal(err)
	}
	var h historypb.History
	if err := protojson.Unmarshal(b, &h); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return h.Events
}

// line is a budget line in a test's table: events, workflow tasks,
// markers, local activities, activities, upserts, timers, executions.
type line struct {
	wf, step string
	c        [8]int
}

func costArray(c Cost) [8]int {
	return [8]int{c.Events, c.WorkflowTasks, c.Markers, c.LocalActivities, c.Activities, c.Upserts, c.Timers, c.Executions}
}

// checkBudget compares a budget with the lines and total wanted, line by
// line, so that a failure says which step moved.
func checkBudget(t *testing.T, b *Budget, want []line, total [8]int) {
	t.Helper()
	var got, exp []string
	for _, l := range b.Lines {
		got = append(got, fmt.Sprintf("%s / %s: %v", l.Workflow, l.Step, costArray(l.Cost)))
	}
	for _, l := range want {
		exp = append(exp, fmt.Sprintf("%s / %s: %v", l.wf, l.step, l.c))
	}
	if strings.Join(got, "\n") != strings.Join(exp, "\n") {
		t.Errorf("%s, by step [events tasks markers local-activities activities upserts timers executions]:\n got\n\t%s\nwant\n\t%s",
			b.Name, strings.Join(got, "\n\t"), strings.Join(exp, "\n\t"))
	}
	if c := costArray(b.Total()); c != total {
		t.Errorf("%s: total %v, want %v", b.Name, c, total)
	}
}

// TestBudgetOfTheCurrentGeneration holds the server work per escalation
// (issue 22) to the figures docs/benchmarks.md gives (*After*), counted
// from the recorded histories of the current generation (the fixtures
// without a version prefix, which internal/app's
// TestRecordedHistoriesReplay -update-histories writes). A change to the
// workflows that moves the budget fails here: record the histories again,
// then update this table and the Budget section of docs/benchmarks.md with
// the new figures.
func TestBudgetOfTheCurrentGeneration(t *testing.T) {
	// The escalation runs its consultation itself: the approved fixture
	// holds the whole life, cut where it waits for the call to start.
	//                                     events tasks markers LAs activities upserts timers executions
	approved := approvedBudget(fixture(t, "escalation-approved.json"), nil)
	checkBudget(t, approved, []line{
		// The start, the created update and its task, Step (the record,
		// its audit entry, the escalated note), the deadline's timer.
		{"escalation", "create", [8]int{8, 1, 1, 1, 0, 0, 1, 1}},
		// The update and its task, Step (the decision, its audit entry,
		// the consultation's row, the decided note and the join link),
		// the ApprovalStatus upsert, the deadline's timer cancelled.
		{"escalation", "decide", [8]int{8, 1, 1, 1, 0, 1, 0, 0}},
		// The consultation's start timeout, a command of the same task.
		{"escalation", "consultation start", [8]int{1, 0, 0, 0, 0, 0, 1, 0}},
	}, [8]int{17, 2, 2, 2, 0, 1, 2, 1})
	if approved.EventTypes["TimerCanceled"] != 1 || approved.EventTypes["MarkerRecorded"] != 2 {
		t.Errorf("approved: %v, want the deadline's timer cancelled and no marker but the two steps'", approved.EventTypes)
	}

	checkBudget(t, expiredBudget(fixture(t, "escalation-expired.json")), []line{
		{"escalation", "create", [8]int{8, 1, 1, 1, 0, 0, 1, 1}},
		// The task the timer scheduled, Step (the expiry, its audit entry,
		// the note, the audit anchor), the upsert.
		{"escalation", "timer fired", [8]int{6, 1, 1, 1, 0, 1, 0, 0}},
		{"escalation", "complete", [8]int{1, 0, 0, 0, 0, 0, 0, 0}},
	}, [8]int{15, 2, 2, 2, 0, 1, 1, 1})

	q, err := questionBudget(fixture(t, "escalation-info-loop.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Each change: the update and its task, Step as a regular activity
	// (the change and its note) and the task after it, the upsert, the
	// timer moved (cancelled and started).
	checkBudget(t, q, []line{
		{"escalation", "request-info", [8]int{14, 2, 0, 0, 1, 1, 1, 0}},
		{"escalation", "provide-info", [8]int{14, 2, 0, 0, 1, 1, 1, 0}},
	}, [8]int{28, 4, 0, 0, 2, 2, 2, 0})
	if q.EventTypes["TimerCanceled"] != 2 {
		t.Errorf("question round: %d timers canceled, want 2 (each change moves the one timer)", q.EventTypes["TimerCanceled"])
	}
}

// TestBudgetOfTheBoundedGeneration keeps the figures before issue 22's
// cuts (docs/benchmarks.md, *Before*), from the bounded generation's
// fixtures (v7-*): the escalation's whole history and its consultation's
// own workflow up to where it waits for the call.
func TestBudgetOfTheBoundedGeneration(t *testing.T) {
	//                                     events tasks markers LAs activities upserts timers executions
	approved := approvedBudget(fixture(t, "v7-escalation-approved.json"), fixture(t, "v7-consultation-started-ended.json"))
	checkBudget(t, approved, []line{
		{"escalation", "create", [8]int{7, 1, 0, 0, 0, 0, 1, 1}},
		{"escalation", "version marker", [8]int{2, 0, 1, 0, 0, 1, 0, 0}},
		{"escalation", "record", [8]int{1, 0, 1, 1, 0, 0, 0, 0}},
		{"escalation", "notify", [8]int{3, 0, 3, 3, 0, 0, 0, 0}},
		{"escalation", "decide", [8]int{14, 2, 2, 1, 1, 1, 0, 0}},
		{"escalation", "consultation start", [8]int{1, 0, 1, 1, 0, 0, 0, 0}},
		{"escalation", "complete", [8]int{1, 0, 0, 0, 0, 0, 0, 0}},
		{"consultation", "start", [8]int{5, 1, 0, 0, 0, 0, 1, 1}},
		{"consultation", "version marker", [8]int{2, 0, 1, 0, 0, 1, 0, 0}},
		{"consultation", "record", [8]int{1, 0, 1, 1, 0, 0, 0, 0}},
	}, [8]int{37, 4, 10, 7, 1, 3, 2, 2})
	// The figures (the escalation 28 events and 3 workflow tasks,
	// its consultation 8 and 1), and since the audit anchor (bounded
	// version 2) one local activity more as the escalation ends.
	var esc, cons Cost
	for _, l := range approved.Lines {
		if l.Workflow == "escalation" {
			esc.add(l.Cost)
		} else {
			cons.add(l.Cost)
		}
	}
	if esc.Events != 29 || esc.WorkflowTasks != 3 || cons.Events != 8 || cons.WorkflowTasks != 1 {
		t.Errorf("escalation %d events / %d tasks, consultation %d / %d; want 29 / 3 and 8 / 1",
			esc.Events, esc.WorkflowTasks, cons.Events, cons.WorkflowTasks)
	}

	checkBudget(t, expiredBudget(fixture(t, "v7-escalation-expired.json")), []line{
		{"escalation", "create", [8]int{7, 1, 0, 0, 0, 0, 1, 1}},
		{"escalation", "version marker", [8]int{2, 0, 1, 0, 0, 1, 0, 0}},
		{"escalation", "record", [8]int{1, 0, 1, 1, 0, 0, 0, 0}},
		{"escalation", "notify", [8]int{2, 0, 2, 2, 0, 0, 0, 0}},
		{"escalation", "timer fired", [8]int{7, 1, 2, 2, 0, 1, 0, 0}},
		{"escalation", "complete", [8]int{1, 0, 0, 0, 0, 0, 0, 0}},
	}, [8]int{20, 2, 6, 5, 0, 2, 1, 1})

	q, err := questionBudget(fixture(t, "v7-escalation-info-loop.json"))
	if err != nil {
		t.Fatal(err)
	}
	checkBudget(t, q, []line{
		{"escalation", "request-info", [8]int{14, 2, 0, 0, 1, 1, 1, 0}},
		{"escalation", "notify", [8]int{2, 0, 2, 2, 0, 0, 0, 0}},
		{"escalation", "provide-info", [8]int{14, 2, 0, 0, 1, 1, 1, 0}},
	}, [8]int{30, 4, 2, 2, 2, 2, 2, 0})
}

// The target for an approved escalation up to its consultation's
// start; met says whether a budget is within it.
func TestBudgetTarget(t *testing.T) {
	b := approvedBudget(fixture(t, "escalation-approved.json"), nil)
	if tot := b.Total(); tot.Events > TargetEvents || tot.WorkflowTasks > TargetWorkflowTasks {
		t.Fatalf("the current generation's approved escalation costs %d events and %d tasks, over the target of %d and %d",
			tot.Events, tot.WorkflowTasks, TargetEvents, TargetWorkflowTasks)
	}
	if met, _ := budgetTargetMet(b); !met {
		t.Fatal("the current generation's budget (17 events, 2 tasks) reported outside the target")
	}
	before := approvedBudget(fixture(t, "v7-escalation-approved.json"), fixture(t, "v7-consultation-started-ended.json"))
	if met, _ := budgetTargetMet(before); met {
		t.Fatal("the bounded generation's budget (37 events, 4 tasks) reported within the target of 18 and 2")
	}
	if met, _ := budgetTargetMet(&Budget{Name: BudgetApproved, Lines: []BudgetLine{{Cost: Cost{Events: 19, WorkflowTasks: 2}}}}); met {
		t.Fatal("19 events reported within the target")
	}
}

// tasksBySteps lists the step of each workflow task of a history.
func tasksBySteps(events []*historypb.HistoryEvent) string {
	steps := stepsOf(events)
	var tasks []string
	for i, e := range events {
		if e.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED {
			tasks = append(tasks, steps[i])
		}
	}
	return strings.Join(tasks, ",")
}

// Workflow tasks are attributed to what scheduled them, and an approved
// escalation is cut where it waits for its consultation's call.
func TestStepsOfTasks(t *testing.T) {
	// The current generation: the decision is written in the task that
	// accepted it; the consultation's start and end are the escalation's
	// updates, each a task and the task after its activity.
	events := fixture(t, "escalation-approved.json")
	if got := tasksBySteps(events); got != "create,decide,call start,call start,call end,call end" {
		t.Fatalf("tasks by step: %s", got)
	}
	esc, steps := untilCall(events, stepsOf(events))
	if len(esc) != 17 || steps[len(steps)-1] != stepConsultation ||
		esc[len(esc)-1].GetEventType() != enumspb.EVENT_TYPE_TIMER_STARTED {
		t.Fatalf("the escalation waits for its consultation's call after %d events (the last %s), want 17 (the start timeout's timer)",
			len(esc), steps[len(steps)-1])
	}
	// A consultation nobody starts: its start timeout fires, and the cut
	// is before it.
	fired := append(append([]*historypb.HistoryEvent{}, events[:17]...),
		&historypb.HistoryEvent{EventId: 18, EventType: enumspb.EVENT_TYPE_TIMER_FIRED},
		&historypb.HistoryEvent{EventId: 19, EventType: enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED})
	if esc, _ := untilCall(fired, stepsOf(fired)); len(esc) != 17 {
		t.Fatalf("with the start timeout fired, cut after %d events, want 17", len(esc))
	}
	// A consultation created on its own keeps its workflow, whose updates
	// are the call's too.
	cons := fixture(t, "consultation-started-ended.json")
	if got := tasksBySteps(cons); got != "start,call start,call start,call end,call end" {
		t.Fatalf("a consultation's tasks by step: %s", got)
	}

	// The bounded generation: the decision's regular activity and the task
	// after it; the consultation's own workflow waits after its first task.
	if got := tasksBySteps(fixture(t, "v7-escalation-approved.json")); got != "create,decide,decide" {
		t.Fatalf("bounded generation, tasks by step: %s", got)
	}
	if c := untilWaiting(fixture(t, "v7-consultation-started-ended.json")); len(c) != 8 {
		t.Fatalf("the consultation waits for its call after %d events, want 8", len(c))
	}
}

// The harness reads the statement counter by kind and origin, and a
// scenario's figures are per escalation, without the statements no step
// caused.
func TestStatementsPerEscalation(t *testing.T) {
	text := `# HELP orchestrator_db_statements_total statements
# TYPE orchestrator_db_statements_total counter
orchestrator_db_statements_total{kind="insert",origin="local activity Step"} 6
orchestrator_db_statements_total{kind="select",origin="api POST /api/approvals"} 3
orchestrator_db_statements_total{kind="select",origin="other"} 2
orchestrator_db_statements_total_extra{kind="select",origin="other"} 100
`
	m, err := parseStatements(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 3 || m[statementKey{"insert", "local activity Step"}] != 6 || attributed(m) != 9 {
		t.Fatalf("parsed %v", m)
	}
	b := approvedBudget(fixture(t, "escalation-approved.json"), nil)
	r := budgetResult([]*Budget{b, b, b}, m, 3)
	if r.Statements["local activity Step"]["insert"] != 2 || r.Statements["api POST /api/approvals"]["select"] != 1 ||
		r.OtherStatements != 2 || r.Statements[originOther] != nil {
		t.Fatalf("per escalation: %v, other %v", r.Statements, r.OtherStatements)
	}
	if r.Total().Events != 17 || r.Samples != 3 || r.MinEvents != 17 || r.MaxEvents != 17 {
		t.Fatalf("mean of three equal budgets: %+v (%d samples, %d–%d events)", r.Total(), r.Samples, r.MinEvents, r.MaxEvents)
	}

	var out strings.Builder
	budgetMarkdown(&out, []*BudgetResult{r})
	for _, want := range []string{
		"**approved escalation, up to its consultation's start**: 17 events, 2 workflow tasks; target ≤ 18 events, ≤ 2 workflow tasks: yes",
		"| escalation | decide | 8 | 1 | 1 | 1 | 0 | 1 | 0 | 0 |",
		"| **total** |  | 17 | 2 | 2 | 2 | 0 | 1 | 2 | 1 |",
		"| local activity Step | 0 | 2 | 0 | 0 | 0 | 0 | 0 | 0 | 2 |",
		"| api POST /api/approvals | 1 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 1 |",
		"| **total** | 1 | 2 | 0 | 0 | 0 | 0 | 0 | 0 | **3** |",
		"Left out: 2 statements",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
}

// make bench's report shows the approved escalation's budget beside the
// rates, against the target, and the budget's tables below.
func TestReportShowsTheBudget(t *testing.T) {
	b := approvedBudget(fixture(t, "escalation-approved.json"), nil)
	res := func(name string) *Result { return newResult(name, 1, time.Second, "create", "decide", "visible") }
	sr := &ServerReport{Name: "dev server", Detail: "d", Product: res("product"), ProductAlone: res("product"),
		Naive: res("naive"), Floor: res("floor"), FloorAlone: res("floor"),
		Budgets: []*BudgetResult{budgetResult([]*Budget{b}, nil, 1)}}
	var out strings.Builder
	sr.markdown(&out)
	for _, want := range []string{
		"| budget of an approved escalation up to its consultation's start (below) | 17 events, 2 workflow tasks | ≤ 18 events, ≤ 2 workflow tasks | yes |",
		"| escalation | consultation start | 1 | 0 | 0 | 0 | 0 | 0 | 1 | 0 |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
}
