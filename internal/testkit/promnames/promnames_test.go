package promnames

import (
	"slices"
	"testing"
)

func TestMetricNames(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`up{job="orchestrator-worker"} == 0`, []string{"up"}},
		{`sum by (le) (rate(foo_seconds_bucket{route="/api/x",method=~"GET|POST"}[5m]))`, []string{"foo_seconds_bucket"}},
		{`sum(rate(a_total[2m])) by (target, outcome) > 0.5 * sum without (instance) (rate(b_total[10m]))`, []string{"a_total", "b_total"}},
		{`histogram_quantile(0.95, sum by (le) (rate(x_bucket[$__rate_interval])))`, []string{"x_bucket"}},
		{`(sum(rate(c_total[2m])) or vector(0)) < 0.1 * sum(rate(d_total[2m]))`, []string{"c_total", "d_total"}},
		{`up == 1 unless on (instance) sum by (instance) (rate(e_total{operation="Poll"}[5m])) > 0`, []string{"e_total", "up"}},
		{`absent(up{job="x"} == 1)`, []string{"up"}},
		{`a / on (namespace) group_left (task_queue) b`, []string{"a", "b"}},
		{`a / ignoring(le) group_left b`, []string{"a", "b"}},
		{`max(delta(pending[1h])) > 0 and max(pending offset 1h) > 500`, []string{"pending"}},
		{`rate(f_total[5m:30s]) > 1e3 and g > 0x1F and h > .5 and i > Inf`, []string{"f_total", "g", "h", "i"}},
		{`label_replace(j, "dst", "$1", "src", "(.*)")`, []string{"j"}},
		{`sum by(le)(rate(k_bucket{instance=~"${instance}"}[5m]))`, []string{"k_bucket"}},
		{`count_values("version", l) BY (job)`, []string{"l"}},
		{`m:recorded:rate5m > bool 1`, []string{"m:recorded:rate5m"}},
		{`topk(5, n_total) @ 1609746000`, []string{"n_total"}},
		{"sum(rate(o_total{a=\"}\"}[1m]))", []string{"o_total"}},
	} {
		got, err := MetricNames(c.expr)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s:\n got %q\nwant %q", c.expr, got, c.want)
		}
	}
	for _, bad := range []string{`{__name__=~"foo.*"}`, `rate(x[5m)`, `x{a="b"`} {
		if got, err := MetricNames(bad); err == nil {
			t.Errorf("%s: no error (names %q)", bad, got)
		}
	}
}

func TestRuleExprs(t *testing.T) {
	file := []byte(`
groups:
  - name: g
    rules:
      - alert: A
        expr: up == 0
        for: 1m
      - record: job:x:rate5m
        expr: sum by (job) (rate(x_total[5m]))
`)
	got, err := RuleExprs(file)
	if err != nil {
		t.Fatal(err)
	}
	want := []Expr{{"g/A", "up == 0"}, {"g/job:x:rate5m", "sum by (job) (rate(x_total[5m]))"}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if _, err := RuleExprs([]byte("groups: []")); err == nil {
		t.Fatal("a rule file without rules is accepted")
	}
}

func TestDashboardExprs(t *testing.T) {
	file := []byte(`{"title": "D", "panels": [
		{"title": "P1", "targets": [{"expr": "a_total"}, {"expr": "b"}]},
		{"type": "row", "title": "R", "panels": [{"title": "P2", "targets": [{"expr": "c"}]}]},
		{"title": "Text", "options": {"content": "no query"}}
	]}`)
	got, err := DashboardExprs(file)
	if err != nil {
		t.Fatal(err)
	}
	want := []Expr{{"P1", "a_total"}, {"P1", "b"}, {"P2", "c"}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if _, err := DashboardExprs([]byte(`{"panels": []}`)); err == nil {
		t.Fatal("a dashboard without queries is accepted")
	}
}
