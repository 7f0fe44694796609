package auth

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestApproverSubgroupsGrantPerTenant(t *testing.T) {
	p := &Principal{Subject: "u-1", Groups: []string{"/teams/support", "/teams/engineering/approvers"}, Roles: []string{"approver"},
		Approvers: &Approvers{Subgroup: "approvers"}} // the realm role is switched off
	if !p.MemberOf("/teams/engineering") || !p.CanApprove("/teams/engineering") {
		t.Fatal("the approvers subgroup must make its members members and approvers of the parent tenant")
	}
	if !p.MemberOf("/teams/support") || p.CanApprove("/teams/support") {
		t.Fatal("a plain member must not approve")
	}
	if p.MemberOf("/teams/engineering/approvers") {
		t.Fatal("the approvers subgroup is not a tenant of its own")
	}
	if p.CanApprove("u-1") {
		t.Fatal("no approver authority in the personal tenant without the role")
	}
}

func TestApproverRoleGrantsInEveryTenant(t *testing.T) {
	p := &Principal{Subject: "u-1", Groups: []string{"/teams/support", "/organizations/acme"}, Roles: []string{"approver"}}
	for _, tenant := range []string{"/teams/support", "/organizations/acme", "u-1"} {
		if !p.CanApprove(tenant) {
			t.Fatalf("the approver role must grant in %s (default rule)", tenant)
		}
	}
	if p.CanApprove("/teams/finance") {
		t.Fatal("no authority outside the principal's tenants")
	}
	off := &Principal{Subject: "u-1", Groups: []string{"/teams/support"}, Roles: []string{"approver"}, Approvers: &Approvers{Subgroup: "approvers"}}
	if off.CanApprove("/teams/support") {
		t.Fatal("APPROVER_ROLE= empty must switch the role grant off")
	}
}

func TestApproverSubgroupOffIsANestedTenant(t *testing.T) {
	p := &Principal{Subject: "u-1", Groups: []string{"/teams/engineering/approvers"}, Approvers: &Approvers{}}
	if !p.MemberOf("/teams/engineering/approvers") || p.MemberOf("/teams/engineering") || p.CanApprove("/teams/engineering/approvers") {
		t.Fatalf("with subgroups off, a nested group is an ordinary tenant: %+v", p.Tenants())
	}
}

func TestApproverSubgroupNeedsATenantParent(t *testing.T) {
	got := ResolveTenants("u-1", []string{"/teams/approvers", "/other/approvers", "/teams/a/approvers", "/teams/a"}, "approvers")
	want := []Tenant{
		{ID: "u-1", Name: "Personal", Type: TenantIndividual},
		{ID: "/teams/a", Name: "A", Type: TenantTeam, CanApprove: true},
		{ID: "/teams/approvers", Name: "Approvers", Type: TenantTeam},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
}

func TestNameClaimFitsWhereItIsStored(t *testing.T) {
	c := accessClaims{Subject: "u-1", Name: "A\x00B\u0085" + strings.Repeat("é", 300)}
	p := c.principal("api", DefaultApprovers())
	if n := utf8.RuneCountInString(p.Name); n != maxNameChars || strings.ContainsAny(p.Name, "\x00\u0085") || !strings.HasPrefix(p.Name, "ABé") {
		t.Fatalf("name of %d characters: %q", n, p.Name[:10])
	}
}
