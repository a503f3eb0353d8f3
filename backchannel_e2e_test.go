package main

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// logoutToken mints one of the provider's back-channel logout tokens
// (OpenID Connect Back-Channel Logout 1.0 §2.4), shaped like Keycloak's
// since 25: typ logout+jwt, exp two minutes ahead; claims add sub and/or
// sid.
func (p *idp) logoutToken(kid string, claims jwt.MapClaims) string {
	p.t.Helper()
	now := time.Now()
	c := jwt.MapClaims{
		"iss": p.url + "/", "aud": "api", "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(), "jti": rand.Text(),
		"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}},
	}
	for k, v := range claims {
		c[k] = v
	}
	return p.sign(kid, "logout+jwt", c)
}

// TestATrustedIssuersBackchannelLogoutEndsItsSessionOrUserAtOnce runs the
// real server on a real redis-server, trusting a provider whose JWKS is on
// loopback, and posts the provider's signed logout tokens as it would:
// the provider's tokens of the session (sid) or of the user (sub) are
// accepted before and refused at once after; a replay is refused; a token
// the provider did not sign changes nothing.
func TestATrustedIssuersBackchannelLogoutEndsItsSessionOrUserAtOnce(t *testing.T) {
	provider := newIDP(t, "k1")
	iss := provider.url + "/"
	ts := startServerYAML(t, nil, provider.trustedIssuerYAML()+"    max_token_lifetime: 2h\n")
	logout := func(token string) response {
		t.Helper()
		return ts.form("/v1/backchannel-logout", "", url.Values{"logout_token": {token}})
	}
	want := func(name, token string, status int) {
		t.Helper()
		if got := ts.verifyStatus(token); got != status {
			t.Errorf("%s: verify = %d, want %d", name, got, status)
		}
	}

	// sid: that session of the provider's user ends, and only it.
	s1 := provider.token("k1", "42", jwt.MapClaims{"sid": "s1", "n": 1})
	s2 := provider.token("k1", "42", jwt.MapClaims{"sid": "s2", "n": 2})
	ours := ts.session("42")
	want("the provider's session s1 before the logout", s1, http.StatusOK)
	bySid := provider.logoutToken("k1", jwt.MapClaims{"sub": "42", "sid": "s1"})
	if r := logout(bySid); r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("back-channel logout by sid = %d %s (Cache-Control %q), want 200, no-store\n%s", r.status, r.body, r.header.Get("Cache-Control"), ts.logs)
	}
	want("the provider's session s1 after its back-channel logout", s1, http.StatusUnauthorized)
	want("the provider's other session s2", s2, http.StatusOK)
	ts.wantVerify(ours, http.StatusOK, "our user 42 is not the provider's")
	ts.wantTTLNear("tg:{*}:s:"+iss+"\x1fs1", time.Now().Add(2*time.Hour))

	// The same token again is a replay.
	r := logout(bySid)
	if got := r.json(t); r.status != http.StatusBadRequest || got["error"] != "invalid_request" || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("the same logout token again = %d %v, want 400 invalid_request, no-store", r.status, got)
	}

	// sub alone: every token of the provider's user 43 is cut off.
	u1 := provider.token("k1", "43", jwt.MapClaims{"sid": "s3"})
	u2 := provider.token("k1", "43", nil)
	other := provider.token("k1", "44", nil)
	want("the provider's user 43 before the logout", u1, http.StatusOK)
	if r := logout(provider.logoutToken("k1", jwt.MapClaims{"sub": "43"})); r.status != http.StatusOK {
		t.Fatalf("back-channel logout by sub = %d %s, want 200", r.status, r.body)
	}
	want("the provider's user 43's token of a session after the logout", u1, http.StatusUnauthorized)
	want("the provider's user 43's token without a session after the logout", u2, http.StatusUnauthorized)
	want("the provider's user 44", other, http.StatusOK)

	// A logout token signed by a key that is not the provider's, under the
	// kid of the provider's key, is refused and ends nothing.
	stranger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	forgedTok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": iss, "aud": "api", "iat": time.Now().Unix(), "jti": "forged", "sub": "42", "sid": "s2",
		"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}},
	})
	forgedTok.Header["kid"], forgedTok.Header["typ"] = "k1", "logout+jwt"
	forged, err := forgedTok.SignedString(stranger)
	if err != nil {
		t.Fatal(err)
	}
	if r := logout(forged); r.status != http.StatusBadRequest {
		t.Errorf("a logout token of an unpublished key = %d %s, want 400", r.status, r.body)
	}
	want("the provider's session s2 after a forged logout", s2, http.StatusOK)

	r = ts.do(http.MethodGet, "/v1/admin/events?subject=42&issuer="+url.QueryEscape(iss), adminAuth, "", nil)
	events := r.json(t)["events"].([]any)
	if len(events) != 1 || events[0].(map[string]any)["type"] != "backchannel_logout" || events[0].(map[string]any)["actor"] != iss {
		t.Errorf("the provider's user 42's audit trail = %v, want one backchannel_logout by the provider", events)
	}
}
