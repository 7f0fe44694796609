package events_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/events"
)

func TestForbiddenAddresses(t *testing.T) {
	for _, a := range []string{"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "::1", "fe80::1", "fc00::1",
		"0.0.0.0", "::", "100.64.0.1", "224.0.0.1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "255.255.255.255"} {
		if !events.Forbidden(netip.MustParseAddr(a)) {
			t.Errorf("%s is allowed", a)
		}
	}
	for _, a := range []string{"93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"} {
		if events.Forbidden(netip.MustParseAddr(a)) {
			t.Errorf("%s is refused", a)
		}
	}
}

// The client refuses private addresses when it connects, whatever name led
// there (a DNS name resolving to loopback, as a rebinding attack would),
// and follows no redirect.
func TestClientRefusesPrivateAddressesAtConnectTime(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	c := events.NewClient(events.ClientOptions{})
	for _, u := range []string{"https://" + srv.Listener.Addr().String(), "https://localhost:" + port, "https://[::1]:" + port, "https://10.255.255.1:" + port, "https://169.254.169.254/latest/meta-data"} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
		resp, err := c.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: answered %d, want refused", u, resp.StatusCode)
			continue
		}
		if !errors.Is(err, events.ErrForbiddenAddress) {
			t.Errorf("%s: %v, want %v", u, err, events.ErrForbiddenAddress)
		}
	}

	allowed := events.NewClient(events.ClientOptions{AllowPrivate: true})
	redirect := httptest.NewServer(http.RedirectHandler(srv.URL, http.StatusFound))
	defer redirect.Close()
	req, _ := http.NewRequest(http.MethodPost, redirect.URL, nil)
	resp, err := allowed.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("redirect followed: %d", resp.StatusCode)
	}
}

// Addresses that carry an internal IPv4 address inside an IPv6 one, and
// IPv6 ranges no receiver lives in, are refused at connect time too (a
// name rebound to them after the URL check); a NAT64 address of a public
// IPv4 one is how an IPv6-only network reaches a public receiver, and is
// allowed.
func TestForbiddenIPv6Forms(t *testing.T) {
	for _, a := range []string{"::7f00:1", "::a00:1", "2002:a00:1::1", "2001:0:4136:e378::1", "fec0::1", "::ffff:0:7f00:1",
		"::ffff:0:a00:1", "2001:db8::1", "100::1", "64:ff9b::7f00:1", "64:ff9b:1::a00:1"} {
		if !events.Forbidden(netip.MustParseAddr(a)) {
			t.Errorf("%s is allowed", a)
		}
	}
	for _, a := range []string{"64:ff9b::808:808", "::ffff:8.8.8.8", "2001:4860::8888"} {
		if events.Forbidden(netip.MustParseAddr(a)) {
			t.Errorf("%s is refused", a)
		}
	}
}

// Without EVENTS_ALLOW_PRIVATE the client sends over https only, as the API
// accepts http URLs only with it: a subscription saved in clear text while
// the setting was on sends nothing once it is off.
func TestClientSendsHTTPSOnly(t *testing.T) {
	c := events.NewClient(events.ClientOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://203.0.113.10/hooks", strings.NewReader("{}"))
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("answered %d, want refused", resp.StatusCode)
	}
	if !errors.Is(err, events.ErrPlainHTTP) {
		t.Fatalf("%v, want %v", err, events.ErrPlainHTTP)
	}
}
