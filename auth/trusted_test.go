package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokenguard/tokenguard/auth"
)

const foreignIssuer = "https://idp.example.test/"

// jwksServer plays another identity provider's JWKS endpoint on loopback:
// the test decides which keys it publishes and whether it is up, and it
// counts the fetches.
type jwksServer struct {
	url     string
	fetches atomic.Int64

	mu   sync.Mutex
	keys []map[string]any
	down bool
}

func newJWKSServer(t *testing.T, keys ...map[string]any) *jwksServer {
	t.Helper()
	js := &jwksServer{keys: keys}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		js.fetches.Add(1)
		js.mu.Lock()
		defer js.mu.Unlock()
		if js.down {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(map[string]any{"keys": js.keys}); err != nil {
			t.Errorf("encode JWKS: %v", err)
		}
	}))
	t.Cleanup(srv.Close)
	js.url = srv.URL + "/.well-known/jwks.json"
	return js
}

// publish replaces the published keys: the provider's key rotation.
func (js *jwksServer) publish(keys ...map[string]any) {
	js.mu.Lock()
	defer js.mu.Unlock()
	js.keys = keys
}

func (js *jwksServer) setDown(down bool) {
	js.mu.Lock()
	defer js.mu.Unlock()
	js.down = down
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid string, pub *rsa.PublicKey, extra map[string]any) map[string]any {
	m := map[string]any{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes())}
	for k, v := range extra {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

func ecJWK(t *testing.T, kid string, pub *ecdsa.PublicKey) map[string]any {
	t.Helper()
	point, err := pub.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{"kty": "EC", "kid": kid, "alg": "ES256", "use": "sig", "crv": "P-256", "x": b64(point[1:33]), "y": b64(point[33:])}
}

// foreignClaims returns the claims of a token the foreign issuer would mint
// at now, shaped like Keycloak's: azp rather than client_id, no jti by
// default here.
func foreignClaimSet(now time.Time) map[string]any {
	return map[string]any{
		"iss": foreignIssuer,
		"sub": "f:0b6f8a2c",
		"aud": "api",
		"exp": now.Add(time.Hour).Unix(),
		"iat": now.Unix(),
		"azp": "spa",
	}
}

func newTrusted(t *testing.T, cfg auth.TrustedIssuerConfig) *auth.TrustedIssuer {
	t.Helper()
	if cfg.Issuer == "" {
		cfg.Issuer = foreignIssuer
	}
	if cfg.Audience == "" {
		cfg.Audience = "api"
	}
	if cfg.Algorithms == nil {
		cfg.Algorithms = []string{"RS256", "ES256"}
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = time.Hour // no background refresh during a test
	}
	ti, err := auth.NewTrustedIssuer(t.Context(), cfg)
	if err != nil {
		t.Fatalf("NewTrustedIssuer = %v, want no error", err)
	}
	return ti
}

func newServiceTrusting(t *testing.T, own *auth.Key, trusted ...*auth.TrustedIssuer) *auth.Service {
	t.Helper()
	s, err := auth.New(auth.Config{
		Issuer: testIssuer, Audience: testAudience, AccessTTL: testTTL, Leeway: testLeeway,
		Keys: []*auth.Key{own}, Clock: fixedClock(testNow), TrustedIssuers: trusted,
	})
	if err != nil {
		t.Fatalf("New = %v, want no error", err)
	}
	return s
}

func TestTrustedIssuerTokensVerifyAgainstTheirJWKS(t *testing.T) {
	k1 := newRSAKey(t, 2048)
	js := newJWKSServer(t, rsaJWK("k1", &k1.PublicKey, nil))
	own := loadTestKey(t, "k1", "ES256", false) // the same kid as the provider's key, on purpose
	s := newServiceTrusting(t, own.key, newTrusted(t, auth.TrustedIssuerConfig{JWKSURL: js.url}))

	c := foreignClaimSet(testNow)
	c["scp"] = []string{"read", "admin"}
	c["session_id"] = "f-session"
	c["email"] = "alice@example.test"
	c["iat_us"] = testNow.Add(999 * time.Millisecond).UnixMicro() // not ours to trust
	token := forge(t, map[string]any{"alg": "RS256", "kid": "k1", "typ": "JWT"}, c, jwt.SigningMethodRS256, k1)

	got, err := s.Verify(t.Context(), token)
	if err != nil {
		t.Fatalf("Verify(foreign token) = %v, want no error", err)
	}
	for name, pair := range map[string][2]string{
		"issuer":     {got.Issuer, foreignIssuer},
		"subject":    {got.Subject, "f:0b6f8a2c"},
		"client_id":  {got.ClientID, "spa"},
		"scope":      {got.Scope, "read admin"},
		"session id": {got.SessionID, "f-session"},
	} {
		if pair[0] != pair[1] {
			t.Errorf("%s = %q, want %q", name, pair[0], pair[1])
		}
	}
	if !got.IDDerived() || !strings.HasPrefix(got.ID, "sha256:") {
		t.Errorf("ID = %q (derived %v), want an ID derived from a token without jti", got.ID, got.IDDerived())
	}
	if again, err := s.Verify(t.Context(), token); err != nil || again.ID != got.ID {
		t.Errorf("Verify again = %v, %v; want the same derived ID %q", again, err, got.ID)
	}
	if want := time.Unix(testNow.Unix(), 0); !got.IssuedAtPrecise().Equal(want) {
		t.Errorf("IssuedAtPrecise() = %s, want %s: iat_us of another issuer must be ignored", got.IssuedAtPrecise(), want)
	}
	extra, err := got.Extra("email", "groups")
	if err != nil || string(extra["email"]) != `"alice@example.test"` || len(extra) != 1 {
		t.Errorf("Extra(email, groups) = %q, %v; want only the email", extra, err)
	}

	c["jti"] = "idp-jti-1"
	withJTI, err := s.Verify(t.Context(), forge(t, map[string]any{"alg": "RS256", "kid": "k1"}, c, jwt.SigningMethodRS256, k1))
	if err != nil {
		t.Fatalf("Verify(foreign token with jti and no typ) = %v, want no error", err)
	}
	if withJTI.ID != "idp-jti-1" || withJTI.IDDerived() {
		t.Errorf("ID = %q (derived %v), want the token's own jti", withJTI.ID, withJTI.IDDerived())
	}

	ours, _, err := s.Issue(auth.IssueRequest{Subject: "user-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(t.Context(), ours); err != nil {
		t.Errorf("Verify(our token) with a trusted issuer configured = %v, want no error", err)
	}
	if !s.Trusts(foreignIssuer) || s.Trusts(testIssuer) || s.Trusts("") {
		t.Errorf("Trusts: want true for the trusted issuer only, never for our own or the empty issuer")
	}
}

func TestTrustedIssuerKeyRotationOutageAndRateLimit(t *testing.T) {
	k1, k2 := newRSAKey(t, 2048), newRSAKey(t, 2048)
	js := newJWKSServer(t, rsaJWK("k1", &k1.PublicKey, nil))
	s := newServiceTrusting(t, loadTestKey(t, "own", "EdDSA", false).key,
		newTrusted(t, auth.TrustedIssuerConfig{JWKSURL: js.url, UnknownKIDInterval: time.Hour}))
	sign := func(kid string, key *rsa.PrivateKey) string {
		return forge(t, map[string]any{"alg": "RS256", "kid": kid, "typ": "JWT"}, foreignClaimSet(testNow), jwt.SigningMethodRS256, key)
	}
	verify := func(name, token string, want error) {
		t.Helper()
		_, err := s.Verify(t.Context(), token)
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Errorf("%s: Verify = %v, want %v", name, err, want)
		}
	}
	if got := js.fetches.Load(); got != 1 {
		t.Fatalf("fetches after start = %d, want 1", got)
	}
	verify("a token of the published key", sign("k1", k1), nil)
	if got := js.fetches.Load(); got != 1 {
		t.Errorf("fetches after verifying a known kid = %d, want 1 (served from cache)", got)
	}

	// The provider rotates: k2 replaces k1. The first token with the new
	// kid makes tokenguard fetch the set again.
	js.publish(rsaJWK("k2", &k2.PublicKey, nil))
	verify("a token of the provider's new key", sign("k2", k2), nil)
	if got := js.fetches.Load(); got != 2 {
		t.Errorf("fetches after an unknown kid = %d, want 2", got)
	}
	verify("a token of the key the provider dropped", sign("k1", k1), auth.ErrUnknownKey)

	// Another unknown kid within the interval: refused without a fetch.
	verify("a token with a made-up kid", sign("k-random", k2), auth.ErrUnknownKey)
	if got := js.fetches.Load(); got != 2 {
		t.Errorf("fetches after a second unknown kid within the interval = %d, want 2 (rate limited)", got)
	}

	// The provider goes down: the cached key still verifies.
	js.setDown(true)
	verify("a token of the cached key while the provider is down", sign("k2", k2), nil)
}

func TestTrustedIssuerThatIsDownAtStartRecoversOnTheFirstToken(t *testing.T) {
	k1 := newRSAKey(t, 2048)
	js := newJWKSServer(t, rsaJWK("k1", &k1.PublicKey, nil))
	js.setDown(true)
	s := newServiceTrusting(t, loadTestKey(t, "own", "EdDSA", false).key, newTrusted(t, auth.TrustedIssuerConfig{JWKSURL: js.url}))
	token := forge(t, map[string]any{"alg": "RS256", "kid": "k1"}, foreignClaimSet(testNow), jwt.SigningMethodRS256, k1)
	js.setDown(false)
	if _, err := s.Verify(t.Context(), token); err != nil {
		t.Errorf("Verify once the provider is back = %v, want no error", err)
	}
}

func TestTrustedIssuerWithAPublicKeyFile(t *testing.T) {
	es := loadTestKey(t, "any", "ES256", false)
	ti := newTrusted(t, auth.TrustedIssuerConfig{PublicKeyFile: filepath.Join(es.dir, "public.pem"), Algorithms: []string{"ES256"}})
	s := newServiceTrusting(t, loadTestKey(t, "own", "EdDSA", false).key, ti)
	for _, header := range []map[string]any{
		{"alg": "ES256"},
		{"alg": "ES256", "kid": "whatever", "typ": "at+jwt"},
	} {
		if _, err := s.Verify(t.Context(), forge(t, header, foreignClaimSet(testNow), jwt.SigningMethodES256, es.signer)); err != nil {
			t.Errorf("Verify(header %v) = %v, want no error", header, err)
		}
	}
}

// TestTrustedIssuerRefusesHostileTokens is the trusted-issuer counterpart
// of TestVerifyRejectsHostileTokens: whatever a token says about its issuer,
// it passes only every check of the issuer it names.
func TestTrustedIssuerRefusesHostileTokens(t *testing.T) {
	k1 := newRSAKey(t, 2048)
	small := newRSAKey(t, 1024)
	ec := newECKey(t, elliptic.P256())
	js := newJWKSServer(t,
		rsaJWK("k1", &k1.PublicKey, nil),
		rsaJWK("enc", &k1.PublicKey, map[string]any{"use": "enc", "alg": nil}),
		rsaJWK("small", &small.PublicKey, nil),
		ecJWK(t, "ec", &ec.PublicKey),
	)
	own := loadTestKey(t, "own", "RS256", false)
	s := newServiceTrusting(t, own.key, newTrusted(t, auth.TrustedIssuerConfig{JWKSURL: js.url, Algorithms: []string{"RS256"}, UnknownKIDInterval: time.Hour}))

	claims := func(set map[string]any, drop ...string) map[string]any {
		c := foreignClaimSet(testNow)
		for k, v := range set {
			c[k] = v
		}
		for _, k := range drop {
			delete(c, k)
		}
		return c
	}
	hdr := func(kid string, set map[string]any) map[string]any {
		h := map[string]any{"alg": "RS256", "kid": kid, "typ": "JWT"}
		for k, v := range set {
			h[k] = v
		}
		return h
	}
	signed := func(h, c map[string]any) string { return forge(t, h, c, jwt.SigningMethodRS256, k1) }
	pubPEM := marshalPKIX(t, &k1.PublicKey)

	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"a token claiming the trusted issuer but signed by our key", forge(t, hdr("own", nil), claims(nil), own.method, own.signer), auth.ErrUnknownKey},
		{"a token claiming our issuer but signed by the provider's key", signed(hdr("k1", map[string]any{"typ": "at+jwt"}), claims(map[string]any{"iss": testIssuer, "aud": testAudience, "jti": "j"})), auth.ErrUnknownKey},
		{"a token for another audience", signed(hdr("k1", nil), claims(map[string]any{"aud": "other-api"})), auth.ErrClaims},
		{"an issuer that differs by a trailing slash (not trusted, so checked as ours)", signed(hdr("k1", nil), claims(map[string]any{"iss": strings.TrimSuffix(foreignIssuer, "/")})), auth.ErrUnknownKey},
		{"an algorithm the issuer is not pinned to", forge(t, hdr("ec", map[string]any{"alg": "ES256"}), claims(nil), jwt.SigningMethodES256, ec), auth.ErrAlgorithm},
		{"HS256 keyed with the provider's public key", forge(t, hdr("k1", map[string]any{"alg": "HS256"}), claims(nil), jwt.SigningMethodHS256, pubPEM), auth.ErrAlgorithm},
		{"alg none", forge(t, hdr("k1", map[string]any{"alg": "none"}), claims(nil), nil, nil), auth.ErrAlgorithm},
		{"a key published for encryption", signed(hdr("enc", nil), claims(nil)), auth.ErrUnknownKey},
		{"an RSA key under 2048 bits", forge(t, hdr("small", nil), claims(nil), jwt.SigningMethodRS256, small), auth.ErrAlgorithm},
		{"a token without kid", signed(map[string]any{"alg": "RS256", "typ": "JWT"}, claims(nil)), auth.ErrUnknownKey},
		{"a logout token", signed(hdr("k1", map[string]any{"typ": "logout+jwt"}), claims(nil)), auth.ErrClaims},
		{"a crit header", signed(hdr("k1", map[string]any{"crit": []string{"b64"}}), claims(nil)), auth.ErrClaims},
		{"an expired token", signed(hdr("k1", nil), claims(map[string]any{"exp": testNow.Add(-time.Hour).Unix()})), auth.ErrExpired},
		{"a token without exp", signed(hdr("k1", nil), claims(nil, "exp")), auth.ErrClaims},
		{"a token without sub", signed(hdr("k1", nil), claims(nil, "sub")), auth.ErrClaims},
		{"a scope that is a number", signed(hdr("k1", nil), claims(map[string]any{"scope": 7})), auth.ErrMalformed},
		{"a tampered payload", tamper(t, signed(hdr("k1", nil), claims(nil))), auth.ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			got, err := s.Verify(t.Context(), tt.token)
			if !errors.Is(err, tt.want) || !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("Verify = %v, %v; want error wrapping %v and ErrInvalidToken", got, err, tt.want)
			}
			checkErrorHidesDetails(t, err, tt.token)
		})
	}
	if _, err := s.Verify(t.Context(), signed(hdr("k1", nil), claims(nil))); err != nil {
		t.Errorf("control: Verify(well-formed foreign token) = %v, want no error (the table would prove nothing)", err)
	}
}

