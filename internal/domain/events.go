package domain

import (
	"slices"
	"strings"
)

// Event types of events out (Standard Webhooks): one per state change the
// audit trail records, named as its audit action. Receivers and their
// subscriptions name them, so renaming one breaks integrations.
const (
	EventApprovalCreated        = "approval.created"
	EventApprovalApproved       = "approval.approved"
	EventApprovalRejected       = "approval.rejected"
	EventApprovalExpired        = "approval.expired"
	EventApprovalWithdrawn      = "approval.withdrawn"
	EventApprovalInfoRequested  = "approval.info_requested"
	EventApprovalInfoProvided   = "approval.info_provided"
	EventApprovalInfoUnanswered = "approval.info_unanswered"
	EventApprovalReminded       = "approval.reminded"
	EventConsultationCreated    = "consultation.created"
	EventConsultationStarted    = "consultation.started"
	EventConsultationEnded      = "consultation.ended"
	EventPolicyUpdated          = "policy.updated"
)

// EventTypes are every event type, in the order the documentation lists them.
var EventTypes = []string{
	EventApprovalCreated, EventApprovalApproved, EventApprovalRejected, EventApprovalExpired,
	EventApprovalWithdrawn, EventApprovalInfoRequested, EventApprovalInfoProvided,
	EventApprovalInfoUnanswered, EventApprovalReminded,
	EventConsultationCreated, EventConsultationStarted, EventConsultationEnded,
	EventPolicyUpdated,
}

// Limits of a subscription's event list.
const (
	// MaxEventPatterns bounds the types and patterns one subscription lists
	// (every event type, named one by one, fits).
	MaxEventPatterns = 20
	// MaxSubscriptionDescription bounds a subscription's description, in
	// characters (the column holds 500).
	MaxSubscriptionDescription = 500
)

// ValidEventPattern reports whether p selects events: an event type, a
// resource's wildcard ("approval.*") or every event ("*").
func ValidEventPattern(p string) bool {
	if p == "*" || slices.Contains(EventTypes, p) {
		return true
	}
	resource, ok := strings.CutSuffix(p, ".*")
	if !ok {
		return false
	}
	return slices.ContainsFunc(EventTypes, func(t string) bool { return strings.HasPrefix(t, resource+".") })
}

// EventMatches reports whether an event of type typ is selected by patterns;
// no patterns select every event.
func EventMatches(patterns []string, typ string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if p == "*" || p == typ {
			return true
		}
		if resource, ok := strings.CutSuffix(p, ".*"); ok && strings.HasPrefix(typ, resource+".") {
			return true
		}
	}
	return false
}
