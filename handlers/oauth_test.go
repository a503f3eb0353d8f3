package handlers

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
)

func TestIntrospectionDescribesAnActiveAccessToken(t *testing.T) {
	t.Parallel()
	s := newHarness(t, harnessOptions{})
	tok, claims := s.issue(auth.IssueRequest{SessionID: "s1", ClientID: "app", Scope: "read write"})
	r := s.form("/oauth2/introspect", "gateway", url.Values{"token": {tok}})
	if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("introspect = %d %s (Cache-Control %q), want 200, no-store", r.status, r.body, r.header.Get("Cache-Control"))
	}
	want := map[string]any{
		"active": true, "sub": "alice", "iss": testIssuer, "aud": "api", "client_id": "app", "scope": "read write",
		"sid": "s1", "jti": claims.ID, "exp": float64(claims.ExpiresAt.Unix()), "iat": float64(claims.IssuedAt.Unix()),
		"token_type": "Bearer", "token_use": "access_token",
	}
	if diff := cmp.Diff(r.json(t), want); diff != "" {
		t.Errorf("introspection (-got +want):\n%s", diff)
	}

	foreign := s.foreign("f-1", func(c jwt.MapClaims) { c["nbf"] = testNow.Add(-time.Minute).Unix(); c["azp"] = "spa" })
	got := s.form("/oauth2/introspect", "gateway", url.Values{"token": {foreign}}).json(t)
	for k, v := range map[string]any{"active": true, "iss": idpIssuer, "sub": "f-1", "client_id": "spa", "nbf": float64(testNow.Add(-time.Minute).Unix())} {
		if got[k] != v {
			t.Errorf("foreign introspection %s = %v, want %v", k, got[k], v)
		}
	}
	if _, ok := got["jti"]; ok {
		t.Errorf("foreign introspection has jti %v for a token that carries none", got["jti"])
	}
}

func TestIntrospectionAnswersExactlyActiveFalseForEveryDeadToken(t *testing.T) {
	t.Parallel()
	s := newHarness(t, harnessOptions{})
	// A session opened two hours ago and idle since: past its refresh
	// lifetime.
	s.clock.Set(testNow.Add(-2 * testIdle))
	stale := s.login("app", "alice", "old laptop")
	s.clock.Set(testNow)
	other := s.login("other", "alice", "phone")
	cutOffRT := s.login("app", "erin", "laptop")
	bannedRT := s.login("app", "mallory", "laptop")
	ended := s.login("app", "alice", "tablet")

	revoked, rc := s.issue(auth.IssueRequest{Subject: "carol"})
	if err := s.store.RevokeToken(t.Context(), rc.ID, rc.ExpiresAt.Time); err != nil {
		t.Fatal(err)
	}
	banned, _ := s.issue(auth.IssueRequest{Subject: "mallory"})
	if err := s.store.Ban(t.Context(), "mallory", blacklist.Ban{}, testTTL); err != nil {
		t.Fatal(err)
	}
	cutOff, _ := s.issue(auth.IssueRequest{Subject: "erin"})
	if err := s.store.CutOff(t.Context(), "erin", testNow, testTTL); err != nil {
		t.Fatal(err)
	}
	// Only the revocation state knows this session has ended: the session
	// store still has it.
	if err := s.store.RevokeSession(t.Context(), ended.sid); err != nil {
		t.Fatal(err)
	}

	cases := []struct{ name, token, hint string }{
		{"an expired access token", s.foreign("dave", func(c jwt.MapClaims) { c["exp"] = testNow.Add(-time.Hour).Unix() }), ""},
		{"a revoked access token", revoked, ""},
		{"a banned user's access token", banned, "access_token"},
		{"a token of a user logged out everywhere", cutOff, ""},
		{"a malformed token", "not-a-token", ""},
		{"an unknown opaque token", "rt-unknown", "refresh_token"},
		{"a token signed by nobody we trust", s.foreign("x", func(c jwt.MapClaims) { c["iss"] = "https://evil.test/" }), ""},
		{"a refresh token of another client", other.refresh, "refresh_token"},
		{"an expired refresh token", stale.refresh, ""},
		{"a refresh token issued before its user's cut-off", cutOffRT.refresh, "refresh_token"},
		{"a banned user's refresh token", bannedRT.refresh, ""},
		{"a refresh token of an ended session", ended.refresh, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			form := url.Values{"token": {c.token}}
			if c.hint != "" {
				form.Set("token_type_hint", c.hint)
			}
			r := s.form("/oauth2/introspect", "app", form)
			if r.status != http.StatusOK || strings.TrimSpace(r.body) != `{"active":false}` {
				t.Errorf("introspect = %d %s, want 200 {\"active\":false}", r.status, r.body)
			}
		})
	}
}

