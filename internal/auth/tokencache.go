package auth

import (
	"container/list"
	"crypto/sha256"
	"slices"
	"sync"
	"time"
)

const (
	// DefaultTokenCacheSize is how many verified tokens a Verifier keeps
	// when its config says nothing: a shell app's users each hold one at a
	// time, refreshed every few minutes.
	DefaultTokenCacheSize = 4096
	// maxTokenCacheLife bounds how long a verified token is answered from
	// memory, whatever its expiry says: a signing key the issuer withdraws
	// (rotation after a leak) stops opening the API within this time.
	maxTokenCacheLife = 5 * time.Minute
)

// tokenCache remembers tokens that passed every check, so that a client
// sending the same token again skips the signature and claims work. Only
// successes are kept: a forged or expired token is checked in full every
// time. Keys are SHA-256 digests, so the cache holds no bearer secret.
type tokenCache struct {
	max int
	now func() time.Time

	mu      sync.Mutex
	entries map[[sha256.Size]byte]*list.Element
	lru     *list.List // front: most recently used
}

type cachedToken struct {
	key       [sha256.Size]byte
	principal Principal
	until     time.Time
}

func newTokenCache(size int, now func() time.Time) *tokenCache {
	if now == nil {
		now = time.Now
	}
	return &tokenCache{max: size, now: now, entries: make(map[[sha256.Size]byte]*list.Element), lru: list.New()}
}

// get returns a copy of the principal of a token verified before and not
// yet expired.
func (c *tokenCache) get(raw string) (*Principal, bool) {
	key := sha256.Sum256([]byte(raw))
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cachedToken)
	if !c.now().Before(e.until) {
		c.lru.Remove(el)
		delete(c.entries, key)
		return nil, false
	}
	c.lru.MoveToFront(el)
	return e.principal.clone(), true
}

// put keeps p for raw until expiry (capped at maxTokenCacheLife from now),
// evicting the least recently used token when full.
func (c *tokenCache) put(raw string, p *Principal, expiry time.Time) {
	now := c.now()
	until := now.Add(maxTokenCacheLife)
	if !expiry.IsZero() && expiry.Before(until) {
		until = expiry
	}
	if !now.Before(until) {
		return
	}
	key := sha256.Sum256([]byte(raw))
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.lru.MoveToFront(el)
		return
	}
	for c.lru.Len() >= c.max {
		oldest := c.lru.Back()
		c.lru.Remove(oldest)
		delete(c.entries, oldest.Value.(*cachedToken).key)
	}
	c.entries[key] = c.lru.PushFront(&cachedToken{key: key, principal: *p.clone(), until: until})
}

// clone copies p so that no request can change what another one reads.
func (p *Principal) clone() *Principal {
	c := *p
	c.Groups = slices.Clone(p.Groups)
	c.Roles = slices.Clone(p.Roles)
	return &c
}
