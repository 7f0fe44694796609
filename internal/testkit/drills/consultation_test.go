package drills

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Drill 7: the Temporal dev server is SIGKILLed while a consultation's start
// is being written. The start's database write is held back by a row lock
// until the server is gone and lands while it is down; the client gives up
// on its request then (a closed browser), so nothing sends the start again.
// Afterwards the database and the workflow must agree that the consultation
// is active, and an end must work.
//
// Written inside the workflow task that accepts the update (consultations
// before the durable-transition version), the write reaches the database
// while the update, which lives only in the server's memory until that task
// completes, dies with the server: the row says active, the workflow says
// scheduled, and every end is refused with 409.
func TestDrillTemporalRestartDuringConsultationStart(t *testing.T) {
	eachServer(t, drillTemporalRestartDuringConsultationStart)
}

func drillTemporalRestartDuringConsultationStart(t *testing.T, c *cluster) {
	api := c.addAPI()
	c.addWorker()
	d := newDriver(t, c, func() []string { return []string{baseURL(api)} })
	ctx := loadContext(t)

	a, err := d.send(ctx, &session{}, http.MethodPost, "/api/consultations", decider, map[string]any{"tenantId": tenant, "title": "Drill call"}, "")
	if err != nil || a.status != http.StatusCreated {
		t.Fatalf("create consultation: %d %s %v", a.status, a.body, err)
	}
	var created struct{ ID string }
	if err := json.Unmarshal(a.body, &created); err != nil || created.ID == "" {
		t.Fatalf("create consultation: %v: %s", err, a.body)
	}
	id, wid := created.ID, contract.ConsultationWorkflowID(created.ID)

	db, err := c.admin(ctx)
	if err != nil {
		t.Fatalf("admin connection: %v", err)
	}
	defer db.Close(context.Background())
	rowStatus := func() string {
		var s string
		if err := db.QueryRow(ctx, `SELECT status FROM consultations WHERE id = $1`, id).Scan(&s); err != nil {
			t.Fatalf("read consultation %s: %v", id, err)
		}
		return s
	}
	// The created update answers once the row exists; the workflow
	// waits for a start now.
	if s := rowStatus(); s != store.ConsultationScheduled {
		t.Fatalf("consultation after create: %s", s)
	}

	lock, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx, `SELECT 1 FROM consultations WHERE id = $1 FOR UPDATE`, id); err != nil {
		t.Fatalf("lock the consultation's row: %v", err)
	}
	startCtx, giveUp := context.WithCancel(ctx)
	defer giveUp()
	startDone := make(chan string, 1)
	go func() {
		a, err := d.send(startCtx, &session{}, http.MethodPost, "/api/consultations/"+id+"/start", decider, nil, "")
		if err != nil {
			startDone <- err.Error()
			return
		}
		startDone <- fmt.Sprintf("%d %s", a.status, truncate(string(a.body), 200))
	}()
	if err := c.waitLockWaiters(ctx, 30*time.Second); err != nil {
		t.Fatalf("the start's write never reached the database: %v", err)
	}
	c.temporal.kill()
	giveUp()
	if err := lock.Rollback(ctx); err != nil {
		t.Fatalf("release the row: %v", err)
	}
	t.Logf("Temporal (%s) SIGKILLed with the start's write waiting on the row; the client gave up (%s)", c.server, <-startDone)
	// The worker holds the write; it lands while the server is down.
	landed := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !landed; time.Sleep(100 * time.Millisecond) {
		landed = rowStatus() == store.ConsultationActive
	}
	if !landed {
		t.Errorf("the start's write did not land while Temporal was down (row %s): the drill proved nothing", rowStatus())
	}
	time.Sleep(prof.temporalDowntime)
	c.temporal.start()

	// The database and the workflow agree, on active.
	var wf string
	agreed := false
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		wf = c.consultationState(ctx, wid)
		if row := rowStatus(); wf == row && row == store.ConsultationActive {
			agreed = true
			break
		}
	}
	if !agreed {
		t.Errorf("after the restart the database says %s, the workflow says %q: want both active", rowStatus(), wf)
	}

	a, err = d.send(ctx, &session{}, http.MethodPost, "/api/consultations/"+id+"/end", decider, nil, "")
	if err != nil || a.status != http.StatusOK {
		t.Fatalf("end after the restart: want 200, got %d %s %v", a.status, a.body, err)
	}
	if s := rowStatus(); s != store.ConsultationEnded {
		t.Fatalf("consultation after end: %s", s)
	}

	// One audit row per transition, and the workflow completes.
	trail := map[string]int{}
	rows, err := db.Query(ctx, `SELECT action, count(*) FROM audit_logs WHERE resource = 'consultation' AND resource_id = $1 GROUP BY 1`, id)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var action string
		var n int
		if err := rows.Scan(&action, &n); err != nil {
			t.Fatal(err)
		}
		trail[action] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"consultation.created", "consultation.started", "consultation.ended"} {
		if trail[action] != 1 {
			t.Errorf("%s: want exactly one audit row, got %d (trail %v)", action, trail[action], trail)
		}
	}
	if len(trail) != 3 {
		t.Errorf("unexpected audit rows: %v", trail)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.tc.GetWorkflow(wctx, wid, "").Get(wctx, nil); err != nil {
		t.Errorf("consultation workflow: %v", err)
	}
	// The history shows why: both writes are activities of their own, after
	// the task that accepted their update.
	if n := c.scheduledActivities(ctx, wid, "TransitionConsultation"); n != 2 {
		t.Errorf("history of %s: want 2 TransitionConsultation activities scheduled (start, end), got %d", wid, n)
	}
	c.checkProcesses()
}

// waitLockWaiters waits until a connection of the drill's database waits on
// a lock.
func (c *cluster) waitLockWaiters(ctx context.Context, limit time.Duration) error {
	db, err := c.admin(ctx)
	if err != nil {
		return err
	}
	defer db.Close(context.Background())
	for deadline := time.Now().Add(limit); ; time.Sleep(20 * time.Millisecond) {
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`, c.dbName).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no connection waited on a lock within %s", limit)
		}
	}
}

// consultationState is the status the consultation's workflow reports, or
// the error of the query (the worker may still be reconnecting).
func (c *cluster) consultationState(ctx context.Context, wid string) string {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := c.tc.QueryWorkflow(qctx, wid, "", contract.QueryState)
	if err != nil {
		return "query failed: " + err.Error()
	}
	var st contract.ConsultationState
	if err := v.Get(&st); err != nil || st.Consultation == nil {
		return fmt.Sprintf("no state (%v)", err)
	}
	return st.Consultation.Status
}

// scheduledActivities counts the activities of type name a workflow's
// history scheduled.
func (c *cluster) scheduledActivities(ctx context.Context, wid, name string) int {
	c.t.Helper()
	n := 0
	it := c.tc.GetWorkflowHistory(ctx, wid, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			c.t.Fatalf("history of %s: %v", wid, err)
		}
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == name {
			n++
		}
	}
	return n
}
