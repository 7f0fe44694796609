package retention_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/orchestrator-dev/orchestrator/internal/retention"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// seeded is a store of dialect d holding old deliveries received 8 days
// before the clock and new ones received at it.
func seeded(t *testing.T, d store.Dialect, old, fresh int) *store.Store {
	t.Helper()
	c := &clock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	s, err := store.Open(context.Background(), storetest.URL(t, d), store.Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range old {
		if err := s.RecordDelivery(ctx, "chatwoot", fmt.Sprintf("old-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	c.set(c.now().Add(8 * 24 * time.Hour))
	for i := range fresh {
		if err := s.RecordDelivery(ctx, "matrix", fmt.Sprintf("new-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func kept(t *testing.T, s *store.Store, source, prefix string, n int) int {
	t.Helper()
	k := 0
	for i := range n {
		seen, err := s.SeenDelivery(context.Background(), source, fmt.Sprintf("%s-%d", prefix, i))
		if err != nil {
			t.Fatal(err)
		}
		if seen {
			k++
		}
	}
	return k
}

var week = retention.Input{RetentionSeconds: int64(7 * 24 * time.Hour / time.Second)}

// The activity deletes, in batches, exactly the deliveries older than the
// retention, on both databases (on PostgreSQL as the application role).
func TestPruneActivity(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			old := retention.Batch + 7 // more than one batch
			s := seeded(t, d, old, 3)
			var env testsuite.WorkflowTestSuite
			ae := env.NewTestActivityEnvironment()
			act := &retention.Activity{Store: s}
			ae.RegisterActivity(act.Prune)
			v, err := ae.ExecuteActivity(act.Prune, week)
			if err != nil {
				t.Fatal(err)
			}
			var res retention.Result
			if err := v.Get(&res); err != nil {
				t.Fatal(err)
			}
			if res.Deleted != int64(old) || res.More {
				t.Fatalf("deleted %+v, want %d", res, old)
			}
			if k := kept(t, s, "chatwoot", "old", old); k != 0 {
				t.Fatalf("%d deliveries kept past the retention", k)
			}
			if k := kept(t, s, "matrix", "new", 3); k != 3 {
				t.Fatalf("%d of 3 deliveries within the retention kept", k)
			}
			// Again: nothing left, nothing deleted.
			v, err = ae.ExecuteActivity(act.Prune, week)
			if err != nil || v.Get(&res) != nil || res.Deleted != 0 {
				t.Fatalf("a second run: %+v %v", res, err)
			}
		})
	}
}

// The workflow runs the activity by its registered name.
func TestPruneWorkflow(t *testing.T) {
	s := seeded(t, store.SQLite, 4, 1)
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	retention.Register(env, s)
	env.ExecuteWorkflow(retention.WorkflowName, week)
	var res retention.Result
	if err := env.GetWorkflowResult(&res); err != nil || res.Deleted != 4 {
		t.Fatalf("workflow: %+v %v", res, err)
	}
}

// devServer starts the Temporal CLI's dev server (TEMPORAL_CLI), which CI
// always provides.
func devServer(t *testing.T) *testsuite.DevServer {
	t.Helper()
	cli := os.Getenv("TEMPORAL_CLI")
	if cli == "" && os.Getenv("CI") != "true" {
		t.Skip("TEMPORAL_CLI is not set (use `make test`; CI=true makes this a failure)")
	}
	if cli == "" {
		t.Fatal("TEMPORAL_CLI is not set: run the tests through `make test`, which builds the Temporal CLI")
	}
	srv, err := testsuite.StartDevServer(context.Background(), testsuite.DevServerOptions{
		ExistingPath: cli, LogLevel: "error", Stdout: io.Discard, Stderr: io.Discard,
		ClientOptions: &client.Options{Namespace: "default", Logger: quiet{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return srv
}

type quiet struct{}

func (quiet) Debug(string, ...any) {}
func (quiet) Info(string, ...any)  {}
func (quiet) Warn(string, ...any)  {}
func (quiet) Error(string, ...any) {}

// The schedule is created once, left alone by every later start with the
// same retention, brought to a new retention, and its run prunes through a
// worker on the task queue.
func TestEnsureScheduleIsIdempotent(t *testing.T) {
	srv := devServer(t)
	tc := srv.Client()
	ctx := context.Background()
	const queue = "retention-test"
	for i, want := range []string{"created", "unchanged", "unchanged"} {
		did, err := retention.EnsureSchedule(ctx, tc.ScheduleClient(), queue, 7*24*time.Hour)
		if err != nil || did != want {
			t.Fatalf("start %d: %q %v, want %q", i+1, did, err, want)
		}
	}
	if did, err := retention.EnsureSchedule(ctx, tc.ScheduleClient(), queue, 48*time.Hour); err != nil || did != "updated" {
		t.Fatalf("a new retention: %q %v", did, err)
	}
	if did, err := retention.EnsureSchedule(ctx, tc.ScheduleClient(), queue, 48*time.Hour); err != nil || did != "unchanged" {
		t.Fatalf("the new retention again: %q %v", did, err)
	}
	iter, err := tc.ScheduleClient().List(ctx, client.ScheduleListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for iter.HasNext() {
		e, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e.ID == retention.ScheduleID(queue) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d schedules %s, want 1", n, retention.ScheduleID(queue))
	}

	// Its run, on a worker of the queue, prunes.
	s := seeded(t, store.SQLite, 5, 2)
	w := sdkworker.New(tc, queue, sdkworker.Options{})
	retention.Register(w, s)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	h := tc.ScheduleClient().GetHandle(ctx, retention.ScheduleID(queue))
	if err := h.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var run string
	for run == "" {
		desc, err := h.Describe(wait)
		if err != nil {
			t.Fatal(err)
		}
		if a := desc.Info.RecentActions; len(a) > 0 {
			run = a[len(a)-1].StartWorkflowResult.WorkflowID
		}
		time.Sleep(50 * time.Millisecond)
	}
	var res retention.Result
	if err := tc.GetWorkflow(ctx, run, "").Get(ctx, &res); err != nil || res.Deleted != 5 {
		t.Fatalf("the scheduled run: %+v %v", res, err)
	}
	if k := kept(t, s, "matrix", "new", 2); k != 2 {
		t.Fatalf("%d of 2 deliveries within the retention kept", k)
	}
}
