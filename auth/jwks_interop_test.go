package auth_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/tokenguard/tokenguard/auth"
)

// TestOurTokensVerifyWithAnotherJWTLibrary checks the JWKS and the tokens
// against an independent implementation (lestrrat-go/jwx rather than
// golang-jwt, which signs them): a third party that only has our published
// keys must be able to verify what we issue, for every asymmetric algorithm.
func TestOurTokensVerifyWithAnotherJWTLibrary(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		t.Run(alg+" tokens verify against the published JWKS", func(t *testing.T) {
			signer := loadTestKey(t, "sign-"+alg, alg, false)
			// A verify-only key and an HMAC key are configured too, so the
			// set holds more than the one key and must be searched by kid.
			retired := loadTestKey(t, "retired", "ES256", true)
			hmac := loadTestKey(t, "hmac", "HS256", true)
			s := newTestService(t, fixedClock(testNow), signer.key, retired.key, hmac.key)

			token, _, err := s.Issue(auth.IssueRequest{Subject: "user-1", SessionID: "s1", ClientID: "web", Scope: "read"})
			if err != nil {
				t.Fatal(err)
			}
			published, err := json.Marshal(s.JWKS())
			if err != nil {
				t.Fatal(err)
			}
			set, err := jwk.Parse(published)
			if err != nil {
				t.Fatalf("jwx cannot parse our JWKS %s: %v", published, err)
			}
			if got := set.Len(); got != 2 {
				t.Errorf("JWKS has %d keys, want 2 (the HMAC key is never published)", got)
			}
			tok, err := jwt.ParseString(token,
				jwt.WithKeySet(set),
				jwt.WithClock(jwt.ClockFunc(func() time.Time { return testNow })),
				jwt.WithIssuer(testIssuer),
				jwt.WithAudience(testAudience),
			)
			if err != nil {
				t.Fatalf("jwx refuses our %s token: %v", alg, err)
			}
			if sub, ok := tok.Subject(); !ok || sub != "user-1" {
				t.Errorf("jwx reads sub = %q, want user-1", sub)
			}

			// The control: jwx must refuse a token our JWKS cannot verify.
			other := newTestService(t, fixedClock(testNow), loadTestKey(t, "sign-"+alg, alg, false).key)
			forged, _, err := other.Issue(auth.IssueRequest{Subject: "user-1"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := jwt.ParseString(forged, jwt.WithKeySet(set), jwt.WithClock(jwt.ClockFunc(func() time.Time { return testNow }))); err == nil {
				t.Errorf("jwx accepted a token signed by another key under our kid; the check above would prove nothing")
			}
		})
	}
}
