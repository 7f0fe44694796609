package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/orchestrator-dev/orchestrator/internal/auth"
	"github.com/orchestrator-dev/orchestrator/internal/domain"
	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// Subscription handlers: a tenant's approvers point its events at their
// systems (Standard Webhooks), see what was delivered and send it again.
// Everything here needs approver authority in the subscription's tenant,
// since a subscription receives every escalation of the tenant; another
// tenant's subscription is 404.

// EventDelivery starts delivering a subscription's pending events, if that
// is not under way already (internal/events implements it). The API calls
// it when a subscription is created or enabled and when a delivery is sent
// again.
type EventDelivery interface {
	EnsureDelivering(ctx context.Context, tenantID, subscriptionID string) error
}

const (
	// MaxSubscriptionsPerTenant bounds a tenant's subscriptions: each one
	// is a delivery loop and a copy of every event.
	MaxSubscriptionsPerTenant = 20
	// secretOverlap is how long a rotated-out secret keeps signing.
	secretOverlap = 24 * time.Hour
)

// subscriptionView is a subscription as the API returns it: never its
// secret, except Secret on creation and rotation, the only times it is
// shown.
type subscriptionView struct {
	*store.Subscription
	// PreviousSecretExpiresAt is until when the secret a rotation replaced
	// still signs beside the new one; absent when none does.
	PreviousSecretExpiresAt *time.Time `json:"previousSecretExpiresAt,omitempty"`
	Secret                  string     `json:"secret,omitempty"`
}

func (s *Server) subscriptionView(sub *store.Subscription, withSecret bool) subscriptionView {
	v := subscriptionView{Subscription: sub}
	if at := sub.PreviousSecretExpiresAt; sub.PreviousSecret != nil && at != nil && at.After(s.d.Store.Now()) {
		v.PreviousSecretExpiresAt = at
	}
	if withSecret {
		v.Secret = sub.Secret
	}
	return v
}

// createSubscriptionRequest is the body of POST /api/subscriptions.
type createSubscriptionRequest struct {
	TenantID    string   `json:"tenantId"`
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description *string  `json:"description"`
}

// updateSubscriptionRequest is the body of PATCH /api/subscriptions/:id;
// absent or null fields stay as they are.
type updateSubscriptionRequest struct {
	URL         *string   `json:"url"`
	Events      *[]string `json:"events"`
	Description *string   `json:"description"`
	Enabled     *bool     `json:"enabled"`
}

// events checks a list of event types and patterns.
func (f *fields) events(name string, list []string) {
	if len(list) > domain.MaxEventPatterns {
		f.add(name, fmt.Sprintf("must list at most %d event types or patterns", domain.MaxEventPatterns))
		return
	}
	for i, p := range list {
		switch {
		case !domain.ValidEventPattern(p):
			f.add(name, fmt.Sprintf("%q is not an event type (%s) nor a pattern such as approval.* or *",
				clip(p, 100), strings.Join(domain.EventTypes, ", ")))
			return
		case slices.Contains(list[:i], p):
			f.add(name, fmt.Sprintf("lists %q twice", p))
			return
		}
	}
}

func (f *fields) description(name string, d *string) {
	if d == nil {
		return
	}
	switch {
	case utf8.RuneCountInString(*d) > domain.MaxSubscriptionDescription:
		f.add(name, fmt.Sprintf("must be at most %d characters", domain.MaxSubscriptionDescription))
	case !store.ValidText(*d, true):
		f.add(name, "must not contain control characters")
	}
}

// eventURL checks a subscription's URL as far as it says itself
// (checkEventURL) and returns the host name to resolve, if any.
func (s *Server) eventURL(f *fields, name, raw string) (host string) {
	why, host := checkEventURL(raw, s.d.EventsAllowPrivate)
	if why != "" {
		f.add(name, why)
	}
	return host
}

// eventHost resolves a subscription's host (checkEventHost), once the
// caller has shown the authority to change subscriptions: nobody else
// makes the server look names up.
func (s *Server) eventHost(ctx context.Context, name, host string) error {
	if host == "" {
		return nil
	}
	why, err := checkEventHost(ctx, host, s.d.Resolve)
	if err != nil {
		return err
	}
	if why != "" {
		return invalid(FieldError{name, why})
	}
	return nil
}

