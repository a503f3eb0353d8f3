package handlers

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
)

func TestVerifyAllowsWithIdentityHeadersAndACappedCacheLifetime(t *testing.T) {
	s := newHarness(t, harnessOptions{verify: VerifyConfig{CacheMaxAge: time.Minute, EmailClaim: "email", GroupsClaim: "groups"}})
	tok, claims := s.issue(auth.IssueRequest{SessionID: "s1", ClientID: "app", Scope: "read write",
		Extra: map[string]any{"email": "alice@example.test", "groups": []string{"admins", "ops"}}})
	r := s.verify("/v1/verify", tok)
	if r.status != http.StatusOK || r.body != "" {
		t.Fatalf("verify = %d %q, want 200 with an empty body", r.status, r.body)
	}
	want := map[string]string{
		"X-Auth-Request-User":   "alice",
		"X-Auth-Request-Email":  "alice@example.test",
		"X-Auth-Request-Groups": "admins,ops",
		"X-Auth-Request-Scope":  "read write",
		"X-Auth-Request-Issuer": testIssuer,
		"X-Auth-Session":        "s1",
		"X-Auth-Token-Id":       claims.ID,
		"Cache-Control":         "private, max-age=60",
	}
	for h, v := range want {
		if got := r.header.Get(h); got != v {
			t.Errorf("%s = %q, want %q", h, got, v)
		}
	}

	bare, _ := s.issue(auth.IssueRequest{})
	r = s.verify("/v1/verify/any/path", bare)
	for _, h := range []string{"X-Auth-Request-Email", "X-Auth-Request-Groups", "X-Auth-Request-Scope", "X-Auth-Session"} {
		if v, ok := r.header[h]; ok {
			t.Errorf("%s = %q for a token without that claim, want it absent", h, v)
		}
	}

	// A token with less life left than the configured delay is cached
	// only until its exp.
	short := s.foreign("bob", func(c jwt.MapClaims) { c["exp"] = testNow.Add(20 * time.Second).Unix() })
	if got := s.verify("/v1/verify", short).header.Get("Cache-Control"); got != "private, max-age=20" {
		t.Errorf("Cache-Control for a token with 20s left = %q, want private, max-age=20", got)
	}
	// Inside the leeway after exp: accepted, but never cached.
	late := s.foreign("bob", func(c jwt.MapClaims) { c["exp"] = testNow.Add(-10 * time.Second).Unix() })
	if r := s.verify("/v1/verify", late); r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("verify of a token in its leeway = %d, Cache-Control %q; want 200, no-store", r.status, r.header.Get("Cache-Control"))
	}

	noCache := newHarness(t, harnessOptions{})
	tok, _ = noCache.issue(auth.IssueRequest{})
	if got := noCache.verify("/v1/verify", tok).header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control with no cache_max_age = %q, want no-store", got)
	}
}

func TestVerifyTakesTheTokenFromTheHeaderOrTheConfiguredCookie(t *testing.T) {
	s := newHarness(t, harnessOptions{verify: VerifyConfig{Cookie: "tg_at"}})
	good, _ := s.issue(auth.IssueRequest{})
	cases := []struct {
		name   string
		authz  string
		cookie string
		want   int
	}{
		{"a bearer header", "Bearer " + good, "", 200},
		{"the cookie alone", "", good, 200},
		{"the cookie beside a Basic header meant for the upstream", "Basic dXNlcjpwdw==", good, 200},
		{"a bad bearer header wins over a good cookie", "Bearer nonsense", good, 401},
		{"neither", "", "", 401},
		{"an empty cookie", "", "", 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/v1/verify", nil)
			if c.authz != "" {
				r.Header.Set("Authorization", c.authz)
			}
			if c.cookie != "" {
				r.AddCookie(&http.Cookie{Name: "tg_at", Value: c.cookie})
			}
			if got := s.serve(r).status; got != c.want {
				t.Errorf("verify = %d, want %d", got, c.want)
			}
		})
	}
	// Without a configured cookie, a cookie is not a credential.
	plain := newHarness(t, harnessOptions{})
	tok, _ := plain.issue(auth.IssueRequest{})
	r := httptest.NewRequest(http.MethodGet, "/v1/verify", nil)
	r.AddCookie(&http.Cookie{Name: "tg_at", Value: tok})
	if got := plain.serve(r).status; got != http.StatusUnauthorized {
		t.Errorf("verify with a cookie nobody configured = %d, want 401", got)
	}
}

