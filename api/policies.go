package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/orchestrator-dev/orchestrator/internal/config"
	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// Policy handlers: every member of a tenant reads the approval policy in
// effect there (its own, or the configured default); its approvers change
// it. New escalations copy the policy (policyFor), so a change never moves a
// running escalation's deadline or reminders.

// putPolicyRequest is the body of PUT /api/policies: Go duration strings.
// Absent or null reminders are none; absent maxQuestions is
// config.DefaultMaxQuestions, absent answerTtl the defaultTtl.
type putPolicyRequest struct {
	DefaultTTL   *string  `json:"defaultTtl"`
	MaxTTL       *string  `json:"maxTtl"`
	Reminders    []string `json:"reminders"`
	MaxQuestions *int     `json:"maxQuestions"`
	AnswerTTL    *string  `json:"answerTtl"`
}

// policy validates the body and returns the policy it sets, reminders in
// ascending order, or the field errors.
func (r *putPolicyRequest) policy(tenant string, ceiling time.Duration) (store.Policy, error) {
	var f fields
	p := store.Policy{TenantID: tenant}
	duration := func(name string, v *string, dst *time.Duration) {
		if v == nil {
			f.add(name, "is required: a Go duration such as 72h or 90m")
			return
		}
		d, err := time.ParseDuration(*v)
		if err != nil {
			f.add(name, "is not a Go duration (e.g. 72h, 90m, 1h30m)")
			return
		}
		*dst = d
	}
	duration("defaultTtl", r.DefaultTTL, &p.DefaultTTL)
	duration("maxTtl", r.MaxTTL, &p.MaxTTL)
	if r.AnswerTTL != nil {
		// Given, it must be a time: zero would read as "the defaultTtl".
		if d, err := time.ParseDuration(*r.AnswerTTL); err != nil {
			f.add("answerTtl", "is not a Go duration (e.g. 24h, 90m)")
		} else if d <= 0 {
			f.add("answerTtl", "must be positive")
		} else {
			p.AnswerTTL = d
		}
	}
	p.MaxQuestions = config.DefaultMaxQuestions
	if r.MaxQuestions != nil {
		p.MaxQuestions = *r.MaxQuestions
	}
	if len(r.Reminders) > config.MaxApprovalReminders {
		f.add("reminders", fmt.Sprintf("must list at most %d reminders", config.MaxApprovalReminders))
	} else {
		for _, v := range r.Reminders {
			d, err := time.ParseDuration(v)
			if err != nil {
				f.add("reminders", "every reminder must be a Go duration (e.g. 4h, 24h)")
				break
			}
			p.Reminders = append(p.Reminders, d)
		}
	}
	if len(f) > 0 {
		return p, f.err()
	}
	for _, pr := range config.CheckApprovalPolicy(p.DefaultTTL, p.MaxTTL, p.Reminders) {
		f.add(pr.Field, pr.Detail)
	}
	for _, pr := range config.CheckQuestionPolicy(p.MaxQuestions, p.AnswerTTL, p.MaxTTL) {
		f.add(pr.Field, pr.Detail)
	}
	if p.MaxTTL > ceiling {
		// Unbounded, a deadline could lie centuries away: an escalation, its
		// timers and its rows would outlive anyone who could decide it.
		f.add("maxTtl", fmt.Sprintf("must be at most %s", ceiling))
	}
	slices.Sort(p.Reminders)
	return p, f.err()
}

// policyTenant reads ?tenantId=, the only query parameter the policy routes
// take.
func policyTenant(c *gin.Context) (string, error) {
	if err := onlyQuery(c, "tenantId"); err != nil {
		return "", err
	}
	tenant := c.Query("tenantId")
	var f fields
	f.tenantID("tenantId", tenant)
	return tenant, f.err()
}

func (s *Server) getPolicy(c *gin.Context) error {
	tenant, err := policyTenant(c)
	if err != nil {
		return err
	}
	if !principal(c).MemberOf(tenant) {
		return errNotMember
	}
	logTenant(c, tenant)
	p, source, err := s.effectivePolicy(c.Request.Context(), tenant)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, p.View(source))
	return nil
}

