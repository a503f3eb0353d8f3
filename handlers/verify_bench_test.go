package handlers

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/auth"
)

// BenchmarkVerifyHandler measures the forward-auth endpoint in process,
// Echo included, with the revocation check answering at once: what
// tokenguard adds around signature verification on every request.
func BenchmarkVerifyHandler(b *testing.B) {
	key, err := auth.GenerateEdDSAKey("k1")
	if err != nil {
		b.Fatal(err)
	}
	svc, err := auth.New(auth.Config{Issuer: "iss", Audience: "aud", AccessTTL: time.Hour, Keys: []*auth.Key{key}, VerifiedCacheSize: 100})
	if err != nil {
		b.Fatal(err)
	}
	h := New(Config{Auth: svc, Revocations: &fakeState{}, Logger: slog.New(slog.DiscardHandler),
		Verify: VerifyConfig{EmailClaim: "email", GroupsClaim: "groups"}})
	tok, _, err := svc.Issue(auth.IssueRequest{Subject: "alice", SessionID: "s", Scope: "read write"})
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/v1/verify", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
