// Command loadtest runs the benchmark harness (make bench).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/testkit/loadtest"
	"github.com/orchestrator-dev/orchestrator/internal/testkit/temporalcluster"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func run() error {
	var opts loadtest.Options
	out := flag.String("out", "", "also write the report (markdown) to this file")
	flag.StringVar(&opts.TemporalCLI, "temporal-cli", os.Getenv("TEMPORAL_CLI"), "Temporal CLI binary (dev server)")
	flag.StringVar(&opts.Binary, "binary", "bin/orchestrator", "orchestrator binary")
	flag.IntVar(&opts.Concurrency, "concurrency", 32, "concurrent escalations")
	flag.DurationVar(&opts.Duration, "duration", 30*time.Second, "measuring window per concurrent shape (a third of it alone)")
	flag.BoolVar(&opts.Eager, "eager", true, "eager activity execution on the dev server, as `orchestrator dev` runs it")
	cluster := flag.Bool("cluster", true, "run the shapes on a real Temporal cluster too (needs TEMPORAL_SERVER, TEMPORAL_SQL_TOOL and -postgres)")
	flag.StringVar(&opts.PostgresAdminURL, "postgres", "postgres://root@127.0.0.1:5432/test?sslmode=disable",
		"PostgreSQL (superuser) for the cluster and the read path; empty skips both")
	flag.IntVar(&opts.ReadRows, "read-rows", 100_000, "approvals to seed for the read path")
	flag.IntVar(&opts.ReadTenants, "read-tenants", 100, "tenants to spread them across")
	flag.IntVar(&opts.ReadRequests, "read-requests", 2000, "list requests to time")
	flag.IntVar(&opts.Pending, "pending", 2000, "escalations to leave waiting for the memory measurement (10000: the issue's target); 0 skips it")
	cacheSizes := flag.String("pending-cache-sizes", "", "WORKER_WORKFLOW_CACHE_SIZE values to measure the pending escalations with, comma-separated "+
		"(e.g. 1000,10000: bounded and the SDK's default); empty: the orchestrator's default")
	flag.IntVar(&opts.ReplaySamples, "replay-samples", 30, "decisions timed per class (cached, evicted) after the pending escalations")
	flag.IntVar(&opts.BreakdownSamples, "breakdown-samples", 50, "histories read per shape for where the time goes")
	flag.IntVar(&opts.BudgetSamples, "budget", 5, "escalations of each scenario (approved, question round, expired) driven one at a time "+
		"for the per-escalation budget (history events, workflow tasks, activities, database statements); 0 skips it")
	flag.BoolVar(&opts.Events, "events", true, "run the concurrent product a second time with one subscriber receiving every event (the cost of events out)")
	shapes := flag.Bool("shapes", true, "run product, naive and floor (false: only the memory measurement and the read path)")
	flag.StringVar(&opts.ProfileDir, "profile", "", "run a profiled orchestrator and keep its CPU and heap profiles in this directory")
	soak := flag.Bool("soak", false, "soak instead (make soak): -phases windows of -phase-duration at -concurrency, on the dev server then the cluster; "+
		"fails if a phase completes no escalation or a create is answered 503")
	phases := flag.Int("phases", 20, "soak: phases per server")
	phaseDuration := flag.Duration("phase-duration", 30*time.Second, "soak: length of a phase")
	diagnosis := flag.String("diagnosis", "", "soak: where to keep the dev server's log and the diagnosis of a phase that completed nothing (default: a new directory under $TMPDIR)")
	var soakEnv envFlag
	flag.Var(&soakEnv, "soak-env", "soak: more orchestrator environment, KEY=VALUE (repeatable), e.g. WORKER_WORKFLOW_TASK_POLLERS=2")
	flag.Parse()
	opts.SkipShapes = !*shapes
	if opts.TemporalCLI == "" {
		return errors.New("set TEMPORAL_CLI or -temporal-cli (make bench does)")
	}
	for _, f := range strings.Split(*cacheSizes, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return fmt.Errorf("-pending-cache-sizes: %q is not a positive number", f)
		}
		opts.PendingCacheSizes = append(opts.PendingCacheSizes, n)
	}
	if *cluster {
		tools, err := temporalcluster.ToolsFromEnv()
		switch {
		case errors.Is(err, temporalcluster.ErrNotConfigured):
			fmt.Fprintln(os.Stderr, "loadtest: no Temporal server tools: the cluster is skipped (make bench builds them)")
		case err != nil:
			return err
		default:
			opts.Cluster = &tools
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	opts.SourceDir, opts.Log = wd, os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *soak {
		return runSoak(ctx, loadtest.SoakOptions{
			TemporalCLI: opts.TemporalCLI, Binary: opts.Binary, SourceDir: wd, Phases: *phases, PhaseDuration: *phaseDuration,
			Concurrency: opts.Concurrency, Cluster: opts.Cluster, PostgresAdminURL: opts.PostgresAdminURL,
			DiagnosisDir: *diagnosis, Env: soakEnv, Log: os.Stderr,
		}, *out)
	}
	rep, err := loadtest.Run(ctx, opts)
	if err != nil {
		return err
	}
	cmd := "loadtest " + strings.Join(os.Args[1:], " ")
	rep.Markdown(os.Stdout, cmd)
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		rep.Markdown(f, cmd)
		if err := f.Close(); err != nil {
			return fmt.Errorf("write %s: %w", *out, err)
		}
	}
	return nil
}

// runSoak runs the soak, prints its report (and writes it to out) and fails
// when the soak did.
func runSoak(ctx context.Context, o loadtest.SoakOptions, out string) error {
	if o.Phases <= 0 || o.PhaseDuration <= 0 || o.Concurrency <= 0 {
		return errors.New("-phases, -phase-duration and -concurrency must be positive")
	}
	rep, err := loadtest.Soak(ctx, o)
	if err != nil {
		return err
	}
	cmd := "loadtest " + strings.Join(os.Args[1:], " ")
	rep.Markdown(os.Stdout, cmd)
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		rep.Markdown(f, cmd)
		if err := f.Close(); err != nil {
			return fmt.Errorf("write %s: %w", out, err)
		}
	}
	if f := rep.Failures(); len(f) > 0 {
		return fmt.Errorf("the soak failed:\n  %s", strings.Join(f, "\n  "))
	}
	return nil
}

// envFlag collects KEY=VALUE flags.
type envFlag []string

func (e *envFlag) String() string { return strings.Join(*e, " ") }

func (e *envFlag) Set(v string) error {
	if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
		return fmt.Errorf("%q is not KEY=VALUE", v)
	}
	*e = append(*e, v)
	return nil
}
