package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/internal/requestid"
)

func TestServerFaultsAnswerAGeneric500AndLogTheCause(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		fault echo.HandlerFunc
	}{
		{"an unexpected error", func(echo.Context) error { return errors.New("disk on fire at 10.1.2.3") }},
		{"a panic in a handler", func(echo.Context) error { panic("boom") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{})
			// A route of the real instance that fails as told: the fault
			// goes through the same middleware and error handler as
			// every endpoint.
			h.e.GET("/test/fault", c.fault)
			tok, _ := h.issue(auth.IssueRequest{SessionID: "s"})
			r := h.exchange(t, h.newRequest(http.MethodGet, "/test/fault", "Bearer "+tok, "", ""), testRoute)
			if r.status != http.StatusInternalServerError {
				t.Errorf("status = %d, want 500", r.status)
			}
			if got, want := strings.TrimSpace(r.body), `{"error":"server_error","error_description":"internal error"}`; got != want {
				t.Errorf("body = %s, want %s (no internals leak)", got, want)
			}
			if !strings.Contains(h.logs.String(), "internal error") {
				t.Errorf("the cause was not logged: %q", h.logs.String())
			}
			if strings.Contains(h.logs.String(), tok) {
				t.Errorf("the token was logged")
			}
		})
	}
}

func TestRevokedAndUnavailableMapToTheirStatuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		state func(h *harness, c *auth.Claims) error
		want  int
	}{
		{"a revoked token", func(h *harness, c *auth.Claims) error {
			return h.store.RevokeToken(h.t.Context(), c.ID, c.ExpiresAt.Time)
		}, http.StatusUnauthorized},
		{"an ended session", func(h *harness, c *auth.Claims) error {
			return h.store.RevokeSession(h.t.Context(), c.SessionID)
		}, http.StatusUnauthorized},
		{"an unreachable store", func(h *harness, _ *auth.Claims) error {
			h.redis.SetError("LOADING the store is down")
			return nil
		}, http.StatusServiceUnavailable},
		{"a banned user", func(h *harness, c *auth.Claims) error {
			return h.store.Ban(h.t.Context(), c.Subject, blacklist.Ban{}, testTTL)
		}, http.StatusForbidden},
		{"a good token", func(*harness, *auth.Claims) error { return nil }, http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{})
			tok, claims := h.issue(auth.IssueRequest{SessionID: "s"})
			if err := c.state(h, claims); err != nil {
				t.Fatal(err)
			}
			r := h.do(http.MethodPost, "/v1/verify/anything", "Bearer "+tok, "", "")
			if r.status != c.want {
				t.Errorf("status = %d %s, want %d", r.status, r.body, c.want)
			}
		})
	}
}

// TestVerifyAnswersOnly200Or401WhateverTheProxyForwards: nginx turns any
// other status into a 500, so neither an unusual method nor a large body a
// proxy forwards may change the answer of the forward-auth check.
func TestVerifyAnswersOnly200Or401WhateverTheProxyForwards(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	tok, _ := h.issue(auth.IssueRequest{SessionID: "s"})
	big := strings.Repeat("x", 1<<20)
	for _, c := range []struct {
		name, method, path, body, token string
		want                            int
	}{
		{"PURGE with a good token", "PURGE", "/v1/verify", "", tok, http.StatusOK},
		{"LOCK below /v1/verify with a good token", "LOCK", "/v1/verify/dav/file", "", tok, http.StatusOK},
		{"MKCOL without a token", "MKCOL", "/v1/verify", "", "", http.StatusUnauthorized},
		{"a 1 MiB body with a good token", "POST", "/v1/verify", big, tok, http.StatusOK},
		{"a 1 MiB body without a token", "PUT", "/v1/verify/upload", big, "", http.StatusUnauthorized},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			if r := h.exchange(t, req, conforming); r.status != c.want {
				t.Errorf("status = %d %s, want %d", r.status, r.body, c.want)
			}
		})
	}
	// Elsewhere the limits stand.
	req := httptest.NewRequest(http.MethodPost, "/v1/sessions", strings.NewReader(big))
	if r := h.exchange(t, req, malformedRequest); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("POST /v1/sessions with 1 MiB = %d, want 413", r.status)
	}
	req = httptest.NewRequest("PURGE", "/v1/sessions", nil)
	if r := h.exchange(t, req, malformedRequest); r.status != http.StatusMethodNotAllowed {
		t.Errorf("PURGE /v1/sessions = %d, want 405", r.status)
	}
}

