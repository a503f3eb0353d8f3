package auth_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tokenguard/tokenguard/auth"
)

func TestNewRejectsBadConfig(t *testing.T) {
	sign := loadTestKey(t, "sign", "EdDSA", false).key
	sign2 := loadTestKey(t, "sign-2", "HS256", false).key
	verifyOnly := loadTestKey(t, "old", "ES256", true).key
	sameKID := loadTestKey(t, "sign", "HS256", true).key

	valid := func(keys ...*auth.Key) auth.Config {
		return auth.Config{Issuer: testIssuer, Audience: testAudience, AccessTTL: testTTL, Leeway: testLeeway, Keys: keys}
	}
	tests := []struct {
		name string
		cfg  auth.Config
		want error
	}{
		{name: "no keys at all are rejected", cfg: valid(), want: auth.ErrKeyConfig},
		{name: "only verify-only keys are rejected", cfg: valid(verifyOnly), want: auth.ErrKeyConfig},
		{name: "two signing keys are rejected", cfg: valid(sign, verifyOnly, sign2), want: auth.ErrKeyConfig},
		{name: "a duplicate kid is rejected", cfg: valid(sign, sameKID), want: auth.ErrKeyConfig},
		{name: "a nil key is rejected", cfg: valid(sign, nil), want: auth.ErrKeyConfig},
		{name: "a key not made by LoadKey is rejected", cfg: valid(sign, &auth.Key{}), want: auth.ErrKeyConfig},
		{name: "an empty issuer is rejected", cfg: auth.Config{Audience: testAudience, AccessTTL: testTTL, Keys: []*auth.Key{sign}}, want: auth.ErrConfig},
		{name: "an empty audience is rejected", cfg: auth.Config{Issuer: testIssuer, AccessTTL: testTTL, Keys: []*auth.Key{sign}}, want: auth.ErrConfig},
		{name: "a zero access TTL is rejected", cfg: auth.Config{Issuer: testIssuer, Audience: testAudience, Keys: []*auth.Key{sign}}, want: auth.ErrConfig},
		{name: "a negative leeway is rejected", cfg: auth.Config{Issuer: testIssuer, Audience: testAudience, AccessTTL: testTTL, Leeway: -time.Second, Keys: []*auth.Key{sign}}, want: auth.ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := auth.New(tt.cfg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("New = %v, %v; want error wrapping %v", s, err, tt.want)
			}
		})
	}
}

func TestNewKeyConfigErrorsAreConfigErrors(t *testing.T) {
	if !errors.Is(auth.ErrKeyConfig, auth.ErrConfig) {
		t.Errorf("errors.Is(ErrKeyConfig, ErrConfig) = false, want true")
	}
}

func TestServiceAccessors(t *testing.T) {
	s := newTestService(t, fixedClock(testNow), loadTestKey(t, "hs", "HS256", false).key)
	if got := s.AccessTTL(); got != testTTL {
		t.Errorf("AccessTTL() = %s, want %s", got, testTTL)
	}
	if got := s.Leeway(); got != testLeeway {
		t.Errorf("Leeway() = %s, want %s", got, testLeeway)
	}
}

func TestIssueAndVerifyRoundTrip(t *testing.T) {
	for _, alg := range []string{"HS256", "RS256", "ES256", "EdDSA"} {
		t.Run(alg+" tokens verify with the claims that were signed", func(t *testing.T) {
			tk := loadTestKey(t, "kid-"+alg, alg, false)
			s := newTestService(t, fixedClock(testNow), tk.key)

			token, issued, err := s.Issue(auth.IssueRequest{
				Subject:   "user-1",
				SessionID: "session-1",
				ClientID:  "web",
				Scope:     "read write",
			})
			if err != nil {
				t.Fatalf("Issue = %v, want no error", err)
			}

			want := &auth.Claims{
				RegisteredClaims: jwt.RegisteredClaims{
					Issuer:    testIssuer,
					Subject:   "user-1",
					Audience:  jwt.ClaimStrings{testAudience},
					ExpiresAt: jwt.NewNumericDate(time.Unix(testNow.Add(testTTL).Unix(), 0)),
					IssuedAt:  jwt.NewNumericDate(time.Unix(testNow.Unix(), 0)),
					ID:        issued.ID,
				},
				SessionID:  "session-1",
				ClientID:   "web",
				Scope:      "read write",
				IssuedAtUS: testNow.UnixMicro(),
			}
			if diff := cmp.Diff(issued, want, cmpopts.IgnoreUnexported(auth.Claims{})); diff != "" {
				t.Errorf("Issue claims mismatch (-got +want):\n%s", diff)
			}

			got, err := s.Verify(t.Context(), token)
			if err != nil {
				t.Fatalf("Verify = %v, want no error", err)
			}
			if diff := cmp.Diff(got, issued, cmpopts.IgnoreUnexported(auth.Claims{})); diff != "" {
				t.Errorf("Verify claims mismatch (-got +want):\n%s", diff)
			}

			header := decodeSegment(t, token, 0)
			wantHeader := map[string]any{"alg": alg, "kid": "kid-" + alg, "typ": "at+jwt"}
			if diff := cmp.Diff(header, wantHeader); diff != "" {
				t.Errorf("header mismatch (-got +want):\n%s", diff)
			}
		})
	}
}

