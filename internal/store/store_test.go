package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

func eachDialect(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { fn(t, storetest.Open(t, d)) })
	}
}

func newApproval(s *store.Store, tenant, title string) *store.Approval {
	now := s.Now()
	return &store.Approval{
		ID: store.NewID(), TenantID: tenant, Title: title, Status: store.StatusPending,
		Priority: store.PriorityMedium, RequestedBy: "agent-1", Metadata: store.MustJSON(map[string]any{"k": "v"}),
		CreatedAt: now, UpdatedAt: now,
	}
}

func createdEntry(a *store.Approval) *store.AuditLog {
	key := "approval:" + a.ID + ":created"
	return &store.AuditLog{
		EventKey: &key, Action: "approval.created", Resource: "approval", ResourceID: a.ID,
		UserID: a.RequestedBy, Channel: store.ChannelAPI, TenantID: a.TenantID,
		NewValues: store.MustJSON(map[string]string{"status": "pending"}), CreatedAt: a.CreatedAt,
	}
}

func TestRecordApprovalIsIdempotent(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := newApproval(s, "/teams/support", "refund")
		a.Conversation = &store.Conversation{AccountID: 1, ConversationID: 42}
		first, created, err := s.RecordApproval(ctx, a, createdEntry(a))
		if err != nil || !created {
			t.Fatalf("first insert: created=%v err=%v", created, err)
		}
		retry := *a
		if _, created, err := s.RecordApproval(ctx, &retry, createdEntry(a)); err != nil || created {
			t.Fatalf("retry: created=%v err=%v (a retry creates nothing)", created, err)
		}
		got, err := s.GetApproval(ctx, store.ScopeOf("/teams/support"), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Title != "refund" || got.Status != store.StatusPending || !got.CreatedAt.Equal(first.CreatedAt) {
			t.Fatalf("unexpected approval %+v", got)
		}
		if got.Conversation == nil || got.Conversation.ConversationID != 42 || string(got.Metadata) == "" {
			t.Fatalf("conversation/metadata not kept: %+v", got)
		}
		entries, err := s.ResourceAudit(ctx, store.ScopeOf("/teams/support"), "approval", a.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			t.Fatalf("want exactly 1 audit entry after a retry, got %d", len(entries))
		}
	})
}

func TestTenantIsolation(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := newApproval(s, "/teams/engineering", "secret")
		if _, _, err := s.RecordApproval(ctx, a, createdEntry(a)); err != nil {
			t.Fatal(err)
		}
		support := store.ScopeOf("u-1", "/teams/support")
		if _, err := s.GetApproval(ctx, support, a.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("other tenant's approval: want ErrNotFound, got %v", err)
		}
		if _, _, err := s.ListApprovals(ctx, support, store.ApprovalQuery{TenantID: "/teams/engineering"}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("listing a tenant outside the scope: want ErrNotFound, got %v", err)
		}
		if got, _ := s.ResourceAudit(ctx, support, "approval", a.ID, 10); len(got) != 0 {
			t.Fatalf("audit of another tenant leaked: %d entries", len(got))
		}
		if _, err := s.GetApproval(ctx, store.Scope{}, a.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("zero scope must match nothing, got %v", err)
		}
		if _, _, _, err := s.DecideApproval(ctx, store.Decision{ApprovalID: a.ID, TenantID: "/teams/support", Status: store.StatusApproved, DeciderID: "ceo"}, nil, nil); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deciding with the wrong tenant: want ErrNotFound, got %v", err)
		}
		for _, bad := range []string{"", "not-a-uuid", "1' OR '1'='1", "../../etc/passwd"} {
			if _, err := s.GetApproval(ctx, store.ScopeOf("/teams/engineering"), bad); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("id %q: want ErrNotFound, got %v", bad, err)
			}
		}
	})
}

