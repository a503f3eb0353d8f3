package handlers

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/tokenguard/tokenguard/auth"
)

// Tests of POST /v1/backchannel-logout (backchannel.go): OpenID Connect
// Back-Channel Logout 1.0 from the harness's trusted issuer.

// logoutClaims are the claims of a logout token the trusted issuer sends
// now for its user 42's session s1, changed by edit.
func (h *harness) logoutClaims(edit func(jwt.MapClaims)) jwt.MapClaims {
	now := h.now()
	c := jwt.MapClaims{
		"iss":    idpIssuer,
		"sub":    "42",
		"aud":    "api",
		"iat":    now.Unix(),
		"exp":    now.Add(2 * time.Minute).Unix(),
		"jti":    rand.Text(),
		"sid":    "s1",
		"events": map[string]any{auth.LogoutEvent: map[string]any{}},
	}
	if edit != nil {
		edit(c)
	}
	return c
}

// logoutToken signs claims as the trusted issuer does, with typ
// logout+jwt; header edits the header ("typ": nil removes it).
func (h *harness) logoutToken(claims jwt.MapClaims, header map[string]any) string {
	h.t.Helper()
	return signWith(h.t, jwt.SigningMethodEdDSA, h.idpKey, claims, header)
}

func signWith(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["typ"] = "logout+jwt"
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// backchannel posts a logout token as the issuer does.
func (h *harness) backchannel(token string) reply {
	h.t.Helper()
	return h.form("/v1/backchannel-logout", "", url.Values{"logout_token": {token}})
}

func backchannelOutcome(outcome string) string {
	return `tokenguard_backchannel_logouts_total{outcome="` + outcome + `"}`
}

// wantLoggedOut checks a 200 of the receiver: no body, no-store.
func wantLoggedOut(t *testing.T, r reply) {
	t.Helper()
	if r.status != http.StatusOK || r.body != "" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("back-channel logout = %d %q (Cache-Control %q), want 200, no body, no-store", r.status, r.body, r.header.Get("Cache-Control"))
	}
}

// wantRefused checks a 400 of the receiver: the §2.8 body, no-store.
func wantRefused(t *testing.T, r reply, code, about string) {
	t.Helper()
	var body errorBody
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	if r.status != http.StatusBadRequest || body.Error != code || !strings.Contains(body.Description, about) || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("back-channel logout = %d %s (Cache-Control %q), want 400 %s about %q, no-store", r.status, r.body, r.header.Get("Cache-Control"), code, about)
	}
}

func TestABackchannelLogoutWithSidEndsThatSessionAndIsRefusedWhenReplayed(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s1 := h.foreign("42", func(c jwt.MapClaims) { c["sid"] = "s1" })
	s2 := h.foreign("42", func(c jwt.MapClaims) { c["sid"] = "s2" })
	ours := h.login("app", "42", "laptop")
	h.wantVerify(t, s1, http.StatusOK, "the issuer's session s1 before the logout")

	before := h.counters()
	token := h.logoutToken(h.logoutClaims(func(c jwt.MapClaims) { c["jti"] = "j-1" }), nil)
	wantLoggedOut(t, h.backchannel(token))
	h.wantVerify(t, s1, http.StatusUnauthorized, "the issuer's session s1 after its logout")
	h.wantVerify(t, s2, http.StatusOK, "the issuer's other session of the same user")
	h.wantVerify(t, ours.token, http.StatusOK, "our user 42")
	// A session of the issuer lives as long as its tokens may (its
	// max_token_lifetime, the default) plus the leeway.
	h.wantTTL(t, "s", idpIssuer+"\x1fs1", auth.DefaultMaxTokenLifetime+testLeeway)

	r := h.do(http.MethodGet, "/v1/admin/events?subject=42&issuer="+url.QueryEscape(idpIssuer), "admin", "", "")
	if r.status != http.StatusOK {
		t.Fatalf("events = %d %s", r.status, r.body)
	}
	var list struct {
		Events []map[string]any `json:"events"`
	}
	if err := json.Unmarshal([]byte(r.body), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Events) != 1 || list.Events[0]["type"] != "backchannel_logout" || list.Events[0]["actor"] != idpIssuer || list.Events[0]["session_id"] != "s1" || list.Events[0]["reason"] != "jti j-1" {
		t.Errorf("the user's audit trail = %v, want the one backchannel_logout by the issuer", list.Events)
	}

	wantRefused(t, h.backchannel(token), "invalid_request", "received before")
	if diff := cmp.Diff(h.moved(before), map[string]float64{
		httpReq("POST", "/v1/backchannel-logout", 200): 1,
		httpReq("POST", "/v1/backchannel-logout", 400): 1,
		httpReq("GET", "/v1/admin/events", 200):        1,
		httpReq("GET", "/v1/verify", 200):              2,
		httpReq("GET", "/v1/verify", 401):              1,
		backchannelOutcome("session_ended"):            1,
		backchannelOutcome("replayed"):                 1,
		revoked("session", "backchannel_logout"):       1,
		decided("allowed"):                             2,
		decided("session_ended"):                       1,
	}); diff != "" {
		t.Errorf("counters moved (-got +want):\n%s", diff)
	}
	if got := len(h.events("")); got != 1 {
		t.Errorf("%d events in the trail after the replay, want the logout's only (the replay records nothing)", got)
	}
}

