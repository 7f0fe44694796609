package store

import (
	"strings"

	"github.com/orchestrator-dev/orchestrator/internal/domain"
)

// rlsSeparator joins tenant ids for the app.tenant_ids setting; tenant ids
// never contain control characters (ValidTenantID).
const rlsSeparator = "\x1f"

// Scope is the set of tenants a query may touch. The zero Scope matches
// nothing, so a forgotten scope fails closed.
type Scope struct {
	tenants []string
}

// ScopeOf builds a scope from tenant ids, dropping invalid ones.
func ScopeOf(tenantIDs ...string) Scope {
	out := make([]string, 0, len(tenantIDs))
	for _, t := range tenantIDs {
		if ValidTenantID(t) {
			out = append(out, t)
		}
	}
	return Scope{tenants: out}
}

// Narrow restricts the scope to one tenant, if it is in the scope.
func (s Scope) Narrow(tenantID string) (Scope, bool) {
	if !s.Contains(tenantID) {
		return Scope{}, false
	}
	return Scope{tenants: []string{tenantID}}, true
}

// Contains reports whether tenantID is in the scope.
func (s Scope) Contains(tenantID string) bool {
	for _, t := range s.tenants {
		if t == tenantID {
			return true
		}
	}
	return false
}

// Tenants returns a copy of the tenant ids.
func (s Scope) Tenants() []string { return append([]string(nil), s.tenants...) }

func (s Scope) empty() bool    { return len(s.tenants) == 0 }
func (s Scope) joined() string { return strings.Join(s.tenants, rlsSeparator) }

// ValidTenantID reports whether id can name a tenant (domain.ValidTenantID).
func ValidTenantID(id string) bool { return domain.ValidTenantID(id) }
