package activities

import (
	"context"

	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// AuditHead reads the tenant's audit chain head when an escalation ends:
// the workflow returns it in its result, which keeps it in Temporal's
// history as an anchor of the chain outside the database (docs/audit.md).
func (a *Activities) AuditHead(ctx context.Context, tenant string) (*store.AuditHead, error) {
	head, err := a.Store.AuditHeadOf(ctx, tenant)
	if err != nil {
		return nil, classify("read the audit chain head", err)
	}
	return &head, nil
}