// TestEveryRouteButVerifyRefusesABodyOverTheLimit: a declared body over the
// limit is refused 413 before any handler or client authentication runs,
// on every route but the forward-auth check, those that take no body
// included, as each operation of the document says.
func TestEveryRouteButVerifyRefusesABodyOverTheLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	big := strings.Repeat("x", 64<<10+1)
	var tried int
	for _, rt := range h.e.Routes() {
		if rt.Method == echo.RouteNotFound || isVerifyPath(rt.Path) {
			continue
		}
		path := strings.NewReplacer(":subject", "alice", ":id", "s1").Replace(rt.Path)
		t.Run(rt.Method+" "+path, func(t *testing.T) {
			req := httptest.NewRequest(rt.Method, path, strings.NewReader(big))
			// A body the document does not describe, on purpose: only
			// the answer is held to it.
			if r := h.exchange(t, req, malformedRequest); r.status != http.StatusRequestEntityTooLarge {
				t.Errorf("status = %d %s, want 413", r.status, r.body)
			}
		})
		tried++
	}
	if tried < 20 {
		t.Errorf("tried %d routes; the instance serves more", tried)
	}
}

func TestUnknownRoutesAndMethodsGetAJSONError(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.wantClientErrors(t, []clientMistake{
		{"an unknown route", "GET", "/v1/nothing-here", "", "", ``, 404, "not_found"},
		{"a wrong method", "PUT", "/v1/sessions", "app", "", ``, 405, "method_not_allowed"},
		{"an unknown admin route without client credentials", "GET", "/v1/admin/nothing-here", "", "", ``, 401, "invalid_client"},
		{"an unknown admin route", "GET", "/v1/admin/nothing-here", "admin", "", ``, 404, "not_found"},
	})
}

