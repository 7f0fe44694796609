package telemetry

import (
	"context"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
)

// MetricDBStatements counts the statements the store sends
// (store.Options.CountStatement), by kind and by where they come from. It
// is the database's share of the per-escalation budget (issue 22,
// docs/benchmarks.md): the load harness reads it before and after driving
// escalations one at a time.
const MetricDBStatements = "orchestrator_db_statements_total"

// Statement origins: an API route ("api PATCH /api/approvals/:id"), an
// activity ("activity ApplyDecision", "local activity RecordApproval"), or
// anything else (the gauges counted on scrape, the retention schedule's
// job, start-up): OriginOther. Routes and activity types are fixed sets,
// so the series stay bounded.
const OriginOther = "other"

type originKey struct{}

// WithStatementOrigin marks ctx as coming from origin, for
// orchestrator_db_statements_total.
func WithStatementOrigin(ctx context.Context, origin string) context.Context {
	return context.WithValue(ctx, originKey{}, origin)
}

// StatementOrigin is the origin ctx carries, OriginOther if none.
func StatementOrigin(ctx context.Context) string {
	if ctx != nil {
		if o, ok := ctx.Value(originKey{}).(string); ok && o != "" {
			return o
		}
	}
	return OriginOther
}

func newStatementsCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricDBStatements,
		Help: "Statements sent to the database by kind (select, insert, update, delete, begin, commit, rollback, other) " +
			"and origin (the API route, the activity, or other).",
	}, []string{"kind", "origin"})
}

// DBStatement counts one statement of kind, by the origin ctx carries
// (store.StatementCounter).
func (m *Metrics) DBStatement(ctx context.Context, kind string) {
	if m != nil {
		m.statements.WithLabelValues(kind, StatementOrigin(ctx)).Inc()
	}
}

// statementOriginMiddleware marks a request's context with its route
// template (never the raw path), so the statements it causes are counted
// under it.
func statementOriginMiddleware(c *gin.Context) {
	route := c.FullPath()
	if route == "" {
		route = UnmatchedRoute
	}
	c.Request = c.Request.WithContext(WithStatementOrigin(c.Request.Context(), "api "+normalMethod(c.Request.Method)+" "+route))
	c.Next()
}

// StatementOrigins is a worker interceptor that marks each activity's
// context with its type (local activities too), so the statements an
// activity causes are counted under it.
func StatementOrigins() interceptor.WorkerInterceptor { return &statementOrigins{} }

type statementOrigins struct {
	interceptor.WorkerInterceptorBase
}

func (*statementOrigins) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &activityOrigin{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}}
}

type activityOrigin struct {
	interceptor.ActivityInboundInterceptorBase
}

func (a *activityOrigin) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	info := activity.GetInfo(ctx)
	kind := "activity "
	if info.IsLocalActivity {
		kind = "local activity "
	}
	return a.Next.ExecuteActivity(WithStatementOrigin(ctx, kind+info.ActivityType.Name), in)
}
