package auth

import (
	"encoding/json"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Principal is the authenticated caller, read from a verified access token.
type Principal struct {
	Subject string   `json:"sub"`
	Name    string   `json:"name"`
	Email   string   `json:"email"`
	Groups  []string `json:"groups"`
	Roles   []string `json:"roles"`
	// Approvers says where the principal may decide; DefaultApprovers when
	// nil. The verifier sets the configured rule.
	Approvers *Approvers `json:"-"`
}

// Approvers is the rule that makes a principal an approver in a tenant. It
// reads Keycloak's groups and roles only: authority is granted there, never
// edited here.
type Approvers struct {
	// Subgroup is the name of the group under a tenant's group whose
	// members approve in that tenant ("approvers": /teams/support/approvers).
	// Empty turns subgroups off.
	Subgroup string
	// Role, a realm role or a role of the API's client, makes its holders
	// approvers in every tenant they belong to, for single-company setups.
	// Empty turns it off.
	Role string
}

// DefaultApprovers is the rule when none is configured.
func DefaultApprovers() Approvers { return Approvers{Subgroup: "approvers", Role: "approver"} }

func (p *Principal) approvers() Approvers {
	if p.Approvers == nil {
		return DefaultApprovers()
	}
	return *p.Approvers
}

// Tenants lists the tenants the principal may act in, personal tenant first,
// each saying whether the principal may decide there.
func (p *Principal) Tenants() []Tenant {
	if p == nil {
		return nil
	}
	rule := p.approvers()
	tenants := ResolveTenants(p.Subject, p.Groups, rule.Subgroup)
	if p.HasRole(rule.Role) {
		for i := range tenants {
			tenants[i].CanApprove = true
		}
	}
	return tenants
}

// CanApprove reports whether the principal may decide escalations of tenantID.
func (p *Principal) CanApprove(tenantID string) bool {
	return tenantID != "" && slices.ContainsFunc(p.Tenants(), func(t Tenant) bool { return t.ID == tenantID && t.CanApprove })
}

// TenantIDs is Tenants reduced to IDs, handy for "tenant_id IN (...)" filters.
func (p *Principal) TenantIDs() []string {
	tenants := p.Tenants()
	ids := make([]string, len(tenants))
	for i, t := range tenants {
		ids[i] = t.ID
	}
	return ids
}

// MemberOf reports whether tenantID is one of the principal's tenants. It
// goes through ResolveTenants so that membership follows exactly the same
// rules as the tenant list the shell app shows.
func (p *Principal) MemberOf(tenantID string) bool {
	if tenantID == "" {
		return false
	}
	return slices.ContainsFunc(p.Tenants(), func(t Tenant) bool { return t.ID == tenantID })
}

// HasRole reports whether the principal holds role as a realm role or as a
// role of the API's own client.
func (p *Principal) HasRole(role string) bool {
	if p == nil || role == "" {
		return false
	}
	return slices.Contains(p.Roles, role)
}

// accessClaims is the part of a Keycloak access token the API reads.
type accessClaims struct {
	Subject           string     `json:"sub"`
	Type              string     `json:"typ"`
	Name              string     `json:"name"`
	PreferredUsername string     `json:"preferred_username"`
	Email             string     `json:"email"`
	Groups            stringList `json:"groups"`
	RealmAccess       struct {
		Roles stringList `json:"roles"`
	} `json:"realm_access"`
	ResourceAccess map[string]struct {
		Roles stringList `json:"roles"`
	} `json:"resource_access"`
}

// principal builds the Principal; client roles count only for the API's own
// client so that roles granted for other applications do not leak in.
func (c *accessClaims) principal(audience string, rule Approvers) *Principal {
	name := c.Name
	if name == "" {
		name = c.PreferredUsername
	}
	name = displayName(name)
	roles := slices.Clone([]string(c.RealmAccess.Roles))
	if client, ok := c.ResourceAccess[audience]; ok {
		roles = append(roles, client.Roles...)
	}
	roles = slices.DeleteFunc(roles, func(r string) bool { return r == "" })
	slices.Sort(roles)
	// Empty rather than nil lists, so that JSON clients get [] and not null.
	return &Principal{
		Subject:   c.Subject,
		Name:      name,
		Email:     c.Email,
		Groups:    append([]string{}, c.Groups...),
		Roles:     append([]string{}, slices.Compact(roles)...),
		Approvers: &rule,
	}
}

// stringList accepts a single string where a list is expected: a Keycloak
// mapper with "multivalued" off emits one, and refusing the whole token over
// it would lock users out for a cosmetic misconfiguration.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*l = nil
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = nil
		if one != "" {
			*l = stringList{one}
		}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*l = many
	return nil
}

// maxNameChars is what the database stores of a person's name.
const maxNameChars = 256

// displayName makes a name claim fit where it is stored and shown: no
// control characters or invalid UTF-8, at most maxNameChars. A long or odd
// display name in Keycloak must not refuse every decision its owner makes.
func displayName(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) {
			continue
		}
		if n == maxNameChars {
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