func TestListApprovalsKeysetPagination(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var ids []string
		for i := 0; i < 7; i++ {
			a := newApproval(s, "/teams/support", fmt.Sprintf("a%d", i))
			// Two rows share a timestamp so the id breaks the tie.
			a.CreatedAt = base.Add(time.Duration(i/2) * time.Second)
			a.UpdatedAt = a.CreatedAt
			if i == 6 {
				a.Status = store.StatusApproved
			}
			if _, _, err := s.RecordApproval(ctx, a, nil); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, a.ID)
		}
		other := newApproval(s, "/teams/engineering", "x")
		if _, _, err := s.RecordApproval(ctx, other, nil); err != nil {
			t.Fatal(err)
		}
		scope := store.ScopeOf("/teams/support")
		var seen []string
		var cur *store.Cursor
		for pages := 0; ; pages++ {
			rows, next, err := s.ListApprovals(ctx, scope, store.ApprovalQuery{TenantID: "/teams/support", Limit: 3, Cursor: cur})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				seen = append(seen, r.ID)
			}
			if next == nil {
				break
			}
			decoded, err := store.DecodeCursor(next.Encode())
			if err != nil {
				t.Fatal(err)
			}
			cur = decoded
			if pages > 5 {
				t.Fatal("pagination does not end")
			}
		}
		if len(seen) != 7 {
			t.Fatalf("want 7 rows across pages, got %d", len(seen))
		}
		for i := range seen {
			if seen[i] != ids[6-i] {
				t.Fatalf("row %d: want %s, got %s (newest first)", i, ids[6-i], seen[i])
			}
		}
		pending, _, err := s.ListApprovals(ctx, scope, store.ApprovalQuery{TenantID: "/teams/support", Status: store.StatusPending})
		if err != nil || len(pending) != 6 {
			t.Fatalf("status filter: want 6, got %d (%v)", len(pending), err)
		}
	})
}

func TestDecideApproval(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := newApproval(s, "/teams/support", "refund")
		if _, _, err := s.RecordApproval(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
		d := store.Decision{ApprovalID: a.ID, TenantID: a.TenantID, Status: store.StatusApproved, DeciderID: "ceo", DeciderName: "The CEO", Comment: "ok"}
		key := "approval:" + a.ID + ":decided"
		entry := func() *store.AuditLog {
			return &store.AuditLog{EventKey: &key, Action: "approval.approved", Resource: "approval", ResourceID: a.ID,
				UserID: "ceo", TenantID: a.TenantID, CreatedAt: s.Now(),
				OldValues: store.MustJSON(map[string]string{"status": "pending"}), NewValues: store.MustJSON(map[string]string{"status": "approved"})}
		}
		consultation := func() *store.Consultation {
			now := s.Now()
			return &store.Consultation{ID: store.NewID(), Title: "refund", JitsiRoom: "consult-" + a.ID, Status: store.ConsultationScheduled,
				HostID: "ceo", ParticipantIDs: store.StringList{"agent-1", "ceo"}, ApprovalID: &a.ID, TenantID: a.TenantID, CreatedAt: now, UpdatedAt: now}
		}
		c := consultation()
		got, cons, decided, err := s.DecideApproval(ctx, d, entry(), c)
		if err != nil || !decided {
			t.Fatalf("decide: decided=%v err=%v", decided, err)
		}
		if got.Status != store.StatusApproved || got.ApprovedBy == nil || *got.ApprovedBy != "ceo" || got.Comment == nil || *got.Comment != "ok" || got.DecidedAt == nil {
			t.Fatalf("decision not applied: %+v", got)
		}
		if cons == nil || cons.ApprovalID == nil || *cons.ApprovalID != a.ID || len(cons.ParticipantIDs) != 2 {
			t.Fatalf("consultation not created: %+v", cons)
		}
		// A retry of the same activity: nothing new.
		if _, _, decided, err := s.DecideApproval(ctx, d, entry(), c); err != nil || decided {
			t.Fatalf("retry: decided=%v err=%v (a retry changes nothing)", decided, err)
		}
		entries, _ := s.ResourceAudit(ctx, store.ScopeOf(a.TenantID), "approval", a.ID, 10)
		if len(entries) != 1 {
			t.Fatalf("want 1 audit entry after retry, got %d", len(entries))
		}
		// A different decision later is a conflict.
		d2 := d
		d2.Status, d2.DeciderID = store.StatusRejected, "other"
		if _, _, _, err := s.DecideApproval(ctx, d2, nil, nil); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("second decision: want ErrConflict, got %v", err)
		}
		list, _, err := s.ListConsultations(ctx, store.ScopeOf(a.TenantID), store.ConsultationQuery{TenantID: a.TenantID})
		if err != nil || len(list) != 1 {
			t.Fatalf("want 1 consultation, got %d (%v)", len(list), err)
		}
	})
}

