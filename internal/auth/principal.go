package auth

import (
	"encoding/json"
	"slices"
)

// Principal is the authenticated caller, read from a verified access token.
type Principal struct {
	Subject string   `json:"sub"`
	Name    string   `json:"name"`
	Email   string   `json:"email"`
	Groups  []string `json:"groups"`
	Roles   []string `json:"roles"`
}

// Tenants lists the tenants the principal may act in, personal tenant first.
func (p *Principal) Tenants() []Tenant {
	if p == nil {
		return nil
	}
	return ResolveTenants(p.Subject, p.Groups)
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
func (c *accessClaims) principal(audience string) *Principal {
	name := c.Name
	if name == "" {
		name = c.PreferredUsername
	}
	roles := slices.Clone([]string(c.RealmAccess.Roles))
	if client, ok := c.ResourceAccess[audience]; ok {
		roles = append(roles, client.Roles...)
	}
	roles = slices.DeleteFunc(roles, func(r string) bool { return r == "" })
	slices.Sort(roles)
	// Empty rather than nil lists, so that JSON clients get [] and not null.
	return &Principal{
		Subject: c.Subject,
		Name:    name,
		Email:   c.Email,
		Groups:  append([]string{}, c.Groups...),
		Roles:   append([]string{}, slices.Compact(roles)...),
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
