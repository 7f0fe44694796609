package domain_test

import (
	"testing"

	"github.com/orchestrator-dev/orchestrator/internal/domain"
)

func TestEventPatterns(t *testing.T) {
	for p, want := range map[string]bool{
		"approval.created": true, "approval.*": true, "consultation.*": true, "policy.*": true, "*": true,
		"approval.info_unanswered": true,
		"approval":                 false, "approval.": false, "approvals.*": false, "*.created": false, "approval.*.x": false,
		"": false, "Approval.created": false, "approval.created ": false,
	} {
		if got := domain.ValidEventPattern(p); got != want {
			t.Errorf("ValidEventPattern(%q) = %v, want %v", p, got, want)
		}
	}
	for _, c := range []struct {
		patterns []string
		typ      string
		want     bool
	}{
		{nil, "policy.updated", true},
		{[]string{}, "approval.created", true},
		{[]string{"*"}, "consultation.ended", true},
		{[]string{"approval.*"}, "approval.info_provided", true},
		{[]string{"approval.*"}, "consultation.created", false},
		{[]string{"approval.approved", "policy.updated"}, "policy.updated", true},
		{[]string{"approval.approved"}, "approval.rejected", false},
		{[]string{"consultation.*"}, "consultationx.created", false},
	} {
		if got := domain.EventMatches(c.patterns, c.typ); got != c.want {
			t.Errorf("EventMatches(%v, %s) = %v, want %v", c.patterns, c.typ, got, c.want)
		}
	}
}
