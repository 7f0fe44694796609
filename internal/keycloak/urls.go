package keycloak

import (
	"fmt"
	"net/url"
	"strings"
)

// AdminURLFromIssuer derives the realm's admin base from its OIDC issuer:
// https://host[/prefix]/realms/<realm> becomes
// https://host[/prefix]/admin/realms/<realm>. The prefix keeps the /auth
// context path of Keycloak before version 17 working.
func AdminURLFromIssuer(issuer string) (string, error) {
	u, err := parseHTTPURL(issuer, "issuer URL")
	if err != nil {
		return "", err
	}
	prefix, realm, ok := cutRealm(u.EscapedPath(), "/realms/")
	if !ok {
		return "", fmt.Errorf("%w: issuer URL does not end in /realms/<realm>; set the admin URL explicitly", ErrInvalidArgument)
	}
	return u.Scheme + "://" + u.Host + prefix + "/admin/realms/" + realm, nil
}

// ValidateAdminURL reports whether adminURL is usable as Config.AdminURL:
// an absolute http(s) URL ending in /admin/realms/<realm>.
func ValidateAdminURL(adminURL string) error {
	u, err := parseHTTPURL(adminURL, "admin URL")
	if err != nil {
		return err
	}
	_, err = tokenURLFromAdmin(u)
	return err
}

// tokenURLFromAdmin derives the realm's token endpoint from the admin base,
// so that a split internal hostname serves both.
func tokenURLFromAdmin(admin *url.URL) (string, error) {
	prefix, realm, ok := cutRealm(admin.EscapedPath(), "/admin/realms/")
	if !ok {
		return "", fmt.Errorf("%w: admin URL does not end in /admin/realms/<realm>", ErrInvalidArgument)
	}
	return admin.Scheme + "://" + admin.Host + prefix + "/realms/" + realm + "/protocol/openid-connect/token", nil
}

// cutRealm splits an escaped path ending in marker+<realm> into what comes
// before the marker and the realm name.
func cutRealm(path, marker string) (prefix, realm string, ok bool) {
	path = strings.TrimRight(path, "/")
	i := strings.LastIndex(path, marker)
	if i < 0 {
		return "", "", false
	}
	realm = path[i+len(marker):]
	if realm == "" || strings.Contains(realm, "/") {
		return "", "", false
	}
	return path[:i], realm, true
}

// parseHTTPURL accepts an absolute http(s) URL without credentials, query or
// fragment. Messages never quote the URL: a mistyped one may hold a secret.
func parseHTTPURL(raw, what string) (*url.URL, error) {
	raw = strings.TrimRight(strings.TrimSpace(raw), "/")
	if raw == "" {
		return nil, fmt.Errorf("%w: empty %s", ErrInvalidArgument, what)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %s does not parse", ErrInvalidArgument, what)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: %s must be an absolute http(s) URL", ErrInvalidArgument, what)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: %s must not carry credentials, a query or a fragment", ErrInvalidArgument, what)
	}
	return u, nil
}
