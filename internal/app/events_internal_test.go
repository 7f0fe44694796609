package app

import (
	"errors"
	"slices"
	"testing"

	sdkworker "go.temporal.io/sdk/worker"
)

// recordingWorker records its starts and stops; only Start and Stop are called.
type recordingWorker struct {
	sdkworker.Worker
	name string
	log  *[]string
	fail bool
}

func (w recordingWorker) Start() error {
	if w.fail {
		return errors.New("refused")
	}
	*w.log = append(*w.log, "start "+w.name)
	return nil
}

func (w recordingWorker) Stop() { *w.log = append(*w.log, "stop "+w.name) }

// The escalations' and the events' workers run as one: started in order,
// stopped last first, and a start that fails stops those already started.
func TestWorkersRunAsOne(t *testing.T) {
	var log []string
	ws := workers{recordingWorker{name: "escalations", log: &log}, recordingWorker{name: "events", log: &log}}
	if err := ws.Start(); err != nil {
		t.Fatal(err)
	}
	ws.Stop()
	if want := []string{"start escalations", "start events", "stop events", "stop escalations"}; !slices.Equal(log, want) {
		t.Errorf("%v, want %v", log, want)
	}

	log = nil
	ws = workers{recordingWorker{name: "escalations", log: &log}, recordingWorker{name: "events", log: &log, fail: true}}
	if err := ws.Start(); err == nil {
		t.Fatal("a worker that cannot start: no error")
	}
	if want := []string{"start escalations", "stop escalations"}; !slices.Equal(log, want) {
		t.Errorf("%v, want %v", log, want)
	}
}
