// Package auth turns bearer tokens issued by Keycloak (or the dev issuer,
// which speaks the same protocol) into a Principal and derives the tenants a
// principal may act in. Keycloak stays the source of truth: nothing here
// stores identities, roles or memberships.
package auth

import "errors"

// ErrUnavailable marks failures that are not the client's fault: the issuer
// cannot be reached for discovery or keys. Callers should answer 503 and log
// the error instead of blaming the token.
var ErrUnavailable = errors.New("auth: identity provider unavailable")

// Error is a rejected credential. Reason is written for the client and never
// contains the token; the wrapped error carries the detail for logs.
type Error struct {
	Reason string
	Err    error
}

// Error includes the cause so that logging err is useful; handlers must show
// Reason, not Error(), to clients.
func (e *Error) Error() string {
	if e.Err == nil {
		return "auth: " + e.Reason
	}
	return "auth: " + e.Reason + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

func reject(reason string, cause error) *Error {
	return &Error{Reason: reason, Err: cause}
}

// Reasons shared by several checks, kept in one place so tests and callers
// agree on the wording.
const (
	reasonMalformed    = "malformed token"
	reasonTooLarge     = "token is too large"
	reasonExpired      = "token expired"
	reasonNotYetValid  = "token is not valid yet"
	reasonIssuer       = "token issuer is not trusted"
	reasonSignature    = "token signature is invalid"
	reasonAlgorithm    = "token algorithm is not allowed"
	reasonIDToken      = "an ID token cannot be used as an access token"
	reasonNotAccess    = "token is not an access token"
	reasonNoSubject    = "token has no subject"
	reasonMissing      = "missing bearer token"
	reasonScheme       = "authorization scheme must be Bearer"
	reasonMalformedHdr = "malformed authorization header"
)

func reasonAudience(aud string) string {
	return "token audience does not include " + aud
}