// TestEveryErrorBodyIsJSONOnTheWire sends, over a real connection, every
// kind of mistake that can reach tokenguard, including those net/http
// answers before any handler runs, and wants the JSON error shape with the
// right status from each.
func TestEveryErrorBodyIsJSONOnTheWire(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	addr := h.listen(t, 1<<10)
	app := "Authorization: " + basicAuth("app") + "\r\n"
	big := `{"subject":"` + strings.Repeat("x", 70<<10) + `"}`
	chunked := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(big), big)
	for _, c := range []struct {
		name, request string
		want          int
	}{
		{"a malformed escape in the path", "GET /nope%zz HTTP/1.1\r\nHost: t\r\n\r\n", 400},
		{"a malformed escape in a path parameter", "GET /v1/admin/users/%zz HTTP/1.1\r\nHost: t\r\n\r\n", 400},
		{"a request without Host", "GET /healthz HTTP/1.1\r\n\r\n", 400},
		{"a header line without a colon", "GET /healthz HTTP/1.1\r\nHost: t\r\nno colon here\r\n\r\n", 400},
		{"headers over the limit", "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + strings.Repeat("b", 6<<10) + "\r\n\r\n", 431},
		{"an unsupported transfer encoding", "POST /v1/sessions HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"an unsupported HTTP version", "GET /healthz HTTP/2.0\r\nHost: t\r\n\r\n", 505},
		{"an unknown route", "GET /v1/nothing-here HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 404},
		{"a wrong method", "PUT /v1/sessions HTTP/1.1\r\nHost: t\r\n" + app + "Connection: close\r\n\r\n", 405},
		{"a body over the limit", "POST /v1/sessions HTTP/1.1\r\nHost: t\r\n" + app + "Content-Type: application/json\r\nContent-Length: " + fmt.Sprint(len(big)) + "\r\nConnection: close\r\n\r\n" + big, 413},
		{"a chunked body over the limit", "POST /v1/sessions HTTP/1.1\r\nHost: t\r\n" + app + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked, 413},
		{"a body that is not JSON", "POST /v1/sessions HTTP/1.1\r\nHost: t\r\n" + app + "Content-Type: text/plain\r\nContent-Length: 9\r\nConnection: close\r\n\r\nsubject=a", 415},
		{"a body with a duplicate field", "POST /v1/sessions HTTP/1.1\r\nHost: t\r\n" + app + "Content-Type: application/json\r\nContent-Length: 29\r\nConnection: close\r\n\r\n{\"subject\":\"a\",\"subject\":\"b\"}", 400},
		{"no client credentials", "POST /v1/sessions HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", 401},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := exchange(t, addr, c.request)
			if r.status != c.want {
				t.Errorf("status = %d %s, want %d", r.status, r.body, c.want)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var body map[string]any
			if err := json.Unmarshal(r.body, &body); err != nil {
				t.Fatalf("body %q is not JSON: %v", r.body, err)
			}
			if len(body) != 2 || body["error"] == "" || body["error_description"] == "" {
				t.Errorf("body = %v, want exactly error and error_description", body)
			}
		})
	}
}

// TestEveryGetRouteAnswersHead: a HEAD gets what a GET gets, status and
// headers, without the body, as the document's HEAD operations say; a route
// added later cannot forget it.
func TestEveryGetRouteAnswersHead(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	l := h.login("app", "alice", "laptop")
	routes := map[string]bool{}
	for _, r := range h.e.Routes() {
		routes[r.Method+" "+r.Path] = true
	}
	for key := range routes {
		if path, ok := strings.CutPrefix(key, http.MethodGet+" "); ok && !routes[http.MethodHead+" "+path] {
			t.Errorf("GET %s has no HEAD", path)
		}
	}

	addr := h.listen(t, 0)
	bearer := "Authorization: Bearer " + l.token + "\r\n"
	admin := "Authorization: " + basicAuth("admin") + "\r\n"
	for _, c := range []struct {
		name, path, auth string
		want             int
	}{
		{"the liveness probe", "/healthz", "", 200},
		{"the readiness probe", "/readyz", "", 200},
		{"the key set", "/.well-known/jwks.json", "", 200},
		{"the metadata", "/.well-known/oauth-authorization-server", "", 200},
		{"the forward-auth check", "/v1/verify", bearer, 200},
		{"the forward-auth check without a token", "/v1/verify", "", 401},
		{"the user's sessions", "/v1/sessions", bearer, 200},
		{"the user's sessions without a token", "/v1/sessions", "", 401},
		{"a user seen by the admin", "/v1/admin/users/alice", admin, 200},
		{"a user's sessions seen by the admin", "/v1/admin/users/alice/sessions", admin, 200},
		{"the audit trail", "/v1/admin/events", admin, 200},
		{"an unknown route", "/v1/nothing-here", "", 404},
	} {
		t.Run(c.name, func(t *testing.T) {
			get := exchange(t, addr, "GET "+c.path+" HTTP/1.1\r\nHost: t\r\n"+c.auth+"Connection: close\r\n\r\n")
			head := exchange(t, addr, "HEAD "+c.path+" HTTP/1.1\r\nHost: t\r\n"+c.auth+"Connection: close\r\n\r\n")
			if get.status != c.want || head.status != c.want {
				t.Fatalf("GET = %d, HEAD = %d %s, want %d for both", get.status, head.status, head.rest, c.want)
			}
			if len(head.rest) != 0 {
				t.Errorf("HEAD sent a body: %q", head.rest)
			}
			for _, name := range []string{"Content-Type", "Cache-Control", "WWW-Authenticate", "X-Auth-Request-User"} {
				if g, hd := get.header.Get(name), head.header.Get(name); g != hd {
					t.Errorf("%s: GET %q, HEAD %q, want the same", name, g, hd)
				}
			}
			if cl := head.header.Get("Content-Length"); cl != "" && cl != fmt.Sprint(len(get.body)) {
				t.Errorf("HEAD Content-Length = %s, want the GET body's %d", cl, len(get.body))
			}
			// And the HEAD operation of the document describes the answer.
			req := h.newRequest(http.MethodHead, c.path, "", "", "")
			if a, ok := strings.CutPrefix(strings.TrimSuffix(c.auth, "\r\n"), "Authorization: "); ok {
				req.Header.Set("Authorization", a)
			}
			conformance := conforming
			if c.want == http.StatusNotFound || (c.auth == "" && c.want == http.StatusUnauthorized) {
				conformance = malformedRequest // no such route; no credentials
			}
			if r := h.exchange(t, req, conformance); r.status != c.want {
				t.Errorf("HEAD through the harness = %d, want %d", r.status, c.want)
			}
		})
	}
}

// withRequestID is the harness's request sent from ip with X-Request-Id id
// ("" sends none).
func (h *harness) withRequestID(ip, id, method, target, auth, contentType, body string) reply {
	h.t.Helper()
	r := h.newRequest(method, target, auth, contentType, body)
	r.RemoteAddr = net.JoinHostPort(ip, "40000")
	if id != "" {
		r.Header.Set(requestid.Header, id)
	}
	return h.serve(r)
}

// wantEveryLineWith fails unless the log lines written since the last
// Reset are there, all carry the request id id, and include each line
// wanted (by message).
func wantEveryLineWith(t *testing.T, logs string, id string, wanted ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	for _, l := range lines {
		if !strings.Contains(l, " request_id="+id) {
			t.Errorf("log line without request_id=%s: %s", id, l)
		}
	}
	for _, w := range append(wanted, "msg=request ") {
		if !strings.Contains(logs, w) {
			t.Errorf("no log line %q in:\n%s", w, logs)
		}
	}
}

func TestARequestIDFromATrustedProxyIsEchoedAndInEveryLogLineOfItsRequest(t *testing.T) {
	t.Parallel()
	proxy := netip.MustParsePrefix("10.0.0.0/8")
	h := newHarness(t, harnessOptions{verify: VerifyConfig{TrustedProxies: []netip.Prefix{proxy}}})
	alice := h.login("app", "alice", "laptop")
	cases := []struct {
		name                       string
		id                         string
		method, target, auth, body string
		// wanted are log lines the request must write, beyond the
		// request line: the domain's (users, lockout) and the error
		// logs.
		wanted []string
		fault  bool
	}{
		{"a login, logged by the users workflow", "3f1c2a9e-7b4d-4c1e-9a2b-5d6e7f801234",
			http.MethodPost, "/v1/sessions", "app", `{"subject":"bob"}`, []string{`msg="session opened"`}, false},
		{"a ban that ends sessions", "0123456789abcdef0123456789abcdef",
			http.MethodPut, "/v1/admin/users/alice/ban", "admin", `{"reason":"spam"}`, []string{`msg="user banned"`}, false},
		{"a failed client authentication, logged by the lockout", "Root=1-67891233-abcdef",
			http.MethodPost, "/v1/sessions", "app:wrong", `{"subject":"bob"}`, []string{`msg="authentication failed"`}, false},
		{"a request failing on the store, logged as an error", "req.42",
			http.MethodGet, "/v1/sessions", "Bearer " + alice.token, "", []string{`msg="revocation store unavailable"`}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.fault {
				h.redis.SetError("LOADING the store is down")
				defer h.redis.SetError("")
			}
			h.logs.Reset()
			ct := ""
			if c.body != "" {
				ct = "application/json"
			}
			r := h.withRequestID("10.1.2.3", c.id, c.method, c.target, c.auth, ct, c.body)
			if got := r.header.Get(requestid.Header); got != c.id {
				t.Errorf("X-Request-Id = %q, want the proxy's %q echoed", got, c.id)
			}
			// The text handler quotes a value with '='.
			want := c.id
			if strings.Contains(want, "=") {
				want = strconv.Quote(want)
			}
			wantEveryLineWith(t, h.logs.String(), want, c.wanted...)
		})
	}
}

