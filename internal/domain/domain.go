// Package domain holds the escalation's words and rules that every layer
// shares: statuses, priorities, channels, the limits of what a person may
// write, what a tenant id is, an approval policy's rules, and the one table
// of which change an escalation takes in which status from whom.
//
// It imports nothing of the project, so the store, the Temporal contract,
// the configuration and the API all read it without reaching around each
// other. Values here are stored in rows, audit entries and workflow
// histories: renaming one breaks running escalations.
package domain

// Approval statuses.
const (
	StatusPending = "pending"
	// StatusInfoRequested: an approver asked the requester a question; the
	// deadline and reminders pause until the answer.
	StatusInfoRequested = "info_requested"
	StatusApproved      = "approved"
	StatusRejected      = "rejected"
	// StatusExpired: nobody decided before the deadline. Never an approval.
	StatusExpired = "expired"
	// StatusWithdrawn: the requester took the escalation back.
	StatusWithdrawn = "withdrawn"
)

// Statuses are every status an approval can have.
var Statuses = []string{StatusPending, StatusInfoRequested, StatusApproved, StatusRejected, StatusExpired, StatusWithdrawn}

// Waiting are the statuses of an escalation that can still be decided.
var Waiting = []string{StatusPending, StatusInfoRequested}

// Priorities.
const (
	PriorityLow    = "low"
	PriorityMedium = "medium"
	PriorityHigh   = "high"
)

// Consultation statuses.
const (
	ConsultationScheduled = "scheduled"
	ConsultationActive    = "active"
	ConsultationEnded     = "ended"
)

// Audit channels: where an action came from.
const (
	// ChannelAPI: the orchestrator's API did it for an authenticated caller.
	ChannelAPI = "api"
	// ChannelAPIClient: a service wrote this entry through POST /api/audit;
	// the API vouches for who sent it, not for what it says.
	ChannelAPIClient = "api-client"
	// ChannelMatrix and ChannelChatwoot: a command from that integration.
	ChannelMatrix   = "matrix"
	ChannelChatwoot = "chatwoot"
	// ChannelOps: a decision that reached the workflow through Temporal
	// without the proof the orchestrator's own channels attach (the
	// Temporal UI or CLI); ChannelOpsSignal: one sent as a signal.
	ChannelOps       = "ops"
	ChannelOpsSignal = "ops-signal"
	ChannelWebhook   = "webhook"
	ChannelSystem    = "system"
)
