package api

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// limitCreate counts one escalation created by subject in tenant against
// CREATE_RATE_LIMIT, and refuses it with 429 and Retry-After past the limit.
// Each escalation sends Chatwoot notes and Matrix notices, and reminders
// after them, so the count is kept in the database, where every API replica
// adds to the same one (a fixed window per tenant and subject). It applies
// wherever escalations are created for someone: POST /api/approvals and the
// Chatwoot triggers, where the requester is the agent's mapped subject.
func (s *Server) limitCreate(ctx context.Context, tenant, subject string) error {
	l := s.d.CreateRateLimit
	if l.Off() {
		return nil
	}
	n, ends, err := s.d.Store.CountCreate(ctx, tenant, subject, l.Per)
	if err != nil {
		return err
	}
	if n <= l.N {
		return nil
	}
	wait := max(int64((ends.Sub(s.d.Store.Now())+time.Second-1)/time.Second), 1)
	p := problem(http.StatusTooManyRequests, "rate_limited",
		"at most %s escalations per caller and tenant; try again in %d s", l, wait)
	p.header = map[string]string{"Retry-After": strconv.FormatInt(wait, 10)}
	return p
}
