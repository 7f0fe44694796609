package temporalcluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMergeYAMLBlocks(t *testing.T) {
	base := "# head\na.b:\n  - value: 1\nc:\n  - value: x\n    constraints: {}\n"
	over := "c:\n  - value: y\nd:\n  - value: true\n"
	got := mergeYAMLBlocks(base, over)
	want := "# head\na.b:\n  - value: 1\nc:\n  - value: y\nd:\n  - value: true\n"
	if got != want {
		t.Fatalf("merge:\n%s\nwant:\n%s", got, want)
	}
}

// The module's own config files, rendered for one cluster, keep none of
// their fixed ports or database names.
func TestRenderModuleConfig(t *testing.T) {
	tools := ToolsForTest(t)
	static, err := os.ReadFile(filepath.Join(tools.Source, "config", "development-postgres12.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := os.ReadFile(filepath.Join(tools.Source, "config", "dynamicconfig", "development-sql.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPorts()
	if err != nil {
		t.Fatal(err)
	}
	db := dbTarget{hostPort: "127.0.0.1:5433", user: "temporal", password: "temporal", main: "t_main", visibility: "t_vis"}
	out, err := staticConfig(string(static), db, p, "/x/dynamic.yaml", "/x/archival", "warn")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`databaseName: "t_main"`, `databaseName: "t_vis"`, `connectAddr: "127.0.0.1:5433"`,
		`filepath: "/x/dynamic.yaml"`, "level: warn", "port: 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered config lacks %q", want)
		}
	}
	d, err := dynamicConfig(string(dyn), p, "frontend.enableExecuteMultiOperation:\n  - value: false\n")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(d, "frontend.enableExecuteMultiOperation:") != 1 || !strings.Contains(d, "frontend.enableExecuteMultiOperation:\n  - value: false") {
		t.Errorf("an overlay must replace the module's value:\n%s", d)
	}
	if !strings.Contains(d, "system.enableActivityEagerExecution:\n  - value: true") {
		t.Errorf("eager activity execution is not on:\n%s", d)
	}
	if strings.Contains(d, "localhost:7243") {
		t.Errorf("the dynamic config still names the fixed HTTP port:\n%s", d)
	}
}
