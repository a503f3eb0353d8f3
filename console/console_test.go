package console

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/clients"
	"github.com/tokenguard/tokenguard/internal/keyspace"
	"github.com/tokenguard/tokenguard/lockout"
	"github.com/tokenguard/tokenguard/sessions"
	"github.com/tokenguard/tokenguard/users"
)

const (
	testPrefix = "tg:"
	testTTL    = 10 * time.Minute
	// maxFailures is the failed sign-ins a client id may make.
	maxFailures = 3
)

// counts records what the console counted.
type counts struct {
	mu       sync.Mutex
	signIns  map[string]int
	actions  map[string]int
	failures int
}

func (c *counts) ConsoleSignIn(o string) { c.mu.Lock(); c.signIns[o]++; c.mu.Unlock() }
func (c *counts) ConsoleAction(a, o string) {
	c.mu.Lock()
	c.actions[a+" "+o]++
	c.mu.Unlock()
}
func (c *counts) ClientAuthFailed() { c.mu.Lock(); c.failures++; c.mu.Unlock() }

// fixture is the console over the real stores on miniredis, served by
// httptest.
type fixture struct {
	srv     *httptest.Server
	mr      *miniredis.Miniredis
	rdb     *redis.Client
	users   *users.Service
	trail   *audit.Log
	metrics *counts
}

// newFixture builds the console with the clients admin (admin permission)
// and app (sessions only), both with the secret "<id>-secret".
func newFixture(t *testing.T) *fixture {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	return newFixtureOn(t, mr, rdb, []clients.Entry{
		{ID: "admin", Secret: "admin-secret", Permissions: []string{clients.PermAdmin}},
		{ID: "app", Secret: "app-secret", Permissions: []string{clients.PermSessions}},
	})
}

// idpIssuer is the trusted issuer of every fixture.
const idpIssuer = "https://idp.test/"

func newFixtureOn(t *testing.T, mr *miniredis.Miniredis, rdb *redis.Client, entries []clients.Entry) *fixture {
	t.Helper()
	key, err := auth.GenerateEdDSAKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
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
	tokens, err := auth.New(auth.Config{Issuer: "https://tokenguard.test", Audience: "api", AccessTTL: 5 * time.Minute, Leeway: 30 * time.Second, Keys: []*auth.Key{key}, TrustedIssuers: []*auth.TrustedIssuer{idp}})
	if err != nil {
		t.Fatal(err)
	}
	rev := blacklist.New(rdb, blacklist.Config{Prefix: testPrefix, Leeway: 30 * time.Second, MaxTokenLifetime: 5 * time.Minute, LongestTokenLifetime: 5 * time.Minute, Mode: blacklist.ModeStrict})
	store := sessions.New(rdb, sessions.Config{Prefix: testPrefix, RefreshTTL: time.Hour, MaxAge: 24 * time.Hour, AccessTokenLife: 6 * time.Minute, Revoker: rev})
	trail := audit.New(rdb, audit.Config{Prefix: testPrefix, Retention: 24 * time.Hour})
	us, err := users.New(users.Config{Tokens: tokens, Revocations: rev, Sessions: store, Audit: trail})
	if err != nil {
		t.Fatal(err)
	}
	registry, err := clients.New(clients.Config{Clients: entries, Dev: true})
	if err != nil {
		t.Fatal(err)
	}
	limiter, err := lockout.New(rdb, lockout.Config{
		Name: "client", Prefix: testPrefix, MaxPerID: maxFailures, MaxPerIP: 100, Window: time.Minute,
		Audit: trail, IDEvent: audit.TypeClientLockedOut, IPEvent: audit.TypeClientIPLockedOut,
	})
	if err != nil {
		t.Fatal(err)
	}
	m := &counts{signIns: map[string]int{}, actions: map[string]int{}}
	c, err := New(Config{Users: us, Clients: registry, Limiter: limiter, Redis: rdb, Prefix: testPrefix, SessionTTL: testTTL, StaleAfter: 7 * time.Second, Secure: true, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, mr: mr, rdb: rdb, users: us, trail: trail, metrics: m}
}

// answer is what a request came back with.
type answer struct {
	status int
	header http.Header
	body   string
}

func (a answer) errorCode(t *testing.T) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(a.body), &e); err != nil {
		t.Fatalf("body %q is not a JSON error: %v", a.body, err)
	}
	return e.Error
}

