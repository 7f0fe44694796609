package auth

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestResolveTenants(t *testing.T) {
	const sub = "user-123"
	personal := Tenant{ID: sub, Name: "Personal", Type: TenantIndividual}
	many := make([]string, 0, 1000)
	for i := range 1000 {
		many = append(many, fmt.Sprintf("/teams/t%04d", i))
	}

	tests := []struct {
		name   string
		sub    string
		groups []string
		want   []Tenant
	}{
		{
			name:   "architecture example",
			sub:    sub,
			groups: []string{"/teams/engineering", "/organizations/acme-corp"},
			want: []Tenant{
				personal,
				{ID: "/teams/engineering", Name: "Engineering", Type: TenantTeam},
				{ID: "/organizations/acme-corp", Name: "Acme Corp", Type: TenantOrganization},
			},
		},
		{
			name: "no groups",
			sub:  sub,
			want: []Tenant{personal},
		},
		{
			name:   "stable order: teams then organizations, each by ID",
			sub:    sub,
			groups: []string{"/organizations/zeta", "/teams/sales", "/organizations/acme-corp", "/teams/engineering"},
			want: []Tenant{
				personal,
				{ID: "/teams/engineering", Name: "Engineering", Type: TenantTeam},
				{ID: "/teams/sales", Name: "Sales", Type: TenantTeam},
				{ID: "/organizations/acme-corp", Name: "Acme Corp", Type: TenantOrganization},
				{ID: "/organizations/zeta", Name: "Zeta", Type: TenantOrganization},
			},
		},
		{
			name:   "nested group keeps its full path",
			sub:    sub,
			groups: []string{"/teams/a/b"},
			want:   []Tenant{personal, {ID: "/teams/a/b", Name: "B", Type: TenantTeam}},
		},
		{
			name:   "slug words",
			sub:    sub,
			groups: []string{"/teams/level_2-support", "/organizations/école"},
			want: []Tenant{
				personal,
				{ID: "/teams/level_2-support", Name: "Level 2 Support", Type: TenantTeam},
				{ID: "/organizations/école", Name: "École", Type: TenantOrganization},
			},
		},
		{
			name: "other and malformed groups are ignored",
			sub:  sub,
			groups: []string{
				"/teams/", "/teams", "/organizations/", "/teams//x", "/teams/x/", "/teams/ ",
				"teams/support", "/Teams/support", "/admins", "", "/", "offline_access",
				"/teams/bad\xff", "/teams/new\nline", "/teams/" + strings.Repeat("a", 300),
			},
			want: []Tenant{personal},
		},
		{
			name:   "duplicates collapse",
			sub:    sub,
			groups: []string{"/teams/support", "/teams/support", "/teams/support"},
			want:   []Tenant{personal, {ID: "/teams/support", Name: "Support", Type: TenantTeam}},
		},
		{
			name:   "slug of separators keeps the raw segment",
			sub:    sub,
			groups: []string{"/teams/--"},
			want:   []Tenant{personal, {ID: "/teams/--", Name: "--", Type: TenantTeam}},
		},
		{
			name:   "subject that looks like a group gets no personal tenant",
			sub:    "/teams/support",
			groups: []string{"/teams/engineering"},
			want:   []Tenant{{ID: "/teams/engineering", Name: "Engineering", Type: TenantTeam}},
		},
		{
			name: "empty subject gets no personal tenant",
			want: []Tenant{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ResolveTenants(tt.sub, tt.groups, "approvers")
			if !slices.Equal(got, tt.want) {
				t.Fatalf("ResolveTenants(%q, %q)\n got %+v\nwant %+v", tt.sub, tt.groups, got, tt.want)
			}
		})
	}

	t.Run("group count is capped", func(t *testing.T) {
		got := ResolveTenants(sub, many, "approvers")
		if len(got) != 1+maxTenantGroups {
			t.Fatalf("got %d tenants, want %d", len(got), 1+maxTenantGroups)
		}
		if got[0] != personal || got[1].ID != "/teams/t0000" || got[maxTenantGroups].ID != "/teams/t0199" {
			t.Fatalf("cap kept the wrong groups: first %v, last %v", got[1], got[maxTenantGroups])
		}
	})
}

func FuzzResolveTenants(f *testing.F) {
	f.Add("user-123", "/teams/engineering\n/organizations/acme-corp")
	f.Add("user-123", "/teams/\n/teams//a\n/teams/a/b\n/teams/a/b")
	f.Add("/teams/x", "/teams/x")
	f.Add("", "/organizations/a-b_c d")
	f.Add("sub", "/teams/\xff\n/organizations/\x00")
	f.Add("sub", "/teams/-\n/teams/ \n/organizations/é")
	f.Fuzz(func(t *testing.T, sub, joined string) {
		groups := strings.Split(joined, "\n")
		tenants := ResolveTenants(sub, groups, "approvers")

		if validSubject(sub) {
			if len(tenants) == 0 || tenants[0] != (Tenant{ID: sub, Name: "Personal", Type: TenantIndividual}) {
				t.Fatalf("personal tenant missing or not first: %+v", tenants)
			}
		}
		if len(tenants) > 1+maxTenantGroups {
			t.Fatalf("%d tenants exceed the cap", len(tenants))
		}
		seen := map[string]bool{}
		for i, tn := range tenants {
			if seen[tn.ID] {
				t.Fatalf("duplicate tenant %q", tn.ID)
			}
			seen[tn.ID] = true
			if !utf8.ValidString(tn.ID) || !utf8.ValidString(tn.Name) || tn.Name == "" || len(tn.ID) > maxGroupPath {
				t.Fatalf("bad tenant %+v", tn)
			}
			switch {
			case tn.Type == TenantIndividual:
				if i != 0 || tn.ID != sub {
					t.Fatalf("individual tenant %+v at %d", tn, i)
				}
			case tn.Type == TenantTeam && strings.HasPrefix(tn.ID, teamPrefix):
			case tn.Type == TenantOrganization && strings.HasPrefix(tn.ID, orgPrefix):
			default:
				t.Fatalf("tenant %+v is neither the subject nor a team or organization", tn)
			}
			if tn.Type != TenantIndividual && !slices.Contains(groups, tn.ID) {
				t.Fatalf("tenant %q is not one of the groups", tn.ID)
			}
		}
		if !slices.Equal(tenants, ResolveTenants(sub, groups, "approvers")) {
			t.Fatal("ResolveTenants is not deterministic")
		}
	})
}