// tamper changes the subject of a signed token without re-signing it.
func tamper(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	c := decodeSegment(t, token, 1)
	c["sub"] = "admin"
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return parts[0] + "." + b64(b) + "." + parts[2]
}

func TestNewTrustedIssuerRejectsBadConfig(t *testing.T) {
	es := loadTestKey(t, "any", "ES256", false)
	pub := filepath.Join(es.dir, "public.pem")
	tests := []struct {
		name string
		cfg  auth.TrustedIssuerConfig
	}{
		{"no issuer", auth.TrustedIssuerConfig{Audience: "api", Algorithms: []string{"ES256"}, PublicKeyFile: pub}},
		{"no audience", auth.TrustedIssuerConfig{Issuer: foreignIssuer, Algorithms: []string{"ES256"}, PublicKeyFile: pub}},
		{"no algorithms", auth.TrustedIssuerConfig{Issuer: foreignIssuer, Audience: "api", PublicKeyFile: pub}},
		{"an HMAC algorithm", auth.TrustedIssuerConfig{Issuer: foreignIssuer, Audience: "api", Algorithms: []string{"HS256"}, PublicKeyFile: pub}},
		{"neither a JWKS URL nor a key file", auth.TrustedIssuerConfig{Issuer: foreignIssuer, Audience: "api", Algorithms: []string{"ES256"}}},
		{"both a JWKS URL and a key file", auth.TrustedIssuerConfig{Issuer: foreignIssuer, Audience: "api", Algorithms: []string{"ES256"}, PublicKeyFile: pub, JWKSURL: "https://idp.example.test/jwks"}},
		{"a JWKS URL that is not http(s)", auth.TrustedIssuerConfig{Issuer: foreignIssuer, Audience: "api", Algorithms: []string{"ES256"}, JWKSURL: "file:///etc/passwd"}},
		{"a key file that fits none of the algorithms", auth.TrustedIssuerConfig{Issuer: foreignIssuer, Audience: "api", Algorithms: []string{"RS256"}, PublicKeyFile: pub}},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is rejected", func(t *testing.T) {
			if _, err := auth.NewTrustedIssuer(t.Context(), tt.cfg); !errors.Is(err, auth.ErrConfig) {
				t.Errorf("NewTrustedIssuer = %v, want ErrConfig", err)
			}
		})
	}

	ti := newTrusted(t, auth.TrustedIssuerConfig{PublicKeyFile: pub, Algorithms: []string{"ES256"}})
	own := loadTestKey(t, "own", "EdDSA", false).key
	for name, list := range map[string][]*auth.TrustedIssuer{
		"a trusted issuer listed twice": {ti, ti},
		"our own issuer as trusted":     {newTrusted(t, auth.TrustedIssuerConfig{Issuer: testIssuer, PublicKeyFile: pub, Algorithms: []string{"ES256"}})},
		"a nil trusted issuer":          {nil},
	} {
		t.Run(name+" is rejected", func(t *testing.T) {
			_, err := auth.New(auth.Config{Issuer: testIssuer, Audience: testAudience, AccessTTL: testTTL, Keys: []*auth.Key{own}, TrustedIssuers: list})
			if !errors.Is(err, auth.ErrConfig) {
				t.Errorf("New = %v, want ErrConfig", err)
			}
		})
	}
}

