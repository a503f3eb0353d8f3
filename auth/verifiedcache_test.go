package auth

import (
	"hash/maphash"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func cachedClaims(exp time.Time) *Claims {
	return &Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice", ExpiresAt: jwt.NewNumericDate(exp)}}
}

func TestAHitNeedsTheExactTokenBytesNotJustTheHash(t *testing.T) {
	c, err := newVerifiedCache(10, 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c.add("token-a", cachedClaims(now.Add(time.Minute)))
	if _, ok := c.get("token-a", now); !ok {
		t.Fatalf("get of the cached token missed, want a hit")
	}
	// Forge a hash collision: token-b's slot holds token-a's entry.
	c.lru.Add(maphash.String(c.seed, "token-b"), cachedToken{raw: "token-a", claims: cachedClaims(now.Add(time.Minute))})
	if cl, ok := c.get("token-b", now); ok {
		t.Errorf("get of token-b hit %+v through a colliding hash, want a miss", cl)
	}
}

func TestACachedTokenPastItsTimeIsForgotten(t *testing.T) {
	c, err := newVerifiedCache(10, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c.add("t", cachedClaims(now.Add(time.Minute)))
	if _, ok := c.get("t", now.Add(time.Minute+29*time.Second)); !ok {
		t.Errorf("get within the leeway missed, want a hit")
	}
	if _, ok := c.get("t", now.Add(time.Minute+30*time.Second)); ok {
		t.Errorf("get past exp + leeway hit, want a miss")
	}
	if n := c.lru.Len(); n != 0 {
		t.Errorf("cache holds %d entries after the token expired, want 0", n)
	}
	early := cachedClaims(now.Add(time.Hour))
	early.NotBefore = jwt.NewNumericDate(now.Add(10 * time.Minute))
	c.add("early", early)
	if _, ok := c.get("early", now); ok {
		t.Errorf("get before nbf - leeway hit, want a miss")
	}
}

func TestASizeOfZeroTurnsTheCacheOff(t *testing.T) {
	c, err := newVerifiedCache(0, 0)
	if err != nil || c != nil {
		t.Errorf("newVerifiedCache(0) = %v, %v; want nil, nil", c, err)
	}
}
