package loadtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"

	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// The budget in the harness: escalations driven one at a time through the
// HTTP API, with nothing else running, so that the orchestrator's database
// statements between two reads of its /metrics
// (orchestrator_db_statements_total) are exactly theirs, and their
// histories say what they cost the Temporal server (budget.go).

// BudgetResult is one scenario's budget as measured: per escalation, the
// mean of Samples escalations.
type BudgetResult struct {
	*Budget
	// Statements are the database statements per escalation by origin
	// (the API route or the activity) and kind; OtherStatements those
	// without an origin over the measurement (the deadline gauges' count,
	// run on the harness's scrapes), not per escalation and left out of
	// the totals.
	Statements      map[string]map[string]float64
	OtherStatements float64
	// MinEvents and MaxEvents are the fewest and most events of one
	// escalation: equal unless a shape varied (e.g. a notification whose
	// inline attempt failed and went on as a regular activity).
	MinEvents, MaxEvents int
}

// statementKey is a series of orchestrator_db_statements_total.
type statementKey struct{ kind, origin string }

var (
	kindLabel   = regexp.MustCompile(`kind="([^"]*)"`)
	originLabel = regexp.MustCompile(`origin="([^"]*)"`)
)

// parseStatements reads orchestrator_db_statements_total from the
// Prometheus text format.
func parseStatements(r io.Reader) (map[statementKey]float64, error) {
	out := map[statementKey]float64{}
	err := eachLine(r, "orchestrator_db_statements_total", func(labels string, v float64) {
		k, o := kindLabel.FindStringSubmatch(labels), originLabel.FindStringSubmatch(labels)
		if k != nil && o != nil {
			out[statementKey{k[1], o[1]}] += v
		}
	})
	return out, err
}

// statements reads the orchestrator's statement counts.
func (p *orchestrator) statements(ctx context.Context) (map[statementKey]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return parseStatements(resp.Body)
}

const originOther = "other" // telemetry.OriginOther

// attributed sums the counts with an origin.
func attributed(m map[statementKey]float64) float64 {
	var n float64
	for k, v := range m {
		if k.origin != originOther {
			n += v
		}
	}
	return n
}

// quiet waits until the orchestrator has sent no attributed statement for
// a second (what earlier steps left running, e.g. a consultation's first
// task, is over).
func (p *orchestrator) quiet(ctx context.Context, max time.Duration) error {
	last := -1.0
	for deadline := time.Now().Add(max); time.Now().Before(deadline); {
		m, err := p.statements(ctx)
		if err != nil {
			return err
		}
		n := attributed(m)
		if n == last {
			return nil
		}
		last = n
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return fmt.Errorf("the orchestrator did not go quiet within %s", max)
}

// settled waits until a workflow has no workflow task or activity pending
// (or has closed): whatever it was doing is written.
func settled(ctx context.Context, c client.Client, workflowID string) error {
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		desc, err := c.DescribeWorkflow(ctx, workflowID, "")
		if err != nil {
			continue // not started yet
		}
		d := desc.RawResponse
		if d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING ||
			(d.GetPendingWorkflowTask() == nil && len(d.GetPendingActivities()) == 0) {
			return nil
		}
	}
	return fmt.Errorf("%s did not settle within 60 s", workflowID)
}

// measureBudgets drives n escalations of each scenario one at a time.
func (e *env) measureBudgets(ctx context.Context, srv *server, orc *orchestrator, n int) ([]*BudgetResult, error) {
	if err := orc.quiet(ctx, 60*time.Second); err != nil {
		return nil, err
	}
	var out []*BudgetResult
	for _, s := range []struct {
		name string
		once run
	}{
		{BudgetApproved, func(ctx context.Context) (*Budget, map[statementKey]float64, error) {
			return e.approvedOnce(ctx, srv.Client, orc)
		}},
		{BudgetQuestion, func(ctx context.Context) (*Budget, map[statementKey]float64, error) {
			return e.questionOnce(ctx, srv.Client, orc)
		}},
	} {
		e.logf("%s: budget, %s", srv.Name, s.name)
		r, err := measure(ctx, n, s.once)
		if err != nil {
			return nil, fmt.Errorf("budget, %s: %w", s.name, err)
		}
		out = append(out, r)
	}
	e.logf("%s: budget, %s", srv.Name, BudgetExpired)
	r, err := e.expired(ctx, srv.Client, orc, n)
	if err != nil {
		return nil, fmt.Errorf("budget, %s: %w", BudgetExpired, err)
	}
	return append(out, r), nil
}

