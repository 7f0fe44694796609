package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

const (
	evSupport     = "/teams/support"
	evEngineering = "/teams/engineering"
)

// subscribe adds an enabled subscription of tenant to events (none: all).
func subscribe(t *testing.T, s *store.Store, tenant string, events ...string) *store.Subscription {
	t.Helper()
	sub, err := s.CreateSubscription(context.Background(), store.Subscription{
		TenantID: tenant, URL: "https://receiver.example/hook", EventTypes: events, CreatedBy: "ceo-1",
	}, 0, nil)
	if err != nil {
		t.Fatalf("subscribe %s to %v: %v", tenant, events, err)
	}
	return sub
}

// sentEvent is an event's body as a receiver reads it.
type sentEvent struct {
	Type      string         `json:"type"`
	Timestamp string         `json:"timestamp"`
	Data      map[string]any `json:"data"`
}

func events(t *testing.T, s *store.Store, tenant string) []store.Event {
	t.Helper()
	rows, err := s.EventsForTest(context.Background(), tenant)
	if err != nil {
		t.Fatalf("read events of %s: %v", tenant, err)
	}
	return rows
}

func body(t *testing.T, e store.Event) sentEvent {
	t.Helper()
	var b sentEvent
	if err := json.Unmarshal([]byte(e.Body), &b); err != nil {
		t.Fatalf("event %s body %q: %v", e.ID, e.Body, err)
	}
	return b
}

func eventTypes(evs []store.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

// deliveries lists every delivery of a subscription, newest first.
func deliveries(t *testing.T, s *store.Store, tenant, subID, status string) []store.DeliveryRecord {
	t.Helper()
	rows, _, err := s.ListDeliveries(context.Background(), store.ScopeOf(tenant),
		store.DeliveryQuery{SubscriptionID: subID, Status: status, Limit: store.MaxLimit})
	if err != nil {
		t.Fatalf("list deliveries of %s: %v", subID, err)
	}
	return rows
}

func auditEntry(action, resource, id, tenant, key string, at time.Time) *store.AuditLog {
	return &store.AuditLog{EventKey: &key, Action: action, Resource: resource, ResourceID: id, UserID: "system",
		Channel: store.ChannelSystem, TenantID: tenant, CreatedAt: at}
}

// Every state change of an escalation, its consultation and its tenant's
// policy is an event, written with the change; a retry or a refused change
// writes none; each resource numbers its events 1, 2, 3.
func TestOutboxRecordsEveryChangeOnce(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			var (
				mu     sync.Mutex
				queued []string
			)
			s, err := store.Open(context.Background(), storetest.URL(t, d), store.Options{OnDeliveriesQueued: func(ids []string) {
				mu.Lock()
				defer mu.Unlock()
				queued = append(queued, ids...)
			}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			if _, err := s.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			testOutboxRecordsEveryChangeOnce(t, s, func() []string {
				mu.Lock()
				defer mu.Unlock()
				out := queued
				queued = nil
				return out
			})
		})
	}
}

