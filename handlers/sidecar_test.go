package handlers

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/clients"
)

const (
	sidecarIssuer = "https://tokenguard.test"
	idpIssuer     = "https://idp.test/"
)

// sidecarNow is the clock of every sidecar test, on a whole second so that
// remaining lifetimes come out in whole seconds.
var sidecarNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeRefresh is a refresh-token store the test fills and can make fail.
type fakeRefresh struct {
	mu      sync.Mutex
	tokens  map[string]RefreshInfo
	revoked map[string]string // token -> actor
	err     error
}

func (f *fakeRefresh) IntrospectRefresh(_ context.Context, token string) (RefreshInfo, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return RefreshInfo{}, false, f.err
	}
	info, ok := f.tokens[token]
	return info, ok, nil
}

func (f *fakeRefresh) RevokeRefresh(_ context.Context, token, actor string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return false, f.err
	}
	if _, ok := f.tokens[token]; !ok {
		return false, nil
	}
	delete(f.tokens, token)
	f.revoked[token] = actor
	return true, nil
}

// failingState is the real store, except that it fails the way it is told.
type failingState struct {
	RevocationState
	err error
}

func (f failingState) Check(context.Context, blacklist.Token) error { return f.err }
func (f failingState) RevokeToken(context.Context, string, time.Time) error {
	return f.err
}

// sidecar is the HTTP layer with what the sidecar endpoints need: our
// EdDSA key, a trusted issuer with a static Ed25519 key, the real
// revocation store on miniredis, clients for each permission and a fake
// refresh-token store.
type sidecar struct {
	t       *testing.T
	h       http.Handler
	auth    *auth.Service
	store   *blacklist.Store
	redis   *miniredis.Miniredis
	refresh *fakeRefresh
	idpKey  ed25519.PrivateKey
	logs    *bytes.Buffer
}

type sidecarOptions struct {
	verify VerifyConfig
	state  func(*blacklist.Store) RevocationState // nil: the store itself
}

func newSidecar(t *testing.T, opts sidecarOptions) *sidecar {
	t.Helper()
	clock := func() time.Time { return sidecarNow }
	own, err := auth.GenerateEdDSAKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	pub, idpKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "idp.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	idp, err := auth.NewTrustedIssuer(t.Context(), auth.TrustedIssuerConfig{Issuer: idpIssuer, Audience: "api", Algorithms: []string{"EdDSA"}, PublicKeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.New(auth.Config{
		Issuer: sidecarIssuer, Audience: "api", AccessTTL: 10 * time.Minute, Leeway: 30 * time.Second,
		Keys: []*auth.Key{own}, Clock: clock, TrustedIssuers: []*auth.TrustedIssuer{idp},
	})
	if err != nil {
		t.Fatal(err)
	}
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	store := blacklist.New(rdb, blacklist.Config{Prefix: "tg:", Leeway: 30 * time.Second, MaxTokenLifetime: 10 * time.Minute, Clock: clock, Mode: blacklist.ModeStrict})
	var state RevocationState = store
	if opts.state != nil {
		state = opts.state(store)
	}
	client := func(id string, perms ...string) clients.Entry {
		return clients.Entry{ID: id, Secret: id + "-secret", Permissions: perms}
	}
	refresh := &fakeRefresh{tokens: map[string]RefreshInfo{}, revoked: map[string]string{}}
	logs := &bytes.Buffer{}
	h := New(Config{
		Auth:        svc,
		Revocations: state,
		Clients: newRegistry(t,
			client("gateway", permIntrospect),
			client("app", permSessions, permRevoke, permIntrospect),
			client("other", permRevoke, permIntrospect),
			client("admin", permAdmin),
			client("nobody"),
		),
		Logger:        slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock:         clock,
		Verify:        opts.verify,
		RefreshTokens: refresh,
	})
	return &sidecar{t: t, h: h, auth: svc, store: store, redis: mr, refresh: refresh, idpKey: idpKey, logs: logs}
}

// issue returns one of our access tokens.
func (s *sidecar) issue(req auth.IssueRequest) (string, *auth.Claims) {
	s.t.Helper()
	if req.Subject == "" {
		req.Subject = "alice"
	}
	tok, claims, err := s.auth.Issue(req)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok, claims
}