// run is one escalation of a scenario: its budget and the statements it
// sent, read around what the scenario measures.
type run func(ctx context.Context) (*Budget, map[statementKey]float64, error)

// measure runs one escalation of a scenario n times, one after the other
// (each settles what it measures, so nothing of one is left for the next).
func measure(ctx context.Context, n int, once run) (*BudgetResult, error) {
	var budgets []*Budget
	sum := map[statementKey]float64{}
	for i := 0; i < n; i++ {
		b, delta, err := once(ctx)
		if err != nil {
			return nil, err
		}
		for k, v := range delta {
			sum[k] += v
		}
		budgets = append(budgets, b)
	}
	return budgetResult(budgets, sum, n), nil
}

// between reads the statement counts before and after fn.
func between(ctx context.Context, orc *orchestrator, fn func() error) (map[statementKey]float64, error) {
	before, err := orc.statements(ctx)
	if err != nil {
		return nil, err
	}
	if err := fn(); err != nil {
		return nil, err
	}
	after, err := orc.statements(ctx)
	if err != nil {
		return nil, err
	}
	delta := map[statementKey]float64{}
	for k, v := range after {
		delta[k] = v - before[k]
	}
	return delta, nil
}

func budgetResult(budgets []*Budget, sum map[statementKey]float64, n int) *BudgetResult {
	r := &BudgetResult{Budget: meanBudget(budgets), Statements: map[string]map[string]float64{}}
	r.MinEvents, r.MaxEvents = -1, 0
	for _, b := range budgets {
		ev := b.Total().Events
		if r.MinEvents < 0 || ev < r.MinEvents {
			r.MinEvents = ev
		}
		r.MaxEvents = max(r.MaxEvents, ev)
	}
	for k, v := range sum {
		if v == 0 {
			continue
		}
		if k.origin == originOther {
			r.OtherStatements += v
			continue
		}
		if r.Statements[k.origin] == nil {
			r.Statements[k.origin] = map[string]float64{}
		}
		r.Statements[k.origin][k.kind] += v / float64(n)
	}
	return r
}

