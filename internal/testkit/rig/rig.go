// Package rig holds the process helpers the test rigs share: a free local
// port, a readiness probe, and the orchestrator binary built once for a test
// binary (drills, the cluster test and the load harness run the real binary
// as separate processes).
package rig

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// FreeAddr is a loopback address with a port nothing listens on now.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// MustFreeAddr is FreeAddr for tests: it fails the test on error.
func MustFreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// HTTPReady is a readiness check: GET url answers 200.
func HTTPReady(url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %d", url, resp.StatusCode)
		}
		return nil
	}
}

// BuildOrchestrator builds the orchestrator (the module's main package) to
// out, from the module that holds the calling test's package.
func BuildOrchestrator(out string) error {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if root == "" || root == "." {
		return fmt.Errorf("no go.mod above the test's package")
	}
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build the orchestrator: %w\n%s", err, b)
	}
	return nil
}

// BuildOrchestratorTemp builds the orchestrator into a new temporary folder
// named after prefix, for a TestMain; remove deletes the folder.
func BuildOrchestratorTemp(prefix string) (binary string, remove func(), err error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, fmt.Errorf("temp dir: %w", err)
	}
	remove = func() { os.RemoveAll(dir) }
	binary = filepath.Join(dir, "orchestrator")
	if err := BuildOrchestrator(binary); err != nil {
		remove()
		return "", nil, err
	}
	return binary, remove, nil
}
