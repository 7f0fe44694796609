// Package clustertest runs the orchestrator in its production shape on a
// real Temporal cluster (internal/temporalcluster: the server built from
// go.temporal.io/server on PostgreSQL with SQL visibility, not the dev
// server): `orchestrator setup`, then separate api and worker processes of
// the built binary, PostgreSQL as the unprivileged app role, driven over
// HTTP and inspected with the Temporal API as ops would.
package clustertest

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/testkit/rig"
	"github.com/orchestrator-dev/orchestrator/internal/testkit/temporalcluster"
)

// binary is the orchestrator built once for this test binary.
var binary string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	_, err := temporalcluster.ToolsFromEnv()
	switch {
	case errors.Is(err, temporalcluster.ErrNotConfigured) && os.Getenv("CI") != "true":
		fmt.Fprintln(os.Stderr, strings.Repeat("!", 78))
		fmt.Fprintln(os.Stderr, "SKIPPING the Temporal cluster end-to-end test:", err, "(CI=true makes this a failure)")
		fmt.Fprintln(os.Stderr, strings.Repeat("!", 78))
		return 0
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	start := time.Now()
	bin, remove, err := rig.BuildOrchestratorTemp("orchestrator-clustertest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "build the orchestrator binary:", err)
		return 1
	}
	defer remove()
	binary = bin
	fmt.Fprintf(os.Stderr, "clustertest: built %s in %s\n", binary, time.Since(start).Round(time.Millisecond))
	return m.Run()
}