func testOutboxRecordsEveryChangeOnce(t *testing.T, s *store.Store, woken func() []string) {
	ctx := context.Background()
	sub := subscribe(t, s, evSupport)
	a := newApproval(s, evSupport, "refund")
	if _, _, err := s.RecordApproval(ctx, a, createdEntry(a)); err != nil {
		t.Fatal(err)
	}
	if got := woken(); !slices.Equal(got, []string{sub.ID}) {
		t.Fatalf("the hook heard %v after the create, want [%s]", got, sub.ID)
	}
	retry := *a
	if _, created, err := s.RecordApproval(ctx, &retry, createdEntry(a)); err != nil || created {
		t.Fatalf("retry: created=%v err=%v", created, err)
	}
	if got := woken(); len(got) != 0 {
		t.Fatalf("a retry woke the dispatcher for %v", got)
	}
	change := func(from []string, to, action string, seq int) {
		t.Helper()
		key := "approval:" + a.ID + ":" + action + ":" + string(rune('0'+seq))
		c := store.StatusChange{ApprovalID: a.ID, TenantID: evSupport, From: from, To: to}
		if _, _, err := s.ChangeStatus(ctx, c, auditEntry(action, "approval", a.ID, evSupport, key, s.Now())); err != nil {
			t.Fatalf("%s: %v", action, err)
		}
		// The activity's retry: changes nothing, so no event.
		if _, changed, err := s.ChangeStatus(ctx, c, auditEntry(action, "approval", a.ID, evSupport, key, s.Now())); err != nil || changed {
			t.Fatalf("%s again: changed=%v err=%v", action, changed, err)
		}
	}
	change([]string{store.StatusPending}, store.StatusInfoRequested, "approval.info_requested", 1)
	change([]string{store.StatusInfoRequested}, store.StatusPending, "approval.info_unanswered", 1)
	change([]string{store.StatusPending}, store.StatusInfoRequested, "approval.info_requested", 2)
	change([]string{store.StatusInfoRequested}, store.StatusPending, "approval.info_provided", 2)
	for range 2 { // the second is the activity's retry: the same event key
		if _, err := s.AppendAudit(ctx, auditEntry("approval.reminded", "approval", a.ID, evSupport, "approval:"+a.ID+":reminded:1", s.Now())); err != nil {
			t.Fatal(err)
		}
	}
	// Audit entries that change nothing are not events.
	if _, err := s.AppendAudit(ctx, auditEntry("chatwoot.failed", "approval", a.ID, evSupport, "approval:"+a.ID+":cw", s.Now())); err != nil {
		t.Fatal(err)
	}
	now := s.Now()
	cons := &store.Consultation{ID: store.NewID(), Title: "refund", JitsiRoom: "secret-room-" + a.ID, Status: store.ConsultationScheduled,
		HostID: "ceo-1", ApprovalID: &a.ID, TenantID: evSupport, CreatedAt: now, UpdatedAt: now, ScheduledAt: &now}
	decision := store.Decision{ApprovalID: a.ID, TenantID: evSupport, Status: store.StatusApproved, DeciderID: "ceo-1", DeciderName: "Casey"}
	if _, _, decided, err := s.DecideApproval(ctx, decision, auditEntry("approval.approved", "approval", a.ID, evSupport, "approval:"+a.ID+":decided", now), cons); err != nil || !decided {
		t.Fatalf("decide: decided=%v err=%v", decided, err)
	}
	if _, _, decided, err := s.DecideApproval(ctx, decision, nil, cons); err != nil || decided {
		t.Fatalf("the same decision again: decided=%v err=%v", decided, err)
	}
	refused := decision
	refused.Status = store.StatusRejected
	if _, _, _, err := s.DecideApproval(ctx, refused, nil, nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("another decision: %v, want ErrConflict", err)
	}
	for _, to := range []string{store.ConsultationActive, store.ConsultationEnded} {
		from := map[string]string{store.ConsultationActive: store.ConsultationScheduled, store.ConsultationEnded: store.ConsultationActive}[to]
		tr := store.Transition{ConsultationID: cons.ID, TenantID: evSupport, From: from, To: to, At: s.Now(), Reason: "host"}
		for range 2 {
			if _, _, err := s.TransitionConsultation(ctx, tr, nil); err != nil {
				t.Fatalf("to %s: %v", to, err)
			}
		}
	}
	policy := store.Policy{TenantID: evSupport, DefaultTTL: 24 * time.Hour, MaxTTL: 48 * time.Hour, UpdatedBy: "ceo-1"}
	for _, ttl := range []time.Duration{24 * time.Hour, 24 * time.Hour, 12 * time.Hour} { // the second stores nothing new
		policy.DefaultTTL = ttl
		if _, err := s.PutPolicy(ctx, policy, &store.AuditLog{UserID: "ceo-1", Channel: store.ChannelAPI}); err != nil {
			t.Fatal(err)
		}
	}

	evs := events(t, s, evSupport)
	want := []struct {
		typ, resource string
		seq           int64
	}{
		{"approval.created", "approval", 1},
		{"approval.info_requested", "approval", 2},
		{"approval.info_unanswered", "approval", 3},
		{"approval.info_requested", "approval", 4},
		{"approval.info_provided", "approval", 5},
		{"approval.reminded", "approval", 6},
		{"approval.approved", "approval", 7},
		{"consultation.created", "consultation", 1},
		{"consultation.started", "consultation", 2},
		{"consultation.ended", "consultation", 3},
		{"policy.updated", "policy", 1},
		{"policy.updated", "policy", 2},
	}
	if len(evs) != len(want) {
		t.Fatalf("events %v, want %d of them", eventTypes(evs), len(want))
	}
	ids := map[string]bool{}
	for i, w := range want {
		e := evs[i]
		b := body(t, e)
		if e.Type != w.typ || e.Resource != w.resource || e.Sequence != w.seq || b.Type != w.typ {
			t.Fatalf("event %d: %s %s #%d (body type %s), want %s %s #%d", i, e.Type, e.Resource, e.Sequence, b.Type, w.typ, w.resource, w.seq)
		}
		if b.Data["tenantId"] != evSupport || b.Data["sequence"] != float64(w.seq) {
			t.Fatalf("event %d data: tenantId %v sequence %v", i, b.Data["tenantId"], b.Data["sequence"])
		}
		ts, err := time.Parse(time.RFC3339Nano, b.Timestamp)
		if err != nil || ts.Location() != time.UTC || !ts.Equal(e.CreatedAt) {
			t.Fatalf("event %d timestamp %q (%v), recorded at %s", i, b.Timestamp, err, e.CreatedAt)
		}
		if len(e.ID) < 10 || e.ID[:4] != "msg_" || ids[e.ID] {
			t.Fatalf("event id %q: want a new msg_ id", e.ID)
		}
		ids[e.ID] = true
		switch e.Resource {
		case "approval":
			if b.Data["id"] != a.ID || e.ResourceID != a.ID {
				t.Fatalf("event %d is about %v", i, b.Data["id"])
			}
		case "consultation":
			if b.Data["id"] != cons.ID {
				t.Fatalf("event %d is about %v", i, b.Data["id"])
			}
			if _, ok := b.Data["jitsiRoom"]; ok {
				t.Fatalf("consultation event %d gives the room name away: %s", i, e.Body)
			}
		case "policy":
			if b.Data["source"] != "tenant" || e.ResourceID != evSupport {
				t.Fatalf("policy event %d: %s", i, e.Body)
			}
		}
	}
	if d := body(t, evs[6]).Data; d["status"] != "approved" || d["approvedBy"] != "ceo-1" {
		t.Fatalf("approval.approved data is not the decided approval: %v", d)
	}
	if d := body(t, evs[11]).Data; d["defaultTtl"] != "12h" {
		t.Fatalf("policy.updated data is not the new policy: %v", d)
	}
	got := deliveries(t, s, evSupport, sub.ID, store.DeliveryPending)
	if len(got) != len(want) {
		t.Fatalf("%d pending deliveries, want one per event (%d)", len(got), len(want))
	}
	for _, d := range got {
		if d.NextAttemptAt == nil || d.Attempts != 0 || !ids[d.EventID] || d.EventType == "" || len(d.Event) == 0 {
			t.Fatalf("delivery %+v: want pending, due, no attempts, with its event", d)
		}
	}
	if w := woken(); len(w) == 0 || slices.ContainsFunc(w, func(id string) bool { return id != sub.ID }) {
		t.Fatalf("the hook heard %v, want only %s", w, sub.ID)
	}
}

