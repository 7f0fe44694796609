package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/orchestrator-dev/orchestrator/internal/domain"
	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// subscriptionOut is a subscription as answered, every field it may carry.
type subscriptionOut struct {
	ID                      string   `json:"id"`
	TenantID                string   `json:"tenantId"`
	URL                     string   `json:"url"`
	Events                  []string `json:"events"`
	Description             string   `json:"description"`
	Enabled                 bool     `json:"enabled"`
	DisabledReason          *string  `json:"disabledReason"`
	CreatedBy               string   `json:"createdBy"`
	CreatedAt               string   `json:"createdAt"`
	UpdatedAt               string   `json:"updatedAt"`
	PreviousSecretExpiresAt *string  `json:"previousSecretExpiresAt"`
	Secret                  *string  `json:"secret"`
}

// checkStoredSubscription fails unless what was stored is what the API may
// store: an https URL at a public address, known event patterns once each,
// a description within its limits.
func checkStoredSubscription(t *testing.T, req hostileRequest, body []byte) subscriptionOut {
	t.Helper()
	var sub subscriptionOut
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sub); err != nil {
		t.Fatalf("%s: answer %s: %v", req, body, err)
	}
	u, err := url.Parse(sub.URL)
	if err != nil || u.Scheme != "https" || u.User != nil || u.Fragment != "" ||
		(u.Hostname() != "receiver.example" && !publicLiteral(u.Hostname())) {
		t.Fatalf("%s: stored a URL that should have been refused: %q", req, sub.URL)
	}
	if len(sub.Events) > domain.MaxEventPatterns {
		t.Fatalf("%s: stored %d event patterns", req, len(sub.Events))
	}
	for i, p := range sub.Events {
		if !domain.ValidEventPattern(p) || slices.Contains(sub.Events[:i], p) {
			t.Fatalf("%s: stored events %q", req, sub.Events)
		}
	}
	if utf8.RuneCountInString(sub.Description) > domain.MaxSubscriptionDescription || !store.ValidText(sub.Description, true) {
		t.Fatalf("%s: stored description %q", req, sub.Description)
	}
	return sub
}

// publicLiteral reports whether host is an IP address a receiver may have
// (the fuzzer finds public ones such as 2.0.3.0): a global unicast address,
// not private nor carrier-grade NAT, nor an IPv6 form that carries an IPv4
// address other than mapped.
func publicLiteral(host string) bool {
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	if ip.Is6() && (netip.MustParsePrefix("::/96").Contains(ip) || netip.MustParsePrefix("2002::/16").Contains(ip) ||
		netip.MustParsePrefix("2001::/32").Contains(ip) || netip.MustParsePrefix("::ffff:0:0:0/96").Contains(ip)) {
		return false
	}
	return ip.IsGlobalUnicast() && !ip.IsPrivate() && !netip.MustParsePrefix("100.64.0.0/10").Contains(ip) &&
		!netip.MustParsePrefix("0.0.0.0/8").Contains(ip)
}