// send makes a request; cookie, when set, is the session cookie's value.
func (f *fixture) send(t *testing.T, method, path, body, cookie string, headers map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: cookieName, Value: cookie})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// held is a console session a test holds.
type held struct {
	cookie *http.Cookie
	csrf   string
}

// signIn signs in as the admin client and returns the session.
func (f *fixture) signIn(t *testing.T) held {
	t.Helper()
	a := f.send(t, http.MethodPost, "/console/api/sign-in", `{"client_id":"admin","client_secret":"admin-secret"}`, "", nil)
	if a.status != http.StatusOK {
		t.Fatalf("sign-in = %d %s, want 200", a.status, a.body)
	}
	var me meView
	if err := json.Unmarshal([]byte(a.body), &me); err != nil {
		t.Fatal(err)
	}
	resp := http.Response{Header: a.header}
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			return held{cookie: c, csrf: me.CSRF}
		}
	}
	t.Fatalf("sign-in set no %s cookie: %v", cookieName, a.header)
	return held{}
}

// change posts a state change with the session's cookie and CSRF token.
func (f *fixture) change(t *testing.T, s held, path, body string) answer {
	t.Helper()
	return f.send(t, http.MethodPost, path, body, s.cookie.Value, map[string]string{csrfHeader: s.csrf, "Origin": f.srv.URL})
}

func TestSignInGivesAStrictCookieWhoseValueRedisNeverHolds(t *testing.T) {
	f := newFixture(t)
	s := f.signIn(t)
	c := s.cookie
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != Path {
		t.Errorf("cookie HttpOnly=%v Secure=%v SameSite=%v Path=%q, want HttpOnly, Secure, Strict, %s", c.HttpOnly, c.Secure, c.SameSite, c.Path, Path)
	}
	if len(c.Value) < 40 || s.csrf == "" || s.csrf == c.Value {
		t.Errorf("cookie value %d chars, CSRF token %q: want a long random value and a token of its own", len(c.Value), s.csrf)
	}
	keys := f.mr.Keys()
	want := keyspace.New(testPrefix).ConsoleSession(c.Value)
	found := false
	for _, k := range keys {
		if k == want {
			found = true
		}
		if strings.Contains(k, c.Value) {
			t.Errorf("key %q holds the cookie's value", k)
		}
		if v, err := f.mr.Get(k); err == nil && strings.Contains(v, c.Value) {
			t.Errorf("key %q's value holds the cookie's value", k)
		}
	}
	if !found {
		t.Errorf("keys %v, want the session under %s", keys, want)
	}
	if ttl := f.mr.TTL(want); ttl != testTTL {
		t.Errorf("session TTL %v, want %v", ttl, testTTL)
	}
	if f.metrics.signIns["success"] != 1 {
		t.Errorf("sign-ins counted %v, want one success", f.metrics.signIns)
	}
}

func TestSignOutEndsTheSessionWhereverTheCookieWasCopied(t *testing.T) {
	f := newFixture(t)
	s := f.signIn(t)
	if a := f.send(t, http.MethodGet, "/console/api/me", "", s.cookie.Value, nil); a.status != http.StatusOK || !strings.Contains(a.body, `"client_id":"admin"`) {
		t.Fatalf("me = %d %s, want 200 as admin", a.status, a.body)
	}
	a := f.change(t, s, "/console/api/sign-out", "{}")
	if a.status != http.StatusNoContent {
		t.Fatalf("sign-out = %d %s, want 204", a.status, a.body)
	}
	resp := http.Response{Header: a.header}
	if cs := resp.Cookies(); len(cs) != 1 || cs[0].MaxAge >= 0 {
		t.Errorf("sign-out cookies %v, want the session cookie deleted", cs)
	}
	if a := f.send(t, http.MethodGet, "/console/api/me", "", s.cookie.Value, nil); a.status != http.StatusUnauthorized {
		t.Errorf("me with the signed-out cookie = %d, want 401", a.status)
	}
	if f.metrics.actions["sign_out done"] != 1 {
		t.Errorf("actions counted %v, want sign_out done", f.metrics.actions)
	}
}

