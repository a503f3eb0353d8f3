package handlers

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tokenguard/tokenguard/auth"
)

// BenchmarkVerifyHandler measures the forward-auth endpoint in process,
// Echo included, with the revocation check answered by the loaded local
// mirror, as served by default: what tokenguard adds around signature
// verification on every request.
func BenchmarkVerifyHandler(b *testing.B) {
	h := newHarness(b, harnessOptions{mirror: true, verify: VerifyConfig{EmailClaim: "email", GroupsClaim: "groups"}})
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
}
