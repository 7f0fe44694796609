package chatwoot

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Headers of a signed Chatwoot webhook delivery (account webhooks since
// v4.11.2, agent bots and API inboxes since v4.13.0).
const (
	HeaderSignature = "X-Chatwoot-Signature"
	HeaderTimestamp = "X-Chatwoot-Timestamp"
	// HeaderDelivery is a UUID per delivery: use it to drop duplicates.
	HeaderDelivery = "X-Chatwoot-Delivery"
)

// DefaultSignatureWindow is used when VerifySignature gets a window <= 0.
// Chatwoot itself enforces no freshness; the window limits replays.
const DefaultSignatureWindow = 5 * time.Minute

const signaturePrefix = "sha256="

// Reasons VerifySignature refuses a delivery, so a handler can log why.
var (
	ErrMissingSignature = errors.New("chatwoot webhook: missing signature or timestamp")
	ErrBadSignature     = errors.New("chatwoot webhook: signature does not match")
	ErrStaleTimestamp   = errors.New("chatwoot webhook: timestamp outside the accepted window")
	ErrNoSecret         = errors.New("chatwoot webhook: no signing secret configured")
)

// Sign returns the X-Chatwoot-Signature value for body sent at timestamp:
// "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
func Sign(secret, timestamp string, body []byte) string {
	return signaturePrefix + hex.EncodeToString(mac(secret, timestamp, body))
}

func mac(secret, timestamp string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(timestamp))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// VerifySignature checks a delivery's X-Chatwoot-Signature against the raw
// body (verify before parsing: re-encoded JSON would not match) and that its
// X-Chatwoot-Timestamp (unix seconds) is within window of now in either
// direction. The signature is checked first, so ErrStaleTimestamp is only
// reported for authentic deliveries (an old replay or a skewed clock).
func VerifySignature(secret string, timestamp string, body []byte, signature string, now time.Time, window time.Duration) error {
	if secret == "" {
		return ErrNoSecret
	}
	timestamp = strings.TrimSpace(timestamp)
	signature = strings.TrimSpace(signature)
	if timestamp == "" || signature == "" {
		return ErrMissingSignature
	}
	if len(signature) < len(signaturePrefix) || !strings.EqualFold(signature[:len(signaturePrefix)], signaturePrefix) {
		return fmt.Errorf("%w: not a sha256= signature", ErrBadSignature)
	}
	got, err := hex.DecodeString(signature[len(signaturePrefix):])
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: malformed hex digest", ErrBadSignature)
	}
	if !hmac.Equal(got, mac(secret, timestamp, body)) {
		return ErrBadSignature
	}

	secs, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not unix seconds", ErrStaleTimestamp, truncate(timestamp, 32))
	}
	if window <= 0 {
		window = DefaultSignatureWindow
	}
	age := now.Sub(time.Unix(secs, 0))
	if age > window || age < -window {
		return fmt.Errorf("%w: sent %s from now, window %s", ErrStaleTimestamp, age.Round(time.Second), window)
	}
	return nil
}
