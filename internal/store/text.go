package store

import (
	"strconv"
	"strings"

	"github.com/orchestrator-dev/orchestrator/internal/domain"
)

// ValidText reports whether s can be stored as text on every backend
// (domain.ValidText).
func ValidText(s string, multiline bool) bool { return domain.ValidText(s, multiline) }

// CleanText drops from s what ValidText refuses, for text that arrives from
// other systems (a Chatwoot note) and is stored as it came, less that.
func CleanText(s string, multiline bool) string {
	if ValidText(s, multiline) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if ValidText(string(r), multiline) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// StorableJSON reports whether the \u escapes of a JSON document can be
// stored by PostgreSQL's jsonb: no NUL, surrogates only in pairs.
func StorableJSON(b []byte) bool {
	inString := false
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '"':
			inString = !inString
		case inString && b[i] == '\\' && i+1 < len(b):
			if b[i+1] != 'u' {
				i++
				continue
			}
			code, ok := hex4(b, i+2)
			if !ok {
				return false
			}
			switch {
			case code == 0:
				return false
			case code >= 0xdc00 && code <= 0xdfff:
				return false // a low surrogate without its high half
			case code >= 0xd800 && code <= 0xdbff:
				low, ok := hex4(b, i+8)
				if !ok || i+7 >= len(b) || b[i+6] != '\\' || b[i+7] != 'u' || low < 0xdc00 || low > 0xdfff {
					return false
				}
				i += 6
			}
			i += 5
		}
	}
	return true
}

func hex4(b []byte, at int) (int, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[at:at+4]), 16, 16)
	return int(n), err == nil
}