func TestASessionEndsAfterTheIdleTimeoutAndEachRequestRestartsIt(t *testing.T) {
	f := newFixture(t)
	s := f.signIn(t)
	key := keyspace.New(testPrefix).ConsoleSession(s.cookie.Value)
	f.mr.FastForward(testTTL - time.Minute)
	if a := f.send(t, http.MethodGet, "/console/api/me", "", s.cookie.Value, nil); a.status != http.StatusOK {
		t.Fatalf("me a minute before the idle timeout = %d, want 200", a.status)
	}
	if ttl := f.mr.TTL(key); ttl != testTTL {
		t.Errorf("TTL after a request = %v, want it restarted at %v", ttl, testTTL)
	}
	f.mr.FastForward(testTTL + time.Second)
	if a := f.send(t, http.MethodGet, "/console/api/me", "", s.cookie.Value, nil); a.status != http.StatusUnauthorized {
		t.Errorf("me after the idle timeout = %d, want 401", a.status)
	}
}

func TestSignInRefusals(t *testing.T) {
	for _, c := range []struct {
		name, body string
		headers    map[string]string
		status     int
		code       string
	}{
		{"a wrong secret", `{"client_id":"admin","client_secret":"nope"}`, nil, 401, "invalid_client"},
		{"an unknown client", `{"client_id":"ghost","client_secret":"admin-secret"}`, nil, 401, "invalid_client"},
		{"a client without the admin permission", `{"client_id":"app","client_secret":"app-secret"}`, nil, 403, "access_denied"},
		{"no secret", `{"client_id":"admin"}`, nil, 400, "invalid_request"},
		{"an unknown field", `{"client_id":"admin","client_secret":"admin-secret","remember":true}`, nil, 400, "invalid_request"},
		{"a field given twice", `{"client_id":"admin","client_secret":"x","client_secret":"admin-secret"}`, nil, 400, "invalid_request"},
		{"a name not spelled exactly", `{"Client_ID":"admin","client_secret":"admin-secret"}`, nil, 400, "invalid_request"},
		{"trailing data", `{"client_id":"admin","client_secret":"admin-secret"} {}`, nil, 400, "invalid_request"},
		{"a form instead of JSON", `client_id=admin&client_secret=admin-secret`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, "invalid_request"},
		{"a request from another site", `{"client_id":"admin","client_secret":"admin-secret"}`, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, "csrf"},
		{"a request from another origin", `{"client_id":"admin","client_secret":"admin-secret"}`, map[string]string{"Origin": "https://evil.test"}, 403, "csrf"},
	} {
		t.Run(c.name+" is refused", func(t *testing.T) {
			f := newFixture(t)
			a := f.send(t, http.MethodPost, "/console/api/sign-in", c.body, "", c.headers)
			if a.status != c.status || a.errorCode(t) != c.code {
				t.Errorf("sign-in = %d %s, want %d %s", a.status, a.body, c.status, c.code)
			}
			if len(a.header.Values("Set-Cookie")) != 0 {
				t.Errorf("a refused sign-in set cookies %v", a.header.Values("Set-Cookie"))
			}
		})
	}
}

