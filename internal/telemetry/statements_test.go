package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// statements reads orchestrator_db_statements_total by "kind origin".
func statements(t *testing.T, m *Metrics) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	if f := family(t, m.reg, MetricDBStatements); f != nil {
		for _, s := range f.GetMetric() {
			l := labelsOf(s)
			out[l["kind"]+" "+l["origin"]] = s.GetCounter().GetValue()
		}
	}
	return out
}

// A statement is counted by kind and by the route template or activity
// that caused it, other without either.
func TestDBStatementsByOrigin(t *testing.T) {
	gin.SetMode(gin.TestMode)
	m := newTestMetrics(t)
	r := gin.New()
	r.Use(m.HTTPMiddleware())
	r.PATCH("/api/approvals/:id", func(c *gin.Context) {
		m.DBStatement(c.Request.Context(), "begin")
		m.DBStatement(c.Request.Context(), "update")
		c.Status(http.StatusOK)
	})
	for _, id := range []string{"a", "b"} {
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPatch, "/api/approvals/"+id, nil))
	}
	m.DBStatement(context.Background(), "select")
	m.DBStatement(WithStatementOrigin(context.Background(), "local activity RecordApproval"), "insert")
	var nilMetrics *Metrics
	nilMetrics.DBStatement(context.Background(), "select") // no registry: nothing, no panic

	want := map[string]float64{
		"begin api PATCH /api/approvals/:id":   2,
		"update api PATCH /api/approvals/:id":  2,
		"select other":                         1,
		"insert local activity RecordApproval": 1,
	}
	got := statements(t, m)
	if len(got) != len(want) {
		t.Errorf("series %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %v, want %v", k, got[k], v)
		}
	}
}

// The worker interceptor marks activities, regular and local, with their
// type.
func TestStatementOriginsOfActivities(t *testing.T) {
	probe := func(ctx context.Context) (string, error) { return StatementOrigin(ctx), nil }
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{StatementOrigins()}})
	env.RegisterActivityWithOptions(probe, activity.RegisterOptions{Name: "Probe"})
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context) ([]string, error) {
		var regular, local string
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
		if err := workflow.ExecuteActivity(ctx, "Probe").Get(ctx, &regular); err != nil {
			return nil, err
		}
		ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: time.Minute})
		if err := workflow.ExecuteLocalActivity(ctx, probe).Get(ctx, &local); err != nil {
			return nil, err
		}
		return []string{regular, local}, nil
	}, workflow.RegisterOptions{Name: "Probing"})
	env.ExecuteWorkflow("Probing")
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "activity Probe" || got[1] != "local activity Probe" {
		t.Fatalf("origins %q, want activity Probe and local activity Probe", got)
	}
	if StatementOrigin(context.Background()) != OriginOther {
		t.Fatal("no origin is not other")
	}
}
