package domain_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/orchestrator-dev/orchestrator/internal/domain"
)

// The transition table, cell by cell: for each change and status, the code
// each role gets (in the order of domain.Roles: member, approver,
// requester, requesting approver, system); "" is allowed.
var table = map[domain.Change]map[string][5]domain.Code{
	domain.Decide: {
		domain.StatusPending:       {role, "", role, sod, bad},
		domain.StatusInfoRequested: {role, "", role, sod, bad},
		domain.StatusApproved:      {role, done, role, sod, bad},
		domain.StatusRejected:      {role, done, role, sod, bad},
		domain.StatusExpired:       {role, done, role, sod, bad},
		domain.StatusWithdrawn:     {role, done, role, sod, bad},
	},
	domain.Withdraw: {
		domain.StatusPending:       {notReq, notReq, "", "", bad},
		domain.StatusInfoRequested: {notReq, notReq, "", "", bad},
		domain.StatusApproved:      {done, done, done, done, bad},
		domain.StatusRejected:      {done, done, done, done, bad},
		domain.StatusExpired:       {done, done, done, done, bad},
		domain.StatusWithdrawn:     {done, done, done, done, bad},
	},
	domain.RequestInfo: {
		domain.StatusPending:       {role, "", role, sod, bad},
		domain.StatusInfoRequested: {role, bad, role, sod, bad},
		domain.StatusApproved:      {done, done, done, done, bad},
		domain.StatusRejected:      {done, done, done, done, bad},
		domain.StatusExpired:       {done, done, done, done, bad},
		domain.StatusWithdrawn:     {done, done, done, done, bad},
	},
	domain.ProvideInfo: {
		domain.StatusPending:       {notReq, notReq, bad, bad, bad},
		domain.StatusInfoRequested: {notReq, notReq, "", "", bad},
		domain.StatusApproved:      {done, done, done, done, bad},
		domain.StatusRejected:      {done, done, done, done, bad},
		domain.StatusExpired:       {done, done, done, done, bad},
		domain.StatusWithdrawn:     {done, done, done, done, bad},
	},
	domain.Expire: {
		domain.StatusPending:       {bad, bad, bad, bad, ""},
		domain.StatusInfoRequested: {bad, bad, bad, bad, ""},
		domain.StatusApproved:      {bad, bad, bad, bad, done},
		domain.StatusRejected:      {bad, bad, bad, bad, done},
		domain.StatusExpired:       {bad, bad, bad, bad, done},
		domain.StatusWithdrawn:     {bad, bad, bad, bad, done},
	},
	domain.Remind: {
		domain.StatusPending:       {bad, bad, bad, bad, ""},
		domain.StatusInfoRequested: {bad, bad, bad, bad, bad},
		domain.StatusApproved:      {bad, bad, bad, bad, done},
		domain.StatusRejected:      {bad, bad, bad, bad, done},
		domain.StatusExpired:       {bad, bad, bad, bad, done},
		domain.StatusWithdrawn:     {bad, bad, bad, bad, done},
	},
	domain.Unanswered: {
		domain.StatusPending:       {bad, bad, bad, bad, bad},
		domain.StatusInfoRequested: {bad, bad, bad, bad, ""},
		domain.StatusApproved:      {bad, bad, bad, bad, done},
		domain.StatusRejected:      {bad, bad, bad, bad, done},
		domain.StatusExpired:       {bad, bad, bad, bad, done},
		domain.StatusWithdrawn:     {bad, bad, bad, bad, done},
	},
}

const (
	role   = domain.CodeRoleRequired
	sod    = domain.CodeSeparationOfDuties
	notReq = domain.CodeNotRequester
	done   = domain.CodeAlreadyDecided
	bad    = domain.CodeInvalidTransition
)

func TestTransitionTableEveryCell(t *testing.T) {
	if len(table) != len(domain.Changes) {
		t.Fatalf("the test covers %d changes, the domain has %d", len(table), len(domain.Changes))
	}
	cells := 0
	for _, c := range domain.Changes {
		rows, ok := table[c]
		if !ok || len(rows) != len(domain.Statuses) {
			t.Fatalf("%s: the test must list every status", c)
		}
		for _, status := range domain.Statuses {
			want, ok := rows[status]
			if !ok {
				t.Fatalf("%s: no row for %s", c, status)
			}
			for i, r := range domain.Roles {
				cells++
				err := domain.Check(c, status, r)
				var ref *domain.Refusal
				switch {
				case want[i] == "" && err != nil:
					t.Errorf("%s %s by %s: refused (%v), want allowed", c, status, r, err)
				case want[i] != "" && !errors.As(err, &ref):
					t.Errorf("%s %s by %s: got %v, want a %s refusal", c, status, r, err, want[i])
				case want[i] != "" && (ref.Code != want[i] || ref.Detail == ""):
					t.Errorf("%s %s by %s: got %s (%q), want %s", c, status, r, ref.Code, ref.Detail, want[i])
				}
			}
		}
	}
	if want := len(domain.Changes) * len(domain.Statuses) * len(domain.Roles); cells != want {
		t.Fatalf("checked %d cells, want %d", cells, want)
	}
}

// From is what the store's conditional updates take: the lists the
// activities used to spell, in the same order (audit entries record them).
func TestFromLists(t *testing.T) {
	waiting := []string{domain.StatusPending, domain.StatusInfoRequested}
	for c, want := range map[domain.Change][]string{
		domain.Decide:      waiting,
		domain.Withdraw:    waiting,
		domain.Expire:      waiting,
		domain.RequestInfo: {domain.StatusPending},
		domain.Remind:      {domain.StatusPending},
		domain.ProvideInfo: {domain.StatusInfoRequested},
		domain.Unanswered:  {domain.StatusInfoRequested},
	} {
		if got := domain.From(c); !slices.Equal(got, want) {
			t.Errorf("From(%s) = %v, want %v", c, got, want)
		}
	}
	if !slices.Equal(domain.From(domain.Expire), domain.Waiting) {
		t.Error("an escalation expires from exactly the waiting statuses")
	}
}

func TestRoleOf(t *testing.T) {
	for _, tc := range []struct {
		requester, approver bool
		want                domain.Role
	}{
		{false, false, domain.RoleMember},
		{false, true, domain.RoleApprover},
		{true, false, domain.RoleRequester},
		{true, true, domain.RoleRequestingApprover},
	} {
		if got := domain.RoleOf(tc.requester, tc.approver); got != tc.want {
			t.Errorf("RoleOf(%v, %v) = %s, want %s", tc.requester, tc.approver, got, tc.want)
		}
	}
}

// A refusal matches its code's sentinel whatever its detail, and no other.
func TestRefusalsMatchByCode(t *testing.T) {
	err := domain.Check(domain.Withdraw, domain.StatusApproved, domain.RoleRequester)
	if !errors.Is(err, domain.ErrDecided) || errors.Is(err, domain.ErrNotWaiting) {
		t.Fatalf("%v: want ErrDecided only", err)
	}
	if err.Error() != "the approval is already approved" {
		t.Fatalf("detail %q", err.Error())
	}
}
