package auth

import (
	"hash/maphash"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// verifiedCache remembers tokens whose signature has been verified, so that
// a token presented again skips the signature and the JSON decoding: ES256
// verification costs tens of microseconds, a hit well under one. It is keyed
// by a seeded hash of the exact token bytes and keeps the token itself, so a
// hit requires the very same bytes: a hash collision can only cost a miss,
// never pass an unverified token. Only signature and claim parsing are
// skipped: the time claims are checked again on every hit, and the
// revocation check runs after Verify as always. It holds only our own
// tokens, whose keys are fixed at start-up, so it never has to be cleared;
// a trusted issuer's keys can vanish with a JWKS refresh, so its tokens are
// never cached.
type verifiedCache struct {
	seed   maphash.Seed
	lru    *lru.Cache[uint64, cachedToken]
	leeway time.Duration
}

type cachedToken struct {
	raw    string
	claims *Claims
}

// newVerifiedCache returns a cache of at most size tokens, or nil when size
// is zero (the cache is off).
func newVerifiedCache(size int, leeway time.Duration) (*verifiedCache, error) {
	if size <= 0 {
		return nil, nil
	}
	c, err := lru.New[uint64, cachedToken](size)
	if err != nil {
		return nil, err
	}
	return &verifiedCache{seed: maphash.MakeSeed(), lru: c, leeway: leeway}, nil
}

// get returns the claims of a token verified before, if its time claims
// still hold at now; otherwise it forgets the token and reports a miss, so
// that the full verification says what is wrong. The claims are shared:
// callers must not modify them.
func (c *verifiedCache) get(raw string, now time.Time) (*Claims, bool) {
	key := maphash.String(c.seed, raw)
	e, ok := c.lru.Get(key)
	if !ok || e.raw != raw {
		return nil, false
	}
	cl := e.claims
	expired := cl.ExpiresAt == nil || !now.Before(cl.ExpiresAt.Add(c.leeway))
	early := cl.NotBefore != nil && now.Add(c.leeway).Before(cl.NotBefore.Time)
	if expired || early {
		c.lru.Remove(key)
		return nil, false
	}
	return cl, true
}

// add remembers a token that has just been verified.
func (c *verifiedCache) add(raw string, claims *Claims) {
	c.lru.Add(maphash.String(c.seed, raw), cachedToken{raw: raw, claims: claims})
}
