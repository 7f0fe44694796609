package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultCreateRateLimit is CREATE_RATE_LIMIT's default: enough for a person
// or a well-behaved integration, while one runaway caller cannot send
// thousands of notes and notices (each escalation also sends up to ten
// reminders).
const DefaultCreateRateLimit = "60/min"

// DefaultWebhookDedupeRetention is WEBHOOK_DEDUPE_RETENTION's default;
// MinWebhookDedupeRetention keeps a delivery's dedupe key well past the
// five-minute signature window of every receiver, and past a homeserver's
// retries of a transaction it did not see acknowledged.
const (
	DefaultWebhookDedupeRetention = 7 * 24 * time.Hour
	MinWebhookDedupeRetention     = time.Hour
)

// RateLimit is at most N events per window Per; N 0 is no limit.
type RateLimit struct {
	N   int64
	Per time.Duration
}

// Off reports whether the limit is switched off.
func (l RateLimit) Off() bool { return l.N <= 0 || l.Per <= 0 }

// String prints the limit the way CREATE_RATE_LIMIT takes it.
func (l RateLimit) String() string {
	if l.Off() {
		return "0"
	}
	switch l.Per {
	case time.Second:
		return fmt.Sprintf("%d/s", l.N)
	case time.Minute:
		return fmt.Sprintf("%d/min", l.N)
	case time.Hour:
		return fmt.Sprintf("%d/h", l.N)
	}
	return fmt.Sprintf("%d/%s", l.N, l.Per)
}

// ParseRateLimit reads "N/unit" (unit s, min or h, or a Go duration of
// whole seconds such as 10m), or "0" for no limit.
func ParseRateLimit(v string) (RateLimit, error) {
	v = strings.TrimSpace(v)
	if v == "0" {
		return RateLimit{}, nil
	}
	count, unit, ok := strings.Cut(v, "/")
	n, err := strconv.ParseInt(strings.TrimSpace(count), 10, 64)
	if !ok || err != nil || n <= 0 {
		return RateLimit{}, fmt.Errorf("%q is not a limit: N/unit with N a positive whole number (e.g. 60/min, 1000/h), or 0 for none", v)
	}
	var per time.Duration
	switch u := strings.TrimSpace(unit); u {
	case "s", "sec", "second":
		per = time.Second
	case "m", "min", "minute":
		per = time.Minute
	case "h", "hour":
		per = time.Hour
	default:
		if per, err = time.ParseDuration(u); err != nil || per < time.Second || per%time.Second != 0 || per > 24*time.Hour {
			return RateLimit{}, fmt.Errorf("%q: the window %q is not s, min, h or a whole number of seconds up to 24h", v, u)
		}
	}
	return RateLimit{N: n, Per: per}, nil
}

func (r *reader) rateLimit(name, def string) RateLimit {
	v := r.str(name, def)
	l, err := ParseRateLimit(v)
	if err != nil {
		r.bad(name, err.Error())
	}
	return l
}