func TestExtraDecodesOnlyWhatIsAsked(t *testing.T) {
	s := newTestService(t, fixedClock(testNow), loadTestKey(t, "hs", "HS256", false).key)
	verified := func(extra map[string]any) *auth.Claims {
		t.Helper()
		token, _, err := s.Issue(auth.IssueRequest{Subject: "user-1", Extra: extra})
		if err != nil {
			t.Fatal(err)
		}
		c, err := s.Verify(t.Context(), token)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name  string
		extra map[string]any
		want  map[string]string
	}{
		{"a token with neither claim gives nothing", map[string]any{"tenant": "acme"}, map[string]string{}},
		{"a token with both gives both as JSON", map[string]any{"email": "a@example.test", "groups": []string{"x", "y"}}, map[string]string{"email": `"a@example.test"`, "groups": `["x","y"]`}},
		{"a claim whose value merely contains a name is not mistaken for it", map[string]any{"note": "email"}, map[string]string{}},
		{"a namespaced claim name works", map[string]any{"https://example.test/groups": []string{"x"}}, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := verified(tt.extra).Extra("email", "groups")
			if err != nil {
				t.Fatalf("Extra = %v, want no error", err)
			}
			if len(got) != len(tt.want) {
				t.Errorf("Extra = %q, want %q", got, tt.want)
			}
			for k, v := range tt.want {
				if string(got[k]) != v {
					t.Errorf("Extra[%s] = %s, want %s", k, got[k], v)
				}
			}
		})
	}
	got, err := verified(map[string]any{"https://example.test/groups": []string{"x"}}).Extra("https://example.test/groups")
	if err != nil || string(got["https://example.test/groups"]) != `["x"]` {
		t.Errorf("Extra(namespaced) = %q, %v; want the list", got, err)
	}
	if got, err := (&auth.Claims{}).Extra("email"); got != nil || err != nil {
		t.Errorf("Extra on claims not from Verify = %q, %v; want nothing", got, err)
	}
}
