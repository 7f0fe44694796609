package store

// Native fuzz targets for the parts of the store that see client input before
// any query: cursors, tenant ids and scopes. Seeds: f.Add below plus
// testdata/fuzz/<FuzzName>/.
//
//	go test ./internal/store -run '^$' -fuzz '^FuzzDecodeCursor$' -fuzztime 30s

import (
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func FuzzDecodeCursor(f *testing.F) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, s := range []string{
		"",
		"garbage",
		Cursor{CreatedAt: time.Date(2024, 5, 1, 12, 0, 0, 123456000, time.UTC), ID: "0190b2a4-7c1e-7d3a-9f00-000000000000"}.Encode(),
		enc(`{"t":"2024-01-01T00:00:00Z","i":"0190b2a4-7c1e-7d3a-9f00-000000000000"}`),
		enc(`{"t":"2024-01-01T00:00:00+05:30","i":"0190B2A4-7C1E-7D3A-9F00-000000000000"}`),
		enc(`{"t":"2024-01-01T00:00:00Z","i":"urn:uuid:0190b2a4-7c1e-7d3a-9f00-000000000000"}`),
		enc(`{"t":"2024-01-01T00:00:00Z","i":"{0190b2a4-7c1e-7d3a-9f00-000000000000}"}`),
		enc(`{"t":"2024-01-01T00:00:00Z","i":"0190b2a47c1e7d3a9f00000000000000"}`),
		enc(`{"t":"0000-01-01T00:00:00+01:00","i":"0190b2a4-7c1e-7d3a-9f00-000000000000"}`),
		enc(`{"t":"9999-12-31T23:59:59-23:59","i":"0190b2a4-7c1e-7d3a-9f00-000000000000"}`),
		enc(`{"t":"0001-01-01T00:00:00Z","i":"0190b2a4-7c1e-7d3a-9f00-000000000000"}`),
		enc(`{"T":"2024-01-01T00:00:00Z","I":"0190b2a4-7c1e-7d3a-9f00-000000000000","x":1}`),
		enc(`{"t":"2024-01-01T00:00:00Z","i":"' OR '1'='1"}`),
		enc(`{"t":"2024-01-01T00:00:00Z"}`),
		enc(`[]`), enc(`null`), enc("\xff"),
		strings.Repeat("A", 201),
		"eyJ0IjoiMjAyNC0wMS0wMVQwMDowMDowMFoiLCJpIjoieCJ9==",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := DecodeCursor(s)
		if err != nil {
			if c != nil || !errors.Is(err, ErrBadCursor) {
				t.Fatalf("DecodeCursor(%q) = %v, %v; want nil, ErrBadCursor", s, c, err)
			}
			return
		}
		if s == "" {
			if c != nil {
				t.Fatalf("DecodeCursor(\"\") = %v, want no cursor", c)
			}
			return
		}
		if c == nil {
			t.Fatalf("DecodeCursor(%q) = nil, nil", s)
		}
		if len(s) > 200 || c.CreatedAt.IsZero() || c.CreatedAt.Location() != time.UTC {
			t.Fatalf("DecodeCursor(%q) accepted %+v", s, c)
		}
		// What was accepted can be handed out again and means the same.
		again := c.Encode()
		c2, err := DecodeCursor(again)
		if err != nil || c2 == nil {
			t.Fatalf("DecodeCursor(%q) = %+v, whose Encode() %q does not decode: %v", s, c, again, err)
		}
		if !c2.CreatedAt.Equal(c.CreatedAt) || c2.ID != c.ID {
			t.Fatalf("DecodeCursor(%q) = %+v, re-encoded as %q it decodes to %+v", s, c, again, c2)
		}
		if again2 := c2.Encode(); again2 != again {
			t.Fatalf("Encode is not stable: %q then %q", again, again2)
		}
	})
}

