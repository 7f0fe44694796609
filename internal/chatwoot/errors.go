package chatwoot

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// APIError is a non-2xx answer from Chatwoot. It never contains the API
// token: Message is the server's own error text, truncated.
type APIError struct {
	StatusCode int
	Message    string
	Method     string
	Path       string
	// RetryAfter is the server's Retry-After hint (429, 503), zero if none.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("chatwoot: %s %s: %d %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Permanent reports whether repeating the same request cannot succeed.
//
// Chatwoot answers the calls made here with 401 (bad token), 403 (token not
// allowed), 404 (unknown account or conversation) and 422 (refused content);
// none of those change by waiting. The exceptions are statuses that describe
// the moment rather than the request: 408 (timeout), 409 (a conflict with a
// concurrent writer; Chatwoot's contract never uses it to refuse content, so
// it can only come from a proxy or a lock and clears on retry), 425 and 429.
// A 3xx is permanent: the client does not follow redirects (the token would
// follow them), so a redirect means the base URL is wrong.
func (e *APIError) Permanent() bool {
	switch {
	case e.StatusCode >= 300 && e.StatusCode <= 399:
		return true
	case e.StatusCode == http.StatusRequestTimeout,
		e.StatusCode == http.StatusConflict,
		e.StatusCode == http.StatusTooEarly,
		e.StatusCode == http.StatusTooManyRequests:
		return false
	case e.StatusCode >= 400 && e.StatusCode <= 499:
		return true
	default:
		return false
	}
}

// IsPermanent reports whether err means "stop retrying": a permanent
// *APIError or an ErrInvalidArgument. Everything else (5xx, timeouts,
// connection refused, context deadlines, unreadable responses) is worth
// retrying.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrInvalidArgument) {
		return true
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Permanent()
	}
	return false
}

// IsNotFound reports whether Chatwoot said the account or conversation does
// not exist (a deleted conversation, a wrong id in an escalation request).
func IsNotFound(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound
}
