package auth_test

import (
	"testing"

	"github.com/tokenguard/tokenguard/auth"
)

// BenchmarkVerify measures the hot path: one Verify per authenticated
// request.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{"HS256", "ES256"} {
		b.Run(alg, func(b *testing.B) {
			s := newTestService(b, fixedClock(testNow), loadTestKey(b, "kid-"+alg, alg, false).key)
			token, _, err := s.Issue(auth.IssueRequest{Subject: "user-1", SessionID: "session-1", ClientID: "web", Scope: "read write"})
			if err != nil {
				b.Fatalf("Issue = %v, want no error", err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Verify(token); err != nil {
					b.Fatalf("Verify = %v, want no error", err)
				}
			}
		})
	}
}
