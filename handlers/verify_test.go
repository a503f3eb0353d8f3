package handlers

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
)

func TestVerifyAllowsWithIdentityHeadersAndACappedCacheLifetime(t *testing.T) {
	t.Parallel()
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

// TestIdentityHeadersNameEveryHeaderAnAllowCarries keeps IdentityHeaders,
// the list every documented gateway configuration is checked against, equal
// to what an allow actually sends for a token that has every claim.
func TestIdentityHeadersNameEveryHeaderAnAllowCarries(t *testing.T) {
	t.Parallel()
	s := newHarness(t, harnessOptions{verify: VerifyConfig{EmailClaim: "email", GroupsClaim: "groups"}})
	tok, _ := s.issue(auth.IssueRequest{SessionID: "s1", ClientID: "app", Scope: "read",
		Extra: map[string]any{"email": "alice@example.test", "groups": []string{"ops"}}})
	r := s.verify("/v1/verify", tok)
	if r.status != http.StatusOK {
		t.Fatalf("verify = %d %s, want 200", r.status, r.body)
	}
	var sent []string
	for name := range r.header {
		if strings.HasPrefix(name, "X-Auth-") {
			sent = append(sent, name)
		}
	}
	want := IdentityHeaders()
	slices.Sort(sent)
	slices.Sort(want)
	if diff := cmp.Diff(sent, want); diff != "" {
		t.Errorf("identity headers of an allow (-sent +IdentityHeaders):\n%s", diff)
	}
}

func TestVerifyTakesTheTokenFromTheHeaderOrTheConfiguredCookie(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
	s := newHarness(t, harnessOptions{})
	good, goodClaims := s.issue(auth.IssueRequest{SessionID: "s-good"})
	revoked, revokedClaims := s.issue(auth.IssueRequest{Subject: "carol"})
	if err := s.store.RevokeToken(t.Context(), revokedClaims.ID, revokedClaims.ExpiresAt.Time); err != nil {
		t.Fatal(err)
	}
	banned, _ := s.issue(auth.IssueRequest{Subject: "mallory"})
	if err := s.store.Ban(t.Context(), "mallory", blacklist.Ban{Reason: "abuse"}, testTTL); err != nil {
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
	t.Parallel()
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
	t.Parallel()
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

	// Admin endpoints address the trusted issuer's alice with ?issuer=,
	// and show her as subject and issuer.
	for query, want := range map[string]string{
		"":                                       "alice of ours",
		"?issuer=" + url.QueryEscape(testIssuer): "alice of ours",
		"?issuer=" + url.QueryEscape(idpIssuer):  "alice of " + idpIssuer,
		"?issuer=" + url.QueryEscape("https://unknown.test/"): "400",
	} {
		r := s.do(http.MethodGet, "/v1/admin/users/alice"+query, "admin", "", "")
		got := strconv.Itoa(r.status)
		if r.status == http.StatusOK {
			body := r.json(t)
			issuer, _ := body["issuer"].(string)
			got = fmt.Sprintf("%v of %s", body["subject"], orOurs(issuer))
		}
		if got != want {
			t.Errorf("GET /v1/admin/users/alice%s names %s, want %s", query, got, want)
		}
	}
	if err := s.store.CutOff(t.Context(), s.revocationSubjectOf(foreignAlice), testNow, auth.DefaultMaxTokenLifetime); err != nil {
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
	if err := s.store.Ban(t.Context(), "bob", blacklist.Ban{}, testTTL); err != nil {
		t.Fatal(err)
	}
	if got := s.verify("/v1/verify", foreignBob).status; got != http.StatusOK {
		t.Errorf("verify(foreign bob) after a ban of our bob = %d, want 200", got)
	}
	if err := s.store.Ban(t.Context(), s.revocationSubjectOf(foreignBob), blacklist.Ban{}, auth.DefaultMaxTokenLifetime); err != nil {
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

func TestVerifyAnswersEveryMethodAndSubpathWithIdentityHeaders(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	s := h.login("app", "alice", "laptop")
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead, http.MethodPatch} {
		for _, path := range []string{"/v1/verify", "/v1/verify/some/upstream/path"} {
			r := h.do(m, path, "Bearer "+s.token, "", "")
			if r.status != http.StatusOK {
				t.Errorf("%s %s = %d, want 200", m, path, r.status)
				continue
			}
			for hdr, want := range map[string]string{"X-Auth-Request-User": "alice", "X-Auth-Session": s.sid, "X-Auth-Token-Id": s.claims.ID} {
				if got := r.header.Get(hdr); got != want {
					t.Errorf("%s %s: %s = %q, want %q", m, path, hdr, got, want)
				}
			}
		}
	}
	r := h.do(http.MethodGet, "/v1/verify", "", "", "")
	if r.status != http.StatusUnauthorized {
		t.Fatalf("verify without a token = %d, want 401", r.status)
	}
	if got, want := r.header.Get("WWW-Authenticate"), `Bearer realm="tokenguard"`; got != want {
		t.Errorf("WWW-Authenticate without a token = %q, want %q (no error attribute, RFC 6750 §3.1)", got, want)
	}
	r = h.do(http.MethodGet, "/v1/verify", "Bearer nonsense", "", "")
	if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate for a bad token = %q, want error=\"invalid_token\"", got)
	}
}

// TestHostileTokensAreRefusedWith401 signs with our own RS256 key, as a
// production configuration does, so that the algorithm-confusion attack
// (HS256 keyed with the RSA public key) is the classic one.
func TestHostileTokensAreRefusedWith401(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{rsa: true})
	good := h.login("app", "alice", "laptop")
	now := h.now()
	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{
			"iss": testIssuer, "sub": "mallory", "aud": []string{"api"},
			"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "jti": "hostile-1", "sid": "s1",
		}
		if edit != nil {
			edit(c)
		}
		return c
	}
	hdr := map[string]any{"kid": "rs1", "typ": "at+jwt"}
	b64 := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&h.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	confused := func() string {
		signing := b64(map[string]any{"alg": "HS256", "kid": "rs1", "typ": "at+jwt"}) + "." + b64(claims(nil))
		mac := hmac.New(sha256.New, pubPEM)
		mac.Write([]byte(signing))
		return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}
	parts := strings.Split(good.token, ".")
	var payload map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(raw, &payload); err != nil {
		t.Fatal(err)
	}
	payload["sub"] = "admin"
	tampered := parts[0] + "." + b64(payload) + "." + parts[2]

	cases := []struct {
		name, token string
	}{
		{"alg none", b64(map[string]any{"alg": "none", "kid": "rs1", "typ": "at+jwt"}) + "." + b64(claims(nil)) + "."},
		{"HS256 signed with the RS256 public key", confused()},
		{"an unknown kid", h.signRS256(map[string]any{"kid": "nope", "typ": "at+jwt"}, claims(nil))},
		{"a wrong typ", h.signRS256(map[string]any{"kid": "rs1", "typ": "JWT"}, claims(nil))},
		{"a wrong issuer", h.signRS256(hdr, claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.test" }))},
		{"a wrong audience", h.signRS256(hdr, claims(func(c jwt.MapClaims) { c["aud"] = "other" }))},
		{"expired beyond the leeway", h.signRS256(hdr, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-testLeeway - time.Minute).Unix() }))},
		{"not yet valid", h.signRS256(hdr, claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(10 * time.Minute).Unix() }))},
		{"no jti", h.signRS256(hdr, claims(func(c jwt.MapClaims) { delete(c, "jti") }))},
		{"no exp", h.signRS256(hdr, claims(func(c jwt.MapClaims) { delete(c, "exp") }))},
		{"a tampered payload", tampered},
		{"64 KiB of garbage", strings.Repeat("A", 64<<10)},
		{"three dots", "..."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.verify("/v1/verify", c.token)
			if r.status != http.StatusUnauthorized {
				t.Errorf("verify = %d %s, want 401", r.status, r.body)
			}
			if got := r.json(t)["error"]; got != "invalid_token" {
				t.Errorf("error = %v, want invalid_token", got)
			}
		})
	}
	// The control: a token signed the same way but well-formed passes.
	if got := h.verify("/v1/verify", h.signRS256(hdr, claims(nil))).status; got != http.StatusOK {
		t.Errorf("control token signed by the test = %d, want 200 (the table would prove nothing)", got)
	}
	if strings.Contains(h.logs.String(), good.token) {
		t.Errorf("a token appeared in the logs")
	}
}

// orOurs names an empty issuer as ours.
func orOurs(issuer string) string {
	if issuer == "" {
		return "ours"
	}
	return issuer
}

func TestIdentityHeadersShareOneArrayWithoutOneHeaderReachingAnother(t *testing.T) {
	hdr := identityHeaders{hdr: http.Header{}, values: make([]string, 0, allowHeaders)}
	hdr.set(headerUser, "alice")
	hdr.set(headerIssuer, "")
	hdr.set(headerScope, "read\r\nX-Injected: 1")
	hdr.set(headerSession, "s1")
	hdr.hdr.Add(headerUser, "mallory") // must copy, not overwrite the scope
	want := http.Header{
		headerUser:    {"alice", "mallory"},
		headerScope:   {"readX-Injected: 1"},
		headerSession: {"s1"},
	}
	if diff := cmp.Diff(want, hdr.hdr); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
}
