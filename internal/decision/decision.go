// Package decision is the one authority over who may decide an escalation.
// Every channel that takes a decision from a person (the API, the Matrix
// receiver) asks it, and sends the workflow only what it allowed, sealed
// with the deployment's decision key. The workflow checks again what it can
// know itself (what the decision says, whether the escalation can still take
// one, separation of duties) and records as ops anything unsealed.
package decision

import (
	"fmt"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/auth"
	"github.com/orchestrator-dev/orchestrator/internal/domain"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Refusals, typed once in the domain (the API turns their codes into
// statuses in api/problem.go). errors.Is matches them by code.
var (
	ErrNotVisible   = domain.ErrNotVisible
	ErrNotApprover  = domain.ErrNotApprover
	ErrSelfDecision = domain.ErrSelfDecision
	ErrDecided      = domain.ErrDecided
	ErrExpired      = domain.ErrExpired
	ErrNotRequester = domain.ErrNotRequester
	ErrNotWaiting   = domain.ErrNotWaiting
)

// DeadlineHolds refuses a decision, withdrawal, question or answer sent to ap
// at now once ap's deadline has passed (ErrExpired), whether or not the
// workflow's timer has ended the escalation yet: a busy worker fires it
// late, and what arrives meanwhile must not beat it. While a question waits
// for its answer the deadline is paused (the answer moves it on), so only a
// pending escalation's counts. Ask it after Authorize or AuthorizeChange
// allowed the caller: to anyone else the deadline is none of their business.
func DeadlineHolds(ap *store.Approval, now time.Time) error {
	if ap.Status == store.StatusPending && ap.ExpiresAt != nil && !now.Before(*ap.ExpiresAt) {
		return fmt.Errorf("%w: it was due at %s", ErrExpired, ap.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// Request is a decision a person asks for through a channel.
type Request struct {
	Status, Comment string
	// Channel is where it came from (store.ChannelAPI, ChannelMatrix, ...).
	Channel string
}

// New is r by p in the workflow's terms, checked for what it says (a
// *contract.FieldError names what is wrong) before anything is read.
func New(p *auth.Principal, r Request) (contract.DecisionRequest, error) {
	d := contract.DecisionRequest{
		Status: r.Status, Comment: r.Comment, DeciderID: p.Subject, DeciderName: p.Name, Channel: r.Channel,
	}
	return d, d.Validate()
}

// Authorize decides whether p may make d on ap, by the transition table
// (domain.Check), and returns what to send the workflow: d sealed with key.
func Authorize(key contract.DecisionKey, p *auth.Principal, ap *store.Approval, d contract.DecisionRequest) (contract.DecisionRequest, error) {
	if err := d.Validate(); err != nil {
		return d, err
	}
	switch {
	case d.DeciderID != p.Subject:
		return d, fmt.Errorf("decision by %q sent for %q", d.DeciderID, p.Subject)
	case !p.MemberOf(ap.TenantID):
		return d, ErrNotVisible
	}
	if err := domain.Check(domain.Decide, ap.Status, roleOf(p, ap)); err != nil {
		return d, err
	}
	return key.Seal(ap.ID, d), nil
}

// Retried reports whether ap already holds the decision p asks for: the
// caller's own decision sent again (say after a timeout), to be answered as
// it was the first time rather than refused.
func Retried(p *auth.Principal, ap *store.Approval, status string) bool {
	return ap.Status == status && ap.ApprovedBy != nil && *ap.ApprovedBy == p.Subject
}

// AuthorizeChange decides whether p may make a change of kind
// (contract.UpdateWithdraw, UpdateRequestInfo, UpdateProvideInfo) to ap, and
// returns what to send the workflow, sealed with key for round (see
// contract.DecisionKey.SealChange), by the transition table
// (domain.Check): the requester withdraws and answers; an approver of the
// tenant who is not the requester asks.
func AuthorizeChange(key contract.DecisionKey, p *auth.Principal, ap *store.Approval, kind, text, channel string, round int) (contract.ChangeRequest, error) {
	c := contract.ChangeRequest{ActorID: p.Subject, ActorName: p.Name, Text: text, Channel: channel}
	if err := c.Validate(kind != contract.UpdateWithdraw); err != nil {
		return c, err
	}
	if !p.MemberOf(ap.TenantID) {
		return c, ErrNotVisible
	}
	if err := domain.Check(domain.Change(kind), ap.Status, roleOf(p, ap)); err != nil {
		return c, err
	}
	return key.SealChange(ap.ID, kind, round, c), nil
}

// roleOf is p's role towards ap, for the transition table.
func roleOf(p *auth.Principal, ap *store.Approval) domain.Role {
	return domain.RoleOf(ap.RequestedBy == p.Subject, p.CanApprove(ap.TenantID))
}