func TestIntrospectionOfRefreshTokensAndWrongHints(t *testing.T) {
	t.Parallel()
	s := newHarness(t, harnessOptions{})
	rt := s.login("app", "alice", "laptop")
	access, _ := s.issue(auth.IssueRequest{})
	for _, hint := range []string{"", "refresh_token", "access_token", "something_else"} {
		got := s.form("/oauth2/introspect", "app", url.Values{"token": {rt.refresh}, "token_type_hint": {hint}}).json(t)
		want := map[string]any{"active": true, "sub": "alice", "client_id": "app", "scope": "read write", "sid": rt.sid, "iss": testIssuer,
			"iat": float64(testNow.Unix()), "exp": float64(testNow.Add(testIdle).Unix()), "token_use": "refresh_token"}
		if diff := cmp.Diff(got, want); diff != "" {
			t.Errorf("introspect refresh token with hint %q (-got +want):\n%s", hint, diff)
		}
		if r := s.form("/oauth2/introspect", "app", url.Values{"token": {access}, "token_type_hint": {hint}}); r.json(t)["active"] != true {
			t.Errorf("introspect access token with hint %q = %s, want active", hint, r.body)
		}
	}
}

func TestRevocationEndsAccessTokensAndRefreshSessions(t *testing.T) {
	t.Parallel()
	s := newHarness(t, harnessOptions{})
	tok, claims := s.issue(auth.IssueRequest{ClientID: "app"})
	// A wrong hint must not fail, and the access token of another client
	// may be revoked by anyone holding it and the permission.
	r := s.form("/oauth2/revoke", "other", url.Values{"token": {tok}, "token_type_hint": {"refresh_token"}})
	if r.status != http.StatusOK || r.body != "" {
		t.Fatalf("revoke = %d %q, want 200 with an empty body", r.status, r.body)
	}
	if got := s.verify("/v1/verify", tok).status; got != http.StatusUnauthorized {
		t.Errorf("verify after revocation = %d, want 401", got)
	}
	if ttl := s.redis.TTL(s.keyOf("j", claims.ID)); ttl != 10*time.Minute+30*time.Second {
		t.Errorf("TTL of the revocation = %v, want the remaining lifetime plus the leeway", ttl)
	}

	foreign := s.foreign("f-2", nil)
	if r := s.form("/oauth2/revoke", "app", url.Values{"token": {foreign}}); r.status != http.StatusOK {
		t.Fatalf("revoke(foreign token without jti) = %d %s, want 200", r.status, r.body)
	}
	if got := s.verify("/v1/verify", foreign).status; got != http.StatusUnauthorized {
		t.Errorf("verify(foreign token) after its revocation = %d, want 401", got)
	}

	app := s.login("app", "alice", "laptop")
	r = s.form("/oauth2/revoke", "other", url.Values{"token": {app.refresh}})
	if r.status != http.StatusBadRequest || r.json(t)["error"] != "invalid_grant" {
		t.Errorf("revoke of another client's refresh token = %d %s, want 400 invalid_grant", r.status, r.body)
	}
	if _, err := s.sessions.Get(t.Context(), app.sid); err != nil {
		t.Errorf("another client's refresh token was revoked: its session is gone (%v)", err)
	}
	if r := s.form("/oauth2/revoke", "app", url.Values{"token": {app.refresh}, "token_type_hint": {"access_token"}}); r.status != http.StatusOK {
		t.Fatalf("revoke own refresh token = %d %s, want 200", r.status, r.body)
	}
	if got := s.verify("/v1/verify", app.token).status; got != http.StatusUnauthorized {
		t.Errorf("verify(the session's access token) after its refresh token's revocation = %d, want 401", got)
	}
	if ev := s.events("alice"); len(ev) != 1 || ev[0].Type != "refresh_revoked" || ev[0].Actor != "app" || ev[0].SessionID != app.sid {
		t.Errorf("audit events = %+v, want one refresh_revoked of %s by app", ev, app.sid)
	}

	for name, token := range map[string]string{
		"an unknown token":          "rt-unknown",
		"an already revoked token":  tok,
		"a malformed token":         "a.b.c",
		"an expired token":          s.foreign("f-3", func(c jwt.MapClaims) { c["exp"] = testNow.Add(-time.Hour).Unix() }),
		"an already ended session":  app.refresh,
		"a token of nobody trusted": s.foreign("f-4", func(c jwt.MapClaims) { c["iss"] = "https://evil.test/" }),
	} {
		if r := s.form("/oauth2/revoke", "app", url.Values{"token": {token}}); r.status != http.StatusOK {
			t.Errorf("revoke %s = %d %s, want 200", name, r.status, r.body)
		}
	}
	var entries []string
	entry := regexp.MustCompile(`^tg:\{[0-9]+\}:[jsub]:`)
	for _, k := range s.redis.Keys() {
		if entry.MatchString(k) {
			entries = append(entries, k)
		}
	}
	fc, err := s.auth.Verify(t.Context(), foreign)
	if err != nil {
		t.Fatal(err)
	}
	// A trusted issuer's jti is qualified by its issuer (see users.Subject).
	want := []string{s.keyOf("j", claims.ID), s.keyOf("j", idpIssuer+"\x1f"+fc.ID), s.keyOf("s", app.sid)}
	if diff := cmp.Diff(want, entries, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("revocation entries (-want +got), want the two revoked jtis and the ended session only (nothing for expired or unknown tokens):\n%s", diff)
	}
}

