package domain

import (
	"fmt"
	"slices"
)

// Change is something that moves a waiting escalation on. The names of the
// people's changes are the workflow's update names.
type Change string

const (
	// Decide: an approver approves or rejects.
	Decide Change = "decide"
	// Withdraw: the requester takes the escalation back.
	Withdraw Change = "withdraw"
	// RequestInfo: an approver asks the requester a question.
	RequestInfo Change = "request-info"
	// ProvideInfo: the requester answers the open question.
	ProvideInfo Change = "provide-info"
	// Expire: the deadline passed without a decision.
	Expire Change = "expire"
	// Remind: the approvers are reminded.
	Remind Change = "remind"
	// Unanswered: the question's time for an answer passed; the escalation
	// is pending again.
	Unanswered Change = "unanswered"
)

// Changes are every change, for tables and tests.
var Changes = []Change{Decide, Withdraw, RequestInfo, ProvideInfo, Expire, Remind, Unanswered}

// Role is who asks for a change, relative to the escalation: whether they
// requested it and whether they hold approver authority in its tenant.
// Membership of the tenant is not a role: to anyone else the escalation
// does not exist (ErrNotVisible), which the caller checks first.
type Role int

const (
	// RoleMember: a member of the tenant, neither the requester nor an
	// approver.
	RoleMember Role = iota
	// RoleApprover: an approver of the tenant who did not request it.
	RoleApprover
	// RoleRequester: the requester, without approver authority.
	RoleRequester
	// RoleRequestingApprover: the requester, who is also an approver of
	// the tenant (separation of duties keeps them from deciding).
	RoleRequestingApprover
	// RoleSystem: the orchestrator itself (its timers).
	RoleSystem
)

// Roles are every role, for tables and tests.
var Roles = []Role{RoleMember, RoleApprover, RoleRequester, RoleRequestingApprover, RoleSystem}

// RoleOf is the role of a person who did or did not request the
// escalation and does or does not hold approver authority in its tenant.
// The workflow, which cannot know authority, takes every non-requester as
// an approver (the decision authority, or ops, vouched for them) and the
// requester as a requesting approver.
func RoleOf(requester, approver bool) Role {
	switch {
	case requester && approver:
		return RoleRequestingApprover
	case requester:
		return RoleRequester
	case approver:
		return RoleApprover
	}
	return RoleMember
}

func (r Role) requester() bool { return r == RoleRequester || r == RoleRequestingApprover }
func (r Role) approver() bool  { return r == RoleApprover || r == RoleRequestingApprover }

func (r Role) String() string {
	switch r {
	case RoleMember:
		return "member"
	case RoleApprover:
		return "approver"
	case RoleRequester:
		return "requester"
	case RoleRequestingApprover:
		return "requesting approver"
	case RoleSystem:
		return "system"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// Check is the transition table: nil when role may make change c to an
// escalation whose approval is in status, else the *Refusal that says why
// not. The rules are checked in the order a caller sees them: for a
// decision, authority before status (a requester learns they may not decide
// before they learn it is decided); for the other changes, status first.
//
// The workflow adds what only it knows (a decision accepted and not yet
// applied, its deadline's timer, its policy's bounds); the decision
// authority adds membership of the tenant and the deadline by the clock.
func Check(c Change, status string, role Role) error {
	if r := check(c, status, role); r != nil {
		return r
	}
	return nil
}

func check(c Change, status string, role Role) *Refusal {
	if !slices.Contains(Changes, c) {
		return &Refusal{CodeInvalidTransition, fmt.Sprintf("%q is not a change an escalation takes", c)}
	}
	system := c == Expire || c == Remind || c == Unanswered
	switch {
	case system && role != RoleSystem:
		return &Refusal{CodeInvalidTransition, fmt.Sprintf("only the orchestrator itself can %s an escalation", c)}
	case !system && role == RoleSystem:
		return &Refusal{CodeInvalidTransition, fmt.Sprintf("the orchestrator cannot %s by itself", c)}
	}
	if c == Decide {
		switch {
		case !role.approver():
			return ErrNotApprover
		case role.requester():
			return ErrSelfDecision
		}
	}
	if !slices.Contains(Waiting, status) {
		return &Refusal{CodeAlreadyDecided, "the approval is already " + status}
	}
	switch c {
	case Withdraw, ProvideInfo:
		if !role.requester() {
			return &Refusal{CodeNotRequester, fmt.Sprintf("only the requester can %s", c)}
		}
	case RequestInfo:
		switch {
		case !role.approver():
			return ErrNotApprover
		case role.requester():
			return &Refusal{CodeSeparationOfDuties, "the requester cannot ask themselves"}
		}
	}
	switch {
	case c == RequestInfo && status != StatusPending:
		return &Refusal{CodeInvalidTransition, "a question is already waiting for its answer"}
	case c == Remind && status != StatusPending:
		return &Refusal{CodeInvalidTransition, "the reminders wait for the requester's answer"}
	case (c == ProvideInfo || c == Unanswered) && status != StatusInfoRequested:
		return &Refusal{CodeInvalidTransition, "no question is waiting for an answer"}
	}
	return nil
}

// From are the statuses change c moves an approval from: where the one who
// makes it (an approver, the requester or the orchestrator) may make it.
// The store applies a change only to a row still in one of them.
func From(c Change) []string {
	role := RoleApprover
	switch c {
	case Withdraw, ProvideInfo:
		role = RoleRequester
	case Expire, Remind, Unanswered:
		role = RoleSystem
	}
	var out []string
	for _, s := range Statuses {
		if check(c, s, role) == nil {
			out = append(out, s)
		}
	}
	return out
}
