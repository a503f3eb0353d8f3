package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

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

// TestForwardAuthBehindRealNginx puts Debian's nginx, configured as the
// README says, in front of a small app, with tokenguard answering its
// auth_request subrequests: a good token reaches the app with the user's
// identity; a revoked or missing token is refused with our challenge, a
// banned user with 403, and the app never sees a refused request.
func TestForwardAuthBehindRealNginx(t *testing.T) {
	ts := startServerYAML(t, nil, "verify:\n  trusted_proxies: [127.0.0.1]\n")
	var reached atomic.Int64
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		fmt.Fprintf(w, "path=%s user=%s email=%s groups=%s scope=%s", r.URL.Path,
			r.Header.Get("X-Auth-Request-User"), r.Header.Get("X-Auth-Request-Email"),
			r.Header.Get("X-Auth-Request-Groups"), r.Header.Get("X-Auth-Request-Scope"))
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
	get := func(path, token string, header map[string]string) response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for k, v := range header {
			req.Header.Set(k, v)
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

	alice := createSession(t, ts.base, `{"subject":"alice","scope":"read","claims":{"email":"alice@example.test","groups":["dev","ops"]}}`)
	r := get("/orders/7", alice.token, map[string]string{"X-Auth-Request-User": "admin", "X-Auth-Request-Scope": "admin"})
	if want := "path=/orders/7 user=alice email=alice@example.test groups=dev,ops scope=read"; r.status != http.StatusOK || string(r.body) != want {
		t.Fatalf("a good token through nginx = %d %q, want 200 %q (the client's own X-Auth-* headers replaced)\n%s", r.status, r.body, want, ngx.Logs())
	}

	before := reached.Load()
	refused("no token", get("/orders/7", "", nil), http.StatusUnauthorized, `Bearer realm="tokenguard"`)
	refused("no token but forged identity headers", get("/orders/7", "", map[string]string{"X-Auth-Request-User": "alice"}), http.StatusUnauthorized, "")
	refused("garbage", get("/orders/7", "not-a-token", nil), http.StatusUnauthorized, `error="invalid_token"`)
	refused("the admin area without the admin scope", get("/admin/users", alice.token, nil), http.StatusForbidden, "")

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

	root := createSession(t, ts.base, `{"subject":"root","scope":"read admin"}`)
	if r := get("/admin/users", root.token, nil); r.status != http.StatusOK || !strings.Contains(string(r.body), "user=root") {
		t.Errorf("the admin area with the admin scope = %d %q, want 200 for root", r.status, r.body)
	}
}
