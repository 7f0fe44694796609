package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"golang.org/x/sync/errgroup"

	"github.com/orchestrator-dev/orchestrator/internal/config"
	"github.com/orchestrator-dev/orchestrator/internal/devissuer"
	"github.com/orchestrator-dev/orchestrator/internal/telemetry"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// runDev runs the whole system in one process on embedded defaults. The local
// OIDC issuer exists only here: the api and worker commands cannot start it.
func runDev(ctx context.Context, env config.Getenv, args []string, stdout, stderr io.Writer) error {
	p, err := boot(ctx, env, config.ModeDev, telemetry.ServiceDev, stderr, true, func(cfg *config.Config) (func(), error) {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create DATA_DIR %s: %w", cfg.DataDir, err)
		}
		if cfg.DecisionKey == "" {
			key, err := devDecisionKey(cfg.DataDir)
			if err != nil {
				return nil, err
			}
			cfg.DecisionKey = key
		}
		if cfg.TemporalCLI == "" {
			return func() {}, nil // a Temporal server runs at TEMPORAL_ADDRESS already
		}
		return startTemporalDevServer(ctx, cfg)
	})
	if err != nil {
		return err
	}
	defer p.close()
	cfg, s, tc, log, tel := p.cfg, p.store, p.tc, p.log, p.tel

	iss, err := devissuer.Open(cfg.DataDir, cfg.OIDCIssuerURL, cfg.OIDCAudience)
	if err != nil {
		return fmt.Errorf("dev issuer: %w", err)
	}
	v, err := newVerifier(cfg)
	if err != nil {
		return fmt.Errorf("OIDC settings: %w", err)
	}
	state := newWorkerState()
	if err := tel.Metrics.RegisterWorkerPolling(state.Polling); err != nil {
		return err
	}
	w, err := newWorker(cfg, s, tc, log, tel.Metrics, state)
	if err != nil {
		return err
	}
	ew, err := newEventsWorker(cfg, s, tc, log, tel.Metrics, p.waker, state)
	if err != nil {
		return err
	}
	ensureRetentionSchedule(ctx, cfg, tc, log)
	h, err := newAPIHandler(cfg, s, tc, v, log, tel)
	if err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return serveHTTP(gctx, cfg.DevIssuerAddr, iss.Handler(), time.Second, log.With("component", "dev-issuer"))
	})
	g.Go(func() error { return runTemporalWorker(gctx, workers{w, ew}, state, log) })
	g.Go(func() error { return serveHTTP(gctx, cfg.HTTPAddr, h, cfg.ShutdownGrace, log.With("component", "api")) })
	g.Go(func() error {
		if err := waitHTTP(gctx, "http://"+cfg.HTTPAddr+"/healthz"); err != nil {
			return nil
		}
		printBanner(stdout, cfg)
		return nil
	})
	return g.Wait()
}

// startTemporalDevServer runs the Temporal CLI dev server with its state in
// DATA_DIR (WAL SQLite: durable across crashes, much faster than the default
// journal) and the custom search attributes registered.
func startTemporalDevServer(ctx context.Context, cfg *config.Config) (func(), error) {
	logFile, err := os.OpenFile(filepath.Join(cfg.DataDir, "temporal.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open temporal log: %w", err)
	}
	extra := []string{"--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
		// Eager activity execution (off by default in server 1.29): an
		// activity a workflow task schedules is handed back to the worker
		// in the answer to that task's completion instead of being polled
		// for, which spares the escalation's decision one matching round
		// trip. The compose server sets the same
		// (deploy/temporal/dynamicconfig/orchestrator.yaml).
		"--dynamic-config-value", "system.enableActivityEagerExecution=true"}
	for _, n := range contract.SearchAttributeNames() {
		extra = append(extra, "--search-attribute", n+"=Keyword")
	}
	ds, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  cfg.TemporalCLI,
		ClientOptions: &client.Options{HostPort: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace},
		DBFilename:    filepath.Join(cfg.DataDir, "temporal.db"),
		EnableUI:      true,
		UIPort:        strconv.Itoa(cfg.TemporalUIPort),
		LogLevel:      "warn",
		ExtraArgs:     extra,
		Stdout:        logFile,
		Stderr:        logFile,
	})
	if err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start Temporal dev server (%s, log in %s): %w", cfg.TemporalCLI, logFile.Name(), err)
	}
	return func() {
		_ = ds.Stop()
		_ = logFile.Close()
	}, nil
}

func waitHTTP(ctx context.Context, url string) error {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func printBanner(w io.Writer, cfg *config.Config) {
	uiHost, _, _ := net.SplitHostPort(cfg.TemporalAddress)
	fmt.Fprintf(w, `
orchestrator is running (Ctrl-C stops everything; state is kept in %s)

  API             http://%s
  Temporal UI     http://%s:%d
  Temporal gRPC   %s (namespace %s)
  OIDC issuer     %s (dev only)

Create a first escalation:

  TOKEN=$(bin/orchestrator token --sub agent-1 --name "Alex Agent" --group /teams/support)
  curl -s -X POST http://%s/api/approvals -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' \
    -d '{"tenantId":"/teams/support","title":"Refund above limit","priority":"high"}'

`, cfg.DataDir, cfg.HTTPAddr, uiHost, cfg.TemporalUIPort, cfg.TemporalAddress, cfg.TemporalNamespace, cfg.OIDCIssuerURL, cfg.HTTPAddr)
}

// devDecisionKey is dev mode's decision key, made once and kept in DATA_DIR
// so that escalations decided after a restart keep their channel.
func devDecisionKey(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "decision.key")
	if b, err := os.ReadFile(path); err == nil && len(b) >= contract.MinDecisionKeyBytes {
		return string(b), nil
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("make the dev decision key: %w", err)
	}
	key := hex.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(key), 0o600); err != nil {
		return "", fmt.Errorf("write the dev decision key: %w", err)
	}
	return key, nil
}
