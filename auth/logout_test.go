package auth_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokenguard/tokenguard/auth"
)

// logoutClaimSet is a logout token the foreign issuer sends at now, as the
// specification's example (§2.4) plus exp.
func logoutClaimSet(now time.Time) map[string]any {
	return map[string]any{
		"iss":    foreignIssuer,
		"sub":    "248289761001",
		"aud":    "api",
		"iat":    now.Unix(),
		"exp":    now.Add(2 * time.Minute).Unix(),
		"jti":    "bWJq",
		"sid":    "08a5019c-17e1-4977-8f42-65a12843ea02",
		"events": map[string]any{auth.LogoutEvent: map[string]any{}},
	}
}

// logoutFixture is a service trusting the foreign issuer, whose RS256 key
// k1 is on a loopback JWKS.
type logoutFixture struct {
	svc *auth.Service
	key any
}

func newLogoutFixture(t *testing.T) logoutFixture {
	t.Helper()
	k1 := newRSAKey(t, 2048)
	js := newJWKSServer(t, rsaJWK("k1", &k1.PublicKey, nil))
	own := loadTestKey(t, "own", "ES256", false)
	return logoutFixture{svc: newServiceTrusting(t, own.key, newTrusted(t, auth.TrustedIssuerConfig{JWKSURL: js.url})), key: k1}
}

func (f logoutFixture) sign(t *testing.T, header, claims map[string]any) string {
	t.Helper()
	h := map[string]any{"alg": "RS256", "kid": "k1", "typ": "logout+jwt"}
	for k, v := range header {
		if v == nil {
			delete(h, k)
		} else {
			h[k] = v
		}
	}
	return forge(t, h, claims, jwt.SigningMethodRS256, f.key)
}

