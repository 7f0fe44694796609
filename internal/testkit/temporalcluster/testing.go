package temporalcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

// ToolsForTest returns the tools from the environment. Unset, it fails the
// test when CI=true and skips it loudly otherwise; set but unusable (a
// missing binary, no module source), it fails.
func ToolsForTest(t testing.TB) Tools {
	t.Helper()
	tools, err := ToolsFromEnv()
	switch {
	case errors.Is(err, ErrNotConfigured) && os.Getenv("CI") != "true":
		t.Skipf("%s\nSKIPPING the Temporal cluster test (CI=true makes this a failure)\n%s", strings.Repeat("!", 78), err)
	case err != nil:
		t.Fatal(err)
	}
	return tools
}

// StartT starts a cluster for t and stops it when t ends. Zero fields of
// opts default to: the tools from the environment (ToolsForTest), a Dir
// under t.TempDir(), the PostgreSQL server of the store tests
// (TEST_DATABASE_URL) and t.Logf for the steps. When t fails, the tail of
// the server's log is printed.
func StartT(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Tools == (Tools{}) {
		opts.Tools = ToolsForTest(t)
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.AdminURL == "" {
		opts.AdminURL = storetest.AdminURL()
		requirePostgres(t, opts.AdminURL)
	}
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	c, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start the Temporal cluster: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(Tail(c.LogPath, 80))
		}
		if err := c.Stop(); err != nil {
			t.Errorf("stop the Temporal cluster: %v", err)
		}
	})
	return c
}

// requirePostgres fails the test when CI=true and skips it loudly otherwise
// if no PostgreSQL server answers at adminURL, as the store tests do.
func requirePostgres(t testing.TB, adminURL string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required in CI (TEST_DATABASE_URL=%s): %v", adminURL, err)
		}
		t.Skipf("SKIPPING the Temporal cluster test: no PostgreSQL at TEST_DATABASE_URL=%s (%v); CI=true makes this a failure", adminURL, err)
	}
	_ = conn.Close(ctx)
}

// String names the cluster in test output.
func (c *Cluster) String() string {
	return fmt.Sprintf("Temporal %s at %s (databases %s, %s; log %s)", Version, c.Address, c.Databases[0], c.Databases[1], c.LogPath)
}
