package drills

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/testkit/rig"
)

// binary is the orchestrator built once for this test binary; temporalCLI is
// the Temporal CLI the dev servers run from.
var (
	binary      string
	temporalCLI string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	temporalCLI = os.Getenv("TEMPORAL_CLI")
	if temporalCLI == "" {
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "TEMPORAL_CLI is not set: run the fault drills through `make test` or `make drills`, which build the Temporal CLI")
			return 1
		}
		fmt.Fprintln(os.Stderr, strings.Repeat("!", 78))
		fmt.Fprintln(os.Stderr, "SKIPPING the fault drills: TEMPORAL_CLI is not set (use `make test` or `make drills`; CI=true makes this a failure)")
		fmt.Fprintln(os.Stderr, strings.Repeat("!", 78))
		return 0
	}
	if _, err := os.Stat(temporalCLI); err != nil {
		fmt.Fprintln(os.Stderr, "TEMPORAL_CLI:", err)
		return 1
	}
	start := time.Now()
	bin, remove, err := rig.BuildOrchestratorTemp("orchestrator-drills-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "build the orchestrator binary:", err)
		return 1
	}
	defer remove()
	binary = bin
	fmt.Fprintf(os.Stderr, "drills: %s profile; built %s in %s\n", prof.name, binary, time.Since(start).Round(time.Millisecond))
	return m.Run()
}
