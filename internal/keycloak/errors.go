package keycloak

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

var (
	// ErrNotFound means Keycloak has no such user (or client), or no user
	// matched a lookup. It is an answer, not a failure: callers treat the
	// person as unknown.
	ErrNotFound = errors.New("keycloak: not found")

	// ErrAmbiguous means a lookup that must name one person matched several.
	// Picking one would let whoever registered the second account act as the
	// first, so the caller must treat the person as unknown.
	ErrAmbiguous = errors.New("keycloak: more than one user matches")

	// ErrUnavailable marks failures worth retrying later: Keycloak answered
	// 5xx, 408 or 429, or could not be reached in time. Everything else
	// (bad credentials, missing roles, a wrong URL) needs an operator.
	ErrUnavailable = errors.New("keycloak: unavailable")

	// ErrInvalidArgument marks a call refused before anything was sent.
	ErrInvalidArgument = errors.New("keycloak: invalid argument")

	// ErrLimitExceeded means an answer was longer than the directory reads
	// (Config.MaxGroups, or too many users sharing one email). A partial
	// list would silently drop grants, so the call fails instead.
	ErrLimitExceeded = errors.New("keycloak: answer exceeds the directory's limit")
)

// maxErrorMessage bounds the server text kept in an error.
const maxErrorMessage = 200

// APIError is a non-2xx answer of the Admin REST API. errors.Is matches it
// against ErrNotFound (404) and ErrUnavailable (5xx, 408, 429).
type APIError struct {
	StatusCode int
	Method     string
	// Path is the request path below the admin base, without the query: a
	// query may carry an email address, which does not belong in logs.
	Path string
	// Message is Keycloak's own error text ({"error": "..."}), truncated.
	Message string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("keycloak: %s %s: %d %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		s += ": " + e.Message
	}
	switch e.StatusCode {
	case http.StatusUnauthorized:
		// A freshly issued token was refused: the usual cause is a token
		// obtained through a hostname Keycloak does not consider its own.
		s += " (a freshly issued token was refused: are the admin and token URLs on a hostname Keycloak accepts?)"
	case http.StatusForbidden:
		s += " (does the service account hold the realm-management roles view-users, query-groups and query-clients?)"
	}
	return s
}

// Is lets errors.Is classify the status without callers inspecting it.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnavailable:
		return transientStatus(e.StatusCode)
	}
	return false
}

// TokenError is a refusal of the realm's token endpoint. It is never an
// ErrNotFound: a 404 there means a wrong URL, not an unknown user.
type TokenError struct {
	StatusCode int
	// Code and Description are the OAuth error fields (RFC 6749 5.2).
	Code        string
	Description string
}

func (e *TokenError) Error() string {
	s := fmt.Sprintf("keycloak: client-credentials grant: %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Code != "" {
		s += ": " + e.Code
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// Is reports ErrUnavailable for statuses that describe the moment.
func (e *TokenError) Is(target error) bool {
	return target == ErrUnavailable && transientStatus(e.StatusCode)
}

func transientStatus(code int) bool {
	return code >= 500 || code == http.StatusRequestTimeout || code == http.StatusTooManyRequests
}

// transientError marks a transport failure (refused connection, timeout,
// truncated body) as ErrUnavailable while keeping the cause.
type transientError struct{ err error }

func (e transientError) Error() string        { return e.err.Error() }
func (e transientError) Unwrap() error        { return e.err }
func (e transientError) Is(target error) bool { return target == ErrUnavailable }

func truncate(s string, n int) string {
	s = strings.ToValidUTF8(strings.TrimSpace(s), "")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