func TestOAuthEndpointsRefuseBadRequestsInTheRFC6749Shape(t *testing.T) {
	t.Parallel()
	s := newHarness(t, harnessOptions{})
	tok, _ := s.issue(auth.IssueRequest{})
	for _, path := range []string{"/oauth2/introspect", "/oauth2/revoke"} {
		cases := []struct {
			name        string
			client      string
			contentType string
			body        string
			want        int
			code        string
		}{
			{"no client credentials", "", "application/x-www-form-urlencoded", "token=" + tok, 401, "invalid_client"},
			{"a wrong client secret", "app:wrong", "application/x-www-form-urlencoded", "token=" + tok, 401, "invalid_client"},
			{"an unknown client", "ghost:ghost-secret", "application/x-www-form-urlencoded", "token=" + tok, 401, "invalid_client"},
			{"a client without the permission", "nobody:nobody-secret", "application/x-www-form-urlencoded", "token=" + tok, 400, "unauthorized_client"},
			{"no token", "app:app-secret", "application/x-www-form-urlencoded", "token_type_hint=access_token", 400, "invalid_request"},
			{"the token twice", "app:app-secret", "application/x-www-form-urlencoded", "token=a&token=b", 400, "invalid_request"},
			{"a JSON body", "app:app-secret", "application/json", `{"token":"x"}`, 400, "invalid_request"},
		}
		for _, c := range cases {
			t.Run(path+" with "+c.name, func(t *testing.T) {
				r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(c.body))
				r.Header.Set("Content-Type", c.contentType)
				if c.client != "" {
					id, secret, _ := strings.Cut(c.client, ":")
					r.SetBasicAuth(id, secret)
				}
				got := s.exchange(t, r, malformedRequest)
				if got.status != c.want || got.json(t)["error"] != c.code {
					t.Fatalf("= %d %s, want %d %s", got.status, got.body, c.want, c.code)
				}
				if c.want == 401 && !strings.HasPrefix(got.header.Get("WWW-Authenticate"), "Basic") {
					t.Errorf("401 without a Basic challenge: %q", got.header.Get("WWW-Authenticate"))
				}
			})
		}
		// client_secret_post works as well as Basic.
		r := s.form(path, "", url.Values{"token": {"unknown"}, "client_id": {"app"}, "client_secret": {"app-secret"}})
		if r.status != http.StatusOK {
			t.Errorf("%s with client_secret_post = %d %s, want 200", path, r.status, r.body)
		}
		if got := s.exchange(t, httptest.NewRequest(http.MethodGet, path, nil), malformedRequest).status; got != http.StatusMethodNotAllowed {
			t.Errorf("GET %s = %d, want 405", path, got)
		}
	}
}

