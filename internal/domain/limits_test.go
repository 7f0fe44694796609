package domain_test

import (
	"strings"
	"testing"

	"github.com/orchestrator-dev/orchestrator/internal/domain"
)

func TestValidTenantID(t *testing.T) {
	for id, want := range map[string]bool{
		"/teams/support":         true,
		"":                       false,
		strings.Repeat("a", 256): true,
		strings.Repeat("a", 257): false,
		strings.Repeat("é", 128): true,  // 256 bytes
		strings.Repeat("é", 129): false, // 258 bytes: tenant ids count bytes
		"a\x1fb":                 false,
		"a\u0085b":               false,
		"a\xffb":                 false,
	} {
		if got := domain.ValidTenantID(id); got != want {
			t.Errorf("ValidTenantID(%q) = %v, want %v", id, got, want)
		}
	}
}

// A user id or name counts characters, as the varchar(256) column does.
func TestUserIDCountsCharacters(t *testing.T) {
	for id, want := range map[string]bool{
		"agent-1":                true,
		"":                       false,
		strings.Repeat("é", 256): true, // 512 bytes, 256 characters
		strings.Repeat("é", 257): false,
		"a\nb":                   false,
	} {
		if got := domain.ValidUserID(id); got != want {
			t.Errorf("ValidUserID(%q) = %v, want %v", id, got, want)
		}
	}
	if !domain.FitsUserID("") {
		t.Error("an absent name fits")
	}
}