func TestARequestIDFromAnyoneElseOrMalformedIsReplaced(t *testing.T) {
	t.Parallel()
	proxy := netip.MustParsePrefix("10.0.0.0/8")
	h := newHarness(t, harnessOptions{verify: VerifyConfig{TrustedProxies: []netip.Prefix{proxy}}})
	cases := []struct {
		name, ip, id string
	}{
		{"a well-formed id from a client that is no proxy", "192.0.2.1", "client-chosen-id"},
		{"an id longer than 128 characters from the proxy", "10.1.2.3", strings.Repeat("a", requestid.MaxLen+1)},
		{"an id with a space from the proxy", "10.1.2.3", "a b"},
		{"an id with a quote from the proxy", "10.1.2.3", `a"b`},
		{"an id with non-ASCII from the proxy", "10.1.2.3", "idé"},
		{"no id from the proxy", "10.1.2.3", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.logs.Reset()
			r := h.withRequestID(c.ip, c.id, http.MethodPost, "/v1/sessions", "app", "application/json", `{"subject":"bob"}`)
			got := r.header.Get(requestid.Header)
			if got == c.id || !generatedID.MatchString(got) {
				t.Fatalf("X-Request-Id = %q, want a fresh id of 32 hex digits instead of %q", got, c.id)
			}
			wantEveryLineWith(t, h.logs.String(), got, `msg="session opened"`)
			if c.id != "" && strings.Contains(h.logs.String(), c.id) {
				t.Errorf("the refused id %q was logged:\n%s", c.id, h.logs.String())
			}
		})
	}
}

