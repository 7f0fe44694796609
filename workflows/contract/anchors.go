package contract

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// MaxAnchors bounds how many closed escalations AuditAnchors reads, newest
// first. Each anchor's hash commits to every entry before it, so the newest
// anchors already cover the older part of the chain; the bound keeps a
// verify of a busy tenant to a bounded number of history reads.
const MaxAnchors = 50

// AuditAnchors reads the audit chain heads that the tenant's completed
// escalations recorded in their results (EscalationState.AuditHead), newest
// first, at most limit of them. Escalations from before the anchors, or
// whose head could not be read, recorded none and are skipped. Finding them
// needs the TenantId search attribute (visibility); their results come from
// their histories, so an anchor lasts as long as the namespace's retention
// keeps the closed workflow.
//
// taskQueue, when set, keeps to the escalations of one deployment (one
// database) where several share a namespace.
func AuditAnchors(ctx context.Context, c client.Client, taskQueue, tenant string, limit int) ([]store.AuditAnchor, error) {
	if limit <= 0 {
		limit = MaxAnchors
	}
	query := fmt.Sprintf("WorkflowType = '%s' AND %s = '%s' AND ExecutionStatus = 'Completed'",
		EscalationWorkflow, TenantIDKey.GetName(), quoteVisibility(tenant))
	if taskQueue != "" {
		query += fmt.Sprintf(" AND TaskQueue = '%s'", quoteVisibility(taskQueue))
	}
	var out []store.AuditAnchor
	var token []byte
	read := 0
	for read < limit {
		page, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: query, PageSize: int32(min(limit-read, 100)), NextPageToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("list the escalations of %s: %w", tenant, err)
		}
		for _, ex := range page.GetExecutions() {
			read++
			var state EscalationState
			id, run := ex.GetExecution().GetWorkflowId(), ex.GetExecution().GetRunId()
			if err := c.GetWorkflow(ctx, id, run).Get(ctx, &state); err != nil {
				if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
					return nil, err
				}
				continue
			}
			if state.AuditHead != nil && state.AuditHead.Seq > 0 {
				out = append(out, store.AuditAnchor{AuditHead: *state.AuditHead, Source: id})
			}
			if read >= limit {
				break
			}
		}
		token = page.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	return out, nil
}

// quoteVisibility escapes a value for a single-quoted visibility literal.
func quoteVisibility(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s)
}