// foreign returns a token of the trusted issuer, without jti, as many
// providers send them.
func (s *sidecar) foreign(sub string, edit func(jwt.MapClaims)) string {
	s.t.Helper()
	c := jwt.MapClaims{"iss": idpIssuer, "sub": sub, "aud": "api", "exp": sidecarNow.Add(time.Hour).Unix(), "iat": sidecarNow.Add(-time.Minute).Unix(), "scope": "read"}
	if edit != nil {
		edit(c)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SignedString(s.idpKey)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

type reply struct {
	status int
	header http.Header
	body   string
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

func (s *sidecar) serve(r *http.Request) reply {
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, r)
	return reply{rec.Code, rec.Header(), rec.Body.String()}
}

// verify asks /v1/verify (path and query as given) with a bearer token.
func (s *sidecar) verify(target, token string) reply {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return s.serve(r)
}

// form posts a form to an OAuth endpoint as client (Basic, "" for none).
func (s *sidecar) form(path, client string, form url.Values) reply {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if client != "" {
		r.SetBasicAuth(client, client+"-secret")
	}
	return s.serve(r)
}

func TestVerifyAllowsWithIdentityHeadersAndACappedCacheLifetime(t *testing.T) {
	s := newSidecar(t, sidecarOptions{verify: VerifyConfig{CacheMaxAge: time.Minute, EmailClaim: "email", GroupsClaim: "groups"}})
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
		"X-Auth-Request-Issuer": sidecarIssuer,
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
	short := s.foreign("bob", func(c jwt.MapClaims) { c["exp"] = sidecarNow.Add(20 * time.Second).Unix() })
	if got := s.verify("/v1/verify", short).header.Get("Cache-Control"); got != "private, max-age=20" {
		t.Errorf("Cache-Control for a token with 20s left = %q, want private, max-age=20", got)
	}
	// Inside the leeway after exp: accepted, but never cached.
	late := s.foreign("bob", func(c jwt.MapClaims) { c["exp"] = sidecarNow.Add(-10 * time.Second).Unix() })
	if r := s.verify("/v1/verify", late); r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("verify of a token in its leeway = %d, Cache-Control %q; want 200, no-store", r.status, r.header.Get("Cache-Control"))
	}

	noCache := newSidecar(t, sidecarOptions{})
	tok, _ = noCache.issue(auth.IssueRequest{})
	if got := noCache.verify("/v1/verify", tok).header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control with no cache_max_age = %q, want no-store", got)
	}
}

func TestVerifyTakesTheTokenFromTheHeaderOrTheConfiguredCookie(t *testing.T) {
	s := newSidecar(t, sidecarOptions{verify: VerifyConfig{Cookie: "tg_at"}})
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
	plain := newSidecar(t, sidecarOptions{})
	tok, _ := plain.issue(auth.IssueRequest{})
	r := httptest.NewRequest(http.MethodGet, "/v1/verify", nil)
	r.AddCookie(&http.Cookie{Name: "tg_at", Value: tok})
	if got := plain.serve(r).status; got != http.StatusUnauthorized {
		t.Errorf("verify with a cookie nobody configured = %d, want 401", got)
	}
}