func TestIssueGeneratesRandomJTI(t *testing.T) {
	s := newTestService(t, fixedClock(testNow), loadTestKey(t, "hs", "HS256", false).key)
	seen := make(map[string]bool)
	for range 100 {
		_, claims, err := s.Issue(auth.IssueRequest{Subject: "user-1"})
		if err != nil {
			t.Fatalf("Issue = %v, want no error", err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(claims.ID)
		if err != nil || len(raw) != 16 {
			t.Fatalf("jti %q decodes to %d bytes (err %v), want 16 bytes of base64url", claims.ID, len(raw), err)
		}
		if seen[claims.ID] {
			t.Fatalf("jti %q issued twice", claims.ID)
		}
		seen[claims.ID] = true
	}
}

func TestIssueOmitsEmptyOptionalClaims(t *testing.T) {
	s := newTestService(t, fixedClock(testNow), loadTestKey(t, "hs", "HS256", false).key)
	token, _, err := s.Issue(auth.IssueRequest{Subject: "user-1"})
	if err != nil {
		t.Fatalf("Issue = %v, want no error", err)
	}
	payload := decodeSegment(t, token, 1)
	for _, name := range []string{"sid", "client_id", "scope", "nbf"} {
		if v, ok := payload[name]; ok {
			t.Errorf("payload has %s = %v, want it omitted", name, v)
		}
	}
}

func TestIssueRejectsAnEmptySubject(t *testing.T) {
	s := newTestService(t, fixedClock(testNow), loadTestKey(t, "hs", "HS256", false).key)
	token, claims, err := s.Issue(auth.IssueRequest{SessionID: "session-1"})
	if !errors.Is(err, auth.ErrClaims) {
		t.Errorf("Issue = %q, %v, %v; want error wrapping ErrClaims", token, claims, err)
	}
}

func TestIssueMergesExtraClaims(t *testing.T) {
	s := newTestService(t, fixedClock(testNow), loadTestKey(t, "es", "ES256", false).key)
	token, _, err := s.Issue(auth.IssueRequest{
		Subject: "user-1",
		Extra:   map[string]any{"tenant": "acme", "roles": []string{"admin", "billing"}, "level": 3},
	})
	if err != nil {
		t.Fatalf("Issue = %v, want no error", err)
	}
	payload := decodeSegment(t, token, 1)
	want := map[string]any{"tenant": "acme", "roles": []any{"admin", "billing"}, "level": float64(3), "sub": "user-1", "iss": testIssuer}
	for name, w := range want {
		if diff := cmp.Diff(payload[name], w); diff != "" {
			t.Errorf("payload claim %s mismatch (-got +want):\n%s", name, diff)
		}
	}
	if _, err := s.Verify(t.Context(), token); err != nil {
		t.Errorf("Verify = %v, want no error", err)
	}
}

func TestIssueRejectsReservedExtraClaims(t *testing.T) {
	s := newTestService(t, fixedClock(testNow), loadTestKey(t, "hs", "HS256", false).key)
	names := []string{
		"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "client_id", "scope",
		"iat_us", "typ", "cnf", "auth_time", "act", "may_act",
		// encoding/json matches field names case-insensitively, so case
		// variants would be read back as the real claim.
		"SID", "Iat_Us", "ſub", // U+017F folds to s
	}
	for _, name := range names {
		t.Run("an extra claim named "+name+" is rejected", func(t *testing.T) {
			token, _, err := s.Issue(auth.IssueRequest{
				Subject: "user-1",
				Extra:   map[string]any{"tenant": "acme", name: "x"},
			})
			if !errors.Is(err, auth.ErrReservedClaim) {
				t.Fatalf("Issue = %q, %v; want error wrapping ErrReservedClaim", token, err)
			}
			if errors.Is(err, auth.ErrInvalidToken) {
				t.Errorf("Issue error %v wraps ErrInvalidToken, want a caller error only", err)
			}
			if !strings.Contains(err.Error(), name) {
				t.Errorf("Issue error = %q, want it to name %q", err, name)
			}
		})
	}
}

// TestIssueRefusesATokenThatVerifyWouldRefuse: the size limit is
// Verify's, and Issue never signs what Verify would refuse.
func TestIssueRefusesATokenThatVerifyWouldRefuse(t *testing.T) {
	t.Parallel()
	s := newTestService(t, fixedClock(testNow), loadTestKey(t, "ed", "EdDSA", false).key)
	// The adversarial review's case: 32 claims of 1.5 KB.
	big := map[string]any{}
	for i := range 32 {
		big["c"+strconv.Itoa(i)] = strings.Repeat("x", 1536)
	}
	token, claims, err := s.Issue(auth.IssueRequest{Subject: "user-1", Extra: big})
	if !errors.Is(err, auth.ErrOversized) || token != "" || claims != nil {
		t.Fatalf("Issue(32 claims of 1.5 KB) = %d bytes, %v, %v; want ErrOversized", len(token), claims, err)
	}
	if errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("Issue error %v wraps ErrInvalidToken, want a caller error only", err)
	}
	if !strings.Contains(err.Error(), strconv.Itoa(auth.MaxTokenBytes)) {
		t.Errorf("Issue error %q does not name the limit, %d bytes", err, auth.MaxTokenBytes)
	}

	// Right at the limit (a byte of claims takes one or two characters),
	// a token is issued and verifies.
	fit := fitting(t, s)
	if len(fit) > auth.MaxTokenBytes || len(fit) < auth.MaxTokenBytes-1 {
		t.Fatalf("the largest token made is %d bytes, want %d or one less", len(fit), auth.MaxTokenBytes)
	}
	if _, err := s.Verify(t.Context(), fit); err != nil {
		t.Errorf("Verify(a token of exactly MaxTokenBytes) = %v, want no error", err)
	}
}

// fitting issues the largest token that Issue makes with one padding claim.
func fitting(t *testing.T, s *auth.Service) string {
	t.Helper()
	issue := func(n int) string {
		tok, _, err := s.Issue(auth.IssueRequest{Subject: "user-1", Extra: map[string]any{"pad": strings.Repeat("x", n)}})
		if err != nil && !errors.Is(err, auth.ErrOversized) {
			t.Fatalf("Issue: %v", err)
		}
		return tok
	}
	// Four base64 characters carry three bytes: step down from a guess
	// until the token fits, then up byte by byte to the limit.
	n := auth.MaxTokenBytes * 3 / 4
	for issue(n) == "" {
		n -= 64
	}
	for issue(n+1) != "" {
		n++
	}
	return issue(n)
}

func TestIssueRejectsExtraClaimsThatDoNotMarshal(t *testing.T) {
	s := newTestService(t, fixedClock(testNow), loadTestKey(t, "hs", "HS256", false).key)
	token, _, err := s.Issue(auth.IssueRequest{Subject: "user-1", Extra: map[string]any{"ch": make(chan int)}})
	if err == nil {
		t.Errorf("Issue = %q, nil; want an error", token)
	}
}

func TestVerifyAcceptsTokensOfARetiredKey(t *testing.T) {
	old := loadTestKey(t, "2029", "ES256", false)
	before := newTestService(t, fixedClock(testNow), old.key)
	oldToken, _, err := before.Issue(auth.IssueRequest{Subject: "user-1"})
	if err != nil {
		t.Fatalf("Issue with the old key = %v, want no error", err)
	}

	// Rotation: a new signing key, and the old one kept from its public
	// key alone so that its tokens live out their TTL.
	retired, err := auth.LoadKey(auth.KeyConfig{ID: "2029", Alg: "ES256", PublicKeyFile: filepath.Join(old.dir, "public.pem"), VerifyOnly: true})
	if err != nil {
		t.Fatalf("LoadKey(retired) = %v, want no error", err)
	}
	current := loadTestKey(t, "2030", "EdDSA", false)
	after := newTestService(t, fixedClock(testNow.Add(time.Minute)), retired, current.key)

	if _, err := after.Verify(t.Context(), oldToken); err != nil {
		t.Errorf("Verify(token of retired key) = %v, want no error", err)
	}
	newToken, _, err := after.Issue(auth.IssueRequest{Subject: "user-1"})
	if err != nil {
		t.Fatalf("Issue after rotation = %v, want no error", err)
	}
	if got := decodeSegment(t, newToken, 0)["kid"]; got != "2030" {
		t.Errorf("kid after rotation = %v, want %q", got, "2030")
	}
	if _, err := after.Verify(t.Context(), newToken); err != nil {
		t.Errorf("Verify(token of current key) = %v, want no error", err)
	}
	// The old service was never told about EdDSA, so the parser's
	// allow-list turns the new token away before the kid lookup.
	if _, err := before.Verify(t.Context(), newToken); !errors.Is(err, auth.ErrAlgorithm) {
		t.Errorf("old service Verify(token of new key) = %v, want ErrAlgorithm", err)
	}
}

func TestVerifyExpiry(t *testing.T) {
	key := loadTestKey(t, "hs", "HS256", false).key
	token, _, err := newTestService(t, fixedClock(testNow), key).Issue(auth.IssueRequest{Subject: "user-1"})
	if err != nil {
		t.Fatalf("Issue = %v, want no error", err)
	}
	exp := time.Unix(testNow.Add(testTTL).Unix(), 0)
	tests := []struct {
		name string
		now  time.Time
		want error
	}{
		{name: "a token is valid just before exp", now: exp.Add(-time.Second)},
		{name: "a token is still accepted within the leeway after exp", now: exp.Add(testLeeway - time.Second)},
		{name: "a token is expired beyond the leeway", now: exp.Add(testLeeway), want: auth.ErrExpired},
		{name: "a token is not yet valid when iat is beyond the leeway in the future", now: testNow.Add(-testLeeway - 2*time.Second), want: auth.ErrNotYetValid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newTestService(t, fixedClock(tt.now), key).Verify(t.Context(), token)
			if !errors.Is(err, tt.want) {
				t.Errorf("Verify at %s = %v, want %v", tt.now, err, tt.want)
			}
		})
	}
}

