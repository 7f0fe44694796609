// Command profiled is the orchestrator binary with profiles the load harness
// takes by signal, so that where its time and memory go under load is
// measured in the process that serves the load (loadtest -profile):
//
//   - SIGUSR1 starts a CPU profile;
//   - SIGUSR2 ends it, writes it to $PROFILE_DIR/cpu.pprof, writes a heap
//     profile (after a collection, so it shows live memory) to heap.pprof,
//     then lists the files written in profiles.done.
//
// Everything else is `orchestrator` itself (internal/app).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/orchestrator-dev/orchestrator/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	dir := os.Getenv("PROFILE_DIR")
	if dir == "" {
		fmt.Fprintln(os.Stderr, "profiled: set PROFILE_DIR")
		os.Exit(2)
	}
	p := &profiler{dir: dir}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
	go p.serve(ctx, sig)
	err := app.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "orchestrator:", err)
		os.Exit(1)
	}
}

// profiler is driven from one goroutine only (serve).
type profiler struct {
	dir string
	cpu *os.File // the running CPU profile, if any
}

func (p *profiler) serve(ctx context.Context, sig <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-sig:
			var err error
			if s == syscall.SIGUSR1 {
				err = p.startCPU()
			} else {
				err = p.write()
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "profiled:", err)
			}
		}
	}
}

func (p *profiler) startCPU() error {
	if p.cpu != nil {
		return errors.New("a CPU profile is running already")
	}
	f, err := os.Create(filepath.Join(p.dir, "cpu.pprof"))
	if err != nil {
		return fmt.Errorf("create CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("start CPU profile: %w", err)
	}
	p.cpu = f
	return nil
}

func (p *profiler) write() error {
	var written []string
	if p.cpu != nil {
		pprof.StopCPUProfile()
		if err := p.cpu.Close(); err != nil {
			return fmt.Errorf("close CPU profile: %w", err)
		}
		written, p.cpu = append(written, p.cpu.Name()), nil
	}
	heap := filepath.Join(p.dir, "heap.pprof")
	f, err := os.Create(heap)
	if err != nil {
		return fmt.Errorf("create heap profile: %w", err)
	}
	runtime.GC() // the profile shows memory as of the last collection
	err = pprof.WriteHeapProfile(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write heap profile: %w", err)
	}
	written = append(written, heap)
	return os.WriteFile(filepath.Join(p.dir, "profiles.done"), []byte(strings.Join(written, "\n")), 0o600)
}