// FuzzCreateSubscriptionBody sends arbitrary bodies to POST
// /api/subscriptions as an approver of the tenant: the answer is 201, 400,
// 409 (the tenant's limit), 413 or 415, and a 201 stored nothing the
// checks refuse, with a secret shown once.
func FuzzCreateSubscriptionBody(f *testing.F) {
	for _, s := range []string{
		`{"tenantId":"/teams/support","url":"https://receiver.example/hooks"}`,
		`{"tenantId":"/teams/support","url":"https://203.0.113.10:8443/h?x=1","events":["approval.*","policy.updated"],"description":"d"}`,
		`{"tenantId":"/teams/support","url":"https://[2001:4860::8888]/","events":null,"description":null}`,
		`{"tenantId":"/teams/support","url":"http://receiver.example/"}`, `{"tenantId":"/teams/support","url":"https://10.0.0.1/"}`,
		`{"tenantId":"/teams/support","url":"https://intranet.example/"}`, `{"tenantId":"/teams/support","url":"https://127.1/"}`,
		`{"tenantId":"/teams/support","url":"https://u:p@receiver.example/"}`, `{"tenantId":"/teams/support","url":"https://[::ffff:127.0.0.1]/"}`,
		`{"tenantId":"/teams/support","url":"https://receiver.example/","events":["*","*"]}`,
		`{"tenantId":"/teams/support","url":"https://receiver.example/","events":["approval"]}`,
		`{"tenantId":"/teams/other","url":"https://receiver.example/"}`, `{"url":"https://receiver.example/"}`,
		`{"tenantId":"/teams/support","url":"https://receiver.example/\u0000"}`, `null`, `[]`, ``,
	} {
		f.Add(uint8(0), []byte(s))
	}
	s := newHostileServer(f, store.SQLite)
	f.Fuzz(func(t *testing.T, ctIndex uint8, body []byte) {
		ct, isJSON := fuzzContentType(ctIndex)
		req := hostileRequest{method: http.MethodPost, path: "/api/subscriptions", contentType: &ct, body: body}
		rec := s.do(req)
		p := checkHostileResponse(t, req, rec)
		checkHostileBody(t, req, isJSON, p, rec.Code)
		if !slices.Contains([]int{201, 400, 403, 409, 413, 415}, rec.Code) {
			t.Fatalf("%s: unexpected %d %s", req, rec.Code, hostileTrunc(rec.Body.String(), 300))
		}
		if rec.Code != http.StatusCreated {
			return
		}
		sub := checkStoredSubscription(t, req, rec.Body.Bytes())
		if sub.Secret == nil || !strings.HasPrefix(*sub.Secret, "whsec_") || sub.TenantID != hostileTenant {
			t.Fatalf("%s: created %s", req, rec.Body)
		}
		read := s.do(hostileRequest{method: http.MethodGet, path: "/api/subscriptions/" + sub.ID})
		if read.Code != http.StatusOK || strings.Contains(read.Body.String(), *sub.Secret) {
			t.Fatalf("%s: GET after create answered %d %s", req, read.Code, read.Body)
		}
		// Room for the next inputs under the tenant's limit.
		if del := s.do(hostileRequest{method: http.MethodDelete, path: "/api/subscriptions/" + sub.ID}); del.Code != http.StatusNoContent {
			t.Fatalf("%s: delete answered %d", req, del.Code)
		}
	})
}

// FuzzUpdateSubscriptionBody sends arbitrary bodies to PATCH
// /api/subscriptions/:id: the answer is 200, 400, 413 or 415, and a 200
// stored nothing the checks refuse.
func FuzzUpdateSubscriptionBody(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"enabled":false}`, `{"enabled":true,"url":"https://receiver.example/b","events":[],"description":"x"}`,
		`{"url":null,"events":null,"description":null,"enabled":null}`, `{"url":"https://169.254.169.254/"}`,
		`{"url":"ftp://receiver.example/"}`, `{"events":["nope"]}`, `{"enabled":"yes"}`, `{"tenantId":"/teams/other"}`,
		`{"description":"` + strings.Repeat("é", 501) + `"}`, `null`, `[]`, ``,
	} {
		f.Add(uint8(0), []byte(s))
	}
	s := newHostileServer(f, store.SQLite)
	created := s.do(hostileRequest{method: http.MethodPost, path: "/api/subscriptions", contentType: hostileStrPtr("application/json"),
		body: []byte(`{"tenantId":"/teams/support","url":"https://receiver.example/hooks"}`)})
	if created.Code != http.StatusCreated {
		f.Fatalf("seed subscription: %d %s", created.Code, created.Body)
	}
	var seed struct{ ID string }
	if err := json.Unmarshal(created.Body.Bytes(), &seed); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, ctIndex uint8, body []byte) {
		ct, isJSON := fuzzContentType(ctIndex)
		req := hostileRequest{method: http.MethodPatch, path: "/api/subscriptions/" + seed.ID, contentType: &ct, body: body}
		rec := s.do(req)
		p := checkHostileResponse(t, req, rec)
		checkHostileBody(t, req, isJSON, p, rec.Code)
		if !slices.Contains([]int{200, 400, 413, 415}, rec.Code) {
			t.Fatalf("%s: unexpected %d %s", req, rec.Code, hostileTrunc(rec.Body.String(), 300))
		}
		if rec.Code == http.StatusOK {
			if sub := checkStoredSubscription(t, req, rec.Body.Bytes()); sub.Secret != nil {
				t.Fatalf("%s: a PATCH showed the secret", req)
			}
		}
	})
}
