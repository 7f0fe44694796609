package app

import (
	"context"
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/orchestrator-dev/orchestrator/internal/config"
	"github.com/orchestrator-dev/orchestrator/internal/retention"
)

// ensureRetentionSchedule creates (or brings up to date) the schedule that
// prunes webhook deliveries. A worker that cannot reach it still starts, the
// next start tries again: the dedupe table only grows meanwhile, and the
// failure is logged as an error for the operator.
func ensureRetentionSchedule(ctx context.Context, cfg *config.Config, tc client.Client, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	id := retention.ScheduleID(cfg.TemporalTaskQueue)
	did, err := retention.EnsureSchedule(ctx, tc.ScheduleClient(), cfg.TemporalTaskQueue, cfg.WebhookDedupeRetention)
	if err != nil {
		log.Error("webhook delivery retention schedule not ensured", "schedule", id, "error", err.Error())
		return
	}
	log.Info("webhook delivery retention schedule", "schedule", id, "state", did, "retention", cfg.WebhookDedupeRetention.String())
}
