package auth_test

import (
	"path/filepath"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokenguard/tokenguard/auth"
)

// BenchmarkVerify measures the hot path: one Verify per authenticated
// request, without and with the verified-token cache (the same token
// presented again, as a client does for the token's lifetime).
func BenchmarkVerify(b *testing.B) {
	for _, v := range []struct {
		alg   string
		cache int
	}{{"HS256", 0}, {"ES256", 0}, {"HS256", 10000}, {"ES256", 10000}} {
		name := v.alg
		if v.cache > 0 {
			name += "/cached"
		}
		alg := v.alg
		b.Run(name, func(b *testing.B) {
			s, err := auth.New(auth.Config{
				Issuer: testIssuer, Audience: testAudience, AccessTTL: testTTL, Leeway: testLeeway,
				Keys: []*auth.Key{loadTestKey(b, "kid-"+alg, alg, false).key}, Clock: fixedClock(testNow),
				VerifiedCacheSize: v.cache,
			})
			if err != nil {
				b.Fatal(err)
			}
			token, _, err := s.Issue(auth.IssueRequest{Subject: "user-1", SessionID: "session-1", ClientID: "web", Scope: "read write"})
			if err != nil {
				b.Fatalf("Issue = %v, want no error", err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Verify(b.Context(), token); err != nil {
					b.Fatalf("Verify = %v, want no error", err)
				}
			}
		})
	}
}

// BenchmarkVerifyWithTrustedIssuers shows what trusted issuers cost: our own
// tokens must cost what they cost without any (the dispatch happens only
// after our checks fail), and a trusted issuer's token pays one failed
// parse on top of its own verification.
func BenchmarkVerifyWithTrustedIssuers(b *testing.B) {
	own := loadTestKey(b, "own", "ES256", false)
	idp := loadTestKey(b, "idp", "ES256", false)
	ti, err := auth.NewTrustedIssuer(b.Context(), auth.TrustedIssuerConfig{
		Issuer: "https://idp.example.test/", Audience: testAudience, Algorithms: []string{"ES256"},
		PublicKeyFile: filepath.Join(idp.dir, "public.pem"),
	})
	if err != nil {
		b.Fatal(err)
	}
	s, err := auth.New(auth.Config{Issuer: testIssuer, Audience: testAudience, AccessTTL: testTTL, Leeway: testLeeway,
		Keys: []*auth.Key{own.key}, Clock: fixedClock(testNow), TrustedIssuers: []*auth.TrustedIssuer{ti}})
	if err != nil {
		b.Fatal(err)
	}
	ours, _, err := s.Issue(auth.IssueRequest{Subject: "user-1", SessionID: "session-1", ClientID: "web", Scope: "read write"})
	if err != nil {
		b.Fatal(err)
	}
	claims := validClaims(testNow)
	claims["iss"] = "https://idp.example.test/"
	foreign := forge(b, map[string]any{"alg": "ES256", "kid": "idp", "typ": "JWT"}, claims, idp.method, idp.signer)
	for name, token := range map[string]string{"ours": ours, "foreign": foreign} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Verify(b.Context(), token); err != nil {
					b.Fatalf("Verify = %v, want no error", err)
				}
			}
		})
	}
}

// BenchmarkExtra measures what /v1/verify pays for the email and groups
// headers, which Verify leaves undecoded.
func BenchmarkExtra(b *testing.B) {
	s := newTestService(b, fixedClock(testNow), loadTestKey(b, "hs", "HS256", false).key)
	for name, extra := range map[string]map[string]any{
		"without the claims": nil,
		"with the claims":    {"email": "user-1@example.test", "groups": []string{"admins", "dev"}},
	} {
		b.Run(name, func(b *testing.B) {
			token, _, err := s.Issue(auth.IssueRequest{Subject: "user-1", SessionID: "session-1", ClientID: "web", Scope: "read write", Extra: extra})
			if err != nil {
				b.Fatal(err)
			}
			c, err := s.Verify(b.Context(), token)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Extra("email", "groups"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyLogout measures checking one back-channel logout token of
// a trusted issuer (RS256, a 2048-bit key), the work an unauthenticated
// caller of /v1/backchannel-logout can cause per request.
func BenchmarkVerifyLogout(b *testing.B) {
	k := newRSAKey(b, 2048)
	file := writePEM(b, b.TempDir(), "idp.pem", "PUBLIC KEY", marshalPKIX(b, &k.PublicKey))
	ti, err := auth.NewTrustedIssuer(b.Context(), auth.TrustedIssuerConfig{Issuer: foreignIssuer, Audience: "api", Algorithms: []string{"RS256"}, PublicKeyFile: file})
	if err != nil {
		b.Fatal(err)
	}
	s, err := auth.New(auth.Config{
		Issuer: testIssuer, Audience: testAudience, AccessTTL: testTTL, Leeway: testLeeway,
		Keys: []*auth.Key{loadTestKey(b, "own", "ES256", false).key}, Clock: fixedClock(testNow),
		TrustedIssuers: []*auth.TrustedIssuer{ti},
	})
	if err != nil {
		b.Fatal(err)
	}
	token := forge(b, map[string]any{"alg": "RS256", "typ": "logout+jwt"}, logoutClaimSet(testNow), jwt.SigningMethodRS256, k)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.VerifyLogout(b.Context(), token); err != nil {
			b.Fatalf("VerifyLogout = %v, want no error", err)
		}
	}
}
