package auth_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokenguard/tokenguard/auth"
)

// TestVerifyRefusesATokenThatOutlivesItsIssuersLifetime: revocations are
// kept only as long as a token of their issuer can live (see
// LatestExpiry), so a token that would live longer is refused, ours and a
// trusted issuer's alike.
func TestVerifyRefusesATokenThatOutlivesItsIssuersLifetime(t *testing.T) {
	t.Parallel()
	own := loadTestKey(t, "own", "EdDSA", false)
	idp := loadTestKey(t, "idp", "ES256", false)
	const idpLife = 2 * time.Hour
	s := newServiceTrusting(t, own.key, newTrusted(t, auth.TrustedIssuerConfig{
		PublicKeyFile: filepath.Join(idp.dir, "public.pem"), Algorithms: []string{"ES256"}, MaxTokenLifetime: idpLife,
	}))
	ours := func(iat, exp time.Time) string {
		c := validClaims(testNow)
		c["iat"], c["exp"] = iat.Unix(), exp.Unix()
		return forge(t, validHeader(own), c, own.method, own.signer)
	}
	theirs := func(iat, exp time.Time) string {
		c := foreignClaimSet(testNow)
		c["exp"] = exp.Unix()
		if iat.IsZero() {
			delete(c, "iat")
		} else {
			c["iat"] = iat.Unix()
		}
		return forge(t, map[string]any{"alg": "ES256", "typ": "JWT"}, c, jwt.SigningMethodES256, idp.signer)
	}
	now := time.Unix(testNow.Unix(), 0)
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"our token living access_ttl is accepted", ours(now, now.Add(testTTL)), nil},
		{"our token issued within the leeway ahead is accepted", ours(now.Add(testLeeway), now.Add(testLeeway+testTTL)), nil},
		{"our token living a second longer than access_ttl is refused", ours(now, now.Add(testTTL+time.Second)), auth.ErrClaims},
		{"our token issued long ago that expires a year from now is refused", ours(now.Add(-time.Hour), now.Add(365*24*time.Hour)), auth.ErrClaims},
		{"their token living max_token_lifetime is accepted", theirs(now, now.Add(idpLife)), nil},
		{"their token without iat, expiring at the latest allowed, is accepted", theirs(time.Time{}, now.Add(idpLife+testLeeway)), nil},
		{"their token without iat, expiring later than that, is refused", theirs(time.Time{}, now.Add(idpLife+testLeeway+time.Second)), auth.ErrClaims},
		{"their token living longer than max_token_lifetime is refused", theirs(now.Add(-time.Hour), now.Add(idpLife)), auth.ErrClaims},
		{"their token expiring in 3,000 years is refused", theirs(now, now.AddDate(3000, 0, 0)), auth.ErrClaims},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := s.Verify(t.Context(), tt.token)
			if !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}

	// LatestExpiry says the bound Verify applies.
	for _, c := range []struct {
		issuer string
		want   time.Time
		ok     bool
	}{
		{"", testNow.Add(testTTL + testLeeway), true},
		{testIssuer, testNow.Add(testTTL + testLeeway), true},
		{foreignIssuer, testNow.Add(idpLife + testLeeway), true},
		{"https://unknown.test/", time.Time{}, false},
	} {
		if got, ok := s.LatestExpiry(c.issuer); !got.Equal(c.want) || ok != c.ok {
			t.Errorf("LatestExpiry(%q) = %v, %v; want %v, %v", c.issuer, got, ok, c.want, c.ok)
		}
	}
	if got := s.LongestLifetime(); got != idpLife {
		t.Errorf("LongestLifetime() = %v, want the trusted issuer's %v", got, idpLife)
	}
}

func TestATrustedIssuersMaxTokenLifetimeDefaultsToADay(t *testing.T) {
	t.Parallel()
	idp := loadTestKey(t, "idp", "ES256", false)
	s := newServiceTrusting(t, loadTestKey(t, "own", "EdDSA", false).key,
		newTrusted(t, auth.TrustedIssuerConfig{PublicKeyFile: filepath.Join(idp.dir, "public.pem"), Algorithms: []string{"ES256"}}))
	if got, ok := s.Lifetime(foreignIssuer); got != 24*time.Hour || !ok {
		t.Errorf("Lifetime(trusted issuer without max_token_lifetime) = %v, %v; want 24h, true", got, ok)
	}
	if got, ok := s.Lifetime(""); got != testTTL || !ok {
		t.Errorf("Lifetime(ours) = %v, %v; want %v, true", got, ok, testTTL)
	}
}