func TestVerifyChecksTheScopesTheProxyRequires(t *testing.T) {
	s := newSidecar(t, sidecarOptions{})
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
	s := newSidecar(t, sidecarOptions{})
	good, goodClaims := s.issue(auth.IssueRequest{SessionID: "s-good"})
	revoked, revokedClaims := s.issue(auth.IssueRequest{Subject: "carol"})
	if err := s.store.RevokeToken(t.Context(), revokedClaims.ID, revokedClaims.ExpiresAt.Time); err != nil {
		t.Fatal(err)
	}
	banned, _ := s.issue(auth.IssueRequest{Subject: "mallory"})
	if err := s.store.Ban(t.Context(), "mallory", blacklist.Ban{Reason: "abuse"}); err != nil {
		t.Fatal(err)
	}
	expired := s.foreign("dave", func(c jwt.MapClaims) { c["exp"] = sidecarNow.Add(-time.Hour).Unix() })
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
	s := newSidecar(t, sidecarOptions{verify: VerifyConfig{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}})
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
	s := newSidecar(t, sidecarOptions{})
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
	h := &handler{auth: s.auth}
	e := echo.New()
	e.GET("/users/:subject", func(c echo.Context) error {
		subject, err := h.adminSubject(c)
		var api *apiError
		if errors.As(err, &api) {
			return c.NoContent(api.status)
		}
		if err != nil {
			return err
		}
		return c.String(http.StatusOK, subject)
	})
	for query, want := range map[string]string{
		"": "alice",
		"?issuer=" + url.QueryEscape(sidecarIssuer):           "alice",
		"?issuer=" + url.QueryEscape(idpIssuer):               idpIssuer + "#alice",
		"?issuer=" + url.QueryEscape("https://unknown.test/"): "400",
	} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/users/alice"+query, nil))
		got := rec.Body.String()
		if rec.Code != http.StatusOK {
			got = strconv.Itoa(rec.Code)
		}
		if got != want {
			t.Errorf("adminSubject(/users/alice%s) = %s, want %s", query, got, want)
		}
	}
	if err := s.store.CutOff(t.Context(), idpIssuer+"#alice", sidecarNow); err != nil {
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
func (s *sidecar) revocationSubjectOf(token string) string {
	s.t.Helper()
	c, err := s.auth.Verify(s.t.Context(), token)
	if err != nil {
		s.t.Fatal(err)
	}
	return (&handler{auth: s.auth}).revocationSubject(c.Issuer, c.Subject)
}

func TestIntrospectionDescribesAnActiveAccessToken(t *testing.T) {
	s := newSidecar(t, sidecarOptions{})
	tok, claims := s.issue(auth.IssueRequest{SessionID: "s1", ClientID: "app", Scope: "read write"})
	r := s.form("/oauth2/introspect", "gateway", url.Values{"token": {tok}})
	if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("introspect = %d %s (Cache-Control %q), want 200, no-store", r.status, r.body, r.header.Get("Cache-Control"))
	}
	want := map[string]any{
		"active": true, "sub": "alice", "iss": sidecarIssuer, "aud": "api", "client_id": "app", "scope": "read write",
		"sid": "s1", "jti": claims.ID, "exp": float64(claims.ExpiresAt.Unix()), "iat": float64(claims.IssuedAt.Unix()),
		"token_type": "Bearer", "token_use": "access_token",
	}
	if diff := cmp.Diff(r.json(t), want); diff != "" {
		t.Errorf("introspection (-got +want):\n%s", diff)
	}

	foreign := s.foreign("f-1", func(c jwt.MapClaims) { c["nbf"] = sidecarNow.Add(-time.Minute).Unix(); c["azp"] = "spa" })
	got := s.form("/oauth2/introspect", "gateway", url.Values{"token": {foreign}}).json(t)
	for k, v := range map[string]any{"active": true, "iss": idpIssuer, "sub": "f-1", "client_id": "spa", "nbf": float64(sidecarNow.Add(-time.Minute).Unix())} {
		if got[k] != v {
			t.Errorf("foreign introspection %s = %v, want %v", k, got[k], v)
		}
	}
	if _, ok := got["jti"]; ok {
		t.Errorf("foreign introspection has jti %v for a token that carries none", got["jti"])
	}
}

