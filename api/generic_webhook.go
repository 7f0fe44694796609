package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/orchestrator-dev/orchestrator/internal/config"
	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// Generic service webhooks: a configured service records an event in the
// audit trail of one of the tenants it was given (WEBHOOK_TENANTS), signed
// per the Standard Webhooks specification 1.0 so that any of its libraries
// can send them:
//
//	webhook-id:        the message id, the same on every retry
//	webhook-timestamp: unix seconds
//	webhook-signature: v1,<base64 HMAC-SHA256(key, id "." timestamp "." body)> [...]
//
// with key the base64 part of the service's whsec_ secret. The tenant is
// the body's "tenantId": inside what is signed, so a captured delivery
// cannot be pointed at another tenant, and the timestamp window plus the
// dedupe on webhook-id keep it from being sent again as a new event.
const (
	headerWebhookID        = "webhook-id"
	headerWebhookTimestamp = "webhook-timestamp"
	headerWebhookSignature = "webhook-signature"

	// serviceWebhookWindow is how far a delivery's timestamp may be from the
	// receiver's clock, either way: room for clock skew and a sender's quick
	// retries, after which a captured delivery is useless. Inside it the
	// webhook-id makes a replay a no-op.
	serviceWebhookWindow = 5 * time.Minute

	// maxDeliveryID bounds webhook-id, which ends up in the audit row.
	maxDeliveryID = 100
	// maxTimestampDigits keeps a timestamp's arithmetic far from overflow
	// (12 digits reach the year 33658).
	maxTimestampDigits = 12
)

// verifyServiceDelivery checks the Standard Webhooks headers against body
// and returns the webhook-id. Every refusal is 401 bad_signature, with a
// detail that tells the sender's operator which part to fix.
func verifyServiceDelivery(key []byte, h http.Header, body []byte, now time.Time) (string, error) {
	id, ts, sigs := h.Get(headerWebhookID), h.Get(headerWebhookTimestamp), h.Get(headerWebhookSignature)
	if id == "" || ts == "" || sigs == "" {
		return "", problem(http.StatusUnauthorized, "bad_signature",
			"%s, %s and %s are required (Standard Webhooks)", headerWebhookID, headerWebhookTimestamp, headerWebhookSignature)
	}
	at, ok := parseUnixSeconds(ts)
	if !ok {
		return "", problem(http.StatusUnauthorized, "bad_signature", "%s must be the signing time in unix seconds", headerWebhookTimestamp)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	matched := false
	// Several signatures let a sender roll its secret; other versions are
	// skipped, as the specification asks.
	for _, s := range strings.Fields(sigs) {
		b64, ok := strings.CutPrefix(s, "v1,")
		if !ok {
			continue
		}
		if got, err := base64.StdEncoding.DecodeString(b64); err == nil && hmac.Equal(got, want) {
			matched = true
		}
	}
	if !matched {
		return "", problem(http.StatusUnauthorized, "bad_signature",
			`no v1 signature in %s matches: sign "<%s>.<%s>.<body>" with the base64-decoded part of the service's whsec_ secret`,
			headerWebhookSignature, headerWebhookID, headerWebhookTimestamp)
	}
	if skew := now.Unix() - at; skew > int64(serviceWebhookWindow/time.Second) || -skew > int64(serviceWebhookWindow/time.Second) {
		return "", problem(http.StatusUnauthorized, "bad_signature",
			"%s is more than %s from the receiver's clock: sign again with the current time", headerWebhookTimestamp, serviceWebhookWindow)
	}
	if !validDeliveryID(id) {
		return "", invalid(FieldError{headerWebhookID, "must be 1 to 100 visible ASCII characters (no spaces), the same on every retry"})
	}
	return id, nil
}

// validDeliveryID accepts visible ASCII only, so the id is safe in an event
// key, a resource id and a log line as it is.
func validDeliveryID(id string) bool {
	if id == "" || len(id) > maxDeliveryID {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// parseUnixSeconds accepts decimal digits only: no sign, no fraction, so
// the signed string and the time it stands for correspond one to one.
func parseUnixSeconds(s string) (int64, bool) {
	if s == "" || len(s) > maxTimestampDigits || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// genericWebhook records a signed event from a configured service in the
// audit trail of a tenant the service may write to.
func (s *Server) genericWebhook(c *gin.Context) error {
	service := c.Param("service")
	secret, ok := s.d.Webhooks.Secrets[service]
	if !ok {
		return errNotFound
	}
	key, err := config.WebhookKey(secret)
	if err != nil {
		return fmt.Errorf("webhook service %q: secret %w", service, err)
	}
	body, err := readWebhookBody(c, MaxBodyBytes)
	if err != nil {
		return err
	}
	id, err := verifyServiceDelivery(key, c.Request.Header, body, s.now())
	if err != nil {
		return err
	}
	ctx := c.Request.Context()
	source := "webhook:" + service
	if seen, err := s.d.Store.SeenDelivery(ctx, source, id); err != nil {
		return err
	} else if seen {
		c.JSON(http.StatusOK, gin.H{"status": "duplicate"})
		return nil
	}
	var envelope struct {
		TenantID *string `json:"tenantId"`
	}
	if err := jsonUnmarshalLenient(body, &envelope); err != nil {
		return problem(http.StatusBadRequest, "malformed_json", "the body is not a JSON object")
	}
	switch {
	case envelope.TenantID == nil || *envelope.TenantID == "":
		return invalid(FieldError{"tenantId", "is required: the tenant whose audit trail records the event"})
	case !store.ValidTenantID(*envelope.TenantID):
		return invalid(FieldError{"tenantId", "is not a tenant id: at most 256 bytes, no control characters"})
	}
	tenant := *envelope.TenantID
	// The signature only proves the service chose this tenant; whether it
	// may is configuration's to say.
	if !slices.Contains(s.d.Webhooks.ServiceTenants[service], tenant) {
		return problem(http.StatusForbidden, "tenant_forbidden",
			"service %q may not write to tenant %q: WEBHOOK_TENANTS lists the tenants it may", service, tenant)
	}
	sum := sha256.Sum256(body)
	// The audit entry's key repeats the dedupe, so a crash between the
	// entry and the delivery's record cannot record the event twice.
	eventKey := source + ":" + id
	if len(body) > maxMetadata || !store.CanonicalizableJSON(body) {
		// Kept out of the audit row, its hash identifies it: too large, or
		// without the canonical form the audit chain hashes (duplicate
		// members, a number beyond a double).
		body = nil
	}
	meta := map[string]any{"service": service, "sha256": hex.EncodeToString(sum[:])}
	entry := &store.AuditLog{
		EventKey: &eventKey, Action: "webhook.received", Resource: "webhook", ResourceID: service + ":" + id,
		UserID: "service:" + service, Channel: store.ChannelWebhook, TenantID: tenant,
		Metadata: store.MustJSON(meta), CreatedAt: s.d.Store.Now(),
	}
	if body != nil {
		entry.NewValues = store.JSON(body)
	}
	if _, err := s.d.Store.AppendAudit(ctx, entry); err != nil {
		return err
	}
	if err := s.d.Store.RecordDelivery(ctx, source, id); err != nil {
		return err
	}
	c.JSON(http.StatusAccepted, gin.H{"status": "recorded"})
	return nil
}