func TestConsultationTransitions(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := s.Now()
		c := &store.Consultation{ID: store.NewID(), Title: "call", JitsiRoom: "consult-abcdefghijklmnop", Status: store.ConsultationScheduled,
			HostID: "ceo", TenantID: "/teams/support", CreatedAt: now, UpdatedAt: now}
		if _, _, err := s.CreateConsultation(ctx, c, nil); err != nil {
			t.Fatal(err)
		}
		start := store.Transition{ConsultationID: c.ID, TenantID: c.TenantID, From: store.ConsultationScheduled, To: store.ConsultationActive, At: now}
		got, _, err := s.TransitionConsultation(ctx, start, nil)
		if err != nil || got.Status != store.ConsultationActive || got.StartedAt == nil {
			t.Fatalf("start: %+v %v", got, err)
		}
		if _, _, err := s.TransitionConsultation(ctx, start, nil); err != nil {
			t.Fatalf("repeated start must be a no-op: %v", err)
		}
		end := store.Transition{ConsultationID: c.ID, TenantID: c.TenantID, From: store.ConsultationActive, To: store.ConsultationEnded, At: now, Reason: "host"}
		if got, _, err = s.TransitionConsultation(ctx, end, nil); err != nil || got.EndedAt == nil || got.EndReason == nil || *got.EndReason != "host" {
			t.Fatalf("end: %+v %v", got, err)
		}
		if _, _, err := s.TransitionConsultation(ctx, start, nil); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("start after end: want ErrConflict, got %v", err)
		}
	})
}

func TestAppendAuditIdempotencyKey(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		key := "api:/teams/support:u1:abc"
		e := func() *store.AuditLog {
			return &store.AuditLog{EventKey: &key, Action: "note.added", Resource: "ticket", ResourceID: "7", UserID: "u1",
				TenantID: "/teams/support", CreatedAt: s.Now()}
		}
		first, err := s.AppendAudit(ctx, e())
		if err != nil {
			t.Fatal(err)
		}
		second, err := s.AppendAudit(ctx, e())
		if err != nil || second.ID != first.ID {
			t.Fatalf("retry must return the first entry: %v %v %v", first.ID, second, err)
		}
		rows, _, err := s.ListAudit(ctx, store.ScopeOf("/teams/support"), store.AuditQuery{TenantID: "/teams/support"})
		if err != nil || len(rows) != 1 {
			t.Fatalf("want 1 row, got %d (%v)", len(rows), err)
		}
		// The same key from another tenant must neither duplicate nor reveal.
		other := e()
		other.TenantID = "/teams/engineering"
		if _, err := s.AppendAudit(ctx, other); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("foreign key reuse: want ErrConflict, got %v", err)
		}
	})
}

func TestOnePendingEscalationPerConversation(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := newApproval(s, "/teams/support", "first")
		a.Conversation = &store.Conversation{AccountID: 1, ConversationID: 9}
		if _, _, err := s.RecordApproval(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
		b := newApproval(s, "/teams/support", "second")
		b.Conversation = &store.Conversation{AccountID: 1, ConversationID: 9}
		if _, _, err := s.RecordApproval(ctx, b, nil); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("second pending escalation: want ErrConflict, got %v", err)
		}
		got, err := s.PendingForConversation(ctx, store.ScopeOf("/teams/support"), *a.Conversation)
		if err != nil || got.ID != a.ID {
			t.Fatalf("pending lookup: %v %v", got, err)
		}
	})
}

func TestDecodeCursorRejectsGarbage(t *testing.T) {
	for _, c := range []string{"!!", "e30", "eyJ0IjoiMjAyNi0wMS0wMVQwMDowMDowMFoiLCJpIjoieCJ9", string(make([]byte, 500))} {
		if _, err := store.DecodeCursor(c); !errors.Is(err, store.ErrBadCursor) {
			t.Errorf("cursor %q: want ErrBadCursor, got %v", c, err)
		}
	}
}