func TestFailedSignInsCountTowardTheClientAuthenticationLimits(t *testing.T) {
	f := newFixture(t)
	for i := range maxFailures {
		if a := f.send(t, http.MethodPost, "/console/api/sign-in", `{"client_id":"admin","client_secret":"guess"}`, "", nil); a.status != http.StatusUnauthorized {
			t.Fatalf("failure %d = %d %s, want 401", i+1, a.status, a.body)
		}
	}
	a := f.send(t, http.MethodPost, "/console/api/sign-in", `{"client_id":"admin","client_secret":"admin-secret"}`, "", nil)
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" {
		t.Errorf("the right secret after %d failures = %d %s, want 429 with Retry-After (locked out)", maxFailures, a.status, a.body)
	}
	if f.metrics.failures != maxFailures || f.metrics.signIns["failure"] != maxFailures || f.metrics.signIns["locked_out"] != 1 {
		t.Errorf("counted %d client auth failures and sign-ins %v, want %d failures and one locked_out", f.metrics.failures, f.metrics.signIns, maxFailures)
	}
	events, err := f.trail.List(context.Background(), audit.Query{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Type != audit.TypeClientLockedOut || events[0].Actor != "admin" {
		t.Errorf("audit events %+v, want one client_locked_out of admin", events)
	}
}

func TestAStateChangeNeedsTheCSRFTokenAndTheSameOrigin(t *testing.T) {
	f := newFixture(t)
	s := f.signIn(t)
	const ban = `{"subject":"mallory","duration":"1h","reason":"spam"}`
	for _, c := range []struct {
		name    string
		headers map[string]string
	}{
		{"without the token", map[string]string{"Origin": f.srv.URL}},
		{"with another session's token", map[string]string{csrfHeader: f.signIn(t).csrf}},
		{"from another origin", map[string]string{csrfHeader: s.csrf, "Origin": "https://evil.test"}},
		{"marked cross-site", map[string]string{csrfHeader: s.csrf, "Sec-Fetch-Site": "cross-site"}},
		{"marked same-site but not same-origin", map[string]string{csrfHeader: s.csrf, "Sec-Fetch-Site": "same-site"}},
	} {
		if a := f.send(t, http.MethodPost, "/console/api/user/ban", ban, s.cookie.Value, c.headers); a.status != http.StatusForbidden || a.errorCode(t) != "csrf" {
			t.Errorf("a ban %s = %d %s, want 403 csrf", c.name, a.status, a.body)
		}
	}
	st, err := f.users.Status(context.Background(), "mallory")
	if err != nil {
		t.Fatal(err)
	}
	if st.Ban != nil {
		t.Fatalf("refused bans banned mallory: %+v", st.Ban)
	}
	if a := f.change(t, s, "/console/api/user/ban", ban); a.status != http.StatusNoContent {
		t.Fatalf("a ban with the token = %d %s, want 204", a.status, a.body)
	}
	events, err := f.trail.List(context.Background(), audit.Query{Subject: "mallory", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Type != audit.TypeBan || events[0].Actor != "admin" {
		t.Errorf("mallory's events %+v, want one ban by admin", events)
	}
	if f.metrics.actions["ban refused"] != 5 || f.metrics.actions["ban done"] != 1 {
		t.Errorf("actions counted %v, want 5 refused bans and one done", f.metrics.actions)
	}
}

func TestASessionOfAClientThatLostTheAdminPermissionEnds(t *testing.T) {
	f := newFixture(t)
	s := f.signIn(t)
	// The same Redis, served after a restart whose configuration took
	// the permission away.
	g := newFixtureOn(t, f.mr, f.rdb, []clients.Entry{{ID: "admin", Secret: "admin-secret", Permissions: []string{clients.PermSessions}}})
	if a := g.send(t, http.MethodGet, "/console/api/me", "", s.cookie.Value, nil); a.status != http.StatusUnauthorized {
		t.Errorf("me after the permission was taken = %d, want 401", a.status)
	}
	if a := f.send(t, http.MethodGet, "/console/api/me", "", s.cookie.Value, nil); a.status != http.StatusUnauthorized {
		t.Errorf("me on the old configuration afterwards = %d, want 401: the session was ended", a.status)
	}
}

func TestTheEventsFilterByKindPagesThroughTheTrail(t *testing.T) {
	f := newFixture(t)
	s := f.signIn(t)
	ctx := context.Background()
	for range 3 {
		if _, err := f.users.Ban(ctx, "admin", "mallory", time.Hour, "spam"); err != nil {
			t.Fatal(err)
		}
		if err := f.users.Unban(ctx, "admin", "mallory"); err != nil {
			t.Fatal(err)
		}
	}
	var page struct {
		Events []struct {
			Type string `json:"type"`
		} `json:"events"`
		NextBefore string `json:"next_before"`
	}
	get := func(q string) {
		t.Helper()
		a := f.send(t, http.MethodGet, "/console/api/events?"+q, "", s.cookie.Value, nil)
		if a.status != http.StatusOK {
			t.Fatalf("events?%s = %d %s", q, a.status, a.body)
		}
		page.NextBefore = ""
		if err := json.Unmarshal([]byte(a.body), &page); err != nil {
			t.Fatal(err)
		}
	}
	get("type=ban&subject=mallory&limit=2")
	if len(page.Events) != 2 || page.Events[0].Type != "ban" || page.Events[1].Type != "ban" || page.NextBefore == "" {
		t.Fatalf("first page %+v, want two bans and a cursor", page)
	}
	get("type=ban&subject=mallory&limit=2&before=" + page.NextBefore)
	if len(page.Events) != 1 || page.Events[0].Type != "ban" || page.NextBefore != "" {
		t.Errorf("second page %+v, want the last ban and no cursor", page)
	}
	for _, q := range []string{"type=nonsense", "limit=0", "limit=201", "issuer=https://idp.test", "before=garbage"} {
		if a := f.send(t, http.MethodGet, "/console/api/events?"+q, "", s.cookie.Value, nil); a.status != http.StatusBadRequest {
			t.Errorf("events?%s = %d %s, want 400", q, a.status, a.body)
		}
	}
}

func TestEveryAnswerCarriesTheSecurityHeadersAndUnknownPathsAreJSON(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"/console/", "/console/sign-in", "/console/users", "/console/user", "/console/events", "/console/static/app.js", "/console/static/style.css", "/console/nope", "/console/static/dashboard.html", "/console/api/me"} {
		a := f.send(t, http.MethodGet, p, "", "", nil)
		if csp := a.header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'self'") || strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s: Content-Security-Policy %q, want default-src 'self' and nothing unsafe", p, csp)
		}
		if a.header.Get("X-Content-Type-Options") != "nosniff" || a.header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: headers %v lack nosniff or DENY", p, a.header)
		}
		if a.status >= 400 && a.header.Get("Content-Type") != "application/json" {
			t.Errorf("GET %s = %d with Content-Type %q, want JSON", p, a.status, a.header.Get("Content-Type"))
		}
	}
	if a := f.send(t, http.MethodGet, "/console/nope", "", "", nil); a.status != http.StatusNotFound || a.errorCode(t) != "not_found" {
		t.Errorf("GET /console/nope = %d %s, want 404 not_found", a.status, a.body)
	}
}