func TestAnUnreachableStoreIsNeverAnsweredAsInactiveOrRevoked(t *testing.T) {
	t.Parallel()
	s := newHarness(t, harnessOptions{})
	tok, _ := s.issue(auth.IssueRequest{})
	rt := s.login("app", "alice", "laptop")
	s.redis.SetError("LOADING the store is down")
	for name, r := range map[string]reply{
		"verify":                   s.verify("/v1/verify", tok),
		"introspect(access token)": s.form("/oauth2/introspect", "app", url.Values{"token": {tok}}),
		"revoke(access token)":     s.form("/oauth2/revoke", "app", url.Values{"token": {tok}}),
		"introspect(refresh)":      s.form("/oauth2/introspect", "app", url.Values{"token": {rt.refresh}, "token_type_hint": {"refresh_token"}}),
		"revoke(refresh)":          s.form("/oauth2/revoke", "app", url.Values{"token": {rt.refresh}, "token_type_hint": {"refresh_token"}}),
	} {
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Errorf("%s = %d %s (Retry-After %q), want 503 with Retry-After", name, r.status, r.body, r.header.Get("Retry-After"))
		}
	}
}

func TestIntrospectionAndRevocationOverHTTP(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	s := h.login("app", "alice", "laptop")
	introspect := func(token string) map[string]any {
		t.Helper()
		r := h.form("/oauth2/introspect", "gateway", url.Values{"token": {token}})
		if r.status != http.StatusOK {
			t.Fatalf("introspect = %d %s, want 200", r.status, r.body)
		}
		return r.json(t)
	}

	want := map[string]any{
		"active": true, "sub": "alice", "iss": testIssuer, "aud": "api", "client_id": "app",
		"scope": "read write", "sid": s.sid, "jti": s.claims.ID, "exp": float64(s.claims.ExpiresAt.Unix()), "iat": float64(testNow.Unix()),
		"token_type": "Bearer", "token_use": "access_token",
	}
	if diff := cmp.Diff(introspect(s.token), want); diff != "" {
		t.Errorf("introspection of a live token (-got +want):\n%s", diff)
	}

	if r := h.form("/oauth2/revoke", "app", url.Values{"token": {s.token}, "token_type_hint": {"refresh_token"}}); r.status != http.StatusOK {
		t.Fatalf("revoke = %d %s, want 200", r.status, r.body)
	}
	h.wantVerify(t, s.token, http.StatusUnauthorized, "revoked through RFC 7009")
	h.wantTTL(t, "j", s.claims.ID, s.claims.ExpiresAt.Sub(h.now())+testLeeway)
	if diff := cmp.Diff(introspect(s.token), map[string]any{"active": false}); diff != "" {
		t.Errorf("introspection of the revoked token (-got +want):\n%s", diff)
	}
	for _, token := range []string{"unknown-opaque-token", s.token, "a.b.c"} {
		if r := h.form("/oauth2/revoke", "app", url.Values{"token": {token}}); r.status != http.StatusOK {
			t.Errorf("revoke %q = %d %s, want 200 (RFC 7009 §2.2)", token, r.status, r.body)
		}
	}
	for _, client := range []string{"app:wrong", "ghost:app-secret", ""} {
		r := h.form("/oauth2/introspect", client, url.Values{"token": {s.token}})
		if r.status != http.StatusUnauthorized || r.json(t)["error"] != "invalid_client" {
			t.Errorf("introspect as %q = %d %s, want 401 invalid_client", client, r.status, r.body)
		}
	}

	other := h.login("app", "bob", "laptop")
	h.redis.SetError("LOADING the store is down")
	r := h.form("/oauth2/revoke", "app", url.Values{"token": {other.token}})
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Errorf("revoke with Redis down = %d %s (Retry-After %q), want 503 with Retry-After", r.status, r.body, r.header.Get("Retry-After"))
	}
	h.redis.SetError("")
	h.wantVerify(t, other.token, http.StatusOK, "a revocation answered 503 was not made")
}