// TestVerifyRejectsHostileTokens feeds Verify tokens an attacker could
// craft. The service knows an RS256 signing key and HS256, ES256 and EdDSA
// verify-only keys, so that every algorithm passes the parser's allow-list
// and only the per-key pinning stands between an attacker and confusion.
func TestVerifyRejectsHostileTokens(t *testing.T) {
	rs := loadTestKey(t, "rs", "RS256", false)
	hs := loadTestKey(t, "hs", "HS256", true)
	es := loadTestKey(t, "es", "ES256", true)
	ed := loadTestKey(t, "ed", "EdDSA", true)
	stranger := loadTestKey(t, "es", "ES256", false) // same kid, different key
	s := newTestService(t, fixedClock(testNow), rs.key, hs.key, es.key, ed.key)

	with := func(m map[string]any, set map[string]any, drop ...string) map[string]any {
		for k, v := range set {
			m[k] = v
		}
		for _, k := range drop {
			delete(m, k)
		}
		return m
	}
	claims := func(set map[string]any, drop ...string) map[string]any {
		return with(validClaims(testNow), set, drop...)
	}
	header := func(tk testKey, set map[string]any, drop ...string) map[string]any {
		return with(validHeader(tk), set, drop...)
	}
	signed := func(h, c map[string]any) string { return forge(t, h, c, rs.method, rs.signer) }

	valid := signed(validHeader(rs), validClaims(testNow))
	if _, err := s.Verify(t.Context(), valid); err != nil {
		t.Fatalf("Verify(valid forged token) = %v, want no error; the table below would prove nothing", err)
	}
	parts := strings.Split(valid, ".")
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	tampered, err := json.Marshal(claims(map[string]any{"sub": "admin"}))
	if err != nil {
		t.Fatal(err)
	}
	// A 256-byte RS256 signature ends in a base64 character whose low four
	// bits are padding. Setting one gives a second spelling of the same
	// signature, which only strict decoding refuses.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, valid[len(valid)-1])
	nonCanonical := valid[:len(valid)-1] + string(alphabet[last^1])
	if lax, err := base64.RawURLEncoding.DecodeString(strings.Split(nonCanonical, ".")[2]); err != nil || !bytes.Equal(lax, sig) {
		t.Fatalf("non-canonical signature decodes leniently to a different value (err %v); the case below would prove nothing", err)
	}
	// Issue refuses to sign one this long; a forger need not.
	oversized := signed(validHeader(rs), claims(map[string]any{"pad": strings.Repeat("a", auth.MaxTokenBytes)}))

	tests := []struct {
		name  string
		token string
		want  error // nil: the token must be accepted
	}{
		{name: "alg none with an empty signature is rejected", token: forge(t, map[string]any{"alg": "none"}, validClaims(testNow), nil, nil), want: auth.ErrAlgorithm},
		{name: "alg none with a real kid and typ is rejected", token: forge(t, header(rs, map[string]any{"alg": "none"}), validClaims(testNow), nil, nil), want: auth.ErrAlgorithm},
		{name: "HS256 keyed with the RSA public key PEM under the RSA kid is rejected", token: forge(t, header(rs, map[string]any{"alg": "HS256"}), validClaims(testNow), jwt.SigningMethodHS256, rs.pubPEM), want: auth.ErrAlgorithm},
		{name: "RS256 presented under the ES256 kid is rejected", token: signed(header(es, map[string]any{"alg": "RS256"}), validClaims(testNow)), want: auth.ErrAlgorithm},
		{name: "an alg golang-jwt does not know is rejected", token: forge(t, header(rs, map[string]any{"alg": "HS999"}), validClaims(testNow), nil, nil), want: auth.ErrAlgorithm},
		{name: "a header without alg is rejected", token: forge(t, header(rs, nil, "alg"), validClaims(testNow), nil, nil), want: auth.ErrAlgorithm},
		{name: "an unknown kid is rejected", token: signed(header(rs, map[string]any{"kid": "nope"}), validClaims(testNow)), want: auth.ErrUnknownKey},
		{name: "a token without kid is rejected", token: signed(header(rs, nil, "kid"), validClaims(testNow)), want: auth.ErrUnknownKey},
		{name: "a numeric kid is rejected", token: signed(header(rs, map[string]any{"kid": 1}), validClaims(testNow)), want: auth.ErrUnknownKey},
		{name: "typ JWT is rejected", token: signed(header(rs, map[string]any{"typ": "JWT"}), validClaims(testNow)), want: auth.ErrClaims},
		{name: "a token without typ is rejected", token: signed(header(rs, nil, "typ"), validClaims(testNow)), want: auth.ErrClaims},
		{name: "typ application/at+jwt in capitals is accepted", token: signed(header(rs, map[string]any{"typ": "Application/AT+JWT"}), validClaims(testNow))},
		{name: "a crit header is rejected", token: signed(header(rs, map[string]any{"crit": []string{"b64"}, "b64": false}), validClaims(testNow)), want: auth.ErrClaims},
		{name: "a wrong issuer is rejected", token: signed(validHeader(rs), claims(map[string]any{"iss": "https://evil.test"})), want: auth.ErrClaims},
		{name: "a missing issuer is rejected", token: signed(validHeader(rs), claims(nil, "iss")), want: auth.ErrClaims},
		{name: "a wrong audience is rejected", token: signed(validHeader(rs), claims(map[string]any{"aud": []string{"other-api"}})), want: auth.ErrClaims},
		{name: "a missing audience is rejected", token: signed(validHeader(rs), claims(nil, "aud")), want: auth.ErrClaims},
		{name: "an audience given as a single string is accepted", token: signed(validHeader(rs), claims(map[string]any{"aud": testAudience}))},
		{name: "an audience list that includes ours is accepted", token: signed(validHeader(rs), claims(map[string]any{"aud": []string{"other-api", testAudience}}))},
		{name: "a token expired beyond the leeway is rejected", token: signed(validHeader(rs), claims(map[string]any{"exp": testNow.Add(-testLeeway - time.Second).Unix()})), want: auth.ErrExpired},
		{name: "a token expired within the leeway is accepted", token: signed(validHeader(rs), claims(map[string]any{"exp": testNow.Add(-testLeeway / 2).Unix()}))},
		{name: "nbf in the future beyond the leeway is rejected", token: signed(validHeader(rs), claims(map[string]any{"nbf": testNow.Add(testLeeway + 2*time.Second).Unix()})), want: auth.ErrNotYetValid},
		{name: "nbf in the future within the leeway is accepted", token: signed(validHeader(rs), claims(map[string]any{"nbf": testNow.Add(testLeeway / 2).Unix()}))},
		{name: "iat in the future beyond the leeway is rejected", token: signed(validHeader(rs), claims(map[string]any{"iat": testNow.Add(testLeeway + 2*time.Second).Unix()})), want: auth.ErrNotYetValid},
		{name: "a wrong audience on an expired token is reported as the audience", token: signed(validHeader(rs), claims(map[string]any{"aud": "other-api", "exp": testNow.Add(-time.Hour).Unix()})), want: auth.ErrClaims},
		{name: "a token without jti is rejected", token: signed(validHeader(rs), claims(nil, "jti")), want: auth.ErrClaims},
		{name: "a token with an empty jti is rejected", token: signed(validHeader(rs), claims(map[string]any{"jti": ""})), want: auth.ErrClaims},
		{name: "a token without exp is rejected", token: signed(validHeader(rs), claims(nil, "exp")), want: auth.ErrClaims},
		{name: "a token without sub is rejected", token: signed(validHeader(rs), claims(nil, "sub")), want: auth.ErrClaims},
		{name: "a token without iat is rejected", token: signed(validHeader(rs), claims(nil, "iat")), want: auth.ErrClaims},
		{name: "an exp that is not a number is rejected", token: signed(validHeader(rs), claims(map[string]any{"exp": "tomorrow"})), want: auth.ErrMalformed},
		{name: "a payload changed after signing is rejected", token: parts[0] + "." + base64.RawURLEncoding.EncodeToString(tampered) + "." + parts[2], want: auth.ErrSignature},
		{name: "a truncated signature is rejected", token: parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig[:len(sig)-1]), want: auth.ErrSignature},
		{name: "an empty signature is rejected", token: parts[0] + "." + parts[1] + ".", want: auth.ErrSignature},
		{name: "a signature with non-canonical base64 is rejected", token: nonCanonical, want: auth.ErrMalformed},
		{name: "a signature by another key under a configured kid is rejected", token: forge(t, validHeader(es), validClaims(testNow), stranger.method, stranger.signer), want: auth.ErrSignature},
		{name: "a validly signed token longer than MaxTokenBytes is rejected", token: oversized, want: auth.ErrMalformed},
		{name: "64 KiB of garbage is rejected", token: strings.Repeat("A", 64<<10), want: auth.ErrMalformed},
		{name: "an empty string is rejected", token: "", want: auth.ErrMalformed},
		{name: "three dots are rejected", token: "...", want: auth.ErrMalformed},
		{name: "two dots are rejected", token: "..", want: auth.ErrMalformed},
		{name: "a header that is not JSON is rejected", token: base64.RawURLEncoding.EncodeToString([]byte("{")) + "." + parts[1] + "." + parts[2], want: auth.ErrMalformed},
		{name: "a token with four segments is rejected", token: valid + ".x", want: auth.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims, err := s.Verify(t.Context(), tt.token)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify = %v, want no error", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("Verify = %v, %v; want error wrapping %v and ErrInvalidToken", claims, err, tt.want)
			}
			if claims != nil {
				t.Errorf("Verify returned claims %+v with error %v, want nil claims", claims, err)
			}
			checkErrorHidesDetails(t, err, tt.token)
		})
	}
}