// auditBy is the audit entry of a subscription change by p: who points
// the tenant's events where is on its trail (the store fills in the rest).
func auditBy(p *auth.Principal) *store.AuditLog {
	return &store.AuditLog{UserID: p.Subject, UserName: p.Name, Channel: store.ChannelAPI}
}

// requireApprover refuses a caller without approver authority in tenant.
func requireApprover(p *auth.Principal, tenant string) error {
	if !p.CanApprove(tenant) {
		return problem(http.StatusForbidden, "role_required", "subscriptions of %s are managed by its approvers", tenant)
	}
	return nil
}

func (s *Server) createSubscription(c *gin.Context) error {
	var req createSubscriptionRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	var f fields
	f.tenantID("tenantId", req.TenantID)
	host := s.eventURL(&f, "url", req.URL)
	f.events("events", req.Events)
	f.description("description", req.Description)
	if err := f.err(); err != nil {
		return err
	}
	p := principal(c)
	if !p.MemberOf(req.TenantID) {
		return errNotMember
	}
	logTenant(c, req.TenantID)
	if err := requireApprover(p, req.TenantID); err != nil {
		return err
	}
	if err := s.eventHost(c.Request.Context(), "url", host); err != nil {
		return err
	}
	sub := store.Subscription{TenantID: req.TenantID, URL: req.URL, EventTypes: req.Events, CreatedBy: p.Subject}
	if req.Description != nil {
		sub.Description = *req.Description
	}
	out, err := s.d.Store.CreateSubscription(c.Request.Context(), sub, MaxSubscriptionsPerTenant, auditBy(p))
	if errors.Is(err, store.ErrLimitReached) {
		return problem(http.StatusConflict, "limit_reached", "%s has %d subscriptions, the most a tenant may have; delete one first",
			req.TenantID, MaxSubscriptionsPerTenant)
	}
	if err != nil {
		return err
	}
	// Created is created: a failure to start the deliveries now is for the
	// log (the next event, or an enable, starts them), not a 5xx that
	// would make the client create a second subscription.
	if err := s.ensureDelivering(c.Request.Context(), out); err != nil {
		loggerFrom(c).Warn("start event delivery", "subscription", out.ID, "error", err.Error())
	}
	c.Header("Location", "/api/subscriptions/"+out.ID)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, s.subscriptionView(out, true))
	return nil
}

func (s *Server) listSubscriptions(c *gin.Context) error {
	tenant, limit, cur, err := listParams(c)
	if err != nil {
		return err
	}
	if err := requireApprover(principal(c), tenant); err != nil {
		return err
	}
	rows, next, err := s.d.Store.ListSubscriptions(c.Request.Context(), scopeOf(principal(c)),
		store.SubscriptionQuery{TenantID: tenant, Limit: limit, Cursor: cur})
	if err != nil {
		return err
	}
	views := make([]subscriptionView, len(rows))
	for i := range rows {
		views[i] = s.subscriptionView(&rows[i], false)
	}
	c.JSON(http.StatusOK, newList(views, next))
	return nil
}

// subscription reads the subscription the path names, for an approver of
// its tenant.
func (s *Server) subscription(c *gin.Context) (*store.Subscription, error) {
	p := principal(c)
	sub, err := s.d.Store.GetSubscription(c.Request.Context(), scopeOf(p), c.Param("id"))
	if err != nil {
		return nil, err
	}
	logTenant(c, sub.TenantID)
	if err := requireApprover(p, sub.TenantID); err != nil {
		return nil, err
	}
	return sub, nil
}

func (s *Server) getSubscription(c *gin.Context) error {
	sub, err := s.subscription(c)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, s.subscriptionView(sub, false))
	return nil
}

