package clustertest

import (
	"context"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/testkit/temporalcluster"
)

// proc is one api or worker process; its output goes to a log file whose
// tail is printed when the test fails (the same shape as the drills'
// harness, reduced to what this test needs).
type proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startProc runs binary with args and env and waits until ready answers
// (or the process exits, or 60 s pass).
func startProc(t testing.TB, name, logPath string, env []string, ready func(context.Context) error, args ...string) *proc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("%s: %v", name, err)
	}
	f.Close() // the child holds its own descriptor
	p := &proc{t: t, name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(temporalcluster.Tail(p.log, 60))
		}
		if !p.exited() {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
		err := ready(rctx)
		rcancel()
		if err == nil {
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited during start (%v)\n%s", name, cmd.ProcessState, temporalcluster.Tail(p.log, 60))
		case <-ctx.Done():
			t.Fatalf("%s not ready after 60 s: %v\n%s", name, err, temporalcluster.Tail(p.log, 60))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// alive fails the test if the process ended on its own.
func (p *proc) alive() {
	p.t.Helper()
	if p.exited() {
		p.t.Fatalf("%s exited on its own: %v\n%s", p.name, p.cmd.ProcessState, temporalcluster.Tail(p.log, 60))
	}
}

// terminate sends SIGTERM and requires a clean exit within limit.
func (p *proc) terminate(limit time.Duration) {
	p.t.Helper()
	p.alive()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("%s: SIGTERM: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(limit):
		p.t.Fatalf("%s did not exit within %s of SIGTERM\n%s", p.name, limit, temporalcluster.Tail(p.log, 60))
	}
	if !p.cmd.ProcessState.Success() {
		p.t.Errorf("%s: want a clean exit after SIGTERM, got %v\n%s", p.name, p.cmd.ProcessState, temporalcluster.Tail(p.log, 60))
	}
}
