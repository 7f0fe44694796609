package composetest

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction with its continuation lines joined.
type instruction struct {
	cmd  string // upper-cased keyword
	args string
}

type stage struct {
	from         string // image of the FROM line
	name         string // AS name, if any
	instructions []instruction
}

func parseDockerfile(t *testing.T) []stage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var stages []stage
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			f = slices.DeleteFunc(f, func(s string) bool { return strings.HasPrefix(s, "--") })
			s := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
			return
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("Dockerfile: %s before the first FROM", in.cmd)
			}
			return
		}
		last := &stages[len(stages)-1]
		last.instructions = append(last.instructions, in)
	}
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	flush()
	return stages
}

func (s stage) all(cmd string) []string {
	var out []string
	for _, in := range s.instructions {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

func (s stage) index(cmd, contains string) int {
	for i, in := range s.instructions {
		if in.cmd == cmd && strings.Contains(in.args, contains) {
			return i
		}
	}
	return -1
}

// versionAtLeast compares dotted numeric versions ("1.26.8" >= "1.26").
func versionAtLeast(have, want string) bool {
	h, w := strings.Split(have, "."), strings.Split(want, ".")
	for i := range w {
		if i >= len(h) {
			return false
		}
		hn, err1 := strconv.Atoi(h[i])
		wn, err2 := strconv.Atoi(w[i])
		if err1 != nil || err2 != nil {
			return false
		}
		if hn != wn {
			return hn > wn
		}
	}
	return true
}

func TestDockerfileIsMultiStageAndRunsAsNonRoot(t *testing.T) {
	stages := parseDockerfile(t)
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stage(s): build and runtime must be separate so the toolchain stays out of the image", len(stages))
	}
	build, runtime := stages[0], stages[len(stages)-1]

	if runtime.from == build.from || strings.HasPrefix(runtime.from, "golang:") {
		t.Errorf("the runtime stage is based on %s: it must be a small image without the Go toolchain", runtime.from)
	}
	if !slices.ContainsFunc(runtime.all("COPY"), func(a string) bool { return strings.Contains(a, "--from=") }) {
		t.Error("the runtime stage copies nothing from the build stage")
	}
	users := runtime.all("USER")
	if len(users) == 0 {
		t.Fatal("the runtime stage has no USER: the container would run as root")
	}
	user, _, _ := strings.Cut(users[len(users)-1], ":")
	if user == "root" || user == "0" {
		t.Errorf("the runtime stage runs as %q", users[len(users)-1])
	}
	entry := runtime.all("ENTRYPOINT")
	if len(entry) == 0 || !strings.Contains(entry[len(entry)-1], `"/orchestrator"`) {
		t.Errorf(`ENTRYPOINT %q, want ["/orchestrator"] (compose passes the subcommand as the command)`, entry)
	}
	if cmd := runtime.all("CMD"); len(cmd) == 0 || !strings.Contains(cmd[len(cmd)-1], `"api"`) {
		t.Errorf(`CMD %q, want ["api"]`, cmd)
	}
	for _, port := range []string{"8080", "9090"} {
		if !slices.ContainsFunc(runtime.all("EXPOSE"), func(a string) bool { return slices.Contains(strings.Fields(a), port) }) {
			t.Errorf("the runtime stage does not EXPOSE %s", port)
		}
	}
}

func TestDockerfileBuildsAStaticBinaryWithTheModuleGoVersion(t *testing.T) {
	stages := parseDockerfile(t)
	build := stages[0]

	// The toolchain in the image must satisfy go.mod's go directive.
	gomod, err := os.ReadFile(filepath.Join(repoRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go\s+(\S+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	goVersion := string(m[1])
	tag := regexp.MustCompile(`^golang:(\d+\.\d+(?:\.\d+)?)`).FindStringSubmatch(build.from)
	if tag == nil {
		t.Fatalf("the build stage is %s, want golang:<version>", build.from)
	}
	if !versionAtLeast(tag[1], goVersion) {
		t.Errorf("the build stage has Go %s but go.mod needs %s", tag[1], goVersion)
	}

	// distroless/static has no libc: cgo must be off.
	body := ""
	for _, in := range build.instructions {
		body += in.cmd + " " + in.args + "\n"
	}
	if !regexp.MustCompile(`CGO_ENABLED=0`).MatchString(body) {
		t.Error("the build stage does not set CGO_ENABLED=0: the binary would need a libc the runtime image lacks")
	}
	goBuild := build.index("RUN", "go build")
	if goBuild < 0 {
		t.Fatal("the build stage never runs go build")
	}
	for _, flag := range []string{"-trimpath", "-s -w"} {
		if !strings.Contains(build.instructions[goBuild].args, flag) {
			t.Errorf("go build lacks %s", flag)
		}
	}
	// Module download is its own cached layer, before the sources are copied.
	download := build.index("RUN", "go mod download")
	copyMod := build.index("COPY", "go.mod")
	copyAll := build.index("COPY", ". .")
	if download < 0 || copyMod < 0 || copyAll < 0 || !(copyMod < download && download < copyAll && copyAll < goBuild) {
		t.Errorf("want COPY go.mod go.sum, RUN go mod download, COPY . ., RUN go build in that order (found at %d, %d, %d, %d)",
			copyMod, download, copyAll, goBuild)
	}
}

var goEmbed = regexp.MustCompile(`(?m)^//go:embed\s+(.+)$`)

// ignored reports whether a .dockerignore pattern list excludes path: a pattern that matches
// the path or one of its parent directories excludes it; later ! patterns re-include.
func ignored(patterns []string, path string) bool {
	excluded := false
	for _, p := range patterns {
		negate := strings.HasPrefix(p, "!")
		p = filepath.Clean(strings.TrimPrefix(strings.TrimPrefix(p, "!"), "/"))
		for prefix := path; ; {
			if ok, _ := filepath.Match(p, prefix); ok {
				excluded = !negate
				break
			}
			dir := filepath.Dir(prefix)
			if dir == "." || dir == prefix {
				break
			}
			prefix = dir
		}
	}
	return excluded
}

func TestDockerignoreKeepsSecretsOutAndTheBuildInputsIn(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	for _, p := range []string{".git", ".git/config", ".env", "bin/orchestrator", ".data/orchestrator.db"} {
		if !ignored(patterns, p) {
			t.Errorf(".dockerignore lets %s into the build context", p)
		}
	}
	// The build needs the module files, every Go package and the embedded migrations.
	for _, p := range []string{"go.mod", "go.sum", "main.go", "internal/store/store.go", "migrations/embed.go", "migrations/postgres/0001_init.sql"} {
		if ignored(patterns, p) {
			t.Errorf(".dockerignore excludes %s, which the build needs", p)
		}
	}
	// Every non-test Go file the binary could import must reach the build (this test package
	// is the one deliberate exception: it only checks files).
	root := repoRoot(t)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel == ".git" || rel == filepath.Join("deploy", "composetest") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		if ignored(patterns, rel) {
			t.Errorf(".dockerignore excludes %s", rel)
		}
		// So must every file the binary embeds.
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range goEmbed.FindAllStringSubmatch(string(src), -1) {
			for _, pattern := range strings.Fields(m[1]) {
				matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), strings.Trim(pattern, `"`)))
				for _, f := range matches {
					if r, _ := filepath.Rel(root, f); ignored(patterns, r) {
						t.Errorf(".dockerignore excludes %s, which %s embeds", r, rel)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
