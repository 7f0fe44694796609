package store_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// "Which room did this approval open?": the list filtered by approval id
// returns that approval's consultation and nothing else, and only within the
// tenant asked for.
func TestListConsultationsByApproval(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		// opened records an approval of tenant and, when room is set, the
		// consultation it opened.
		opened := func(tenant string, room bool) (approvalID, consultationID string) {
			t.Helper()
			a := newApproval(s, tenant, "refund")
			if _, _, err := s.RecordApproval(ctx, a, nil); err != nil {
				t.Fatal(err)
			}
			if !room {
				return a.ID, ""
			}
			now := s.Now()
			c, _, err := s.CreateConsultation(ctx, &store.Consultation{ID: store.NewID(), Title: "refund", JitsiRoom: "consult-" + a.ID,
				Status: store.ConsultationScheduled, HostID: "ceo", ApprovalID: &a.ID, TenantID: tenant, CreatedAt: now, UpdatedAt: now}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return a.ID, c.ID
		}
		const support, engineering = "/teams/support", "/teams/engineering"
		first, firstRoom := opened(support, true)
		_, _ = opened(support, true) // another room of the same tenant
		withoutRoom, _ := opened(support, false)
		foreign, foreignRoom := opened(engineering, true)
		now := s.Now()
		if _, _, err := s.CreateConsultation(ctx, &store.Consultation{ID: store.NewID(), Title: "ad hoc", JitsiRoom: "consult-adhoc",
			Status: store.ConsultationScheduled, HostID: "ceo", TenantID: support, CreatedAt: now, UpdatedAt: now}, nil); err != nil {
			t.Fatal(err)
		}

		list := func(scope store.Scope, tenant, approval string) []store.Consultation {
			t.Helper()
			rows, next, err := s.ListConsultations(ctx, scope, store.ConsultationQuery{TenantID: tenant, ApprovalID: approval})
			if err != nil {
				t.Fatalf("list %s approvalId=%q: %v", tenant, approval, err)
			}
			if next != nil {
				t.Fatalf("list %s approvalId=%q: a filtered list has at most one row, got a next cursor", tenant, approval)
			}
			return rows
		}
		if all := list(store.ScopeOf(support), support, ""); len(all) != 3 {
			t.Fatalf("unfiltered list of %s: want 3 consultations, got %d", support, len(all))
		}
		got := list(store.ScopeOf(support), support, first)
		if len(got) != 1 || got[0].ID != firstRoom || got[0].ApprovalID == nil || *got[0].ApprovalID != first {
			t.Fatalf("approvalId=%s: want exactly consultation %s, got %+v", first, firstRoom, got)
		}
		if got := list(store.ScopeOf(support), support, strings.ToUpper(first)); len(got) != 1 || got[0].ID != firstRoom {
			t.Fatalf("approvalId in upper case: want %s on every backend, got %+v", firstRoom, got)
		}
		if got := list(store.ScopeOf(support), support, withoutRoom); len(got) != 0 {
			t.Fatalf("an approval that opened no room: want nothing, got %+v", got)
		}
		// Another tenant's approval id names a real room, but not one of
		// this tenant's: nothing, even for a caller who belongs to both.
		both := store.ScopeOf(support, engineering)
		if got := list(both, support, foreign); len(got) != 0 {
			t.Fatalf("another tenant's approval id under %s: want nothing, got %+v", support, got)
		}
		if got := list(both, engineering, foreign); len(got) != 1 || got[0].ID != foreignRoom {
			t.Fatalf("the same id under its own tenant: want %s, got %+v", foreignRoom, got)
		}
		for _, bad := range []string{"not-a-uuid", "1' OR '1'='1", first + "x"} {
			if got := list(store.ScopeOf(support), support, bad); len(got) != 0 {
				t.Fatalf("approvalId %q: want nothing, got %+v", bad, got)
			}
		}
	})
}

// workflow_id, the workflow that runs a consultation when it is not its own,
// is stored and read back on every backend, by each write that inserts a
// consultation and each read; nil stays nil. It is an internal address:
// neither the row's JSON nor an event's data carries it.
func TestConsultationWorkflowIDRoundTrips(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		scope := store.ScopeOf(evSupport)
		subscribe(t, s, evSupport)
		a := newApproval(s, evSupport, "refund")
		if _, _, err := s.RecordApproval(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
		owner := "escalation-" + a.ID
		now := s.Now()
		born := &store.Consultation{ID: store.NewID(), Title: "refund", JitsiRoom: "room-" + a.ID, Status: store.ConsultationScheduled,
			HostID: "ceo-1", ParticipantIDs: store.StringList{"ceo-1", "agent-1"}, ApprovalID: &a.ID, TenantID: evSupport,
			CreatedAt: now, UpdatedAt: now, WorkflowID: &owner}
		d := store.Decision{ApprovalID: a.ID, TenantID: evSupport, Status: store.StatusApproved, DeciderID: "ceo-1", DeciderName: "Casey", Comment: "go"}
		_, decided, _, err := s.DecideApproval(ctx, d, nil, born)
		if err != nil {
			t.Fatal(err)
		}
		own, _, err := s.CreateConsultation(ctx, &store.Consultation{ID: store.NewID(), Title: "ad hoc", JitsiRoom: "room-adhoc",
			Status: store.ConsultationScheduled, HostID: "ceo-1", TenantID: evSupport, CreatedAt: now, UpdatedAt: now}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if own.WorkflowID != nil {
			t.Fatalf("a consultation created without a workflow id reads back %q", *own.WorkflowID)
		}
		check := func(how string, c *store.Consultation) {
			t.Helper()
			if c == nil || c.WorkflowID == nil || *c.WorkflowID != owner {
				t.Fatalf("%s: workflow id %v, want %q", how, c, owner)
			}
		}
		check("as decided", decided)
		got, err := s.GetConsultation(ctx, scope, born.ID)
		if err != nil {
			t.Fatal(err)
		}
		check("get", got)
		rows, _, err := s.ListConsultations(ctx, scope, store.ConsultationQuery{TenantID: evSupport, ApprovalID: a.ID})
		if err != nil || len(rows) != 1 {
			t.Fatalf("list by approval: %v %v", rows, err)
		}
		check("list", &rows[0])
		tr := store.Transition{ConsultationID: born.ID, TenantID: evSupport, From: store.ConsultationScheduled, To: store.ConsultationActive, At: s.Now()}
		started, _, err := s.TransitionConsultation(ctx, tr, nil)
		if err != nil {
			t.Fatal(err)
		}
		check("after a transition", started)

		if b, _ := json.Marshal(got); strings.Contains(string(b), owner) || strings.Contains(string(b), "workflowId") {
			t.Errorf("the row's JSON shows its workflow: %s", b)
		}
		seen := 0
		for _, e := range events(t, s, evSupport) {
			if e.Resource != store.ResourceConsultation || e.ResourceID != born.ID {
				continue
			}
			seen++
			if strings.Contains(e.Body, owner) || strings.Contains(e.Body, "workflow") {
				t.Errorf("%s: the event's data shows the consultation's workflow: %s", e.Type, e.Body)
			}
		}
		if seen != 2 {
			t.Fatalf("%d events of the consultation, want created and started", seen)
		}
	})
}
