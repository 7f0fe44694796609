package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
)

// BenchmarkListApprovals times one page of a tenant's approvals through the
// store (scope declared to row-level security on PostgreSQL) on each backend.
func BenchmarkListApprovals(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			s := storetest.Open(b, d)
			ctx := context.Background()
			base := time.Now().Add(-time.Hour).UTC()
			for i := 0; i < 2000; i++ {
				a := newApproval(s, fmt.Sprintf("/teams/t%02d", i%20), "bench")
				a.CreatedAt = base.Add(time.Duration(i) * time.Millisecond)
				a.UpdatedAt = a.CreatedAt
				if _, _, err := s.RecordApproval(ctx, a, nil); err != nil {
					b.Fatal(err)
				}
			}
			scope := store.ScopeOf("u-1", "/teams/t07")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rows, _, err := s.ListApprovals(ctx, scope, store.ApprovalQuery{TenantID: "/teams/t07"})
				if err != nil || len(rows) != 50 {
					b.Fatalf("%d rows, %v", len(rows), err)
				}
			}
		})
	}
}