func TestRefreshTokensAreIntrospectedAndRevokedThroughTheOAuthEndpoints(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	l := h.login("app", "alice", "phone")

	got := h.form("/oauth2/introspect", "app", url.Values{"token": {l.refresh}}).json(t)
	if got["active"] != true || got["token_use"] != "refresh_token" || got["sub"] != "alice" || got["client_id"] != "app" || got["sid"] != l.sid {
		t.Errorf("introspection of a live refresh token by its own client = %v, want active, token_use refresh_token, of alice, client app, sid %s", got, l.sid)
	}
	if got := h.form("/oauth2/introspect", "gateway", url.Values{"token": {l.refresh}}).json(t); len(got) != 1 || got["active"] != false {
		t.Errorf("introspection of app's refresh token by another client = %v, want exactly {\"active\": false}", got)
	}

	if r := h.form("/oauth2/revoke", "app", url.Values{"token": {l.refresh}, "token_type_hint": {"access_token"}}); r.status != http.StatusOK {
		t.Fatalf("RFC 7009 revocation of the refresh token (with a wrong hint) = %d %s, want 200", r.status, r.body)
	}
	h.wantVerify(t, l.token, http.StatusUnauthorized, "the session's access token after its refresh token was revoked")
	h.wantRefresh(t, l.refresh, http.StatusBadRequest, "the revoked refresh token")
	if got := h.form("/oauth2/introspect", "app", url.Values{"token": {l.refresh}}).json(t); len(got) != 1 || got["active"] != false {
		t.Errorf("introspection of the revoked refresh token = %v, want exactly {\"active\": false}", got)
	}
}

// TestAnAccessTokenWithALineFeedInItsSignatureIsInactive is the adversarial
// review's case: Go's base64 decoders skip line breaks, so a token with a
// line feed spliced into its signature used to introspect as active.
func TestAnAccessTokenWithALineFeedInItsSignatureIsInactive(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	tok := h.login("app", "alice", "laptop").token
	spliced := tok[:len(tok)-10] + "\n" + tok[len(tok)-10:]
	if got := h.form("/oauth2/introspect", "gateway", url.Values{"token": {spliced}}).json(t); got["active"] != false || len(got) != 1 {
		t.Errorf("introspect(the token with a line feed) = %v, want only active false", got)
	}
	if got := h.form("/oauth2/introspect", "gateway", url.Values{"token": {tok}}).json(t); got["active"] != true {
		t.Errorf("control: introspect(the token) = %v, want active", got)
	}
}

// TestRevokingATrustedIssuersTokenThatClaimsToLiveForeverWritesNothing is
// the adversarial review's case: RFC 7009 revocation of a trusted issuer's
// token with a far-future exp wrote a key that lived for centuries. Such a
// token lives longer than its issuer's max_token_lifetime, so it does not
// verify, and nothing any revocation writes outlives the tokens.
func TestRevokingATrustedIssuersTokenThatClaimsToLiveForeverWritesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	forever := h.foreign("f-1", func(c jwt.MapClaims) { c["exp"] = int64(99999999999); c["jti"] = "forever" })
	longest := h.foreign("f-2", func(c jwt.MapClaims) {
		c["exp"] = h.now().Add(auth.DefaultMaxTokenLifetime).Unix()
		c["iat"] = h.now().Unix()
		c["jti"] = "longest"
	})
	h.wantVerify(t, forever, http.StatusUnauthorized, "a trusted issuer's token that expires in the year 5138")
	h.wantVerify(t, longest, http.StatusOK, "a trusted issuer's token that lives its max_token_lifetime")
	for _, tok := range []string{forever, longest} {
		if r := h.form("/oauth2/revoke", "app", url.Values{"token": {tok}}); r.status != http.StatusOK {
			t.Fatalf("RFC 7009 revocation = %d %s, want 200", r.status, r.body)
		}
	}
	h.wantVerify(t, longest, http.StatusUnauthorized, "the revoked token")
	h.wantNoEntryBeyond(t, auth.DefaultMaxTokenLifetime+2*testLeeway)
}