// validTenantIDSpec is ValidTenantID written out from its documentation.
func validTenantIDSpec(id string) bool {
	if len(id) == 0 || len(id) > 256 || !utf8.ValidString(id) {
		return false
	}
	for _, r := range id {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == utf8.RuneError {
			return false
		}
	}
	return true
}

func FuzzValidTenantID(f *testing.F) {
	for _, s := range []string{
		"/teams/support", "/organizations/acme", "agent-1", "", " ", "a\x00b", "a\x1fb", "a\x7f", "\xff", "\xed\xa0\x80",
		"\uFFFD", "/teams/support' OR '1'='1", "../../etc/passwd", "ü", "\u0085", "\u2028", strings.Repeat("a", 256),
		strings.Repeat("a", 257), strings.Repeat("é", 128), strings.Repeat("é", 129),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		got := ValidTenantID(id)
		if want := validTenantIDSpec(id); got != want {
			t.Fatalf("ValidTenantID(%q) = %v, want %v", id, got, want)
		}
		if got && strings.Contains(id, rlsSeparator) {
			t.Fatalf("valid tenant id %q contains the RLS separator", id)
		}
		sc := ScopeOf(id)
		if sc.Contains(id) != got || sc.empty() == got {
			t.Fatalf("ScopeOf(%q): Contains %v, empty %v; ValidTenantID %v", id, sc.Contains(id), sc.empty(), got)
		}
		if n, ok := sc.Narrow(id); ok != got || (ok && !slices.Equal(n.Tenants(), []string{id})) {
			t.Fatalf("ScopeOf(%q).Narrow = %v, %v", id, n.Tenants(), ok)
		}
	})
}

func FuzzScopeOf(f *testing.F) {
	f.Add("/teams/support", "/organizations/acme", "agent-1", "/teams/support")
	f.Add("", "\x00", "\x1f", "a\x1fb")
	f.Add("a", "a", "a", "b")
	f.Add("\xff", "/teams/x", strings.Repeat("a", 257), "/teams/x")
	f.Add("/teams/a'; DROP TABLE approvals; --", "/teams/b", "", "/teams/b")
	f.Fuzz(func(t *testing.T, a, b, c, probe string) {
		in := []string{a, b, c}
		sc := ScopeOf(in...)
		var want []string
		for _, x := range in {
			if ValidTenantID(x) {
				want = append(want, x)
			}
		}
		got := sc.Tenants()
		if !slices.Equal(got, want) {
			t.Fatalf("ScopeOf(%q).Tenants() = %q, want %q", in, got, want)
		}
		if len(got) > 0 {
			got[0] = "mutated"
			if sc.Tenants()[0] == "mutated" {
				t.Fatal("Tenants() shares its backing array with the scope")
			}
		}
		if sc.empty() != (len(want) == 0) {
			t.Fatalf("ScopeOf(%q).empty() = %v", in, sc.empty())
		}
		// The RLS setting splits back into exactly the scope's tenants.
		if len(want) > 0 && !slices.Equal(strings.Split(sc.joined(), rlsSeparator), want) {
			t.Fatalf("ScopeOf(%q).joined() = %q does not split back into %q", in, sc.joined(), want)
		}
		contains := slices.Contains(want, probe)
		if sc.Contains(probe) != contains {
			t.Fatalf("ScopeOf(%q).Contains(%q) = %v, want %v", in, probe, !contains, contains)
		}
		n, ok := sc.Narrow(probe)
		if ok != contains {
			t.Fatalf("ScopeOf(%q).Narrow(%q) ok = %v, want %v", in, probe, ok, contains)
		}
		if ok && !slices.Equal(n.Tenants(), []string{probe}) {
			t.Fatalf("ScopeOf(%q).Narrow(%q) = %q", in, probe, n.Tenants())
		}
		if !ok && !n.empty() {
			t.Fatalf("a refused Narrow returned a non-empty scope %q", n.Tenants())
		}
		var zero Scope
		if !zero.empty() || zero.Contains(probe) {
			t.Fatal("the zero Scope matches something")
		}
	})
}
