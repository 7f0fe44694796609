package chatwoot_test

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/chatwoot"
)

func signedHeader(secret string, at time.Time, body []byte, delivery string) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	h := http.Header{}
	if secret != "" {
		h.Set(chatwoot.HeaderTimestamp, ts)
		h.Set(chatwoot.HeaderSignature, chatwoot.Sign(secret, ts, body))
	}
	if delivery != "" {
		h.Set(chatwoot.HeaderDelivery, delivery)
	}
	return h
}

func noteIn(account int64) []byte {
	return fmt.Appendf(nil, `{"event":"message_created","id":11,"content":"/escalate Refund","message_type":"outgoing","private":true,`+
		`"account":{"id":%d},"sender":{"id":9,"type":"user"},"conversation":{"id":7}}`, account)
}

// A conversation_updated payload names no account.
var labelAdded = []byte(`{"event":"conversation_updated","id":7,"changed_attributes":[{"label_list":{"previous_value":[],"current_value":["escalate"]}}]}`)

func TestWebhookAuthPerAccountSecrets(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	auth := chatwoot.WebhookAuth{Secrets: map[string]string{"1": "secret-one", "2": "secret-two"}}
	cases := []struct {
		name        string
		path        string
		secret      string
		body        []byte
		wantErr     error
		wantAccount int64
	}{
		{"own secret", "", "secret-one", noteIn(1), nil, 1},
		{"own secret, own URL", "1", "secret-one", noteIn(1), nil, 1},
		{"another account's secret", "", "secret-two", noteIn(1), chatwoot.ErrBadSignature, 0},
		{"another account's secret on the victim's URL", "1", "secret-two", noteIn(1), chatwoot.ErrBadSignature, 0},
		{"own body on another account's URL, signed with the URL's secret", "1", "secret-one", noteIn(2), chatwoot.ErrAccountMismatch, 0},
		{"own body on another account's URL, own secret", "1", "secret-two", noteIn(2), chatwoot.ErrBadSignature, 0},
		{"conversation event on its account's URL", "2", "secret-two", labelAdded, nil, 2},
		{"conversation event on another account's URL", "1", "secret-two", labelAdded, chatwoot.ErrBadSignature, 0},
		{"conversation event without an account anywhere", "", "secret-two", labelAdded, chatwoot.ErrNoSecret, 0},
		{"account without a secret", "", "secret-one", noteIn(3), chatwoot.ErrNoSecret, 0},
		{"unsigned", "", "", noteIn(1), chatwoot.ErrMissingSignature, 0},
		{"URL account not a number", "x", "secret-one", noteIn(1), chatwoot.ErrBadPathAccount, 0},
		{"URL account zero", "0", "secret-one", noteIn(1), chatwoot.ErrBadPathAccount, 0},
		{"not a webhook", "1", "secret-one", []byte(`{"event":"Nope"}`), chatwoot.ErrInvalidWebhook, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := auth.Authenticate(tc.path, signedHeader(tc.secret, now, tc.body, "d-1"), tc.body, now)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if d.AccountID != tc.wantAccount || d.Event == nil {
				t.Fatalf("delivery %+v, want account %d", d, tc.wantAccount)
			}
		})
	}
}

// CHATWOOT_WEBHOOK_SECRET alone (a one-account setup) signs for any account;
// the URL still cannot override the body's account.
func TestWebhookAuthSingleSecret(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	auth := chatwoot.WebhookAuth{Secret: "the-secret"}
	d, err := auth.Authenticate("", signedHeader("the-secret", now, noteIn(4), ""), noteIn(4), now)
	if err != nil || d.AccountID != 4 || !d.Signed {
		t.Fatalf("single secret: %+v %v", d, err)
	}
	if _, err := auth.Authenticate("1", signedHeader("the-secret", now, noteIn(4), ""), noteIn(4), now); !errors.Is(err, chatwoot.ErrAccountMismatch) {
		t.Fatalf("URL account 1, body account 4: err = %v, want ErrAccountMismatch", err)
	}
	if _, err := (chatwoot.WebhookAuth{}).Authenticate("", signedHeader("x", now, noteIn(1), ""), noteIn(1), now); !errors.Is(err, chatwoot.ErrNoSecret) {
		t.Fatalf("no secret at all: err = %v, want ErrNoSecret", err)
	}
	unsigned := chatwoot.WebhookAuth{Unsigned: true}
	// Accepted, and marked as what nobody vouched for.
	if d, err := unsigned.Authenticate("", http.Header{}, noteIn(1), now); err != nil || d.AccountID != 1 || d.Signed {
		t.Fatalf("unsigned: %+v %v", d, err)
	}
	if _, err := unsigned.Authenticate("2", http.Header{}, noteIn(1), now); !errors.Is(err, chatwoot.ErrAccountMismatch) {
		t.Fatalf("unsigned, URL account 2, body account 1: err = %v, want ErrAccountMismatch", err)
	}
}

// The dedupe key depends on what is signed and on the verified account, not
// on X-Chatwoot-Delivery or on the timestamp Chatwoot may sign a retry with.
func TestWebhookAuthDeliveryKey(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	auth := chatwoot.WebhookAuth{Secrets: map[string]string{"1": "secret-one", "2": "secret-two"}}
	key := func(path, secret string, at time.Time, body []byte, delivery string) string {
		t.Helper()
		d, err := auth.Authenticate(path, signedHeader(secret, at, body, delivery), body, now)
		if err != nil {
			t.Fatal(err)
		}
		return d.Key
	}
	first := key("", "secret-one", now, noteIn(1), "d-1")
	if got := key("", "secret-one", now, noteIn(1), "d-2"); got != first {
		t.Error("a new X-Chatwoot-Delivery changed the key")
	}
	if got := key("", "secret-one", now, noteIn(1), ""); got != first {
		t.Error("dropping X-Chatwoot-Delivery changed the key")
	}
	if got := key("1", "secret-one", now.Add(-time.Minute), noteIn(1), "d-3"); got != first {
		t.Error("a re-signed retry of the same body changed the key")
	}
	if key("", "secret-one", now, []byte(string(noteIn(1))+" "), "d-1") == first {
		t.Error("another body has the same key")
	}
	if key("1", "secret-one", now, labelAdded, "d-1") == key("2", "secret-two", now, labelAdded, "d-1") {
		t.Error("the same account-less body for two accounts has one key")
	}
}
