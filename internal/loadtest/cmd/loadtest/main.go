// Command loadtest runs the benchmark harness (make bench).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/loadtest"
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
	flag.StringVar(&opts.TemporalCLI, "temporal-cli", os.Getenv("TEMPORAL_CLI"), "Temporal CLI binary")
	flag.StringVar(&opts.Binary, "binary", "bin/orchestrator", "orchestrator binary")
	flag.IntVar(&opts.Concurrency, "concurrency", 32, "concurrent escalations")
	flag.DurationVar(&opts.Duration, "duration", 30*time.Second, "measuring window per shape")
	flag.StringVar(&opts.PostgresAdminURL, "postgres", "postgres://root@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL (superuser) for the read path; empty skips it")
	flag.IntVar(&opts.ReadRows, "read-rows", 100_000, "approvals to seed for the read path")
	flag.IntVar(&opts.ReadTenants, "read-tenants", 100, "tenants to spread them across")
	flag.IntVar(&opts.ReadRequests, "read-requests", 2000, "list requests to time")
	flag.Parse()
	if opts.TemporalCLI == "" {
		return fmt.Errorf("set TEMPORAL_CLI or -temporal-cli (make bench does)")
	}
	wd, _ := os.Getwd()
	opts.SpecDir, opts.Log = wd, os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := loadtest.Run(ctx, opts)
	if err != nil {
		return err
	}
	cmd := "make bench (" + strings.Join(os.Args[1:], " ") + ")"
	rep.Markdown(os.Stdout, cmd)
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		rep.Markdown(f, cmd)
	}
	return nil
}
