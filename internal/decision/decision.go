// Package decision is the one authority over who may decide an escalation.
// Every channel that takes a decision from a person (the API, the Matrix
// receiver) asks it, and sends the workflow only what it allowed, sealed
// with the deployment's decision key. The workflow checks again what it can
// know itself (what the decision says, whether the escalation can still take
// one, separation of duties) and records as ops anything unsealed.
package decision

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/auth"
	"github.com/orchestrator-dev/orchestrator/internal/store"
	"github.com/orchestrator-dev/orchestrator/workflows/contract"
)

// Refusals. Callers map them to their channel's answer (the API: 404, 403,
// 403, 409, 409).
var (
	// ErrNotVisible: the approval is not in any of the decider's tenants;
	// to them it does not exist.
	ErrNotVisible = errors.New("no such approval")
	// ErrNotApprover: the decider has no approver authority in the
	// approval's tenant.
	ErrNotApprover = errors.New("no approver authority in the approval's tenant")
	// ErrSelfDecision: the decider requested the escalation.
	ErrSelfDecision = errors.New("the requester cannot decide their own escalation")
	// ErrDecided: the approval is no longer pending.
	ErrDecided = errors.New("the approval is already decided")
	// ErrExpired: the escalation's deadline has passed (DeadlineHolds).
	ErrExpired = errors.New("the escalation's deadline has passed")
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

// Authorize decides whether p may make d on ap, and returns what to send the
// workflow: d sealed with key.
func Authorize(key contract.DecisionKey, p *auth.Principal, ap *store.Approval, d contract.DecisionRequest) (contract.DecisionRequest, error) {
	if err := d.Validate(); err != nil {
		return d, err
	}
	switch {
	case d.DeciderID != p.Subject:
		return d, fmt.Errorf("decision by %q sent for %q", d.DeciderID, p.Subject)
	case !p.MemberOf(ap.TenantID):
		return d, ErrNotVisible
	case !p.CanApprove(ap.TenantID):
		return d, ErrNotApprover
	case ap.RequestedBy == p.Subject:
		return d, ErrSelfDecision
	case !slices.Contains(store.Waiting, ap.Status):
		return d, fmt.Errorf("%w: it is %s", ErrDecided, ap.Status)
	}
	return key.Seal(ap.ID, d), nil
}

// Retried reports whether ap already holds the decision p asks for: the
// caller's own decision sent again (say after a timeout), to be answered as
// it was the first time rather than refused.
func Retried(p *auth.Principal, ap *store.Approval, status string) bool {
	return ap.Status == status && ap.ApprovedBy != nil && *ap.ApprovedBy == p.Subject
}

// ErrNotRequester: only the requester may withdraw an escalation or answer
// a question about it.
var ErrNotRequester = errors.New("only the requester can do this")

// ErrNotWaiting: the change does not fit where the escalation is (a second
// question before the answer, an answer nobody asked for).
var ErrNotWaiting = errors.New("the escalation is not waiting for this")

// AuthorizeChange decides whether p may make a change of kind
// (contract.UpdateWithdraw, UpdateRequestInfo, UpdateProvideInfo) to ap, and
// returns what to send the workflow, sealed with key for round (see
// contract.DecisionKey.SealChange): the requester
// withdraws and answers; an approver of the tenant who is not the requester
// asks.
func AuthorizeChange(key contract.DecisionKey, p *auth.Principal, ap *store.Approval, kind, text, channel string, round int) (contract.ChangeRequest, error) {
	c := contract.ChangeRequest{ActorID: p.Subject, ActorName: p.Name, Text: text, Channel: channel}
	if err := c.Validate(kind != contract.UpdateWithdraw); err != nil {
		return c, err
	}
	requester := ap.RequestedBy == p.Subject
	switch {
	case !p.MemberOf(ap.TenantID):
		return c, ErrNotVisible
	case !slices.Contains(store.Waiting, ap.Status):
		return c, fmt.Errorf("%w: it is %s", ErrDecided, ap.Status)
	case kind == contract.UpdateRequestInfo && !p.CanApprove(ap.TenantID):
		return c, ErrNotApprover
	case kind == contract.UpdateRequestInfo && requester:
		return c, ErrSelfDecision
	case kind != contract.UpdateRequestInfo && !requester:
		return c, ErrNotRequester
	case kind == contract.UpdateRequestInfo && ap.Status != store.StatusPending,
		kind == contract.UpdateProvideInfo && ap.Status != store.StatusInfoRequested:
		return c, fmt.Errorf("%w: it is %s", ErrNotWaiting, ap.Status)
	}
	return key.SealChange(ap.ID, kind, round, c), nil
}