// No subscription selecting an event type: no event, no delivery, and the
// dispatcher is not woken. Disabled subscriptions and other tenants'
// subscriptions select nothing.
func TestOutboxNothingWithoutMatchingSubscription(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := newApproval(s, evSupport, "no one listens")
		if _, _, err := s.RecordApproval(ctx, a, createdEntry(a)); err != nil {
			t.Fatal(err)
		}
		subscribe(t, s, evEngineering)
		subscribe(t, s, evSupport, "consultation.*", "policy.updated")
		off := subscribe(t, s, evSupport)
		if _, err := s.UpdateSubscription(ctx, store.ScopeOf(evSupport), off.ID, store.SubscriptionUpdate{Enabled: ptr(false)}, nil); err != nil {
			t.Fatal(err)
		}
		b := newApproval(s, evSupport, "still no one")
		if _, _, err := s.RecordApproval(ctx, b, createdEntry(b)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.ChangeStatus(ctx, store.StatusChange{ApprovalID: b.ID, TenantID: evSupport, From: store.Waiting, To: store.StatusWithdrawn}, nil); err != nil {
			t.Fatal(err)
		}
		if evs := events(t, s, evSupport); len(evs) != 0 {
			t.Fatalf("events nobody selected were written: %v", eventTypes(evs))
		}
		if evs := events(t, s, evEngineering); len(evs) != 0 {
			t.Fatalf("another tenant's subscription got %v", eventTypes(evs))
		}
		if got := deliveries(t, s, evSupport, off.ID, ""); len(got) != 0 {
			t.Fatalf("a disabled subscription got %d deliveries", len(got))
		}
	})
}

// Each subscription gets the events its list selects: exact types,
// "resource.*" patterns, "*", or everything when it lists none.
func TestOutboxPatterns(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		approvals := subscribe(t, s, evSupport, "approval.*")
		decisions := subscribe(t, s, evSupport, "approval.approved", "approval.rejected", "policy.updated")
		all := subscribe(t, s, evSupport)
		star := subscribe(t, s, evSupport, "*")
		a := newApproval(s, evSupport, "refund")
		if _, _, err := s.RecordApproval(ctx, a, createdEntry(a)); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := s.DecideApproval(ctx, store.Decision{ApprovalID: a.ID, TenantID: evSupport, Status: store.StatusRejected, DeciderID: "ceo-1"}, nil, nil); err != nil {
			t.Fatal(err)
		}
		p := store.Policy{TenantID: evSupport, DefaultTTL: time.Hour, MaxTTL: 2 * time.Hour, UpdatedBy: "ceo-1"}
		if _, err := s.PutPolicy(ctx, p, &store.AuditLog{UserID: "ceo-1", Channel: store.ChannelAPI}); err != nil {
			t.Fatal(err)
		}
		types := func(sub *store.Subscription) []string {
			var out []string
			for _, d := range deliveries(t, s, evSupport, sub.ID, "") {
				out = append(out, d.EventType)
			}
			slices.Sort(out)
			return out
		}
		for _, c := range []struct {
			sub  *store.Subscription
			want []string
		}{
			{approvals, []string{"approval.created", "approval.rejected"}},
			{decisions, []string{"approval.rejected", "policy.updated"}},
			{all, []string{"approval.created", "approval.rejected", "policy.updated"}},
			{star, []string{"approval.created", "approval.rejected", "policy.updated"}},
		} {
			if got := types(c.sub); !slices.Equal(got, c.want) {
				t.Errorf("subscription to %v got %v, want %v", c.sub.EventTypes, got, c.want)
			}
		}
		// One event per change, however many subscriptions get it.
		if evs := events(t, s, evSupport); len(evs) != 3 {
			t.Fatalf("events %v, want 3", eventTypes(evs))
		}
	})
}