func TestVerifyChecksTheScopesTheProxyRequires(t *testing.T) {
	s := newHarness(t, harnessOptions{})
	tok, _ := s.issue(auth.IssueRequest{Scope: "read write"})
	cases := []struct {
		query     string
		want      int
		challenge string
	}{
		{"", 200, ""},
		{"?scope=read", 200, ""},
		{"?scope=read&scope=write", 200, ""},
		{"?scope=write%20read", 200, ""},
		{"?scope=admin", 403, `Bearer realm="tokenguard", error="insufficient_scope", error_description="the token lacks a required scope", scope="admin"`},
		{"?scope=read&scope=admin", 403, `scope="read admin"`},
		{"?scope=%22", 403, `error="insufficient_scope"`},
		{"?scope=", 200, ""},
	}
	for _, c := range cases {
		t.Run("/v1/verify"+c.query, func(t *testing.T) {
			r := s.verify("/v1/verify"+c.query, tok)
			if r.status != c.want {
				t.Fatalf("verify = %d %s, want %d", r.status, r.body, c.want)
			}
			if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, c.challenge) {
				t.Errorf("WWW-Authenticate = %q, want it to contain %q", got, c.challenge)
			}
			if c.want == 403 && r.json(t)["error"] != "insufficient_scope" {
				t.Errorf("body = %s, want error insufficient_scope", r.body)
			}
		})
	}
}

