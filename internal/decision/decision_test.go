package decision_test

import (
	"errors"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/auth"
	"github.com/orchestrator-dev/orchestrator/internal/decision"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

var key = contract.DecisionKey("0123456789abcdef0123456789abcdef")

func TestAuthorize(t *testing.T) {
	pending := &store.Approval{ID: "a-1", TenantID: "/teams/support", Status: store.StatusPending, RequestedBy: "agent-1"}
	decidedBy := func(by string) *store.Approval {
		ap := *pending
		ap.Status, ap.ApprovedBy = store.StatusApproved, &by
		return &ap
	}
	approver := &auth.Principal{Subject: "lead-1", Groups: []string{"/teams/support/approvers"}}
	member := &auth.Principal{Subject: "member-1", Groups: []string{"/teams/support"}}
	outsider := &auth.Principal{Subject: "x-1", Groups: []string{"/teams/finance/approvers"}}
	requester := &auth.Principal{Subject: "agent-1", Groups: []string{"/teams/support/approvers"}}

	for _, tc := range []struct {
		name string
		p    *auth.Principal
		ap   *store.Approval
		want error
	}{
		{"approver of the tenant", approver, pending, nil},
		{"plain member", member, pending, decision.ErrNotApprover},
		{"approver elsewhere", outsider, pending, decision.ErrNotVisible},
		{"the requester", requester, pending, decision.ErrSelfDecision},
		{"already decided", approver, decidedBy("someone"), decision.ErrDecided},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := decision.New(tc.p, decision.Request{Status: store.StatusApproved, Channel: store.ChannelAPI})
			if err != nil {
				t.Fatal(err)
			}
			sealed, err := decision.Authorize(key, tc.p, tc.ap, d)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tc.want == nil && key.Channel(tc.ap.ID, sealed) != store.ChannelAPI {
				t.Fatal("an allowed decision must carry a proof of its channel")
			}
		})
	}
	if !decision.Retried(approver, decidedBy("lead-1"), store.StatusApproved) || decision.Retried(approver, decidedBy("lead-1"), store.StatusRejected) {
		t.Fatal("Retried must recognise the caller's own decision, and only that one")
	}
}

func TestNewRefusesWhatTheDatabaseCannotStore(t *testing.T) {
	p := &auth.Principal{Subject: "lead-1"}
	for _, r := range []decision.Request{
		{Status: "maybe"},
		{Status: store.StatusApproved, Comment: "a\x00b"},
	} {
		var fe *contract.FieldError
		if _, err := decision.New(p, r); !errors.As(err, &fe) {
			t.Fatalf("%+v: want a field error, got %v", r, err)
		}
	}
}

// Past its deadline a pending escalation takes nothing, whether or not its
// timer has fired; waiting for an answer, its deadline is paused.
func TestDeadlineHolds(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration, status string) *store.Approval {
		due := now.Add(d)
		return &store.Approval{ID: "a-1", Status: status, ExpiresAt: &due}
	}
	for _, tc := range []struct {
		name string
		ap   *store.Approval
		want error
	}{
		{"before the deadline", at(time.Second, store.StatusPending), nil},
		{"at the deadline", at(0, store.StatusPending), decision.ErrExpired},
		{"after it", at(-time.Hour, store.StatusPending), decision.ErrExpired},
		{"waiting for an answer", at(-time.Hour, store.StatusInfoRequested), nil},
		{"no deadline", &store.Approval{ID: "a-1", Status: store.StatusPending}, nil},
	} {
		if err := decision.DeadlineHolds(tc.ap, now); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

// A change asks the transition table: the requester withdraws and answers,
// an approver who is not the requester asks, each only where it fits.
func TestAuthorizeChange(t *testing.T) {
	at := func(status string) *store.Approval {
		return &store.Approval{ID: "a-1", TenantID: "/teams/support", Status: status, RequestedBy: "agent-1"}
	}
	approver := &auth.Principal{Subject: "lead-1", Groups: []string{"/teams/support/approvers"}}
	member := &auth.Principal{Subject: "member-1", Groups: []string{"/teams/support"}}
	requester := &auth.Principal{Subject: "agent-1", Groups: []string{"/teams/support"}}
	requestingApprover := &auth.Principal{Subject: "agent-1", Groups: []string{"/teams/support/approvers"}}
	outsider := &auth.Principal{Subject: "x-1", Groups: []string{"/teams/finance/approvers"}}
	for _, tc := range []struct {
		name, kind, status string
		p                  *auth.Principal
		want               error
	}{
		{"requester withdraws", contract.UpdateWithdraw, store.StatusPending, requester, nil},
		{"requester withdraws while asked", contract.UpdateWithdraw, store.StatusInfoRequested, requester, nil},
		{"approver withdraws", contract.UpdateWithdraw, store.StatusPending, approver, decision.ErrNotRequester},
		{"withdraw a decided one", contract.UpdateWithdraw, store.StatusApproved, requester, decision.ErrDecided},
		{"outsider", contract.UpdateWithdraw, store.StatusPending, outsider, decision.ErrNotVisible},
		{"approver asks", contract.UpdateRequestInfo, store.StatusPending, approver, nil},
		{"member asks", contract.UpdateRequestInfo, store.StatusPending, member, decision.ErrNotApprover},
		{"requester asks", contract.UpdateRequestInfo, store.StatusPending, requester, decision.ErrNotApprover},
		{"requesting approver asks", contract.UpdateRequestInfo, store.StatusPending, requestingApprover, decision.ErrSelfDecision},
		{"second question", contract.UpdateRequestInfo, store.StatusInfoRequested, approver, decision.ErrNotWaiting},
		{"ask an expired one", contract.UpdateRequestInfo, store.StatusExpired, approver, decision.ErrDecided},
		{"requester answers", contract.UpdateProvideInfo, store.StatusInfoRequested, requester, nil},
		{"answer nobody asked for", contract.UpdateProvideInfo, store.StatusPending, requester, decision.ErrNotWaiting},
		{"approver answers", contract.UpdateProvideInfo, store.StatusInfoRequested, approver, decision.ErrNotRequester},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decision.AuthorizeChange(key, tc.p, at(tc.status), tc.kind, "why?", store.ChannelAPI, 1)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}
