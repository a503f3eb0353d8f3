package handlers

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tokenguard/tokenguard/auth"
)

// BenchmarkVerifyHandler measures the forward-auth endpoint in process,
// Echo included, with the revocation check answered by the loaded local
// mirror and logs at info level, as served by default: what tokenguard adds
// around signature verification on every request. "cached" answers a token seen before from
// the verified-token cache, as served by default (tokens.verified_cache_size),
// so that what remains is the HTTP layer's and the revocation check's own
// cost; "uncached" verifies the signature every time.
func BenchmarkVerifyHandler(b *testing.B) {
	for _, bc := range []struct {
		name  string
		cache int
	}{{"uncached", 0}, {"cached", 10000}} {
		b.Run(bc.name, func(b *testing.B) {
			h := newHarness(b, harnessOptions{mirror: true, verifiedCache: bc.cache, infoLogs: true, verify: VerifyConfig{EmailClaim: "email", GroupsClaim: "groups"}})
			tok, _ := h.issue(auth.IssueRequest{Subject: "alice", SessionID: "s", Scope: "read write"})
			req := httptest.NewRequest(http.MethodGet, "/v1/verify", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.e.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
