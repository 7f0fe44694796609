package loadtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
	cmd := exec.CommandContext(ctx, "go", "build", "-o", abs, "./internal/loadtest/cmd/profiled")
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
