package auth

import (
	"errors"
	"strings"
	"testing"
	"unicode"
)

func TestParseBearer(t *testing.T) {
	const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_"
	tests := []struct {
		name   string
		header string
		want   string
		reason string
	}{
		{"canonical", "Bearer " + jwt, jwt, ""},
		{"lower-case scheme", "bearer " + jwt, jwt, ""},
		{"upper-case scheme", "BEARER " + jwt, jwt, ""},
		{"extra spaces before token", "Bearer   " + jwt, jwt, ""},
		{"padding allowed", "Bearer abc==", "abc==", ""},
		{"missing header", "", "", reasonMissing},
		{"only spaces", "   ", "", reasonMissing},
		{"scheme only", "Bearer", "", reasonMissing},
		{"scheme and space", "Bearer ", "", reasonMissing},
		{"basic auth", "Basic dXNlcjpwYXNz", "", reasonScheme},
		{"no scheme", jwt, "", reasonScheme},
		{"scheme glued to token", "Bearer" + jwt, "", reasonScheme},
		{"two tokens", "Bearer " + jwt + " " + jwt, "", reasonMalformedHdr},
		{"trailing space", "Bearer " + jwt + " ", "", reasonMalformedHdr},
		{"comma list", "Bearer a, Bearer b", "", reasonMalformedHdr},
		{"quoted", `Bearer "abc"`, "", reasonMalformedHdr},
		{"tab separator", "Bearer\t" + jwt, "", reasonScheme},
		{"only padding", "Bearer ==", "", reasonMalformedHdr},
		{"padding in the middle", "Bearer ab=c", "", reasonMalformedHdr},
		{"control character", "Bearer abc\x00def", "", reasonMalformedHdr},
		{"non-ASCII", "Bearer abcé", "", reasonMalformedHdr},
		{"huge", "Bearer " + strings.Repeat("a", MaxTokenSize+1), "", reasonTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBearer(tt.header)
			if tt.reason == "" {
				if err != nil || got != tt.want {
					t.Fatalf("ParseBearer = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if got != "" {
				t.Fatalf("ParseBearer returned %q with an error expected", got)
			}
			wantReason(t, err, tt.reason, "")
		})
	}
}

func FuzzParseBearer(f *testing.F) {
	for _, seed := range []string{
		"", "Bearer", "Bearer ", "bearer abc", "Bearer a.b.c", "Bearer a b",
		"Basic xyz", "Bearer ==", "Bearer abc==", "Bearer \x00", "BEARER\tabc",
		"Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		token, err := ParseBearer(header)
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) || ae.Reason == "" {
				t.Fatalf("error %v is not an *auth.Error with a reason", err)
			}
			if token != "" {
				t.Fatalf("token %q returned with error %v", token, err)
			}
			return
		}
		if token == "" || len(token) > MaxTokenSize || !strings.HasSuffix(header, token) {
			t.Fatalf("ParseBearer(%q) = %q", header, token)
		}
		if strings.IndexFunc(token, func(r rune) bool { return unicode.IsSpace(r) || r > unicode.MaxASCII || r == ',' || r == '"' }) >= 0 {
			t.Fatalf("token %q contains a character outside b64token", token)
		}
		if !strings.EqualFold(header[:len("Bearer")], "Bearer") {
			t.Fatalf("accepted scheme in %q", header)
		}
	})
}
