// Package app wires the orchestrator's processes from configuration: the API,
// the worker, the all-in-one dev mode and the operator commands.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/orchestrator-dev/orchestrator/internal/config"
)

// usage lists the subcommands.
const usage = `orchestrator: the escalation control plane.

Usage: orchestrator <command> [flags]

Commands:
  dev          everything on one machine: Temporal dev server (when TEMPORAL_CLI is set),
               SQLite, migrations, local OIDC issuer, worker and API
  api          the HTTP API (stateless; run any number)
  worker       the Temporal worker (stateless; run any number)
  migrate      apply database migrations and exit
  setup        prepare a Temporal namespace (search attributes) and the database, then exit
  config       print the effective configuration, secrets masked
  token        mint a dev access token (dev issuer key under DATA_DIR)
  healthcheck  GET a URL and exit 0 on 200 (container health checks)
  audit        audit verify [--tenant T] [--file export.jsonl]: check the audit hash chains

Configuration comes from environment variables; see docs/production.md.
`

// Run executes one command with the process environment; main only builds
// the context and reports errors.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return RunWithEnv(ctx, args, os.LookupEnv, stdout, stderr)
}

// RunWithEnv executes one command with configuration from env, so that tests
// and the load harness can run several stacks in one process.
func RunWithEnv(ctx context.Context, args []string, env config.Getenv, stdout, stderr io.Writer) error {
	if len(args) < 1 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "dev":
		return runDev(ctx, env, rest, stdout, stderr)
	case "api":
		return runAPI(ctx, env, stderr)
	case "worker":
		return runWorker(ctx, env, stderr)
	case "migrate":
		return runMigrate(ctx, env, stdout, stderr)
	case "setup":
		return runSetup(ctx, env, stdout, stderr)
	case "config":
		return runConfig(env, stdout)
	case "token":
		return runToken(env, rest, stdout, stderr)
	case "healthcheck":
		return runHealthcheck(ctx, rest, stderr)
	case "audit":
		return runAudit(ctx, env, rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

func newLogger(level, format string, w io.Writer) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(strings.ToUpper(level)))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
