package store_test

import (
	"context"
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