// TestThePagesHoldNoInlineScriptStyleOrHandler: what the CSP forbids is
// not in the pages either, so nothing breaks under it.
func TestThePagesHoldNoInlineScriptStyleOrHandler(t *testing.T) {
	inline := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|<style|\sstyle=|\son[a-z]+=|javascript:|https?://`)
	files, err := fs.Glob(assets, "assets/*.html")
	if err != nil || len(files) != len(pages) {
		t.Fatalf("pages %v (%v), want the %d pages", files, err, len(pages))
	}
	for _, name := range files {
		b, err := fs.ReadFile(assets, name)
		if err != nil {
			t.Fatal(err)
		}
		if m := inline.Find(b); m != nil {
			t.Errorf("%s holds %q", name, m)
		}
	}
	js, err := fs.ReadFile(assets, "assets/app.js")
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function`).Find(js); m != nil {
		t.Errorf("app.js uses %s: every value must be written as text", m)
	}
}

func TestTheSearchFindsOurUserAndATrustedIssuersWithTheirIssuer(t *testing.T) {
	f := newFixture(t)
	s := f.signIn(t)
	theirs, err := f.users.Subject(idpIssuer, "42")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.users.Ban(context.Background(), "admin", theirs, time.Hour, "spam"); err != nil {
		t.Fatal(err)
	}
	a := f.send(t, http.MethodGet, "/console/api/users?subject=42", "", s.cookie.Value, nil)
	if a.status != http.StatusOK {
		t.Fatalf("search = %d %s", a.status, a.body)
	}
	var found struct {
		Users []foundView `json:"users"`
	}
	if err := json.Unmarshal([]byte(a.body), &found); err != nil {
		t.Fatal(err)
	}
	want := []foundView{{Subject: "42"}, {Subject: "42", Issuer: idpIssuer, Known: true, Banned: true}}
	if diff := cmp.Diff(want, found.Users); diff != "" {
		t.Errorf("search for 42 (-want +got):\n%s", diff)
	}

	q := "subject=42&issuer=" + url.QueryEscape(idpIssuer)
	var u userView
	a = f.send(t, http.MethodGet, "/console/api/user?"+q, "", s.cookie.Value, nil)
	if err := json.Unmarshal([]byte(a.body), &u); err != nil || a.status != http.StatusOK {
		t.Fatalf("user = %d %s (%v)", a.status, a.body, err)
	}
	if u.Subject != "42" || u.Issuer != idpIssuer || !u.Banned || u.Ban == nil || u.Ban.By != "admin" || u.Ban.Reason != "spam" {
		t.Errorf("the trusted issuer's user = %+v, want 42 of %s banned by admin for spam", u, idpIssuer)
	}
	if a := f.change(t, s, "/console/api/user/unban", `{"subject":"42","issuer":"`+idpIssuer+`"}`); a.status != http.StatusNoContent {
		t.Fatalf("unban = %d %s", a.status, a.body)
	}
	events, err := f.trail.List(context.Background(), audit.Query{Subject: theirs, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Type != audit.TypeUnban || events[0].Actor != "admin" {
		t.Errorf("their newest event %+v, want the unban by admin", events)
	}
	for _, bad := range []string{"subject=42&issuer=https://evil.test/", "subject=", "issuer=" + url.QueryEscape(idpIssuer)} {
		if a := f.send(t, http.MethodGet, "/console/api/user?"+bad, "", s.cookie.Value, nil); a.status != http.StatusBadRequest {
			t.Errorf("user?%s = %d %s, want 400", bad, a.status, a.body)
		}
	}
}

// TestTheDashboardMarksStalenessByTheConfiguredBound: the page marks a
// shard stale past revocation.max_staleness, which the reading carries.
func TestTheDashboardMarksStalenessByTheConfiguredBound(t *testing.T) {
	f := newFixture(t)
	s := f.signIn(t)
	a := f.send(t, http.MethodGet, "/console/api/dashboard", "", s.cookie.Value, nil)
	if a.status != http.StatusOK {
		t.Fatalf("dashboard = %d %s, want 200", a.status, a.body)
	}
	var v struct {
		StaleAfter *float64 `json:"stale_after_seconds"`
	}
	if err := json.Unmarshal([]byte(a.body), &v); err != nil || v.StaleAfter == nil || *v.StaleAfter != 7 {
		t.Errorf("stale_after_seconds in %s (%v), want 7", a.body, err)
	}
}

func TestMeShowsTheSessionSignInOpened(t *testing.T) {
	f := newFixture(t)
	s := f.signIn(t)
	a := f.send(t, http.MethodGet, "/console/api/me", "", s.cookie.Value, nil)
	if a.status != http.StatusOK {
		t.Fatalf("me = %d %s, want 200", a.status, a.body)
	}
	var got meView
	if err := json.Unmarshal([]byte(a.body), &got); err != nil {
		t.Fatal(err)
	}
	want := meView{ClientID: "admin", CSRF: s.csrf, SessionTTL: int64(testTTL.Seconds())}
	if got != want {
		t.Errorf("me = %+v, want %+v (the sign-in's client, CSRF token and idle timeout)", got, want)
	}
}

func TestEveryPageServesItsEmbeddedFile(t *testing.T) {
	f := newFixture(t)
	for p, file := range pages {
		path := Path + strings.TrimSuffix(p, "{$}")
		want, err := fs.ReadFile(assets, "assets/"+file)
		if err != nil {
			t.Fatal(err)
		}
		a := f.send(t, http.MethodGet, path, "", "", nil)
		if a.status != http.StatusOK || a.header.Get("Content-Type") != "text/html; charset=utf-8" || a.body != string(want) {
			t.Errorf("GET %s = %d %q, %d bytes; want 200 text/html, %s as embedded", path, a.status, a.header.Get("Content-Type"), len(a.body), file)
		}
	}
}
