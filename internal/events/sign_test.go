package events_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/orchestrator-dev/orchestrator/internal/events"
)

const (
	secretA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretB = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
)

func verify(t *testing.T, secret string, body []byte, h map[string][]string) error {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	return wh.Verify(body, h)
}

// Every attempt verifies with the reference library; during a rotation a
// receiver holding either secret verifies, and once the old secret expired
// only the new one signs.
func TestHeadersVerifyWithTheReferenceLibrary(t *testing.T) {
	body := []byte(`{"type":"approval.created","timestamp":"2026-12-07T19:00:00Z","data":{"id":"a1"}}`)
	now := time.Now()
	h, err := events.Headers(events.Secrets{Current: secretA}, "msg_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(t, secretA, body, h); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if h.Get("webhook-id") != "msg_1" || h.Get("Content-Type") != "application/json" || !strings.Contains(h.Get("User-Agent"), "orchestrator") {
		t.Errorf("headers %v", h)
	}
	if err := verify(t, secretB, body, h); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Errorf("another secret verified: %v", err)
	}
	if err := verify(t, secretA, append(body, ' '), h); err == nil {
		t.Error("a changed body verified")
	}

	rotating := events.Secrets{Current: secretB, Previous: secretA, PreviousExpireAt: now.Add(24 * time.Hour)}
	h, err = events.Headers(rotating, "msg_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	if sigs := strings.Fields(h.Get("webhook-signature")); len(sigs) != 2 || !strings.HasPrefix(sigs[0], "v1,") || !strings.HasPrefix(sigs[1], "v1,") {
		t.Fatalf("during a rotation: %q, want two v1 signatures", h.Get("webhook-signature"))
	}
	for _, s := range []string{secretA, secretB} {
		if err := verify(t, s, body, h); err != nil {
			t.Errorf("during a rotation, %s…: %v", s[:10], err)
		}
	}

	rotating.PreviousExpireAt = now.Add(-time.Second)
	h, err = events.Headers(rotating, "msg_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	if len(strings.Fields(h.Get("webhook-signature"))) != 1 || verify(t, secretA, body, h) == nil || verify(t, secretB, body, h) != nil {
		t.Errorf("after the rotation: %q, want the new secret's signature alone", h.Get("webhook-signature"))
	}
}