// checkErrorHidesDetails fails if a Verify error quotes the token or lets a
// golang-jwt error escape the package.
func checkErrorHidesDetails(t *testing.T, err error, token string) {
	t.Helper()
	msg := err.Error()
	for _, seg := range strings.Split(token, ".") {
		if len(seg) >= 8 && strings.Contains(msg, seg) {
			t.Errorf("Verify error %q quotes part of the token", msg)
		}
	}
	for _, jwtErr := range []error{
		jwt.ErrTokenMalformed, jwt.ErrTokenUnverifiable, jwt.ErrTokenSignatureInvalid,
		jwt.ErrTokenInvalidClaims, jwt.ErrTokenExpired, jwt.ErrTokenNotValidYet,
	} {
		if errors.Is(err, jwtErr) {
			t.Errorf("Verify error %q wraps golang-jwt's %q, want only auth sentinels", msg, jwtErr)
		}
	}
}

func TestServiceIsSafeForConcurrentUse(t *testing.T) {
	s := newTestService(t, fixedClock(testNow), loadTestKey(t, "ed", "EdDSA", false).key)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				token, _, err := s.Issue(auth.IssueRequest{Subject: "user-1"})
				if err != nil {
					t.Errorf("Issue = %v, want no error", err)
					return
				}
				if _, err := s.Verify(t.Context(), token); err != nil {
					t.Errorf("Verify = %v, want no error", err)
					return
				}
				if got := len(s.JWKS().Keys); got != 1 {
					t.Errorf("len(JWKS().Keys) = %d, want 1", got)
					return
				}
			}
		})
	}
	wg.Wait()
}