// putPolicy replaces the tenant's policy and audits the change as
// policy.updated. The body is checked before the caller's authority, as on
// the other routes that take one.
func (s *Server) putPolicy(c *gin.Context) error {
	tenant, err := policyTenant(c)
	if err != nil {
		return err
	}
	var body putPolicyRequest
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	p, err := body.policy(tenant, s.policyCeiling())
	if err != nil {
		return err
	}
	caller := principal(c)
	switch {
	case !caller.MemberOf(tenant):
		return errNotMember
	case !caller.CanApprove(tenant):
		return problem(http.StatusForbidden, "role_required", "changing the approval policy of %s requires approver authority there", tenant)
	}
	logTenant(c, tenant)
	p.UpdatedBy = caller.Subject
	// The old values of a tenant's first policy are the default it
	// replaces; the store records the stored policy instead when there is
	// one.
	def := s.defaultPolicy()
	def.TenantID = tenant
	entry := &store.AuditLog{UserID: caller.Subject, UserName: caller.Name, Channel: store.ChannelAPI,
		OldValues: store.MustJSON(def.View(store.PolicySourceDefault))}
	old, err := s.d.Store.PutPolicy(c.Request.Context(), p, entry)
	if err != nil {
		return err
	}
	if old != nil && old.SameSettings(p) {
		// Nothing changed (a repeated PUT): the policy as it was stored.
		c.JSON(http.StatusOK, old.View(store.PolicySourceTenant))
		return nil
	}
	// What the audit entry recorded as the new values is the policy as
	// stored, with its time.
	c.JSON(http.StatusOK, json.RawMessage(entry.NewValues))
	return nil
}

// policyFor is the approval policy a new escalation of tenant copies: the
// tenant's own or, when it stored none, the configured default (TenantID set
// either way). The caller has checked that the escalation's requester
// belongs to tenant.
func (s *Server) policyFor(ctx context.Context, tenant string) (store.Policy, error) {
	p, _, err := s.effectivePolicy(ctx, tenant)
	return p, err
}

// effectivePolicy is policyFor, also saying where the policy comes from
// (store.PolicySourceTenant or store.PolicySourceDefault).
func (s *Server) effectivePolicy(ctx context.Context, tenant string) (store.Policy, string, error) {
	p, stored, err := s.d.Store.GetPolicy(ctx, store.ScopeOf(tenant), tenant)
	if err != nil {
		return store.Policy{}, "", err
	}
	if stored {
		// A policy stored before the ceiling was lowered (or existed) is
		// held to it.
		p.MaxTTL = min(p.MaxTTL, s.policyCeiling())
		p.DefaultTTL = min(p.DefaultTTL, p.MaxTTL)
		return *p, store.PolicySourceTenant, nil
	}
	def := s.defaultPolicy()
	def.TenantID = tenant
	return def, store.PolicySourceDefault, nil
}

// policyCeiling is the longest maxTtl a policy may set.
func (s *Server) policyCeiling() time.Duration {
	if s.d.PolicyMaxTTLCeiling > 0 {
		return s.d.PolicyMaxTTLCeiling
	}
	return config.DefaultPolicyMaxTTLCeiling
}

// defaultPolicy is Deps.DefaultPolicy, or the built-in defaults of
// APPROVAL_TTL and APPROVAL_MAX_TTL when it was left unset; its reminders are
// a copy.
func (s *Server) defaultPolicy() store.Policy {
	def := s.d.DefaultPolicy
	if def.DefaultTTL <= 0 || def.MaxTTL <= 0 {
		def = store.Policy{DefaultTTL: config.DefaultApprovalTTL, MaxTTL: config.DefaultApprovalMaxTTL}
	}
	def.Reminders = slices.Clone(def.Reminders)
	def.UpdatedAt, def.UpdatedBy = time.Time{}, ""
	return def
}
