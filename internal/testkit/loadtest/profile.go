package loadtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// buildProfiled builds cmd/profiled (the orchestrator with profiles taken
// by signal) into dir.
func buildProfiled(ctx context.Context, sourceDir, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	abs, err := filepath.Abs(filepath.Join(dir, "orchestrator-profiled"))
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", abs, "./internal/testkit/loadtest/cmd/profiled")
	cmd.Dir = sourceDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the profiled orchestrator: %w\n%s", err, out)
	}
	return abs, nil
}

// keepProfiles copies profiles out of the run's temporary directory (on
// another file system, possibly) into ProfileDir as <prefix>-<name>.
func (e *env) keepProfiles(files []string, prefix string) []string {
	var kept []string
	for _, f := range files {
		dst := filepath.Join(e.opts.ProfileDir, prefix+"-"+filepath.Base(f))
		b, err := os.ReadFile(f)
		if err == nil {
			err = os.WriteFile(dst, b, 0o644)
		}
		if err != nil {
			e.logf("keep profile %s: %v", f, err)
			continue
		}
		kept = append(kept, dst)
	}
	return kept
}

// startPerf samples the CPU of pids (the Temporal server, which serves no
// pprof here) with Linux perf while a window runs, when profiling was asked
// for and perf is installed; the returned func stops it and writes the
// report (the hottest symbols) beside the recording.
func (e *env) startPerf(ctx context.Context, pids []int, name string) func() []string {
	none := func() []string { return nil }
	if e.opts.ProfileDir == "" || len(pids) == 0 {
		return none
	}
	perf, err := exec.LookPath("perf")
	if err != nil {
		return none
	}
	list := make([]string, len(pids))
	for i, p := range pids {
		list[i] = strconv.Itoa(p)
	}
	data := filepath.Join(e.opts.ProfileDir, name+"-temporal.perf.data")
	cmd := exec.CommandContext(ctx, perf, "record", "-q", "-e", "cpu-clock", "-F", "199", "-g", "-p", strings.Join(list, ","), "-o", data)
	if err := cmd.Start(); err != nil {
		e.logf("perf record: %v", err)
		return none
	}
	return func() []string {
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		report := strings.TrimSuffix(data, ".data") + ".txt"
		out, err := exec.CommandContext(ctx, perf, "report", "-i", data, "--stdio", "--no-children",
			"--sort", "symbol", "--percent-limit", "0.7", "-g", "none").Output()
		if err != nil {
			e.logf("perf report: %v", err)
			return []string{data}
		}
		if err := os.WriteFile(report, out, 0o644); err != nil {
			e.logf("write %s: %v", report, err)
			return []string{data}
		}
		return []string{data, report}
	}
}
