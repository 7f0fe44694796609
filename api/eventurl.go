package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/orchestrator-dev/orchestrator/internal/events"
	"github.com/orchestrator-dev/orchestrator/internal/store"
)

// Where a subscription may send events. A tenant's approvers choose the URL
// and the orchestrator's network sends to it, so without a check anyone
// with the role could point deliveries at the database, the metadata
// service of the cloud or a port on localhost (server-side request
// forgery). Checked here when the URL is given, and again by the delivery
// client on every connection, as DNS may answer differently later
// (rebinding).

// maxURLBytes is the longest URL a subscription takes (the column's size).
const maxURLBytes = 2048

// resolveTimeout bounds the DNS lookup of a subscription's host.
const resolveTimeout = 5 * time.Second

// ResolveFunc looks up the addresses of a host name.
type ResolveFunc func(ctx context.Context, host string) ([]netip.Addr, error)

func defaultResolve(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// checkEventURL returns why raw cannot receive events, or "" when it can
// as far as the URL itself says: an absolute https URL (http too when
// private addresses are allowed, as in dev) without credentials or
// fragment, whose host, when it is an address, is public unless
// allowPrivate. host is the name still to resolve (checkEventHost), ""
// when there is none.
func checkEventURL(raw string, allowPrivate bool) (why, host string) {
	switch {
	case raw == "":
		return "is required", ""
	case len(raw) > maxURLBytes:
		return fmt.Sprintf("must be at most %d bytes", maxURLBytes), ""
	case strings.ContainsAny(raw, " \t\r\n") || !store.ValidText(raw, false):
		return "must not contain spaces or control characters", ""
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return "must be an absolute URL such as https://example.com/hooks", ""
	}
	switch {
	case u.Scheme == "http" && !allowPrivate:
		return "must use https", ""
	case u.Scheme != "https" && u.Scheme != "http":
		return "must use https", ""
	case u.User != nil:
		return "must not contain credentials: the signature authenticates the sender", ""
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "must not contain a fragment", ""
	case u.Hostname() == "":
		return "must name a host", ""
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "has an invalid port", ""
		}
	}
	if allowPrivate {
		return "", ""
	}
	host = u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if !publicAddr(ip) {
			return errInternalAddress, ""
		}
		return "", ""
	}
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return errInternalAddress, ""
	}
	if numericLabel.MatchString(h[strings.LastIndex(h, ".")+1:]) {
		// No top-level domain is a number: this is an address in a form
		// some resolvers read (127.1, 2130706433, 0x7f.1) and others don't.
		return "must be a host name or an IP address in its standard form", ""
	}
	return "", host
}

// numericLabel is a label of digits, or of hex digits after 0x.
var numericLabel = regexp.MustCompile(`^(0x[0-9a-f]*|[0-9]+)$`)

const errInternalAddress = "must not point at a private, loopback, link-local or otherwise internal address"

// checkEventHost resolves a subscription's host name and returns why it
// cannot receive events, or "": it must resolve, and only to public
// addresses. An error is a lookup that failed for a reason that passes
// (store.ErrUnavailable).
func checkEventHost(ctx context.Context, host string, resolve ResolveFunc) (string, error) {
	if resolve == nil {
		resolve = defaultResolve
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := resolve(ctx, host)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return "names a host that does not resolve", nil
		}
		return "", fmt.Errorf("%w: resolve %s: %w", store.ErrUnavailable, host, err)
	}
	if len(addrs) == 0 {
		return "names a host that does not resolve", nil
	}
	for _, a := range addrs {
		if !publicAddr(a) {
			return "resolves to a private, loopback, link-local or otherwise internal address", nil
		}
	}
	return "", nil
}

// publicAddr reports whether a may receive events: the delivery client's
// rule (events.Forbidden), so that what is accepted here is what a
// delivery may connect to, and nothing more.
func publicAddr(a netip.Addr) bool { return !events.Forbidden(a) }