// with returns a copy of the valid claims, changed: a nil value removes
// the claim.
func with(now time.Time, changes map[string]any) map[string]any {
	c := logoutClaimSet(now)
	for k, v := range changes {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func TestVerifyLogoutAcceptsWhatTheSpecificationSays(t *testing.T) {
	f := newLogoutFixture(t)
	for _, c := range []struct {
		name        string
		header      map[string]any
		claims      map[string]any
		sub, sid    string
		untilExpiry bool
	}{
		{"a token with sub, sid and exp", nil, with(testNow, nil), "248289761001", "08a5019c-17e1-4977-8f42-65a12843ea02", true},
		{"a token with sid only", nil, with(testNow, map[string]any{"sub": nil}), "", "08a5019c-17e1-4977-8f42-65a12843ea02", true},
		{"a token with sub only", nil, with(testNow, map[string]any{"sid": nil}), "248289761001", "", true},
		{"a token without exp (before the 2023 errata)", nil, with(testNow, map[string]any{"exp": nil}), "248289761001", "08a5019c-17e1-4977-8f42-65a12843ea02", false},
		{"a token without typ", map[string]any{"typ": nil}, with(testNow, nil), "248289761001", "08a5019c-17e1-4977-8f42-65a12843ea02", true},
		{"a token typed application/logout+jwt in capitals", map[string]any{"typ": "Application/Logout+JWT"}, with(testNow, nil), "248289761001", "08a5019c-17e1-4977-8f42-65a12843ea02", true},
		{"a token whose event carries members and that has claims nobody knows", nil, with(testNow, map[string]any{
			"events": map[string]any{auth.LogoutEvent: map[string]any{"reason": "x"}, "https://other.test/event": true}, "acr": "2",
		}), "248289761001", "08a5019c-17e1-4977-8f42-65a12843ea02", true},
		{"a token issued a leeway in the future", nil, with(testNow, map[string]any{"iat": testNow.Add(testLeeway).Unix()}), "248289761001", "08a5019c-17e1-4977-8f42-65a12843ea02", true},
		{"a token issued as long ago as accepted", nil, with(testNow, map[string]any{"exp": nil, "iat": testNow.Add(-auth.MaxLogoutTokenAge - testLeeway + time.Second).Unix()}), "248289761001", "08a5019c-17e1-4977-8f42-65a12843ea02", false},
		{"a token whose audience is a list holding ours", nil, with(testNow, map[string]any{"aud": []string{"other", "api"}}), "248289761001", "08a5019c-17e1-4977-8f42-65a12843ea02", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := f.svc.VerifyLogout(t.Context(), f.sign(t, c.header, c.claims))
			if err != nil {
				t.Fatalf("VerifyLogout = %v, want no error", err)
			}
			if got.Issuer != foreignIssuer || got.Subject != c.sub || got.SessionID != c.sid || got.JTI != "bWJq" {
				t.Errorf("VerifyLogout = %+v, want issuer %s, sub %q, sid %q, jti bWJq", got, foreignIssuer, c.sub, c.sid)
			}
			iat := time.Unix(c.claims["iat"].(int64), 0)
			if !got.IssuedAt.Equal(iat) {
				t.Errorf("IssuedAt = %s, want %s", got.IssuedAt, iat)
			}
			want := iat.Add(auth.MaxLogoutTokenAge + testLeeway)
			if c.untilExpiry {
				want = time.Unix(c.claims["exp"].(int64), 0).Add(testLeeway)
			}
			if !got.Until.Equal(want) {
				t.Errorf("Until = %s, want %s", got.Until, want)
			}
		})
	}
}

// TestVerifyLogoutRefusesEveryTokenTheSpecificationRefuses: each case of
// §2.4 and §2.6, and the spellings and keys no token of ours may have.
func TestVerifyLogoutRefusesEveryTokenTheSpecificationRefuses(t *testing.T) {
	f := newLogoutFixture(t)
	other := newRSAKey(t, 2048)
	valid := f.sign(t, nil, with(testNow, nil))
	parts := strings.Split(valid, ".")
	for _, c := range []struct {
		name  string
		token string
		want  error
	}{
		{"an issuer nobody trusts", f.sign(t, nil, with(testNow, map[string]any{"iss": "https://evil.test/"})), auth.ErrClaims},
		{"our own issuer", f.sign(t, nil, with(testNow, map[string]any{"iss": testIssuer})), auth.ErrClaims},
		{"a signature by another key", forge(t, map[string]any{"alg": "RS256", "kid": "k1", "typ": "logout+jwt"}, with(testNow, nil), jwt.SigningMethodRS256, other), auth.ErrSignature},
		{"a tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+foreignIssuer+`","sub":"someone-else"}`)) + "." + parts[2], auth.ErrSignature},
		{"alg none", forge(t, map[string]any{"alg": "none", "kid": "k1", "typ": "logout+jwt"}, with(testNow, nil), nil, nil), auth.ErrAlgorithm},
		{"HS256 keyed with the issuer's public key", forge(t, map[string]any{"alg": "HS256", "kid": "k1", "typ": "logout+jwt"}, with(testNow, nil), jwt.SigningMethodHS256, []byte("the public key, as an HMAC secret, says the attacker")), auth.ErrAlgorithm},
		{"a kid the issuer does not publish", forge(t, map[string]any{"alg": "RS256", "kid": "k9", "typ": "logout+jwt"}, with(testNow, nil), jwt.SigningMethodRS256, f.key), auth.ErrUnknownKey},
		{"another audience", f.sign(t, nil, with(testNow, map[string]any{"aud": "someone-else"})), auth.ErrClaims},
		{"no aud", f.sign(t, nil, with(testNow, map[string]any{"aud": nil})), auth.ErrClaims},
		{"no iat", f.sign(t, nil, with(testNow, map[string]any{"iat": nil})), auth.ErrClaims},
		{"iat beyond the leeway in the future", f.sign(t, nil, with(testNow, map[string]any{"iat": testNow.Add(testLeeway + 2*time.Second).Unix()})), auth.ErrNotYetValid},
		{"iat older than a logout token may be", f.sign(t, nil, with(testNow, map[string]any{"exp": nil, "iat": testNow.Add(-auth.MaxLogoutTokenAge - testLeeway - time.Second).Unix()})), auth.ErrClaims},
		{"iat as a string", f.sign(t, nil, with(testNow, map[string]any{"iat": "1893553445"})), auth.ErrInvalidToken},
		{"exp past the leeway", f.sign(t, nil, with(testNow, map[string]any{"iat": testNow.Add(-5 * time.Minute).Unix(), "exp": testNow.Add(-testLeeway - time.Second).Unix()})), auth.ErrExpired},
		{"nbf in the future", f.sign(t, nil, with(testNow, map[string]any{"nbf": testNow.Add(time.Hour).Unix()})), auth.ErrNotYetValid},
		{"no jti", f.sign(t, nil, with(testNow, map[string]any{"jti": nil})), auth.ErrClaims},
		{"no events claim", f.sign(t, nil, with(testNow, map[string]any{"events": nil})), auth.ErrClaims},
		{"events that is no object", f.sign(t, nil, with(testNow, map[string]any{"events": []string{auth.LogoutEvent}})), auth.ErrClaims},
		{"events without the logout event", f.sign(t, nil, with(testNow, map[string]any{"events": map[string]any{"https://schemas.openid.net/secevent/caep/event-type/session-revoked": map[string]any{}}})), auth.ErrClaims},
		{"the logout event with a value that is no object", f.sign(t, nil, with(testNow, map[string]any{"events": map[string]any{auth.LogoutEvent: true}})), auth.ErrClaims},
		{"the logout event with a null value", f.sign(t, nil, with(testNow, map[string]any{"events": map[string]any{auth.LogoutEvent: json.RawMessage("null")}})), auth.ErrClaims},
		{"the logout event spelled in capitals", f.sign(t, nil, with(testNow, map[string]any{"events": map[string]any{strings.ToUpper(auth.LogoutEvent): map[string]any{}}})), auth.ErrClaims},
		{"a nonce", f.sign(t, nil, with(testNow, map[string]any{"nonce": "n-0S6_WzA2Mj"})), auth.ErrClaims},
		{"a nonce of null", f.sign(t, nil, with(testNow, map[string]any{"nonce": json.RawMessage("null")})), auth.ErrInvalidToken},
		{"neither sub nor sid", f.sign(t, nil, with(testNow, map[string]any{"sub": nil, "sid": nil})), auth.ErrClaims},
		{"an empty sub and an empty sid", f.sign(t, nil, with(testNow, map[string]any{"sub": "", "sid": ""})), auth.ErrClaims},
		{"a sid that is a number", f.sign(t, nil, with(testNow, map[string]any{"sid": 42})), auth.ErrMalformed},
		{"typ JWT (an ID token or an access token)", f.sign(t, map[string]any{"typ": "JWT"}, with(testNow, nil)), auth.ErrClaims},
		{"typ at+jwt", f.sign(t, map[string]any{"typ": "at+jwt"}, with(testNow, nil)), auth.ErrClaims},
		{"typ secevent+jwt", f.sign(t, map[string]any{"typ": "secevent+jwt"}, with(testNow, nil)), auth.ErrClaims},
		{"typ that is no string", f.sign(t, map[string]any{"typ": 1}, with(testNow, nil)), auth.ErrClaims},
		{"a crit header", f.sign(t, map[string]any{"crit": []string{"b64"}, "b64": false}, with(testNow, nil)), auth.ErrClaims},
		{"a claim name in capitals (SUB)", f.sign(t, nil, with(testNow, map[string]any{"SUB": "someone-else"})), auth.ErrMalformed},
		{"padding", valid + "=", auth.ErrMalformed},
		{"a line break in the signature", parts[0] + "." + parts[1] + "." + parts[2][:10] + "\n" + parts[2][10:], auth.ErrMalformed},
		{"a token longer than any accepted", f.sign(t, nil, with(testNow, map[string]any{"pad": strings.Repeat("x", auth.MaxTokenBytes)})), auth.ErrMalformed},
		{"not a JWT", "logout", auth.ErrMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := f.svc.VerifyLogout(t.Context(), c.token)
			if !errors.Is(err, c.want) || !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("VerifyLogout = %+v, %v; want an error wrapping %v", got, err, c.want)
			}
		})
	}
}

// TestVerifyLogoutRefusesARepeatedClaim: a repeated name, which a map
// cannot produce, makes a token two parsers could read differently.
func TestVerifyLogoutRefusesARepeatedClaim(t *testing.T) {
	f := newLogoutFixture(t)
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"k1","typ":"logout+jwt"}`))
	p := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"` + foreignIssuer + `","aud":"api","iat":` + strconv.FormatInt(testNow.Unix(), 10) + `,"jti":"a","sid":"s1","sid":"s2","events":{"` + auth.LogoutEvent + `":{}}}`))
	sig, err := jwt.SigningMethodRS256.Sign(h+"."+p, f.key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.VerifyLogout(t.Context(), h+"."+p+"."+base64.RawURLEncoding.EncodeToString(sig)); !errors.Is(err, auth.ErrMalformed) {
		t.Errorf("VerifyLogout(sid twice) = %v, want ErrMalformed", err)
	}
}

// TestALogoutTokenIsNoAccessToken is the other half of cross-JWT
// confusion: a logout token without typ, with exp and sub, is refused
// where access tokens are accepted.
func TestALogoutTokenIsNoAccessToken(t *testing.T) {
	f := newLogoutFixture(t)
	token := f.sign(t, map[string]any{"typ": nil}, with(testNow, nil))
	if _, err := f.svc.VerifyLogout(t.Context(), token); err != nil {
		t.Fatalf("VerifyLogout = %v, want the logout token accepted as one", err)
	}
	if c, err := f.svc.Verify(t.Context(), token); !errors.Is(err, auth.ErrClaims) {
		t.Errorf("Verify(a logout token) = %+v, %v; want ErrClaims", c, err)
	}
	typed := f.sign(t, nil, with(testNow, nil))
	if c, err := f.svc.Verify(t.Context(), typed); !errors.Is(err, auth.ErrClaims) {
		t.Errorf("Verify(a logout token typed logout+jwt) = %+v, %v; want ErrClaims", c, err)
	}
	// An access token of the issuer is no logout token either.
	access := forge(t, map[string]any{"alg": "RS256", "kid": "k1", "typ": "at+jwt"}, foreignClaimSet(testNow), jwt.SigningMethodRS256, f.key)
	if _, err := f.svc.Verify(t.Context(), access); err != nil {
		t.Fatalf("Verify(the issuer's access token) = %v, want no error", err)
	}
	if c, err := f.svc.VerifyLogout(t.Context(), access); !errors.Is(err, auth.ErrClaims) {
		t.Errorf("VerifyLogout(an access token) = %+v, %v; want ErrClaims", c, err)
	}
}
