package domain

import (
	"fmt"
	"time"
)

// Defaults of a consultation's durations (CONSULTATION_MAX_DURATION and
// CONSULTATION_START_TIMEOUT); a workflow input without them means these.
const (
	DefaultConsultationMaxDuration  = 2 * time.Hour
	DefaultConsultationStartTimeout = 7 * 24 * time.Hour
)

// Bounds of an approval policy: the most reminders a policy may list, how
// many questions an escalation takes unless its tenant's policy says
// otherwise, and the most a policy may allow.
const (
	MaxApprovalReminders = 10
	DefaultMaxQuestions  = 5
	MaxMaxQuestions      = 100
)

// PolicyProblem is one way an approval policy breaks the rules. Field is the
// setting at fault, by its API name: defaultTtl, maxTtl or reminders.
type PolicyProblem struct {
	Field, Detail string
}

// CheckApprovalPolicy applies the rules every approval policy follows, the
// configured default and each tenant's: both times positive, the default no
// longer than the maximum, at most MaxApprovalReminders reminders, each
// positive, before the maximum and listed once. Every time is a whole number
// of seconds, which is what the database stores. Nil means valid.
func CheckApprovalPolicy(defaultTTL, maxTTL time.Duration, reminders []time.Duration) []PolicyProblem {
	var out []PolicyProblem
	bad := func(field, format string, args ...any) {
		out = append(out, PolicyProblem{field, fmt.Sprintf(format, args...)})
	}
	switch {
	case defaultTTL <= 0:
		bad("defaultTtl", "must be positive")
	case defaultTTL%time.Second != 0:
		bad("defaultTtl", "must be a whole number of seconds")
	case maxTTL > 0 && defaultTTL > maxTTL:
		bad("defaultTtl", "must not be longer than the maximum (%s)", maxTTL)
	}
	switch {
	case maxTTL <= 0:
		bad("maxTtl", "must be positive")
	case maxTTL%time.Second != 0:
		bad("maxTtl", "must be a whole number of seconds")
	}
	if len(reminders) > MaxApprovalReminders {
		bad("reminders", "must list at most %d reminders", MaxApprovalReminders)
		return out
	}
	seen := make(map[time.Duration]bool, len(reminders))
	for _, d := range reminders {
		switch {
		case d <= 0:
			bad("reminders", "%s: every reminder must be positive", d)
		case d%time.Second != 0:
			bad("reminders", "%s: every reminder must be a whole number of seconds", d)
		case maxTTL > 0 && d >= maxTTL:
			bad("reminders", "%s: every reminder must come before the maximum (%s)", d, maxTTL)
		case seen[d]:
			bad("reminders", "%s is listed twice", d)
		}
		seen[d] = true
	}
	return out
}

// CheckQuestionPolicy applies the rules of a policy's questions: between 1
// and MaxMaxQuestions of them, and a time for an answer (0: the default
// TTL's) that is a positive whole number of seconds no longer than the
// maximum TTL. Nil means valid.
func CheckQuestionPolicy(maxQuestions int, answerTTL, maxTTL time.Duration) []PolicyProblem {
	var out []PolicyProblem
	if maxQuestions < 1 || maxQuestions > MaxMaxQuestions {
		out = append(out, PolicyProblem{"maxQuestions", fmt.Sprintf("must be between 1 and %d", MaxMaxQuestions)})
	}
	switch {
	case answerTTL < 0:
		out = append(out, PolicyProblem{"answerTtl", "must be positive"})
	case answerTTL%time.Second != 0:
		out = append(out, PolicyProblem{"answerTtl", "must be a whole number of seconds"})
	case maxTTL > 0 && answerTTL > maxTTL:
		out = append(out, PolicyProblem{"answerTtl", fmt.Sprintf("must not be longer than the maximum (%s)", maxTTL)})
	}
	return out
}
