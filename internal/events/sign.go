// Package events delivers the events the store records (its outbox) to each
// tenant's subscriptions, signed per Standard Webhooks 1.0: one long-running
// Temporal workflow per subscription runs a delivery loop as a heartbeating
// activity, which claims the subscription's due deliveries, sends them over
// an HTTP client that refuses private addresses at connect time, and
// records every attempt and its outcome. Retries follow a schedule, always
// with the event's id as webhook-id, so a receiver de-duplicates on it.
package events

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// UserAgent names the sender to receivers.
const UserAgent = "orchestrator-webhooks/1.0 (+Standard Webhooks)"

// Secrets are what signs a subscription's deliveries: its secret and,
// during a rotation, the previous one until it expires.
type Secrets struct {
	Current          string
	Previous         string
	PreviousExpireAt time.Time
}

// Signature is the webhook-signature header of a message: "v1,<base64>"
// with the current secret, followed, space-separated, by the previous
// secret's while it has not expired, so a receiver still holding the old
// secret verifies too. Secrets are whsec_ + base64, as the reference
// library takes them.
func Signature(s Secrets, msgID string, at time.Time, body []byte) (string, error) {
	sigs := make([]string, 0, 2)
	for i, secret := range []string{s.Current, s.Previous} {
		if secret == "" || (i == 1 && !at.Before(s.PreviousExpireAt)) {
			continue
		}
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			return "", fmt.Errorf("signing secret: %w", err)
		}
		sig, err := wh.Sign(msgID, at, body)
		if err != nil {
			return "", fmt.Errorf("sign %s: %w", msgID, err)
		}
		sigs = append(sigs, sig)
	}
	if len(sigs) == 0 {
		return "", fmt.Errorf("sign %s: no secret", msgID)
	}
	return strings.Join(sigs, " "), nil
}

// Headers are the headers of one attempt: the Standard Webhooks trio (the
// timestamp is the attempt's, as the specification asks, so a receiver's
// replay window applies to each retry), the JSON content type and who sends.
func Headers(s Secrets, msgID string, at time.Time, body []byte) (http.Header, error) {
	sig, err := Signature(s, msgID, at, body)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set(standardwebhooks.HeaderWebhookID, msgID)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(at.Unix(), 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, sig)
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", UserAgent)
	return h, nil
}
