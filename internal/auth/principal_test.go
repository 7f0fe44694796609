package auth

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestPrincipalJSON(t *testing.T) {
	var c accessClaims
	if err := json.Unmarshal([]byte(`{"sub":"u1","preferred_username":"u","groups":null,"realm_access":{"roles":"approver"}}`), &c); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	out, err := json.Marshal(c.principal(testAudience, DefaultApprovers()))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"sub":"u1","name":"u","email":"","groups":[],"roles":["approver"]}`
	if string(out) != want {
		t.Fatalf("principal JSON = %s, want %s", out, want)
	}
}

func TestNilPrincipal(t *testing.T) {
	var p *Principal
	if p.HasRole("approver") || p.MemberOf("x") || len(p.Tenants()) != 0 || len(p.TenantIDs()) != 0 {
		t.Fatal("a nil principal must have no roles or tenants")
	}
	if strings.Contains((&Error{Reason: "r"}).Error(), "<nil>") {
		t.Fatal("Error without a cause prints <nil>")
	}
}
