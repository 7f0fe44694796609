package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// Generic service webhooks: a configured service records an event in the
// audit trail of one of the tenants it was given (WEBHOOK_TENANTS). The
// signature binds everything the receiver acts on, not just the body, so a
// captured delivery can neither be pointed at another tenant nor sent again
// later as a new event:
//
//	X-Signature: v1=<hex HMAC-SHA256(service secret, canonical string)>
//	canonical string = "v1" LF timestamp LF delivery id LF tenant LF raw body
//
// Line feeds separate the fields because no HTTP header value can contain
// one, so the string splits into fields only one way; a visible separator
// such as ":" can occur inside a tenant id and would let a signed delivery
// for one (delivery id, tenant) pair verify as another. The "v1" prefix is
// signed so that a later scheme cannot be confused with this one.
const (
	headerServiceSignature = "X-Signature"
	headerServiceTimestamp = "X-Webhook-Timestamp"
	headerServiceDelivery  = "X-Delivery-Id"
	headerServiceTenant    = "X-Tenant-Id"

	serviceSignatureVersion = "v1"

	// serviceWebhookWindow is how far a delivery's timestamp may be from the
	// receiver's clock, either way: room for clock skew and a sender's quick
	// retries, after which a captured delivery is useless. Inside it the
	// delivery id (part of the audit entry's event key) makes a replay a
	// no-op.
	serviceWebhookWindow = 5 * time.Minute

	// maxDeliveryID bounds X-Delivery-Id, which ends up in the audit row.
	maxDeliveryID = 100
	// maxTimestampDigits keeps a timestamp's arithmetic far from overflow
	// (12 digits reach the year 33658).
	maxTimestampDigits = 12
)

// serviceDelivery is what a sender states about a delivery in its headers.
type serviceDelivery struct {
	signature, timestamp, id, tenant string
}

// readServiceDelivery reads the headers and refuses (400) a delivery without
// a usable delivery id or tenant: they are required, not defaulted, since
// they decide where and under which key the event is recorded.
func readServiceDelivery(h http.Header) (serviceDelivery, error) {
	d := serviceDelivery{
		signature: h.Get(headerServiceSignature),
		timestamp: h.Get(headerServiceTimestamp),
		id:        h.Get(headerServiceDelivery),
		tenant:    h.Get(headerServiceTenant),
	}
	var fields []FieldError
	if !validDeliveryID(d.id) {
		fields = append(fields, FieldError{headerServiceDelivery,
			"is required: 1 to 100 visible ASCII characters (no spaces) naming the delivery, the same on every retry"})
	}
	switch {
	case d.tenant == "":
		fields = append(fields, FieldError{headerServiceTenant, "is required: the tenant whose audit trail records the event"})
	case !store.ValidTenantID(d.tenant):
		fields = append(fields, FieldError{headerServiceTenant, "is not a tenant id: at most 256 bytes, no control characters"})
	}
	if len(fields) > 0 {
		return d, invalid(fields...)
	}
	return d, nil
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

// verify checks the signature over the canonical string, then the
// timestamp's freshness; every refusal is 401 bad_signature, with a detail
// that tells the sender's operator which part to fix.
func (d serviceDelivery) verify(secret string, body []byte, now time.Time) error {
	hexSig, ok := strings.CutPrefix(d.signature, serviceSignatureVersion+"=")
	got, err := hex.DecodeString(hexSig)
	if !ok || err != nil || len(got) != sha256.Size {
		return problem(http.StatusUnauthorized, "bad_signature",
			"%s must be v1=<hex HMAC-SHA256 of the canonical string> (the body-only sha256= signature is no longer accepted)", headerServiceSignature)
	}
	ts, ok := parseUnixSeconds(d.timestamp)
	if !ok {
		return problem(http.StatusUnauthorized, "bad_signature", "%s must be the signing time in unix seconds", headerServiceTimestamp)
	}
	if !hmac.Equal(got, serviceSignature(secret, d.timestamp, d.id, d.tenant, body)) {
		return problem(http.StatusUnauthorized, "bad_signature",
			`%s does not match: sign "v1\n<%s>\n<%s>\n<%s>\n<body>" with the service's secret`,
			headerServiceSignature, headerServiceTimestamp, headerServiceDelivery, headerServiceTenant)
	}
	if skew := now.Unix() - ts; skew > int64(serviceWebhookWindow/time.Second) || -skew > int64(serviceWebhookWindow/time.Second) {
		return problem(http.StatusUnauthorized, "bad_signature",
			"%s is more than %s from the receiver's clock: sign again with the current time", headerServiceTimestamp, serviceWebhookWindow)
	}
	return nil
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

// serviceSignature is the MAC over the canonical string (see above).
func serviceSignature(secret, timestamp, deliveryID, tenant string, body []byte) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(serviceSignatureVersion + "\n" + timestamp + "\n" + deliveryID + "\n" + tenant + "\n"))
	mac.Write(body)
	return mac.Sum(nil)
}

// genericWebhook records a signed event from a configured service in the
// audit trail of a tenant the service may write to.
func (s *Server) genericWebhook(c *gin.Context) error {
	service := c.Param("service")
	secret, ok := s.d.Webhooks.Secrets[service]
	if !ok {
		return errNotFound
	}
	body, err := readWebhookBody(c, MaxBodyBytes)
	if err != nil {
		return err
	}
	d, err := readServiceDelivery(c.Request.Header)
	if err != nil {
		return err
	}
	if err := d.verify(secret, body, s.now()); err != nil {
		return err
	}
	// The signature only proves the service chose this tenant; whether it
	// may is configuration's to say.
	if !slices.Contains(s.d.Webhooks.ServiceTenants[service], d.tenant) {
		return problem(http.StatusForbidden, "tenant_forbidden",
			"service %q may not write to tenant %q: WEBHOOK_TENANTS lists the tenants it may", service, d.tenant)
	}
	var payload any
	if err := jsonUnmarshalLenient(body, &payload); err != nil {
		return problem(http.StatusBadRequest, "malformed_json", "the body is not valid JSON")
	}
	sum := sha256.Sum256(body)
	// The key is per service, not per tenant: a delivery names one tenant,
	// so the same id sent to a second one is a conflict, not a new event.
	key := "webhook:" + service + ":" + d.id
	if len(body) > maxMetadata {
		body = nil // kept out of the audit row; its hash identifies it
	}
	meta := map[string]any{"service": service, "sha256": hex.EncodeToString(sum[:])}
	entry := &store.AuditLog{
		EventKey: &key, Action: "webhook.received", Resource: "webhook", ResourceID: service + ":" + d.id,
		UserID: "service:" + service, Channel: store.ChannelWebhook, TenantID: d.tenant,
		Metadata: store.MustJSON(meta), CreatedAt: s.d.Store.Now(),
	}
	if body != nil {
		entry.NewValues = store.JSON(body)
	}
	if _, err := s.d.Store.AppendAudit(c.Request.Context(), entry); err != nil {
		return err
	}
	c.JSON(http.StatusAccepted, gin.H{"status": "recorded"})
	return nil
}
