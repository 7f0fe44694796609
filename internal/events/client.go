package events

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrForbiddenAddress is a receiver that resolves to an address deliveries
// may not reach (private, loopback, link-local, ...).
var ErrForbiddenAddress = errors.New("address not allowed for event delivery")

// ErrPlainHTTP is a receiver URL without TLS where only https is allowed:
// the API accepts http only with EVENTS_ALLOW_PRIVATE, and a subscription
// saved while it was on must not send events in clear text once it is off.
var ErrPlainHTTP = errors.New("http receivers need EVENTS_ALLOW_PRIVATE; use https")

// forbiddenPrefixes are the ranges, beyond what netip classifies, that no
// delivery may reach: "this network", carrier-grade NAT, IETF protocol
// assignments, benchmarking, reserved and broadcast; in IPv6 local-use
// NAT64, documentation, site-local, discard, IETF protocol assignments
// (Teredo among them), 6to4, IPv4-translated and IPv4-compatible addresses,
// the last three of which embed an IPv4 address that could be any of the
// former (on a host with a 6to4 or sit tunnel, ::10.0.0.1 reaches 10.0.0.1).
var forbiddenPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("fec0::/10"),
	netip.MustParsePrefix("100::/64"),
	netip.MustParsePrefix("2001::/23"),
	netip.MustParsePrefix("2002::/16"),
	netip.MustParsePrefix("::ffff:0:0:0/96"),
	netip.MustParsePrefix("::/96"),
}

// nat64 is the well-known NAT64 prefix: its addresses are IPv4 ones as an
// IPv6-only network reaches them, judged as the IPv4 address they carry.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// Forbidden reports whether an address is one no delivery may reach unless
// EVENTS_ALLOW_PRIVATE is set. It is the one rule for both checks: the
// API's when a subscription's URL is given, and the client's at every
// connection; were they to differ, a name could be accepted that no
// delivery reaches, or rebound to an address only the first refuses.
// IPv4 addresses inside IPv6 ones (mapped, NAT64) are judged as IPv4.
func Forbidden(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.Is6() && nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return true
	}
	for _, p := range forbiddenPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// dialControl refuses, at connect time, every address Forbidden names.
// Checking here rather than when the URL is saved is what defeats DNS
// rebinding: the address checked is the one actually connected to, after
// every resolution.
func dialControl(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrForbiddenAddress, address)
	}
	if Forbidden(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, ap.Addr())
	}
	return nil
}

// ClientOptions tune NewClient.
type ClientOptions struct {
	// AllowPrivate lets deliveries reach private, loopback and link-local
	// addresses (EVENTS_ALLOW_PRIVATE: dev and tests).
	AllowPrivate bool
}

// NewClient is the HTTP client of deliveries: it connects only to public
// addresses (unless opts.AllowPrivate), ignores proxy settings from the
// environment (a proxy would connect on our behalf, past the check),
// sends over https only (unless opts.AllowPrivate, as the API accepts
// http URLs only then), follows no redirect (the 3xx is the answer, and counts as a failure) and
// keeps a few idle connections per receiver. Each attempt bounds its own
// time with its context.
func NewClient(opts ClientOptions) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !opts.AllowPrivate {
		d.Control = dialControl
	}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           200,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    5 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	var rt http.RoundTripper = tr
	if !opts.AllowPrivate {
		rt = httpsOnly{tr}
	}
	return &http.Client{
		Transport:     rt,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// httpsOnly refuses any request that is not https before it is sent.
type httpsOnly struct{ next http.RoundTripper }

func (h httpsOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" {
		if r.Body != nil {
			_ = r.Body.Close()
		}
		return nil, ErrPlainHTTP
	}
	return h.next.RoundTrip(r)
}
