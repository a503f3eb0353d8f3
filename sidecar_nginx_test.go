package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/tokenguard/tokenguard/handlers"
	"github.com/tokenguard/tokenguard/internal/nginxtest"
)

// readmeNginx returns the nginx configuration of the README's "Use it as a
// sidecar" section, so that what the README tells people to copy is exactly
// what this test runs.
func readmeNginx(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "## Use it as a sidecar")
	if !ok {
		t.Fatal(`README.md has no "## Use it as a sidecar" section`)
	}
	_, rest, ok = strings.Cut(rest, "```nginx\n")
	if !ok {
		t.Fatal("the sidecar section of README.md has no nginx block")
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("the nginx block of README.md is not closed")
	}
	return block
}

// appView is what the app behind nginx reports of a request: its path and
// every header it received that a CGI-style app could take for one of ours
// (X-Auth-*, X_Auth_* in any case).
type appView struct {
	Path    string              `json:"path"`
	Headers map[string][]string `json:"headers"`
}

// TestForwardAuthBehindRealNginx puts Debian's nginx, configured as the
// README says, in front of a small app, with tokenguard answering its
// auth_request subrequests: a good token reaches the app with the user's
// identity; a revoked or missing token is refused with our challenge, a
// banned user with 403, and the app never sees a refused request.
func TestForwardAuthBehindRealNginx(t *testing.T) {
	provider := newIDP(t, "k1")
	iss := provider.url + "/"
	ts := startServerYAML(t, nil, provider.trustedIssuerYAML()+"verify:\n  trusted_proxies: [127.0.0.1]\n")
	var reached atomic.Int64
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		view := appView{Path: r.URL.Path, Headers: map[string][]string{}}
		for name, values := range r.Header {
			if strings.HasPrefix(strings.ReplaceAll(strings.ToLower(name), "_", "-"), "x-auth-") {
				view.Headers[name] = values
			}
		}
		if err := json.NewEncoder(w).Encode(view); err != nil {
			t.Errorf("app: %v", err)
		}
	}))
	t.Cleanup(app.Close)
	block := readmeNginx(t)
	ngx := nginxtest.Start(t, func(addr string) string {
		return strings.NewReplacer(
			"listen 80;", "listen "+addr+";",
			"127.0.0.1:8080", strings.TrimPrefix(ts.base, "http://"),
			"127.0.0.1:3000", strings.TrimPrefix(app.URL, "http://"),
		).Replace(block)
	})
	base := "http://" + ngx.Addr
	get := func(path, token string, header http.Header) response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s through nginx: %v\n%s", path, err, ngx.Logs())
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return response{resp.StatusCode, resp.Header, body}
	}
	refused := func(name string, r response, want int, challenge string) {
		t.Helper()
		if r.status != want {
			t.Errorf("%s: nginx answered %d %s, want %d", name, r.status, r.body, want)
		}
		if got := r.header.Get("WWW-Authenticate"); challenge != "" && !strings.Contains(got, challenge) {
			t.Errorf("%s: WWW-Authenticate = %q, want it to contain %q", name, got, challenge)
		}
	}

	// A client forges every identity header: twice, in lower case, and
	// with underscores.
	forged := http.Header{}
	for _, h := range handlers.IdentityHeaders() {
		forged[h] = []string{"forged-1", "forged-2"}
		forged[strings.ToLower(h)] = []string{"forged-lower"}
		forged[strings.ReplaceAll(h, "-", "_")] = []string{"forged-underscore"}
	}

	alice := createSession(t, ts.base, `{"subject":"alice","scope":"read","claims":{"email":"alice@example.test","groups":["dev","ops"]}}`)
	carol := createSession(t, ts.base, `{"subject":"carol"}`)
	root := createSession(t, ts.base, `{"subject":"root","scope":"read admin"}`)
	for _, c := range []struct {
		name, path, token string
		// absent are the headers tokenguard must not send for this
		// token, so that the case proves they are cleared, not replaced.
		absent []string
		// values are some of the values the app must see.
		values map[string]string
	}{
		{"a token that sets every header", "/orders/7", alice.token, nil, map[string]string{
			"X-Auth-Request-User": "alice", "X-Auth-Request-Email": "alice@example.test",
			"X-Auth-Request-Groups": "dev,ops", "X-Auth-Request-Scope": "read", "X-Auth-Session": alice.sid, "X-Auth-Token-Id": alice.jti,
		}},
		{"a token without email, groups or scope", "/orders/7", carol.token, []string{"X-Auth-Request-Email", "X-Auth-Request-Groups", "X-Auth-Request-Scope"}, map[string]string{"X-Auth-Request-User": "carol"}},
		{"a trusted issuer's token without sid, scope, email or groups", "/orders/7", provider.token("k1", "42", nil), []string{"X-Auth-Session", "X-Auth-Request-Scope", "X-Auth-Request-Email"}, map[string]string{"X-Auth-Request-User": "42", "X-Auth-Request-Issuer": iss}},
		{"the admin area with a token without email or groups", "/admin/users", root.token, []string{"X-Auth-Request-Email", "X-Auth-Request-Groups"}, map[string]string{"X-Auth-Request-User": "root", "X-Auth-Request-Scope": "read admin"}},
		{"the admin area with a trusted issuer's token without sid", "/admin/users", provider.token("k1", "43", jwt.MapClaims{"scope": "admin"}), []string{"X-Auth-Session", "X-Auth-Request-Groups"}, map[string]string{"X-Auth-Request-User": "43", "X-Auth-Request-Issuer": iss}},
	} {
		t.Run(c.name, func(t *testing.T) {
			// What tokenguard answers for this token is what the app
			// must see, and nothing else.
			answer := ts.do(http.MethodGet, "/v1/verify", "Bearer "+c.token, "", nil)
			if answer.status != http.StatusOK {
				t.Fatalf("verify = %d %s, want 200", answer.status, answer.body)
			}
			want := map[string][]string{}
			for _, h := range handlers.IdentityHeaders() {
				if v := answer.header.Get(h); v != "" {
					want[h] = []string{v}
				}
			}
			for _, h := range c.absent {
				if _, ok := want[h]; ok {
					t.Fatalf("tokenguard sent %s for this token; the case needs a token without it", h)
				}
			}
			if c.absent == nil && len(want) != len(handlers.IdentityHeaders()) {
				t.Fatalf("tokenguard sent %v; the case needs a token that sets every identity header", want)
			}
			r := get(c.path, c.token, forged)
			if r.status != http.StatusOK {
				t.Fatalf("through nginx = %d %s, want 200\n%s", r.status, r.body, ngx.Logs())
			}
			var view appView
			if err := json.Unmarshal(r.body, &view); err != nil {
				t.Fatalf("app answer %q: %v", r.body, err)
			}
			if view.Path != c.path {
				t.Errorf("the app saw path %s, want %s", view.Path, c.path)
			}
			for h, v := range c.values {
				if got := view.Headers[h]; len(got) != 1 || got[0] != v {
					t.Errorf("the app saw %s = %q, want %q", h, got, v)
				}
			}
			if diff := cmp.Diff(view.Headers, want); diff != "" {
				t.Errorf("identity headers the app saw (-got +want: tokenguard's answer alone):\n%s", diff)
			}
		})
	}
	before := reached.Load()
	refused("no token", get("/orders/7", "", nil), http.StatusUnauthorized, `Bearer realm="tokenguard"`)
	refused("no token but forged identity headers", get("/orders/7", "", forged), http.StatusUnauthorized, "")
	refused("garbage", get("/orders/7", "not-a-token", nil), http.StatusUnauthorized, `error="invalid_token"`)
	refused("the admin area without the admin scope", get("/admin/users", alice.token, forged), http.StatusForbidden, "")

	bob := ts.session("bob")
	if r := ts.do(http.MethodPost, "/v1/admin/revocations", adminAuth, "application/json", []byte(fmt.Sprintf(`{"token":%q}`, bob.token))); r.status != http.StatusNoContent {
		t.Fatalf("revoke bob's token = %d %s, want 204", r.status, r.body)
	}
	refused("a revoked token", get("/orders/7", bob.token, nil), http.StatusUnauthorized, `Bearer realm="tokenguard", error="invalid_token", error_description="token revoked: the token was revoked"`)

	mallory := ts.session("mallory")
	if r := ts.do(http.MethodPut, "/v1/admin/users/mallory/ban", adminAuth, "application/json", []byte(`{"reason":"abuse"}`)); r.status != http.StatusOK {
		t.Fatalf("ban mallory = %d %s, want 200", r.status, r.body)
	}
	refused("a banned user's token", get("/orders/7", mallory.token, nil), http.StatusForbidden, "")
	if got := reached.Load(); got != before {
		t.Errorf("the app was reached %d times by refused requests, want never", got-before)
	}
}
