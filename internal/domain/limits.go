package domain

import (
	"unicode/utf8"
)

// Limits of what a person writes. Free text (a comment, a question, an
// answer) is counted in bytes, as the OpenAPI contract says; a user id or
// name is counted in characters, as the database's varchar(256) columns and
// the contract's maxLength count them (a name comes from a token, and its
// owner cannot shorten it to fit a byte count).
const (
	// MaxTitleChars bounds an approval's or a consultation's title.
	MaxTitleChars = 200
	// MaxDescriptionChars bounds an approval's description.
	MaxDescriptionChars = 10_000
	// MaxCommentBytes bounds a decision's comment, a question, an answer
	// and a withdrawal's comment.
	MaxCommentBytes = 4000
	// MaxUserIDChars bounds a user id or a person's name.
	MaxUserIDChars = 256
	// MaxTenantIDBytes bounds a tenant id: it travels in the row-level
	// security setting and in search attributes, counted in bytes.
	MaxTenantIDBytes = 256
)

// ValidUserID reports whether id can name a user: 1 to MaxUserIDChars
// characters of one-line text.
func ValidUserID(id string) bool {
	return id != "" && FitsUserID(id)
}

// FitsUserID reports whether s, possibly empty (an absent name), fits what
// the database stores of a user id or name.
func FitsUserID(s string) bool {
	return utf8.RuneCountInString(s) <= MaxUserIDChars && ValidText(s, false)
}

// ValidTenantID reports whether id can name a tenant: non-empty, at most
// MaxTenantIDBytes bytes, valid UTF-8 without control characters.
func ValidTenantID(id string) bool {
	if id == "" || len(id) > MaxTenantIDBytes {
		return false
	}
	for _, r := range id {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// ValidText reports whether s can be stored as text on every backend: valid
// UTF-8 without control characters (PostgreSQL refuses NUL outright; the
// others would reach Chatwoot notes and logs), except tabs and, in multiline
// fields, line breaks.
func ValidText(s string, multiline bool) bool {
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			return false
		case r == '\t' || (multiline && (r == '\n' || r == '\r')):
		case r < 0x20 || (r >= 0x7f && r <= 0x9f):
			return false
		}
	}
	return true
}
