package auth

import "strings"

// MaxTokenSize bounds what is parsed at all. Keycloak access tokens with many
// groups stay well below it; anything larger is refused before base64 or JSON
// decoding can cost memory.
const MaxTokenSize = 16 << 10

// ParseBearer extracts the token from an Authorization header value. The
// scheme is case-insensitive (RFC 9110), and exactly one token in b64token
// syntax (RFC 6750) must follow, so that lists, quoted strings and stray
// parameters are refused instead of guessed at.
func ParseBearer(header string) (string, error) {
	if strings.TrimSpace(header) == "" {
		return "", reject(reasonMissing, nil)
	}
	if len(header) > MaxTokenSize+len("Bearer ") {
		return "", reject(reasonTooLarge, nil)
	}
	scheme, rest, found := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", reject(reasonScheme, nil)
	}
	if !found {
		return "", reject(reasonMissing, nil)
	}
	token := strings.TrimLeft(rest, " ")
	if token == "" {
		return "", reject(reasonMissing, nil)
	}
	if !isB64Token(token) {
		return "", reject(reasonMalformedHdr, nil)
	}
	return token, nil
}

// isB64Token reports whether s matches 1*( ALPHA / DIGIT / "-" / "." / "_" /
// "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}
