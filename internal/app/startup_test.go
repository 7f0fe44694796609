package app_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/app"
	"github.com/orchestrator-dev/orchestrator/internal/testkit/rig"
)

// startupBound is how long a process may take to give up on a dependency it
// cannot reach at start: the Temporal dial bound plus slack for a slow CI
// machine, and far below a minute.
const startupBound = 20 * time.Second

// A process that cannot reach Temporal or its database at start exits with an
// error naming what it could not reach and where, within seconds, instead of
// panicking on the way out (boot used to hand a nil process to its deferred
// close) or waiting a silent minute on the Temporal dial.
func TestStartupFailureNamesTheUnreachableDependency(t *testing.T) {
	refused := closedAddr(t) // nothing listens: connections are refused
	silent := silentAddr(t)  // accepts TCP, never speaks: a firewall or a hung server
	dbAddr := closedAddr(t)  // no PostgreSQL here
	sqlite := func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "orchestrator.db") }
	postgres := "postgres://orchestrator@" + dbAddr + "/orchestrator?sslmode=disable"

	cases := []struct {
		name     string
		temporal string
		database func(t *testing.T) string
		want     []string // every part must appear in the error
	}{
		{"temporal refused", refused, sqlite, []string{"Temporal", refused}},
		{"temporal silent", silent, sqlite, []string{"Temporal", silent}},
		{"database refused", refused, func(*testing.T) string { return postgres }, []string{"database", dbAddr}},
	}
	for _, mode := range []string{"api", "worker", "dev"} {
		for _, tc := range cases {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				env := map[string]string{
					"TEMPORAL_ADDRESS": tc.temporal,
					"DATABASE_URL":     tc.database(t),
					"HTTP_ADDR":        rig.MustFreeAddr(t),
					"WORKER_HTTP_ADDR": rig.MustFreeAddr(t),
					"DEV_ISSUER_ADDR":  rig.MustFreeAddr(t),
					"OIDC_ISSUER_URL":  "http://" + rig.MustFreeAddr(t),
					"DECISION_KEY":     strings.Repeat("k", 32),
					"DATA_DIR":         dir,
					"LOG_LEVEL":        "error",
				}
				if mode == "dev" {
					delete(env, "OIDC_ISSUER_URL") // dev mode's own issuer
					delete(env, "DECISION_KEY")    // made in DATA_DIR
				}
				start := time.Now()
				err := runGuarded(mode, env)
				took := time.Since(start)
				if err == nil {
					t.Fatal("started without its dependency")
				}
				t.Logf("after %s: %v", took.Round(time.Millisecond), err)
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error does not name %q: %v", w, err)
					}
				}
				if strings.Contains(err.Error(), "panic") {
					t.Errorf("start-up failure panicked: %v", err)
				}
				if took > startupBound {
					t.Errorf("took %s to give up (bound %s): %v", took.Round(time.Millisecond), startupBound, err)
				}
			})
		}
	}
}

// runGuarded runs one command in-process and turns a panic into an error, so
// that the failure is reported instead of killing the test binary. A run that
// neither returns nor panics within twice the bound is reported as hanging.
func runGuarded(mode string, env map[string]string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("panic: %v", r)
			}
		}()
		getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
		done <- app.RunWithEnv(ctx, []string{mode}, getenv, io.Discard, io.Discard)
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(2 * startupBound):
		return fmt.Errorf("%s did not return within %s", mode, 2*startupBound)
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	return rig.MustFreeAddr(t)
}

// silentAddr accepts connections and never answers, until the test ends.
func silentAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-accepted
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}