func TestABackchannelLogoutWithSubOnlyCutsOffTheIssuersUser(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	a := h.foreign("42", func(c jwt.MapClaims) { c["sid"] = "s1" })
	b := h.foreign("42", nil)
	other := h.foreign("43", nil)
	token := h.logoutToken(h.logoutClaims(func(c jwt.MapClaims) { delete(c, "sid") }), nil)
	before := h.counters()
	wantLoggedOut(t, h.backchannel(token))
	h.wantVerify(t, a, http.StatusUnauthorized, "the user's token of a session")
	h.wantVerify(t, b, http.StatusUnauthorized, "the user's token without a session")
	h.wantVerify(t, other, http.StatusOK, "another user of the issuer")
	h.advance(2 * time.Second)
	h.wantVerify(t, h.foreign("42", func(c jwt.MapClaims) { c["iat"] = h.now().Unix() }), http.StatusOK, "the user's token issued after the logout")
	if diff := cmp.Diff(h.moved(before), map[string]float64{
		httpReq("POST", "/v1/backchannel-logout", 200): 1,
		httpReq("GET", "/v1/verify", 200):              2,
		httpReq("GET", "/v1/verify", 401):              2,
		backchannelOutcome("user_logged_out"):          1,
		revoked("user", "backchannel_logout"):          1,
		decided("allowed"):                             2,
		decided("cut_off"):                             2,
	}); diff != "" {
		t.Errorf("counters moved (-got +want):\n%s", diff)
	}
}