// A change that rolls back takes its event and deliveries with it: here the
// decision's consultation cannot be stored (its approval already opened
// one), after the approval.approved event was written in the transaction.
func TestOutboxRollbackWritesNoEvent(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sub := subscribe(t, s, evSupport, "approval.approved", "consultation.created")
		a := newApproval(s, evSupport, "refund")
		if _, _, err := s.RecordApproval(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
		now := s.Now()
		taken := &store.Consultation{ID: store.NewID(), Title: "x", JitsiRoom: "room-a", Status: store.ConsultationScheduled,
			HostID: "ceo-1", ApprovalID: &a.ID, TenantID: evSupport, CreatedAt: now, UpdatedAt: now}
		if _, _, err := s.CreateConsultation(ctx, taken, nil); err != nil {
			t.Fatal(err)
		}
		before := len(events(t, s, evSupport)) // consultation.created
		dup := *taken
		dup.ID, dup.JitsiRoom = store.NewID(), "room-b"
		_, _, _, err := s.DecideApproval(ctx, store.Decision{ApprovalID: a.ID, TenantID: evSupport, Status: store.StatusApproved, DeciderID: "ceo-1"}, nil, &dup)
		if err == nil {
			t.Fatal("the decision with a second consultation for the approval was stored")
		}
		if got, _ := s.GetApproval(ctx, store.ScopeOf(evSupport), a.ID); got.Status != store.StatusPending {
			t.Fatalf("approval is %s after the rollback", got.Status)
		}
		if evs := events(t, s, evSupport); len(evs) != before {
			t.Fatalf("events after the rollback: %v", eventTypes(evs))
		}
		if got := deliveries(t, s, evSupport, sub.ID, ""); len(got) != before {
			t.Fatalf("%d deliveries after the rollback, want %d", len(got), before)
		}
	})
}

// The outbox holds across a crash between the change and its delivery: the
// change commits with its event and deliveries and the process dies before
// sending anything; a new process on the same database finds them pending.
func TestOutboxSurvivesCrash(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			url := storetest.URL(t, d)
			first, err := store.Open(ctx, url, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := first.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			sub := subscribe(t, first, evSupport)
			a := newApproval(first, evSupport, "refund")
			if _, _, err := first.RecordApproval(ctx, a, createdEntry(a)); err != nil {
				t.Fatal(err)
			}
			_ = first.Close() // the crash: nothing was delivered

			second, err := store.Open(ctx, url, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = second.Close() })
			got := deliveries(t, second, evSupport, sub.ID, store.DeliveryPending)
			if len(got) != 1 || got[0].EventType != "approval.created" || got[0].Attempts != 0 {
				t.Fatalf("after the restart: %+v, want the pending approval.created", got)
			}
			var b sentEvent
			if err := json.Unmarshal(got[0].Event, &b); err != nil || b.Data["id"] != a.ID {
				t.Fatalf("the event body survived as %s (%v)", got[0].Event, err)
			}
		})
	}
}

// Two changes of one resource at once number their events one after the
// other (PostgreSQL serialises them on the resource's row).
func TestOutboxSequenceUnderConcurrency(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		subscribe(t, s, evSupport)
		a := newApproval(s, evSupport, "refund")
		if _, _, err := s.RecordApproval(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.AppendAudit(ctx, auditEntry("approval.reminded", "approval", a.ID, evSupport,
					"approval:"+a.ID+":reminded:"+string(rune('a'+i)), s.Now()))
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		var seqs []int64
		for _, e := range events(t, s, evSupport) {
			seqs = append(seqs, e.Sequence)
		}
		slices.Sort(seqs)
		if !slices.Equal(seqs, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9}) {
			t.Fatalf("sequences %v, want 1 to 9 once each", seqs)
		}
	})
}

func ptr[T any](v T) *T { return &v }
