package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/orchestrator-dev/orchestrator/internal/testkit/temporalcluster"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// server is one Temporal server the shapes run on: the CLI's dev server
// (what `make run` starts) or a real cluster (internal/temporalcluster,
// what docker-compose.yml deploys).
type server struct {
	Name      string // "dev server", "cluster"
	Detail    string // what it is, for the report
	Address   string
	Namespace string
	Client    client.Client
	// comm is the process name of the server (a child of this process), for
	// the CPU accounting.
	comm string
	stop func() error
}

// Stop ends the server.
func (s *server) Stop() error {
	s.Client.Close()
	return s.stop()
}

// startDevServer runs the Temporal CLI's dev server in memory with the
// search attributes registered, eager activity execution on or off; its
// warnings and errors go to logTo (nil: discarded).
func startDevServer(ctx context.Context, cli string, eager bool, logTo io.Writer) (*server, error) {
	var extra []string
	if eager {
		// As `orchestrator dev` runs it (off by default in server 1.29).
		extra = append(extra, "--dynamic-config-value", "system.enableActivityEagerExecution=true")
	}
	for _, n := range contract.SearchAttributeNames() {
		extra = append(extra, "--search-attribute", n+"=Keyword")
	}
	level := "warn"
	if logTo == nil {
		level, logTo = "error", io.Discard
	}
	dev, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath: cli, LogLevel: level, ExtraArgs: extra, Stdout: logTo, Stderr: logTo,
		ClientOptions: &client.Options{Namespace: "default", Logger: quiet{}},
	})
	if err != nil {
		return nil, fmt.Errorf("start Temporal dev server: %w", err)
	}
	detail := "Temporal CLI dev server in memory, eager activity execution "
	detail += map[bool]string{true: "on", false: "off"}[eager]
	c, err := client.Dial(client.Options{HostPort: dev.FrontendHostPort(), Namespace: "default", Logger: quiet{}})
	if err != nil {
		_ = dev.Stop()
		return nil, fmt.Errorf("connect to the dev server: %w", err)
	}
	return &server{Name: "dev server", Detail: detail, Address: dev.FrontendHostPort(), Namespace: "default",
		Client: c, comm: "temporal", stop: dev.Stop}, nil
}

// clusterOptions say how to run the cluster.
type clusterOptions struct {
	Tools    temporalcluster.Tools
	AdminURL string // PostgreSQL superuser
	// Overlay is the compose deployment's dynamic config, applied over the
	// kit's (eager activity execution is on in both).
	Overlay string
	Binary  string // bin/orchestrator, for `orchestrator setup`
	Dir     string
	Log     io.Writer
}

// startCluster runs a real Temporal server (frontend, history, matching and
// worker services on PostgreSQL with SQL visibility) and prepares its
// namespace the way a deployment does: `orchestrator setup` registers the
// search attributes, and the harness waits until the frontend accepts them.
func startCluster(ctx context.Context, o clusterOptions) (*server, error) {
	var overlays []string
	if o.Overlay != "" {
		b, err := os.ReadFile(o.Overlay)
		if err != nil {
			return nil, fmt.Errorf("compose dynamic config: %w", err)
		}
		overlays = append(overlays, string(b))
	}
	cl, err := temporalcluster.Start(ctx, temporalcluster.Options{
		Tools: o.Tools, Dir: o.Dir, AdminURL: o.AdminURL, DynamicConfig: overlays, LogLevel: "warn",
		Logf: func(format string, args ...any) { fmt.Fprintf(o.Log, format+"\n", args...) },
	})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*server, error) {
		return nil, errors.Join(err, cl.Stop())
	}
	setup := exec.CommandContext(ctx, o.Binary, "setup")
	setup.Env = append(os.Environ(), "TEMPORAL_ADDRESS="+cl.Address, "TEMPORAL_NAMESPACE="+cl.Namespace,
		"DATABASE_URL=sqlite://"+filepath.Join(o.Dir, "setup.db"), "DATA_DIR="+o.Dir, "LOG_LEVEL=warn")
	if out, err := setup.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("orchestrator setup on the cluster: %w\n%s", err, out))
	}
	c, err := client.Dial(client.Options{HostPort: cl.Address, Namespace: cl.Namespace, Logger: quiet{}})
	if err != nil {
		return fail(fmt.Errorf("connect to the cluster: %w", err))
	}
	if err := waitSearchAttributes(ctx, c); err != nil {
		c.Close()
		return fail(err)
	}
	return &server{
		Name: "cluster", Address: cl.Address, Namespace: cl.Namespace, Client: c, comm: "server", stop: cl.Stop,
		Detail: "Temporal server " + temporalcluster.Version + " (frontend, history, matching, worker in one process) on PostgreSQL with SQL visibility, " +
			"the compose dynamic config (eager activity execution on)",
	}, nil
}

// waitSearchAttributes starts (and terminates) a probe workflow carrying
// TenantId until the frontend accepts it: `setup` returns once the server
// stored the attributes, but the frontend's namespace cache learns them only
// at its next refresh (docs/temporal-cluster.md).
func waitSearchAttributes(ctx context.Context, c client.Client) error {
	deadline := time.Now().Add(60 * time.Second)
	for i := 1; ; i++ {
		id := fmt.Sprintf("bench-setup-probe-%d-%d", time.Now().UnixNano(), i)
		_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: id, TaskQueue: "bench-setup-probe", WorkflowExecutionTimeout: time.Minute,
			TypedSearchAttributes: temporal.NewSearchAttributes(contract.TenantIDKey.ValueSet("bench-probe")),
		}, "SetupProbe")
		if err == nil {
			return c.TerminateWorkflow(ctx, id, "", "probe")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("search attributes not usable on the cluster after 60 s: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