// TestEveryRefusalTheSpecificationListsIsA400ThatChangesNothing: each
// validation step of §2.6 (and §2.4's prohibitions), and each way the
// request itself (§2.5) can be wrong, is a 400 with the §2.8 body and
// Cache-Control: no-store, and writes nothing.
func TestEveryRefusalTheSpecificationListsIsA400ThatChangesNothing(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	_, stranger, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	victim := h.foreign("42", func(c jwt.MapClaims) { c["sid"] = "s1" })
	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims { return h.logoutClaims(edit) }
	drop := func(names ...string) func(jwt.MapClaims) {
		return func(c jwt.MapClaims) {
			for _, n := range names {
				delete(c, n)
			}
		}
	}
	set := func(name string, v any) func(jwt.MapClaims) { return func(c jwt.MapClaims) { c[name] = v } }
	now := h.now()

	tokens := []struct {
		name, token, about string
	}{
		{"a signature by a key that is not the issuer's", signWith(t, jwt.SigningMethodEdDSA, stranger, claims(nil), nil), "bad signature"},
		{"alg none", signWith(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil), nil), "algorithm"},
		{"HS256", signWith(t, jwt.SigningMethodHS256, []byte("a secret shared with nobody, 32 bytes+"), claims(nil), nil), "algorithm"},
		{"an issuer nobody trusts", h.logoutToken(claims(set("iss", "https://evil.test/")), nil), "not a trusted issuer"},
		{"our own issuer", h.logoutToken(claims(set("iss", testIssuer)), nil), "not a trusted issuer"},
		{"another audience", h.logoutToken(claims(set("aud", "someone-else")), nil), "wrong audience"},
		{"no iat", h.logoutToken(claims(drop("iat")), nil), "iat missing"},
		{"iat in the future", h.logoutToken(claims(set("iat", now.Add(time.Hour).Unix())), nil), "not yet valid"},
		{"iat older than accepted", h.logoutToken(claims(func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(-auth.MaxLogoutTokenAge-testLeeway-time.Second).Unix(), now.Add(time.Minute).Unix()
		}), nil), "older than"},
		{"exp past", h.logoutToken(claims(set("exp", now.Add(-time.Hour).Unix())), nil), "expired"},
		{"no jti", h.logoutToken(claims(drop("jti")), nil), "jti missing"},
		{"no events", h.logoutToken(claims(drop("events")), nil), "events"},
		{"events without the logout event", h.logoutToken(claims(set("events", map[string]any{"https://example.test/event": map[string]any{}})), nil), "events"},
		{"the logout event's value no object", h.logoutToken(claims(set("events", map[string]any{auth.LogoutEvent: "yes"})), nil), "events"},
		{"a nonce", h.logoutToken(claims(set("nonce", "n-0S6_WzA2Mj")), nil), "nonce"},
		{"neither sub nor sid", h.logoutToken(claims(drop("sub", "sid")), nil), "sub, sid or both"},
		{"typ JWT", h.logoutToken(claims(nil), map[string]any{"typ": "JWT"}), "logout+jwt"},
		{"typ at+jwt (an access token)", h.logoutToken(claims(nil), map[string]any{"typ": "at+jwt"}), "logout+jwt"},
		{"an access token of the issuer", h.foreign("42", nil), "logout+jwt"},
		{"one of our access tokens", func() string { tok, _ := h.issue(auth.IssueRequest{}); return tok }(), "not a trusted issuer"},
		{"a sid with a control character", h.logoutToken(claims(set("sid", "s\x001")), nil), "sid"},
		{"not a JWT", "not-a-jwt", "malformed"},
	}
	for _, c := range tokens {
		t.Run("a logout token with "+c.name, func(t *testing.T) {
			keys := h.redis.Keys()
			r := h.exchange(t, h.newRequest(http.MethodPost, "/v1/backchannel-logout", "", "application/x-www-form-urlencoded", url.Values{"logout_token": {c.token}}.Encode()), conforming)
			wantRefused(t, r, "invalid_request", c.about)
			if got := h.redis.Keys(); !slices.Equal(got, keys) {
				t.Errorf("keys after the refusal %v, want %v", got, keys)
			}
		})
	}

	good := h.logoutToken(claims(nil), nil)
	requests := []struct {
		name, target, contentType, body, about string
	}{
		{"a JSON body", "/v1/backchannel-logout", "application/json", `{"logout_token":"` + good + `"}`, "x-www-form-urlencoded"},
		{"no content type", "/v1/backchannel-logout", "", "logout_token=" + good, "x-www-form-urlencoded"},
		{"no logout_token", "/v1/backchannel-logout", "application/x-www-form-urlencoded", "token=" + good, "logout_token is required"},
		{"an empty logout_token", "/v1/backchannel-logout", "application/x-www-form-urlencoded", "logout_token=", "logout_token is required"},
		{"logout_token twice", "/v1/backchannel-logout", "application/x-www-form-urlencoded", "logout_token=" + good + "&logout_token=" + good, "more than once"},
		{"another parameter twice", "/v1/backchannel-logout", "application/x-www-form-urlencoded", "logout_token=" + good + "&state=a&state=b", "more than once"},
		{"logout_token in the URL", "/v1/backchannel-logout?logout_token=" + good, "application/x-www-form-urlencoded", "logout_token=" + good, "not in the URL"},
		{"a malformed escape", "/v1/backchannel-logout", "application/x-www-form-urlencoded", "logout_token=" + good + "%zz", "malformed"},
		{"a ';' separator", "/v1/backchannel-logout", "application/x-www-form-urlencoded", "logout_token=" + good + ";x=1", "malformed"},
	}
	for _, c := range requests {
		t.Run("a request with "+c.name, func(t *testing.T) {
			keys := h.redis.Keys()
			r := h.exchange(t, h.newRequest(http.MethodPost, c.target, "", c.contentType, c.body), malformedRequest)
			wantRefused(t, r, "invalid_request", c.about)
			if got := h.redis.Keys(); !slices.Equal(got, keys) {
				t.Errorf("keys after the refusal %v, want %v", got, keys)
			}
		})
	}
	t.Run("a body larger than a logout token can make", func(t *testing.T) {
		r := h.exchange(t, h.newRequest(http.MethodPost, "/v1/backchannel-logout", "", "application/x-www-form-urlencoded",
			url.Values{"logout_token": {good}, "pad": {strings.Repeat("x", maxLogoutFormBytes)}}.Encode()), malformedRequest)
		if r.status != http.StatusRequestEntityTooLarge || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("= %d %s, want 413, no-store", r.status, r.body)
		}
	})
	h.wantVerify(t, victim, http.StatusOK, "the issuer's session after every refusal")
	// Unknown parameters are ignored, as OAuth endpoints ignore them, and a
	// token percent-encoded where nothing needs it is the same token.
	t.Run("the good token with an unknown parameter, needlessly escaped", func(t *testing.T) {
		body := "state=x&logout_token=" + strings.ReplaceAll(good, ".", "%2E")
		wantLoggedOut(t, h.exchange(t, h.newRequest(http.MethodPost, "/v1/backchannel-logout", "", "application/x-www-form-urlencoded", body), conforming))
	})
	h.wantVerify(t, victim, http.StatusUnauthorized, "the issuer's session after the good token")
}

// TestABackchannelLogoutThatCannotBeRecordedIsA400TheIssuerMayRetry: §2.8
// answers a failed logout with 400; the jti is not kept, so the same token
// goes through once the store is back.
func TestABackchannelLogoutThatCannotBeRecordedIsA400TheIssuerMayRetry(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	victim := h.foreign("42", func(c jwt.MapClaims) { c["sid"] = "s1" })
	token := h.logoutToken(h.logoutClaims(nil), nil)
	h.redis.SetError("LOADING Redis is loading the dataset in memory")
	r := h.backchannel(token)
	h.redis.SetError("")
	wantRefused(t, r, "temporarily_unavailable", "send the logout token again")
	wantLoggedOut(t, h.backchannel(token))
	h.wantVerify(t, victim, http.StatusUnauthorized, "the issuer's session after the retry")
}
