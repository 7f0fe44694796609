package store_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// An event's data is the resource as the API returns it right after the
// change, field by field, plus its sequence: the approval as GET
// /api/approvals/:id reads it, the consultation without its room (as
// anyone who is not a participant reads it), the policy as stored.
func TestOutboxDataIsTheResourceAsRead(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		scope := store.ScopeOf(evSupport)
		subscribe(t, s, evSupport)
		asJSON := func(v any) map[string]any {
			t.Helper()
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			return m
		}
		var want []map[string]any
		approval := func(id string) {
			t.Helper()
			a, err := s.GetApproval(ctx, scope, id)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, asJSON(a))
		}
		consultation := func(id string) {
			t.Helper()
			c, err := s.GetConsultation(ctx, scope, id)
			if err != nil {
				t.Fatal(err)
			}
			m := asJSON(c)
			delete(m, "jitsiRoom")
			want = append(want, m)
		}

		a := newApproval(s, evSupport, "refund")
		a.Conversation = &store.Conversation{AccountID: 1, ConversationID: 42}
		if _, _, err := s.RecordApproval(ctx, a, createdEntry(a)); err != nil {
			t.Fatal(err)
		}
		approval(a.ID)
		future := s.Now().Add(time.Hour)
		c := store.StatusChange{ApprovalID: a.ID, TenantID: evSupport, From: []string{store.StatusPending}, To: store.StatusInfoRequested, ExpiresAt: &future}
		if _, _, err := s.ChangeStatus(ctx, c, auditEntry("approval.info_requested", "approval", a.ID, evSupport, "q1", s.Now())); err != nil {
			t.Fatal(err)
		}
		approval(a.ID)
		c = store.StatusChange{ApprovalID: a.ID, TenantID: evSupport, From: []string{store.StatusInfoRequested}, To: store.StatusPending}
		if _, _, err := s.ChangeStatus(ctx, c, auditEntry("approval.info_provided", "approval", a.ID, evSupport, "a1", s.Now())); err != nil {
			t.Fatal(err)
		}
		approval(a.ID)
		if _, err := s.AppendAudit(ctx, auditEntry("approval.reminded", "approval", a.ID, evSupport, "r1", s.Now())); err != nil {
			t.Fatal(err)
		}
		approval(a.ID)
		now := s.Now()
		cons := &store.Consultation{ID: store.NewID(), Title: "refund", JitsiRoom: "room-" + a.ID, Status: store.ConsultationScheduled,
			HostID: "ceo-1", ParticipantIDs: store.StringList{"ceo-1", "agent-1"}, ApprovalID: &a.ID, TenantID: evSupport,
			CreatedAt: now, UpdatedAt: now, ScheduledAt: &now}
		d := store.Decision{ApprovalID: a.ID, TenantID: evSupport, Status: store.StatusApproved, DeciderID: "ceo-1", DeciderName: "Casey", Comment: "go"}
		if _, _, _, err := s.DecideApproval(ctx, d, auditEntry("approval.approved", "approval", a.ID, evSupport, "d1", now), cons); err != nil {
			t.Fatal(err)
		}
		approval(a.ID)
		consultation(cons.ID)
		for _, to := range []string{store.ConsultationActive, store.ConsultationEnded} {
			from := map[string]string{store.ConsultationActive: store.ConsultationScheduled, store.ConsultationEnded: store.ConsultationActive}[to]
			tr := store.Transition{ConsultationID: cons.ID, TenantID: evSupport, From: from, To: to, At: s.Now(), Reason: "host"}
			if _, _, err := s.TransitionConsultation(ctx, tr, nil); err != nil {
				t.Fatal(err)
			}
			consultation(cons.ID)
		}
		for _, ttl := range []time.Duration{24 * time.Hour, 12 * time.Hour} {
			p := store.Policy{TenantID: evSupport, DefaultTTL: ttl, MaxTTL: 48 * time.Hour, Reminders: []time.Duration{2 * time.Hour, time.Hour}, UpdatedBy: "ceo-1"}
			if _, err := s.PutPolicy(ctx, p, &store.AuditLog{UserID: "ceo-1", Channel: store.ChannelAPI}); err != nil {
				t.Fatal(err)
			}
			stored, _, err := s.GetPolicy(ctx, scope, evSupport)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, asJSON(stored.View(store.PolicySourceTenant)))
		}

		evs := events(t, s, evSupport)
		if len(evs) != len(want) {
			t.Fatalf("events %v, want %d", eventTypes(evs), len(want))
		}
		for i, e := range evs {
			got := body(t, e).Data
			if got["sequence"] != float64(e.Sequence) {
				t.Errorf("%s: sequence %v, recorded %d", e.Type, got["sequence"], e.Sequence)
			}
			delete(got, "sequence")
			if !reflect.DeepEqual(got, want[i]) {
				for k := range merge(got, want[i]) {
					if !reflect.DeepEqual(got[k], want[i][k]) {
						t.Errorf("%s #%d: data.%s = %v, the resource as read has %v", e.Type, e.Sequence, k, got[k], want[i][k])
					}
				}
			}
		}
	})
}

func merge(a, b map[string]any) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}