func (s *Server) updateSubscription(c *gin.Context) error {
	var req updateSubscriptionRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	var (
		f    fields
		host string
	)
	if req.URL != nil {
		host = s.eventURL(&f, "url", *req.URL)
	}
	if req.Events != nil {
		f.events("events", *req.Events)
	}
	f.description("description", req.Description)
	if err := f.err(); err != nil {
		return err
	}
	sub, err := s.subscription(c)
	if err != nil {
		return err
	}
	if err := s.eventHost(c.Request.Context(), "url", host); err != nil {
		return err
	}
	out, err := s.d.Store.UpdateSubscription(c.Request.Context(), store.ScopeOf(sub.TenantID), sub.ID, store.SubscriptionUpdate{
		URL: req.URL, EventTypes: req.Events, Description: req.Description, Enabled: req.Enabled,
	}, auditBy(principal(c)))
	if err != nil {
		return err
	}
	if req.Enabled != nil && *req.Enabled {
		// Enabled again: what waited is sent. A retry of the PATCH is
		// harmless, so a failure here is the client's to retry.
		if err := s.ensureDelivering(c.Request.Context(), out); err != nil {
			return err
		}
	}
	c.JSON(http.StatusOK, s.subscriptionView(out, false))
	return nil
}

func (s *Server) deleteSubscription(c *gin.Context) error {
	sub, err := s.subscription(c)
	if err != nil {
		return err
	}
	if err := s.d.Store.DeleteSubscription(c.Request.Context(), store.ScopeOf(sub.TenantID), sub.ID, auditBy(principal(c))); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

// rotateSecret gives the subscription a new secret, shown in the answer
// only; the old one signs beside it for secretOverlap, so the receiver can
// switch without missing a delivery.
func (s *Server) rotateSecret(c *gin.Context) error {
	if err := noBody(c); err != nil {
		return err
	}
	sub, err := s.subscription(c)
	if err != nil {
		return err
	}
	out, err := s.d.Store.RotateSecret(c.Request.Context(), store.ScopeOf(sub.TenantID), sub.ID, secretOverlap, auditBy(principal(c)))
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, s.subscriptionView(out, true))
	return nil
}

func (s *Server) listDeliveries(c *gin.Context) error {
	if err := onlyQuery(c, "status", "limit", "cursor"); err != nil {
		return err
	}
	statuses := []string{store.DeliveryPending, store.DeliveryDelivered, store.DeliveryFailed}
	status, filtered := c.GetQuery("status")
	if filtered && !slices.Contains(statuses, status) {
		return invalid(FieldError{"status", "must be one of " + strings.Join(statuses, ", ")})
	}
	limit, err := limitParam(c)
	if err != nil {
		return err
	}
	cur, err := store.DecodeCursor(c.Query("cursor"))
	if err != nil {
		return err
	}
	sub, err := s.subscription(c)
	if err != nil {
		return err
	}
	rows, next, err := s.d.Store.ListDeliveries(c.Request.Context(), store.ScopeOf(sub.TenantID),
		store.DeliveryQuery{SubscriptionID: sub.ID, Status: status, Limit: limit, Cursor: cur})
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, newList(rows, next))
	return nil
}

// redeliver sends one delivery again, with the same webhook-id: it is
// pending and due at once, its earlier attempts kept.
func (s *Server) redeliver(c *gin.Context) error {
	if err := noBody(c); err != nil {
		return err
	}
	sub, err := s.subscription(c)
	if err != nil {
		return err
	}
	d, err := s.d.Store.Redeliver(c.Request.Context(), store.ScopeOf(sub.TenantID), sub.ID, c.Param("deliveryId"))
	if err != nil {
		return err
	}
	if err := s.ensureDelivering(c.Request.Context(), sub); err != nil {
		return err
	}
	c.JSON(http.StatusAccepted, d)
	return nil
}

// ensureDelivering asks Deps.Events to deliver what the enabled
// subscription has pending; without it (tests), nothing.
func (s *Server) ensureDelivering(ctx context.Context, sub *store.Subscription) error {
	if s.d.Events == nil || !sub.Enabled {
		return nil
	}
	if err := s.d.Events.EnsureDelivering(ctx, sub.TenantID, sub.ID); err != nil {
		return fmt.Errorf("start delivering to subscription %s: %w", sub.ID, err)
	}
	return nil
}