func TestIntrospectionAnswersExactlyActiveFalseForEveryDeadToken(t *testing.T) {
	s := newSidecar(t, sidecarOptions{})
	revoked, rc := s.issue(auth.IssueRequest{Subject: "carol"})
	if err := s.store.RevokeToken(t.Context(), rc.ID, rc.ExpiresAt.Time); err != nil {
		t.Fatal(err)
	}
	banned, _ := s.issue(auth.IssueRequest{Subject: "mallory"})
	if err := s.store.Ban(t.Context(), "mallory", blacklist.Ban{}); err != nil {
		t.Fatal(err)
	}
	cutOff, _ := s.issue(auth.IssueRequest{Subject: "erin"})
	if err := s.store.CutOff(t.Context(), "erin", sidecarNow); err != nil {
		t.Fatal(err)
	}
	s.refresh.tokens["rt-other"] = RefreshInfo{SessionID: "s9", Subject: "alice", ClientID: "other", IssuedAt: sidecarNow, ExpiresAt: sidecarNow.Add(time.Hour)}
	s.refresh.tokens["rt-stale"] = RefreshInfo{SessionID: "s8", Subject: "alice", ClientID: "app", IssuedAt: sidecarNow.Add(-2 * time.Hour), ExpiresAt: sidecarNow.Add(-time.Hour)}
	s.refresh.tokens["rt-cut-off"] = RefreshInfo{SessionID: "s7", Subject: "erin", ClientID: "app", IssuedAt: sidecarNow.Add(-time.Minute), ExpiresAt: sidecarNow.Add(time.Hour)}
	s.refresh.tokens["rt-banned"] = RefreshInfo{SessionID: "s6", Subject: "mallory", ClientID: "app", IssuedAt: sidecarNow, ExpiresAt: sidecarNow.Add(time.Hour)}
	if err := s.store.RevokeSession(t.Context(), "s5"); err != nil {
		t.Fatal(err)
	}
	s.refresh.tokens["rt-ended"] = RefreshInfo{SessionID: "s5", Subject: "alice", ClientID: "app", IssuedAt: sidecarNow, ExpiresAt: sidecarNow.Add(time.Hour)}

	cases := []struct{ name, token, hint string }{
		{"an expired access token", s.foreign("dave", func(c jwt.MapClaims) { c["exp"] = sidecarNow.Add(-time.Hour).Unix() }), ""},
		{"a revoked access token", revoked, ""},
		{"a banned user's access token", banned, "access_token"},
		{"a token of a user logged out everywhere", cutOff, ""},
		{"a malformed token", "not-a-token", ""},
		{"an unknown opaque token", "rt-unknown", "refresh_token"},
		{"a token signed by nobody we trust", s.foreign("x", func(c jwt.MapClaims) { c["iss"] = "https://evil.test/" }), ""},
		{"a refresh token of another client", "rt-other", "refresh_token"},
		{"an expired refresh token", "rt-stale", ""},
		{"a refresh token issued before its user's cut-off", "rt-cut-off", "refresh_token"},
		{"a banned user's refresh token", "rt-banned", ""},
		{"a refresh token of an ended session", "rt-ended", ""},
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
	s := newSidecar(t, sidecarOptions{})
	s.refresh.tokens["rt-1"] = RefreshInfo{SessionID: "s1", Subject: "alice", ClientID: "app", Scope: "read", IssuedAt: sidecarNow, ExpiresAt: sidecarNow.Add(time.Hour)}
	access, _ := s.issue(auth.IssueRequest{})
	for _, hint := range []string{"", "refresh_token", "access_token", "something_else"} {
		got := s.form("/oauth2/introspect", "app", url.Values{"token": {"rt-1"}, "token_type_hint": {hint}}).json(t)
		want := map[string]any{"active": true, "sub": "alice", "client_id": "app", "scope": "read", "sid": "s1", "iss": sidecarIssuer,
			"iat": float64(sidecarNow.Unix()), "exp": float64(sidecarNow.Add(time.Hour).Unix()), "token_use": "refresh_token"}
		if diff := cmp.Diff(got, want); diff != "" {
			t.Errorf("introspect refresh token with hint %q (-got +want):\n%s", hint, diff)
		}
		if r := s.form("/oauth2/introspect", "app", url.Values{"token": {access}, "token_type_hint": {hint}}); r.json(t)["active"] != true {
			t.Errorf("introspect access token with hint %q = %s, want active", hint, r.body)
		}
	}
}

func TestRevocationEndsAccessTokensAndRefreshSessions(t *testing.T) {
	s := newSidecar(t, sidecarOptions{})
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

	s.refresh.tokens["rt-app"] = RefreshInfo{SessionID: "s1", Subject: "alice", ClientID: "app", IssuedAt: sidecarNow, ExpiresAt: sidecarNow.Add(time.Hour)}
	r = s.form("/oauth2/revoke", "other", url.Values{"token": {"rt-app"}})
	if r.status != http.StatusBadRequest || r.json(t)["error"] != "invalid_grant" {
		t.Errorf("revoke of another client's refresh token = %d %s, want 400 invalid_grant", r.status, r.body)
	}
	if _, gone := s.refresh.revoked["rt-app"]; gone {
		t.Errorf("another client's refresh token was revoked")
	}
	if r := s.form("/oauth2/revoke", "app", url.Values{"token": {"rt-app"}, "token_type_hint": {"access_token"}}); r.status != http.StatusOK {
		t.Fatalf("revoke own refresh token = %d %s, want 200", r.status, r.body)
	}
	if got := s.refresh.revoked["rt-app"]; got != "app" {
		t.Errorf("RevokeRefresh actor = %q, want app", got)
	}

	for name, token := range map[string]string{
		"an unknown token":          "rt-unknown",
		"an already revoked token":  tok,
		"a malformed token":         "a.b.c",
		"an expired token":          s.foreign("f-3", func(c jwt.MapClaims) { c["exp"] = sidecarNow.Add(-time.Hour).Unix() }),
		"an already ended session":  "rt-app",
		"a token of nobody trusted": s.foreign("f-4", func(c jwt.MapClaims) { c["iss"] = "https://evil.test/" }),
	} {
		if r := s.form("/oauth2/revoke", "app", url.Values{"token": {token}}); r.status != http.StatusOK {
			t.Errorf("revoke %s = %d %s, want 200", name, r.status, r.body)
		}
	}
	var entries []string
	for _, k := range s.redis.Keys() {
		if !strings.HasSuffix(k, ":log") {
			entries = append(entries, k)
		}
	}
	if len(entries) != 2 {
		t.Errorf("entries after the revocations = %v, want the two revoked jtis only (nothing for expired or unknown tokens)", entries)
	}
}

// keyOf finds the key of one revocation entry.
func (s *sidecar) keyOf(kind, id string) string {
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
	s := newSidecar(t, sidecarOptions{})
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
	unavailable := func(*blacklist.Store) RevocationState {
		return failingState{err: blacklist.ErrUnavailable}
	}
	s := newSidecar(t, sidecarOptions{state: unavailable})
	tok, _ := s.issue(auth.IssueRequest{})
	for _, r := range []reply{
		s.verify("/v1/verify", tok),
		s.form("/oauth2/introspect", "app", url.Values{"token": {tok}}),
		s.form("/oauth2/revoke", "app", url.Values{"token": {tok}}),
	} {
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Errorf("= %d %s (Retry-After %q), want 503 with Retry-After", r.status, r.body, r.header.Get("Retry-After"))
		}
	}

	ok := newSidecar(t, sidecarOptions{})
	ok.refresh.err = blacklist.ErrUnavailable
	for _, path := range []string{"/oauth2/introspect", "/oauth2/revoke"} {
		r := ok.form(path, "app", url.Values{"token": {"rt-1"}, "token_type_hint": {"refresh_token"}})
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("%s with the refresh store down = %d %s, want 503", path, r.status, r.body)
		}
	}
	if !errors.Is(ok.refresh.err, blacklist.ErrUnavailable) {
		t.Fatal("the fake lost its error")
	}
}

func TestJWKSAndMetadataDescribeUs(t *testing.T) {
	s := newSidecar(t, sidecarOptions{})
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
		"issuer":                                sidecarIssuer,
		"jwks_uri":                              sidecarIssuer + "/.well-known/jwks.json",
		"token_endpoint":                        sidecarIssuer + "/oauth2/token",
		"token_endpoint_auth_methods_supported": methods,
		"grant_types_supported":                 []any{"refresh_token"},
		"response_types_supported":              []any{},
		"introspection_endpoint":                sidecarIssuer + "/oauth2/introspect",
		"introspection_endpoint_auth_methods_supported": methods,
		"revocation_endpoint":                           sidecarIssuer + "/oauth2/revoke",
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
