package activities_test

import (
	"context"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/activities"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

type recordedMetrics struct{ expired []time.Duration }

func (m *recordedMetrics) EscalationCreated()                      {}
func (m *recordedMetrics) EscalationDecided(string, time.Duration) {}
func (m *recordedMetrics) ConsultationState(string)                {}
func (m *recordedMetrics) EscalationExpired(d time.Duration)       { m.expired = append(m.expired, d) }

// An expiry is reported once, with how late after the deadline it was
// stored: the figure the deadline alerts are built on. A retried activity
// and the other status changes report nothing.
func TestChangeStatusReportsAnExpiryOnceWithItsDelay(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, store.SQLite)
	m := &recordedMetrics{}
	a := &activities.Activities{Store: st, Metrics: m}
	record := func(deadline time.Time) store.Approval {
		t.Helper()
		now := st.Now()
		ap := store.Approval{ID: store.NewID(), TenantID: "/teams/support", Title: "Late", Status: store.StatusPending,
			Priority: store.PriorityHigh, RequestedBy: "agent-1", Metadata: store.JSON("{}"), CreatedAt: now, UpdatedAt: now,
			ExpiresAt: &deadline}
		if _, _, err := st.RecordApproval(ctx, &ap, nil); err != nil {
			t.Fatal(err)
		}
		return ap
	}
	change := func(ap store.Approval, to, action string) {
		t.Helper()
		if _, err := a.ChangeStatus(ctx, activities.ChangeStatusInput{ApprovalID: ap.ID, TenantID: ap.TenantID,
			From: store.Waiting, To: to, Action: action, Actor: contract.System}); err != nil {
			t.Fatal(err)
		}
	}

	late := record(st.Now().Add(-3 * time.Minute))
	change(late, store.StatusExpired, activities.ActionExpired)
	change(late, store.StatusExpired, activities.ActionExpired) // a retry finds it done
	change(record(st.Now().Add(time.Hour)), store.StatusWithdrawn, activities.ActionWithdrawn)

	if len(m.expired) != 1 {
		t.Fatalf("%d expiries reported, want 1: %v", len(m.expired), m.expired)
	}
	if d := m.expired[0]; d < 3*time.Minute || d > 4*time.Minute {
		t.Fatalf("expiry reported %s after the deadline, want about 3m", d)
	}
}