// generatedID is the shape of the ids tokenguard makes.
var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestGeneratedRequestIDsAreUnique(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	seen := map[string]bool{}
	for range 200 {
		r := h.do(http.MethodGet, "/healthz", "", "", "")
		id := r.header.Get(requestid.Header)
		if !generatedID.MatchString(id) {
			t.Fatalf("X-Request-Id = %q, want 32 hex digits", id)
		}
		if seen[id] {
			t.Fatalf("X-Request-Id %q given twice", id)
		}
		seen[id] = true
	}
}

func TestAtInfoLevelTheRequestLineLeavesOutVerifyAndEveryQueryString(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{infoLogs: true})
	tok, _ := h.issue(auth.IssueRequest{Subject: "alice", SessionID: "s"})
	h.logs.Reset()
	if r := h.do("GET", "/v1/verify", "Bearer "+tok, "", ""); r.status != http.StatusOK {
		t.Fatalf("GET /v1/verify = %d, want 200", r.status)
	}
	if logs := h.logs.String(); strings.Contains(logs, "msg=request ") {
		t.Errorf("a verification logged a request line at info level:\n%s", logs)
	}
	h.logs.Reset()
	if r := h.exchange(t, h.newRequest("GET", "/v1/sessions?secret-in-query=1", "", "", ""), malformedRequest); r.status != http.StatusUnauthorized {
		t.Fatalf("GET /v1/sessions without a token = %d, want 401", r.status)
	}
	logs := h.logs.String()
	for _, want := range []string{"msg=request ", "route=/v1/sessions ", "status=401 "} {
		if !strings.Contains(logs, want) {
			t.Errorf("no %q in the request line:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "secret-in-query") {
		t.Errorf("the query string was logged:\n%s", logs)
	}
}
