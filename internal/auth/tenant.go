package auth

import (
	"cmp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Tenant is a context a principal can act in: their own, or a Keycloak group
// under /teams/ or /organizations/.
type Tenant struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
	// CanApprove says whether the principal may decide escalations here.
	CanApprove bool `json:"canApprove"`
}

// Tenant types as the shell app expects them.
const (
	TenantIndividual   = "individual"
	TenantTeam         = "team"
	TenantOrganization = "organization"
)

const (
	teamPrefix = "/teams/"
	orgPrefix  = "/organizations/"

	// The groups claim is attacker-influenced only through Keycloak admins or
	// a compromised issuer, but tenant IDs end up in queries, logs and
	// responses, so the limits keep one odd token from becoming expensive.
	maxTenantGroups = 200
	maxGroupPath    = 256
)

// ResolveTenants lists the tenants of a subject: the personal tenant first,
// then teams, then organizations, each sorted by ID so that the order does not
// depend on how the issuer happened to order the claim. Groups that are not
// tenants, malformed paths and duplicates are skipped rather than rejected:
// one bad group must not lock a user out of the others.
//
// A group named approverSubgroup directly under a tenant's group
// ("/teams/support/approvers") is not a tenant of its own: its members belong
// to the parent tenant and approve there (CanApprove). An empty
// approverSubgroup turns that off.
//
// The personal tenant is left out when sub could be mistaken for a group path
// (it starts with "/"), because tenant IDs of both kinds share one namespace.
func ResolveTenants(sub string, groups []string, approverSubgroup string) []Tenant {
	tenants := make([]Tenant, 0, 1+min(len(groups), maxTenantGroups))
	if validSubject(sub) {
		tenants = append(tenants, Tenant{ID: sub, Name: "Personal", Type: TenantIndividual})
	}
	personal := len(tenants)

	index := make(map[string]int, min(len(groups), maxTenantGroups))
	for _, g := range groups {
		if len(tenants)-personal >= maxTenantGroups {
			break
		}
		approver := false
		if parent, ok := approversOf(g, approverSubgroup); ok {
			g, approver = parent, true
		}
		if i, dup := index[g]; dup {
			tenants[i].CanApprove = tenants[i].CanApprove || approver
			continue
		}
		t, ok := groupTenant(g)
		if !ok {
			continue
		}
		t.CanApprove = approver
		index[g] = len(tenants)
		tenants = append(tenants, t)
	}

	slices.SortFunc(tenants[personal:], func(a, b Tenant) int {
		if c := cmp.Compare(typeRank(a.Type), typeRank(b.Type)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return tenants
}

// approversOf returns the tenant whose approver subgroup path is, if it is one.
func approversOf(path, subgroup string) (string, bool) {
	if subgroup == "" {
		return "", false
	}
	parent, ok := strings.CutSuffix(path, "/"+subgroup)
	if !ok {
		return "", false
	}
	if _, isTenant := groupTenant(parent); !isTenant {
		return "", false
	}
	return parent, true
}

func typeRank(t string) int {
	if t == TenantTeam {
		return 0
	}
	return 1
}

func validSubject(sub string) bool {
	return sub != "" && len(sub) <= maxGroupPath && !strings.HasPrefix(sub, "/") && printable(sub)
}

// groupTenant maps one full group path to a tenant. Nested groups keep their
// full path as ID so that /teams/a/b and /teams/b stay distinct.
func groupTenant(path string) (Tenant, bool) {
	if len(path) > maxGroupPath || !printable(path) {
		return Tenant{}, false
	}
	var typ, rest string
	switch {
	case strings.HasPrefix(path, teamPrefix):
		typ, rest = TenantTeam, path[len(teamPrefix):]
	case strings.HasPrefix(path, orgPrefix):
		typ, rest = TenantOrganization, path[len(orgPrefix):]
	default:
		return Tenant{}, false
	}
	segments := strings.Split(rest, "/")
	for _, s := range segments {
		if strings.TrimSpace(s) == "" {
			return Tenant{}, false
		}
	}
	return Tenant{ID: path, Name: humanize(segments[len(segments)-1]), Type: typ}, true
}

// printable refuses invalid UTF-8 and control characters, which have no
// business in a group path and would otherwise reach logs and headers.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// humanize turns a slug such as "acme-corp" into "Acme Corp" for display.
func humanize(segment string) string {
	words := strings.FieldsFunc(segment, func(r rune) bool {
		return r == '-' || r == '_' || unicode.IsSpace(r)
	})
	if len(words) == 0 {
		return segment
	}
	for i, w := range words {
		r, size := utf8.DecodeRuneInString(w)
		words[i] = string(unicode.ToUpper(r)) + w[size:]
	}
	return strings.Join(words, " ")
}