// approvedOnce creates, approves, waits for the escalation to complete and
// its consultation to wait for its call (or, when the escalation runs the
// consultation itself, for the escalation to wait for the call), and
// returns their budget and statements.
func (e *env) approvedOnce(ctx context.Context, c client.Client, orc *orchestrator) (*Budget, map[statementKey]float64, error) {
	var esc, cons []*historypb.HistoryEvent
	delta, err := between(ctx, orc, func() error {
		id, err := e.create(ctx, orc)
		if err != nil {
			return err
		}
		if _, err := orc.call(ctx, "PATCH", "/api/approvals/"+id, orc.ceo, map[string]any{"status": "approved"}, http.StatusOK); err != nil {
			return err
		}
		escID := contract.EscalationWorkflowID(id)
		consID, err := approvalConsultation(ctx, c, id)
		if err != nil {
			return err
		}
		if consID == escID {
			// The escalation runs the consultation itself (issue 22) and
			// keeps running with it: measured alone once it waits for
			// the start. Settled, nothing of the call has happened, so
			// the statements read next and approvedBudget's cut
			// (untilCall: up to the decide task's commands and what the
			// decision still caused) are the same window.
			if err := settled(ctx, c, escID); err != nil {
				return err
			}
			esc, err = history(ctx, c, escID)
			return err
		}
		if err := c.GetWorkflow(ctx, escID, "").Get(ctx, nil); err != nil {
			return fmt.Errorf("escalation %s: %w", escID, err)
		}
		if err := settled(ctx, c, consID); err != nil {
			return err
		}
		if esc, err = history(ctx, c, escID); err != nil {
			return err
		}
		cons, err = history(ctx, c, consID)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return approvedBudget(esc, cons), delta, nil
}

// approvalConsultation waits until approval id's escalation, approved,
// either runs the consultation the approval opened itself (the current
// generation, issue 22: it keeps running with it) or has completed (older
// ones, whose consultation has its own workflow), and returns the id of
// the workflow that runs the consultation.
func approvalConsultation(ctx context.Context, c client.Client, id string) (string, error) {
	escID := contract.EscalationWorkflowID(id)
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		desc, err := c.DescribeWorkflow(ctx, escID, "")
		if err != nil {
			return "", fmt.Errorf("escalation %s: %w", escID, err)
		}
		switch st := desc.RawResponse.GetWorkflowExecutionInfo().GetStatus(); st {
		case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
			return contract.ConsultationWorkflowID(contract.ApprovalConsultationID(id)), nil
		case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		default:
			return "", fmt.Errorf("escalation %s: %s", escID, st)
		}
		q, err := c.QueryWorkflow(ctx, escID, "", contract.QueryState)
		if err != nil {
			continue // a query can fail while the workflow is busy: ask again
		}
		var state contract.EscalationState
		if err := q.Get(&state); err != nil {
			return "", fmt.Errorf("escalation %s: state query: %w", escID, err)
		}
		if state.Consultation != nil {
			return escID, nil
		}
	}
	return "", fmt.Errorf("escalation %s neither ran its consultation nor completed within 60 s", escID)
}

// questionOnce creates an escalation, then measures a question and its
// answer (request-info, provide-info), then rejects it and waits for it to
// complete; the budget and the statements are the round's alone.
func (e *env) questionOnce(ctx context.Context, c client.Client, orc *orchestrator) (*Budget, map[statementKey]float64, error) {
	id, err := e.create(ctx, orc)
	if err != nil {
		return nil, nil, err
	}
	escID := contract.EscalationWorkflowID(id)
	if err := settled(ctx, c, escID); err != nil {
		return nil, nil, err
	}
	delta, err := between(ctx, orc, func() error {
		if _, err := orc.call(ctx, "POST", "/api/approvals/"+id+"/request-info", orc.ceo,
			map[string]any{"question": "Which order?"}, http.StatusOK); err != nil {
			return err
		}
		if err := settled(ctx, c, escID); err != nil {
			return err
		}
		if _, err := orc.call(ctx, "POST", "/api/approvals/"+id+"/provide-info", orc.agent,
			map[string]any{"answer": "Order 42"}, http.StatusOK); err != nil {
			return err
		}
		return settled(ctx, c, escID)
	})
	if err != nil {
		return nil, nil, err
	}
	if _, err := orc.call(ctx, "PATCH", "/api/approvals/"+id, orc.ceo, map[string]any{"status": "rejected"}, http.StatusOK); err != nil {
		return nil, nil, err
	}
	if err := c.GetWorkflow(ctx, escID, "").Get(ctx, nil); err != nil {
		return nil, nil, fmt.Errorf("escalation %s: %w", escID, err)
	}
	h, err := history(ctx, c, escID)
	if err != nil {
		return nil, nil, err
	}
	b, err := questionBudget(h)
	if err != nil {
		return nil, nil, fmt.Errorf("escalation %s: %w", escID, err)
	}
	return b, delta, nil
}

// expired creates n escalations due in a few seconds, one at a time, and
// waits for every one to expire.
func (e *env) expired(ctx context.Context, c client.Client, orc *orchestrator, n int) (*BudgetResult, error) {
	before, err := orc.statements(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for i := 0; i < n; i++ {
		id, err := e.createDue(ctx, orc, time.Now().Add(3*time.Second))
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	var budgets []*Budget
	for _, id := range ids {
		escID := contract.EscalationWorkflowID(id)
		if err := c.GetWorkflow(ctx, escID, "").Get(ctx, nil); err != nil {
			return nil, fmt.Errorf("escalation %s: %w", escID, err)
		}
		h, err := history(ctx, c, escID)
		if err != nil {
			return nil, err
		}
		budgets = append(budgets, expiredBudget(h))
	}
	if err := orc.quiet(ctx, 30*time.Second); err != nil {
		return nil, err
	}
	after, err := orc.statements(ctx)
	if err != nil {
		return nil, err
	}
	sum := map[statementKey]float64{}
	for k, v := range after {
		sum[k] = v - before[k]
	}
	return budgetResult(budgets, sum, n), nil
}

// createDue escalates with a deadline.
func (e *env) createDue(ctx context.Context, orc *orchestrator, due time.Time) (string, error) {
	conv := e.convSeq.Add(1)
	ap, err := orc.call(ctx, "POST", "/api/approvals", orc.agent, map[string]any{
		"tenantId": "/organizations/acme-corp", "title": "Nobody decides", "priority": "medium",
		"expiresAt":    due.UTC().Format(time.RFC3339),
		"conversation": map[string]any{"accountId": 1, "conversationId": conv},
	}, http.StatusCreated)
	if err != nil {
		return "", err
	}
	id, ok := ap["id"].(string)
	if !ok {
		return "", fmt.Errorf("create: no id in the answer")
	}
	return id, nil
}

// budgetKinds are the statement kinds in the order the report shows them.
var budgetKinds = []string{"select", "insert", "update", "delete", "begin", "commit", "rollback", "other"}

// sortedOrigins lists the origins of a result's statements, API routes
// first, then activities, each alphabetically.
func sortedOrigins(m map[string]map[string]float64) []string {
	out := make([]string, 0, len(m))
	for o := range m {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool {
		ai, aj := strings.HasPrefix(out[i], "api "), strings.HasPrefix(out[j], "api ")
		if ai != aj {
			return ai
		}
		return out[i] < out[j]
	})
	return out
}

// eachLine calls fn with the labels and the value of every sample of the
// metric name (the Prometheus text format).
func eachLine(r io.Reader, name string, fn func(labels string, v float64)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		labels := ""
		if strings.HasPrefix(rest, "{") {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				continue
			}
			labels, rest = rest[:end+1], rest[end+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return fmt.Errorf("metric %s: %w", name, err)
		}
		fn(labels, v)
	}
	return sc.Err()
}

// budgetMarkdown writes the per-escalation budget of one server.
func budgetMarkdown(w io.Writer, budgets []*BudgetResult) {
	if len(budgets) == 0 {
		return
	}
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("\nThe budget per escalation (issue 22; docs/benchmarks.md, *Budget*): escalations driven one at a time through the API "+
		"with nothing else running, counted from their histories and from the orchestrator's `orchestrator_db_statements_total` "+
		"read before and after each (%d of each scenario; figures per escalation). Each line is the step the work comes from; "+
		"a workflow task is counted under what scheduled it.\n", budgets[0].Samples)
	for _, b := range budgets {
		t := b.Total()
		p("\n**%s**: %d events, %d workflow tasks", b.Name, t.Events, t.WorkflowTasks)
		if b.MinEvents != b.MaxEvents {
			p(" (one escalation %d to %d events: the shape varied)", b.MinEvents, b.MaxEvents)
		}
		if b.Name == BudgetApproved {
			met, target := budgetTargetMet(b.Budget)
			p("; target %s: %s", target, yesNo(met))
		}
		p("\n\n| workflow | step | events | workflow tasks | markers | local activities | activities | upserts | timers | executions |\n")
		p("|---|---|---|---|---|---|---|---|---|---|\n")
		row := func(wf, step string, c Cost) {
			p("| %s | %s | %d | %d | %d | %d | %d | %d | %d | %d |\n", wf, step, c.Events, c.WorkflowTasks, c.Markers,
				c.LocalActivities, c.Activities, c.Upserts, c.Timers, c.Executions)
		}
		for _, l := range b.Lines {
			row(l.Workflow, l.Step, l.Cost)
		}
		row("**total**", "", t)
		var types []string
		for _, ty := range sortedTypes(b.EventTypes) {
			types = append(types, fmt.Sprintf("%s %d", ty, b.EventTypes[ty]))
		}
		p("\nEvents by type: %s.\n", strings.Join(types, ", "))
		if len(b.Statements) == 0 {
			continue
		}
		p("\nDatabase statements per escalation, by origin:\n\n| origin | %s | total |\n|---|%s---|\n",
			strings.Join(budgetKinds, " | "), strings.Repeat("---|", len(budgetKinds)))
		totals := map[string]float64{}
		var all float64
		for _, o := range sortedOrigins(b.Statements) {
			var cells []string
			var sum float64
			for _, k := range budgetKinds {
				v := b.Statements[o][k]
				cells = append(cells, count(v))
				totals[k] += v
				sum += v
			}
			all += sum
			p("| %s | %s | %s |\n", o, strings.Join(cells, " | "), count(sum))
		}
		var cells []string
		for _, k := range budgetKinds {
			cells = append(cells, count(totals[k]))
		}
		p("| **total** | %s | **%s** |\n", strings.Join(cells, " | "), count(all))
		if b.OtherStatements > 0 {
			p("\nLeft out: %s statements without an origin over the whole measurement (the deadline gauges' count on the harness's scrapes).\n",
				count(b.OtherStatements))
		}
	}
}

// count shows a per-escalation count: whole numbers as such, else one
// decimal.
func count(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.1f", v)
}
