package auth_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/auth"
)

// TestTheVerifiedCacheStillChecksTimeOnEveryCall shows that a cached token
// is not a free pass: once past exp (and the leeway) it is refused, exactly
// as without the cache.
func TestTheVerifiedCacheStillChecksTimeOnEveryCall(t *testing.T) {
	for _, size := range []int{0, 100} {
		var offset atomic.Int64
		clock := func() time.Time { return testNow.Add(time.Duration(offset.Load())) }
		s, err := auth.New(auth.Config{
			Issuer: testIssuer, Audience: testAudience, AccessTTL: testTTL, Leeway: testLeeway,
			Keys: []*auth.Key{loadTestKey(t, "k", "ES256", false).key}, Clock: clock, VerifiedCacheSize: size,
		})
		if err != nil {
			t.Fatal(err)
		}
		token, _, err := s.Issue(auth.IssueRequest{Subject: "alice", SessionID: "s1"})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			c, err := s.Verify(t.Context(), token)
			if err != nil || c.Subject != "alice" {
				t.Fatalf("cache size %d, call %d: Verify = %v, %v; want alice's claims", size, i, c, err)
			}
		}
		offset.Store(int64(testTTL + testLeeway + time.Second))
		if _, err := s.Verify(t.Context(), token); !errors.Is(err, auth.ErrExpired) {
			t.Errorf("cache size %d: Verify past exp + leeway = %v, want ErrExpired", size, err)
		}
	}
}

func TestANegativeCacheSizeIsAConfigError(t *testing.T) {
	_, err := auth.New(auth.Config{
		Issuer: testIssuer, Audience: testAudience, AccessTTL: testTTL,
		Keys: []*auth.Key{loadTestKey(t, "k", "ES256", false).key}, VerifiedCacheSize: -1,
	})
	if !errors.Is(err, auth.ErrConfig) {
		t.Errorf("New with a negative cache size = %v, want ErrConfig", err)
	}
}
