package activities_test

import (
	"context"
	"testing"

	"github.com/orchestrator-dev/orchestrator/activities"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/internal/store/storetest"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// BenchmarkEscalationWrites is the database work of one escalation: record
// (approval + audit) and decide (approval + audit + consultation), on each
// backend; allocations per escalation are reported.
func BenchmarkEscalationWrites(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			st := storetest.Open(b, d)
			acts := &activities.Activities{Store: st}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ap := store.Approval{ID: store.NewID(), TenantID: "/teams/support", Title: "bench", Priority: store.PriorityHigh,
					RequestedBy: "agent-1", Metadata: store.JSON("{}")}
				if _, err := acts.RecordApproval(ctx, activities.RecordApprovalInput{Approval: contract.ApprovalOf(ap), Actor: contract.Actor{ID: "agent-1"}}); err != nil {
					b.Fatal(err)
				}
				approvalID := ap.ID
				_, err := acts.ApplyDecision(ctx, activities.ApplyDecisionInput{
					ApprovalID: ap.ID, TenantID: ap.TenantID, Status: store.StatusApproved, Decider: contract.Actor{ID: "ceo-1"},
					Consultation: &contract.Consultation{ID: store.NewID(), Title: "bench", JitsiRoom: "consult-" + store.NewID(),
						Status: store.ConsultationScheduled, HostID: "ceo-1", ApprovalID: &approvalID, TenantID: ap.TenantID},
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
