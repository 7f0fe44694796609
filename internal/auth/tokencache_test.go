package auth

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestVerifyAnswersARepeatedTokenFromMemory(t *testing.T) {
	iss := newTestIssuer(t)
	key := iss.addKey(t, "kid-1")
	clock := newFakeClock()
	v := newTestVerifier(t, VerifierConfig{IssuerURL: iss.URL(), Now: clock.Now})
	ctx := context.Background()

	claims := accessClaimsFor(iss.URL())
	claims["exp"] = clock.Now().Add(2 * time.Minute).Unix()
	token := key.sign(t, "JWT", claims)
	first, err := v.Verify(ctx, token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	// A caller changing its principal changes nobody else's.
	first.Groups = append(first.Groups[:0], "/teams/engineering")
	first.Roles[0] = "admin"

	again, err := v.Verify(ctx, token)
	if err != nil {
		t.Fatalf("Verify of a token verified before: %v", err)
	}
	if !slices.Equal(again.Groups, []string{"/teams/support", "/organizations/acme-corp"}) || again.Roles[0] != "approver" {
		t.Fatalf("cached principal was changed through an earlier answer: groups %q roles %q", again.Groups, again.Roles)
	}

	// What answers first is the cache: a token it holds is not parsed.
	v.verified.put("not-a-jwt", &Principal{Subject: "planted"}, clock.Now().Add(time.Minute))
	if p, err := v.Verify(ctx, "not-a-jwt"); err != nil || p.Subject != "planted" {
		t.Fatalf("Verify of a cached token = %v, %v; the cache did not answer", p, err)
	}

	// Past its expiry the token is checked in full again, and refused.
	clock.advance(2*time.Minute + time.Second)
	_, err = v.Verify(ctx, token)
	wantReason(t, err, reasonExpired, token)
}

func TestVerifierTokenCacheSize(t *testing.T) {
	for _, tc := range []struct{ size, want int }{{0, DefaultTokenCacheSize}, {10, 10}, {-1, 0}} {
		v := newTestVerifier(t, VerifierConfig{IssuerURL: "https://issuer.example/realms/r", TokenCacheSize: tc.size})
		got := 0
		if v.verified != nil {
			got = v.verified.max
		}
		if got != tc.want {
			t.Errorf("TokenCacheSize %d: cache of %d, want %d (0: off)", tc.size, got, tc.want)
		}
	}
}

func TestTokenCache(t *testing.T) {
	clock := newFakeClock()
	c := newTokenCache(2, clock.Now)
	p := &Principal{Subject: "s1", Groups: []string{"/teams/a"}}
	far := clock.Now().Add(time.Hour)

	c.put("t1", p, far)
	c.put("t2", &Principal{Subject: "s2"}, far)
	if got, ok := c.get("t1"); !ok || got.Subject != "s1" {
		t.Fatalf("get t1 = %v, %v", got, ok)
	}
	// t2 is now the least recently used and goes first.
	c.put("t3", &Principal{Subject: "s3"}, far)
	if _, ok := c.get("t2"); ok {
		t.Fatal("t2 should have been evicted")
	}
	if _, ok := c.get("t1"); !ok {
		t.Fatal("t1, used last, was evicted")
	}
	if _, ok := c.get("t3"); !ok {
		t.Fatal("t3 missing")
	}
	if c.lru.Len() != 2 || len(c.entries) != 2 {
		t.Fatalf("size %d/%d, want 2", c.lru.Len(), len(c.entries))
	}

	// However far the expiry, no token is kept past maxTokenCacheLife.
	clock.advance(maxTokenCacheLife)
	if _, ok := c.get("t1"); ok {
		t.Fatal("a token outlived the cache's maximum life")
	}
	// An expiry already past is not kept at all.
	c.put("t4", p, clock.Now())
	if _, ok := c.get("t4"); ok {
		t.Fatal("an expired token was cached")
	}
	// A nearer expiry wins over the maximum life.
	c.put("t5", p, clock.Now().Add(time.Second))
	clock.advance(time.Second)
	if _, ok := c.get("t5"); ok {
		t.Fatal("a token was answered past its expiry")
	}
}