// TestVerifyAnswersOnly200401Or403ToClients is the contract with nginx,
// which turns any other status of an auth subrequest into a 500 for the
// user, and Envoy, which allows only on 200.
func TestVerifyAnswersOnly200401Or403ToClients(t *testing.T) {
	s := newHarness(t, harnessOptions{})
	good, goodClaims := s.issue(auth.IssueRequest{SessionID: "s-good"})
	revoked, revokedClaims := s.issue(auth.IssueRequest{Subject: "carol"})
	if err := s.store.RevokeToken(t.Context(), revokedClaims.ID, revokedClaims.ExpiresAt.Time); err != nil {
		t.Fatal(err)
	}
	banned, _ := s.issue(auth.IssueRequest{Subject: "mallory"})
	if err := s.store.Ban(t.Context(), "mallory", blacklist.Ban{Reason: "abuse"}); err != nil {
		t.Fatal(err)
	}
	expired := s.foreign("dave", func(c jwt.MapClaims) { c["exp"] = testNow.Add(-time.Hour).Unix() })
	cases := []struct {
		name, method, authz string
		want                int
		challenge           string
	}{
		{"a good token", "GET", "Bearer " + good, 200, ""},
		{"a good token with an odd method", "PROPFIND", "Bearer " + good, 200, ""},
		{"no token", "GET", "", 401, `Bearer realm="tokenguard"`},
		{"a revoked token", "GET", "Bearer " + revoked, 401, `error="invalid_token", error_description="token revoked: the token was revoked"`},
		{"an expired token", "GET", "Bearer " + expired, 401, `error="invalid_token"`},
		{"garbage", "GET", "Bearer x.y.z", 401, `error="invalid_token"`},
		{"a Basic header", "GET", "Basic dXNlcjpwdw==", 401, `error="invalid_token"`},
		{"a token of a banned user", "GET", "Bearer " + banned, 403, ""},
		{"a token too big to verify", "GET", "Bearer " + strings.Repeat("A", 20<<10), 401, `error="invalid_token"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, "/v1/verify/upstream", nil)
			if c.authz != "" {
				r.Header.Set("Authorization", c.authz)
			}
			got := s.serve(r)
			if got.status != c.want {
				t.Fatalf("verify = %d %s, want %d", got.status, got.body, c.want)
			}
			if c.want != 200 && got.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control of a denial = %q, want no-store", got.header.Get("Cache-Control"))
			}
			if c.challenge != "" && !strings.Contains(got.header.Get("WWW-Authenticate"), c.challenge) {
				t.Errorf("WWW-Authenticate = %q, want it to contain %q", got.header.Get("WWW-Authenticate"), c.challenge)
			}
		})
	}
	if strings.Contains(s.logs.String(), good) || !strings.Contains(s.logs.String(), goodClaims.ID) {
		t.Errorf("the decision log must name the jti and never the token")
	}
}

func TestForwardedHeadersAreBelievedOnlyFromTrustedProxies(t *testing.T) {
	s := newHarness(t, harnessOptions{verify: VerifyConfig{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}})
	tok, _ := s.issue(auth.IssueRequest{})
	ask := func(remote string) string {
		s.logs.Reset()
		r := httptest.NewRequest(http.MethodGet, "/v1/verify", nil)
		r.RemoteAddr = remote
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("X-Forwarded-For", "203.0.113.9")
		r.Header.Set("X-Forwarded-Method", "DELETE")
		r.Header.Set("X-Forwarded-Uri", "/admin/users?token=secret")
		if got := s.serve(r).status; got != http.StatusOK {
			t.Fatalf("verify = %d, want 200", got)
		}
		return s.logs.String()
	}
	trusted := ask("192.0.2.10:4711")
	for _, want := range []string{"original_method=DELETE", "original_path=/admin/users", "client_ip=203.0.113.9"} {
		if !strings.Contains(trusted, want) {
			t.Errorf("log from a trusted proxy lacks %s:\n%s", want, trusted)
		}
	}
	if strings.Contains(trusted, "secret") {
		t.Errorf("the original query string was logged:\n%s", trusted)
	}
	untrusted := ask("198.51.100.7:4711")
	for _, want := range []string{"original_method=GET", "original_path=/v1/verify", "client_ip=198.51.100.7"} {
		if !strings.Contains(untrusted, want) {
			t.Errorf("log from an untrusted peer lacks %s (its forwarded headers must be ignored):\n%s", want, untrusted)
		}
	}
}

func TestForeignSubjectsLiveInTheirOwnNamespace(t *testing.T) {
	s := newHarness(t, harnessOptions{})
	localAlice, _ := s.issue(auth.IssueRequest{Subject: "alice"})
	foreignAlice := s.foreign("alice", nil)

	r := s.verify("/v1/verify", foreignAlice)
	if r.status != http.StatusOK || r.header.Get("X-Auth-Request-User") != "alice" || r.header.Get("X-Auth-Request-Issuer") != idpIssuer {
		t.Fatalf("verify(foreign alice) = %d, user %q, issuer %q; want 200, alice, %s", r.status, r.header.Get("X-Auth-Request-User"), r.header.Get("X-Auth-Request-Issuer"), idpIssuer)
	}
	if id := r.header.Get("X-Auth-Token-Id"); !strings.HasPrefix(id, "sha256:") {
		t.Errorf("X-Auth-Token-Id of a token without jti = %q, want its derived id", id)
	}

	// Admin endpoints address the trusted issuer's alice with ?issuer=.
	for query, want := range map[string]string{
		"":                                       "alice",
		"?issuer=" + url.QueryEscape(testIssuer): "alice",
		"?issuer=" + url.QueryEscape(idpIssuer):  idpIssuer + "#alice",
		"?issuer=" + url.QueryEscape("https://unknown.test/"): "400",
	} {
		r := s.do(http.MethodGet, "/v1/admin/users/alice"+query, "admin", "", "")
		got := strconv.Itoa(r.status)
		if r.status == http.StatusOK {
			got, _ = r.json(t)["subject"].(string)
		}
		if got != want {
			t.Errorf("GET /v1/admin/users/alice%s names %s, want %s", query, got, want)
		}
	}
	if err := s.store.CutOff(t.Context(), idpIssuer+"#alice", testNow); err != nil {
		t.Fatal(err)
	}
	if got := s.verify("/v1/verify", foreignAlice).status; got != http.StatusUnauthorized {
		t.Errorf("verify(foreign alice) after her logout = %d, want 401", got)
	}
	if got := s.verify("/v1/verify", localAlice).status; got != http.StatusOK {
		t.Errorf("verify(our alice) after the other alice's logout = %d, want 200", got)
	}

	// A ban of our alice leaves the trusted issuer's users alone, and vice
	// versa.
	foreignBob := s.foreign("bob", nil)
	if err := s.store.Ban(t.Context(), "bob", blacklist.Ban{}); err != nil {
		t.Fatal(err)
	}
	if got := s.verify("/v1/verify", foreignBob).status; got != http.StatusOK {
		t.Errorf("verify(foreign bob) after a ban of our bob = %d, want 200", got)
	}
	if err := s.store.Ban(t.Context(), s.revocationSubjectOf(foreignBob), blacklist.Ban{}); err != nil {
		t.Fatal(err)
	}
	if got := s.verify("/v1/verify", foreignBob).status; got != http.StatusForbidden {
		t.Errorf("verify(foreign bob) after his ban = %d, want 403", got)
	}
}

// revocationSubjectOf is the name the revocation state knows a token's user
// by.
func (s *harness) revocationSubjectOf(token string) string {
	s.t.Helper()
	c, err := s.auth.Verify(s.t.Context(), token)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.users.SubjectOf(c)
}

func TestIntrospectionDescribesAnActiveAccessToken(t *testing.T) {
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
	s := newHarness(t, harnessOptions{})
	// A session opened two hours ago and idle since: past its refresh
	// lifetime.
	s.clock.set(testNow.Add(-2 * testIdle))
	stale := s.login("app", "alice", "old laptop")
	s.clock.set(testNow)
	other := s.login("other", "alice", "phone")
	cutOffRT := s.login("app", "erin", "laptop")
	bannedRT := s.login("app", "mallory", "laptop")
	ended := s.login("app", "alice", "tablet")

	revoked, rc := s.issue(auth.IssueRequest{Subject: "carol"})
	if err := s.store.RevokeToken(t.Context(), rc.ID, rc.ExpiresAt.Time); err != nil {
		t.Fatal(err)
	}
	banned, _ := s.issue(auth.IssueRequest{Subject: "mallory"})
	if err := s.store.Ban(t.Context(), "mallory", blacklist.Ban{}); err != nil {
		t.Fatal(err)
	}
	cutOff, _ := s.issue(auth.IssueRequest{Subject: "erin"})
	if err := s.store.CutOff(t.Context(), "erin", testNow); err != nil {
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
	want := []string{s.keyOf("j", claims.ID), s.keyOf("j", fc.ID), s.keyOf("s", app.sid)}
	if diff := cmp.Diff(want, entries, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("revocation entries (-want +got), want the two revoked jtis and the ended session only (nothing for expired or unknown tokens):\n%s", diff)
	}
}

// keyOf finds the key of one revocation entry.
func (s *harness) keyOf(kind, id string) string {
	s.t.Helper()
	for _, k := range s.redis.Keys() {
		if strings.HasSuffix(k, ":"+kind+":"+id) {
			return k
		}
	}
	s.t.Fatalf("no %s entry for %s in %v", kind, id, s.redis.Keys())
	return ""
}

func TestOAuthEndpointsRefuseBadRequestsInTheRFC6749Shape(t *testing.T) {
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
				got := s.serve(r)
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
		if got := s.serve(httptest.NewRequest(http.MethodGet, path, nil)).status; got != http.StatusMethodNotAllowed {
			t.Errorf("GET %s = %d, want 405", path, got)
		}
	}
}

func TestAnUnreachableStoreIsNeverAnsweredAsInactiveOrRevoked(t *testing.T) {
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

func TestJWKSAndMetadataDescribeUs(t *testing.T) {
	s := newHarness(t, harnessOptions{})
	r := s.serve(httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	if r.status != http.StatusOK || r.header.Get("Cache-Control") != "public, max-age=300" {
		t.Fatalf("jwks = %d (Cache-Control %q), want 200, public, max-age=300", r.status, r.header.Get("Cache-Control"))
	}
	var set auth.JWKS
	if err := json.Unmarshal([]byte(r.body), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks body %s: %v, want one key", r.body, err)
	}
	if k := set.Keys[0]; k.Kid != "k1" || k.Alg != "EdDSA" || k.Use != "sig" {
		t.Errorf("jwk = %+v, want kid k1, alg EdDSA, use sig", k)
	}

	r = s.serve(httptest.NewRequest(http.MethodGet, "/.well-known/oauth-authorization-server", nil))
	methods := []any{"client_secret_basic", "client_secret_post"}
	want := map[string]any{
		"issuer":                                testIssuer,
		"jwks_uri":                              testIssuer + "/.well-known/jwks.json",
		"token_endpoint":                        testIssuer + "/oauth2/token",
		"token_endpoint_auth_methods_supported": methods,
		"grant_types_supported":                 []any{"refresh_token"},
		"response_types_supported":              []any{},
		"introspection_endpoint":                testIssuer + "/oauth2/introspect",
		"introspection_endpoint_auth_methods_supported": methods,
		"revocation_endpoint":                           testIssuer + "/oauth2/revoke",
		"revocation_endpoint_auth_methods_supported":    methods,
	}
	if diff := cmp.Diff(r.json(t), want); diff != "" {
		t.Errorf("metadata (-got +want):\n%s", diff)
	}
}

func TestMetadataPathsFollowRFC8414(t *testing.T) {
	for issuer, want := range map[string][]string{
		"https://auth.example.test":          {"/.well-known/oauth-authorization-server"},
		"https://auth.example.test/":         {"/.well-known/oauth-authorization-server"},
		"https://example.test/tenants/acme/": {"/.well-known/oauth-authorization-server", "/.well-known/oauth-authorization-server/tenants/acme"},
	} {
		if diff := cmp.Diff(metadataPaths(issuer), want); diff != "" {
			t.Errorf("metadataPaths(%q) (-got +want):\n%s", issuer, diff)
		}
	}
}
