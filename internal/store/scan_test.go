package store_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// Approvals read with their own scan targets (PostgreSQL) must equal what
// GORM reads from the same rows, every column set and unset.
func TestApprovalScanMatchesGORM(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const tenant = "/teams/scan"
		bare := newApproval(s, tenant, "bare")
		bare.Metadata = store.JSON("{}")
		full := newApproval(s, tenant, "full")
		full.CreatedAt = full.CreatedAt.Add(time.Millisecond)
		full.UpdatedAt = full.CreatedAt
		full.Description, full.RequestedByName = "with every column", "Agent One"
		full.Conversation = &store.Conversation{AccountID: 7, ConversationID: 99}
		expires := full.CreatedAt.Add(72 * time.Hour)
		full.ExpiresAt = &expires
		for _, a := range []*store.Approval{bare, full} {
			if _, _, err := s.RecordApproval(ctx, a, createdEntry(a)); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, _, err := s.DecideApproval(ctx, store.Decision{ApprovalID: full.ID, TenantID: tenant, Status: store.StatusApproved,
			DeciderID: "ceo-1", DeciderName: "The CEO", Comment: "go"}, nil, nil); err != nil {
			t.Fatal(err)
		}

		listed, _, err := s.ListApprovals(ctx, store.ScopeOf(tenant), store.ApprovalQuery{TenantID: tenant, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		viaGORM, err := s.ApprovalsThroughGORMForTest(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		if len(listed) != 2 || !reflect.DeepEqual(listed, viaGORM) {
			t.Fatalf("scanned rows differ from GORM's:\nscanned %+v\ngorm    %+v", listed, viaGORM)
		}
		got := listed[0]
		if got.ID != full.ID || got.ApprovedBy == nil || *got.ApprovedBy != "ceo-1" || got.Comment == nil || *got.Comment != "go" ||
			got.DecidedAt == nil || got.ExpiresAt == nil || got.Conversation == nil || got.Conversation.ConversationID != 99 ||
			got.CreatedAt.Location() != time.UTC {
			t.Fatalf("decided approval read back incompletely: %+v", got)
		}
		if b := listed[1]; b.ApprovedBy != nil || b.Conversation != nil || b.ExpiresAt != nil || string(b.Metadata) != "{}" {
			t.Fatalf("bare approval read back with values it never had: %+v", b)
		}
	})
}
