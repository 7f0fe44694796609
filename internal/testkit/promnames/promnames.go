// Package promnames finds the metric names that PromQL expressions use, and
// the expressions of a Prometheus rule file and of a Grafana dashboard, so a
// test can hold the alerts and the dashboard (deploy/) to the names a running
// orchestrator exports. It reads PromQL's lexical shape, not its grammar: a
// metric name is an identifier that is neither a function or aggregation
// (followed by "("), a keyword, a label name (inside {…} or a by/without/on/
// ignoring/group_left/group_right list) nor part of a string, duration or
// number. Prometheus's own parser would pull the whole server module into
// go.mod for this one test.
package promnames

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

var (
	stringLit = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	// Grafana's variables: $__rate_interval, ${datasource}, [[var]].
	variable   = regexp.MustCompile(`\$\{[^}]*\}|\$\w+|\[\[[^\]]*\]\]`)
	brackets   = regexp.MustCompile(`\[[^\]]*\]`)
	braces     = regexp.MustCompile(`\{[^}]*\}`)
	grouping   = regexp.MustCompile(`(?i)\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	offset     = regexp.MustCompile(`(?i)\boffset\s+-?[0-9a-z.]+`)
	number     = regexp.MustCompile(`(?:\b|\.)\d[\w.]*`)
	identifier = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
)

// keywords are the identifiers of PromQL that name no metric when they are
// not followed by "(".
var keywords = map[string]bool{
	"and": true, "or": true, "unless": true, "by": true, "without": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true, "offset": true, "bool": true, "inf": true, "nan": true,
}

// MetricNames returns the metric names expr selects, sorted, each once.
func MetricNames(expr string) ([]string, error) {
	if strings.Contains(expr, "__name__") {
		return nil, fmt.Errorf("selecting by __name__ is not supported: %q", expr)
	}
	s := stringLit.ReplaceAllString(expr, " ")
	s = variable.ReplaceAllString(s, " ")
	s = brackets.ReplaceAllString(s, " ")
	s = braces.ReplaceAllString(s, " ")
	s = grouping.ReplaceAllString(s, " ")
	s = offset.ReplaceAllString(s, " ")
	s = number.ReplaceAllString(s, " ")
	if strings.ContainsAny(s, "{}[]\"'`") {
		return nil, fmt.Errorf("unbalanced brackets or quotes in %q", expr)
	}
	var names []string
	for _, loc := range identifier.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		if keywords[strings.ToLower(name)] || strings.HasPrefix(strings.TrimLeft(s[loc[1]:], " \t\r\n"), "(") {
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// Expr is one PromQL expression and where it comes from (an alert's or
// recording rule's name, a panel's title).
type Expr struct {
	Where string
	Expr  string
}

// RuleExprs returns the expressions of a Prometheus rule file.
func RuleExprs(file []byte) ([]Expr, error) {
	var rf struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert  string `yaml:"alert"`
				Record string `yaml:"record"`
				Expr   string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(file, &rf); err != nil {
		return nil, fmt.Errorf("rule file: %w", err)
	}
	var out []Expr
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			out = append(out, Expr{Where: g.Name + "/" + r.Alert + r.Record, Expr: r.Expr})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("rule file: no rules")
	}
	return out, nil
}

// DashboardExprs returns the "expr" of every query in a Grafana dashboard
// (panels, panels in rows, templating), each with the title of the nearest
// object around it that has one.
func DashboardExprs(file []byte) ([]Expr, error) {
	var doc any
	if err := json.Unmarshal(file, &doc); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	var out []Expr
	var walk func(v any, title string)
	walk = func(v any, title string) {
		switch v := v.(type) {
		case map[string]any:
			if t, ok := v["title"].(string); ok {
				title = t
			}
			if e, ok := v["expr"].(string); ok {
				out = append(out, Expr{Where: title, Expr: e})
			}
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				walk(v[k], title)
			}
		case []any:
			for _, e := range v {
				walk(e, title)
			}
		}
	}
	walk(doc, "")
	if len(out) == 0 {
		return nil, errors.New("dashboard: no queries")
	}
	return out, nil
}
