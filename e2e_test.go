package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestLoginVerifyLogoutLocalEndsOnlyThatSession(t *testing.T) {
	ts := startServer(t)
	a1, a2, b1 := ts.session("alice"), ts.session("alice"), ts.session("bob")
	for _, s := range []session{a1, a2, b1} {
		ts.wantVerify(s, http.StatusOK, "fresh session")
	}

	r := ts.do(http.MethodPost, "/v1/logout", "Bearer "+a1.token, "", nil)
	if r.status != http.StatusNoContent {
		t.Fatalf("logout = %d %s, want 204", r.status, r.body)
	}
	ts.wantVerify(a1, http.StatusUnauthorized, "the logged-out session")
	ts.wantVerify(a2, http.StatusOK, "alice's other session survives a local logout")
	ts.wantVerify(b1, http.StatusOK, "bob is untouched")
	// A session entry lives as long as a token of it issued right now.
	ts.wantTTLNear("tg:{*}:s:"+a1.sid, time.Now().Add(testAccessTTL))

	if r := ts.do(http.MethodPost, "/v1/logout", "Bearer "+a1.token, "", nil); r.status != http.StatusUnauthorized {
		t.Errorf("second logout with the dead token = %d, want 401", r.status)
	}
}

func TestLogoutGlobalEndsEverySessionOfTheUserAndANewLoginWorksAtOnce(t *testing.T) {
	ts := startServer(t)
	a1, a2, b1 := ts.session("alice"), ts.session("alice"), ts.session("bob")

	r := ts.do(http.MethodPost, "/v1/logout?scope=global", "Bearer "+a2.token, "", nil)
	if r.status != http.StatusNoContent {
		t.Fatalf("logout global = %d %s, want 204", r.status, r.body)
	}
	ts.wantVerify(a1, http.StatusUnauthorized, "alice's other session after a global logout")
	ts.wantVerify(a2, http.StatusUnauthorized, "the session that logged out globally")
	ts.wantVerify(b1, http.StatusOK, "bob is untouched")
	ts.wantTTLNear("tg:{*}:u:alice", time.Now().Add(testAccessTTL))

	// Right after the cut-off, almost surely within the same second.
	fresh := ts.session("alice")
	ts.wantVerify(fresh, http.StatusOK, "a session opened right after the cut-off")
}

func TestAdminRevokesOneTokenOrAWholeUser(t *testing.T) {
	ts := startServer(t)
	a1, a2, a3, b1 := ts.session("alice"), ts.session("alice"), ts.session("alice"), ts.session("bob")

	r := ts.do(http.MethodPost, "/v1/admin/revocations", adminAuth, "application/json", []byte(fmt.Sprintf(`{"token":%q}`, a1.token)))
	if r.status != http.StatusNoContent {
		t.Fatalf("revoke by token = %d %s, want 204", r.status, r.body)
	}
	ts.wantVerify(a1, http.StatusUnauthorized, "revoked by token")
	ts.wantVerify(a2, http.StatusOK, "another token of the same user")
	ts.wantTTLNear("tg:{*}:j:"+a1.jti, a1.exp)

	r = ts.do(http.MethodPost, "/v1/admin/revocations", adminAuth, "application/json", []byte(fmt.Sprintf(`{"jti":%q,"exp":%d}`, a2.jti, a2.exp.Unix())))
	if r.status != http.StatusNoContent {
		t.Fatalf("revoke by jti and exp = %d %s, want 204", r.status, r.body)
	}
	ts.wantVerify(a2, http.StatusUnauthorized, "revoked by jti")
	ts.wantTTLNear("tg:{*}:j:"+a2.jti, a2.exp)

	r = ts.do(http.MethodPost, "/v1/admin/users/alice/logout", adminAuth, "", nil)
	if r.status != http.StatusNoContent {
		t.Fatalf("admin user logout = %d %s, want 204", r.status, r.body)
	}
	ts.wantVerify(a3, http.StatusUnauthorized, "every token of a user an admin logged out")
	ts.wantVerify(b1, http.StatusOK, "bob is untouched")

	// An expired token needs no entry and is answered like a revocation.
	r = ts.do(http.MethodPost, "/v1/admin/revocations", adminAuth, "application/json", []byte(`{"jti":"long-gone","exp":1000}`))
	if r.status != http.StatusNoContent {
		t.Errorf("revoke an expired jti = %d %s, want 204", r.status, r.body)
	}
	if keys := ts.rdb.Keys(t.Context(), "tg:{*}:j:long-gone").Val(); len(keys) != 0 {
		t.Errorf("an expired token was written to Redis: %v", keys)
	}
}

func TestVerifyAnswersEveryMethodAndSubpathWithIdentityHeaders(t *testing.T) {
	ts := startServer(t)
	s := ts.session("alice")
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead, http.MethodPatch} {
		for _, path := range []string{"/v1/verify", "/v1/verify/some/upstream/path"} {
			r := ts.do(m, path, "Bearer "+s.token, "", nil)
			if r.status != http.StatusOK {
				t.Errorf("%s %s = %d, want 200", m, path, r.status)
				continue
			}
			for h, want := range map[string]string{"X-Auth-Request-User": "alice", "X-Auth-Session": s.sid, "X-Auth-Token-Id": s.jti} {
				if got := r.header.Get(h); got != want {
					t.Errorf("%s %s: %s = %q, want %q", m, path, h, got, want)
				}
			}
		}
	}
	r := ts.do(http.MethodGet, "/v1/verify", "", "", nil)
	if r.status != http.StatusUnauthorized {
		t.Fatalf("verify without a token = %d, want 401", r.status)
	}
	if got, want := r.header.Get("WWW-Authenticate"), `Bearer realm="tokenguard"`; got != want {
		t.Errorf("WWW-Authenticate without a token = %q, want %q (no error attribute, RFC 6750 §3.1)", got, want)
	}
	r = ts.do(http.MethodGet, "/v1/verify", "Bearer nonsense", "", nil)
	if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate for a bad token = %q, want error=\"invalid_token\"", got)
	}
}

func TestHostileTokensAreRefusedWith401(t *testing.T) {
	ts := startServer(t)
	good := ts.session("alice")
	now := time.Now()
	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{
			"iss": "https://tokenguard.test", "sub": "mallory", "aud": []string{"api"},
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
	pubDER, err := x509.MarshalPKIXPublicKey(&ts.rsa.PublicKey)
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
		{"an unknown kid", ts.signRS256(map[string]any{"kid": "nope", "typ": "at+jwt"}, claims(nil))},
		{"a wrong typ", ts.signRS256(map[string]any{"kid": "rs1", "typ": "JWT"}, claims(nil))},
		{"a wrong issuer", ts.signRS256(hdr, claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.test" }))},
		{"a wrong audience", ts.signRS256(hdr, claims(func(c jwt.MapClaims) { c["aud"] = "other" }))},
		{"expired beyond the leeway", ts.signRS256(hdr, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-testLeeway - time.Minute).Unix() }))},
		{"not yet valid", ts.signRS256(hdr, claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(10 * time.Minute).Unix() }))},
		{"no jti", ts.signRS256(hdr, claims(func(c jwt.MapClaims) { delete(c, "jti") }))},
		{"no exp", ts.signRS256(hdr, claims(func(c jwt.MapClaims) { delete(c, "exp") }))},
		{"a tampered payload", tampered},
		{"64 KiB of garbage", strings.Repeat("A", 64<<10)},
		{"three dots", "..."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ts.do(http.MethodGet, "/v1/verify", "Bearer "+c.token, "", nil)
			if r.status != http.StatusUnauthorized {
				t.Errorf("verify = %d %s, want 401", r.status, r.body)
			}
			if got := r.json(t)["error"]; got != "invalid_token" {
				t.Errorf("error = %v, want invalid_token", got)
			}
		})
	}
	// The control: a token signed the same way but well-formed passes.
	if got := ts.verifyStatus(ts.signRS256(hdr, claims(nil))); got != http.StatusOK {
		t.Errorf("control token signed by the test = %d, want 200 (the table would prove nothing)", got)
	}
	if strings.Contains(ts.logs.String(), good.token) {
		t.Errorf("a token appeared in the logs")
	}
}

func TestBadInputGetsAClearJSONErrorNever5xx(t *testing.T) {
	ts := startServer(t)
	s := ts.session("alice")
	json := "application/json"
	big := `{"subject":"` + strings.Repeat("x", 5000) + `"}`
	cases := []clientMistake{
		{"opening a session without client credentials", "POST", "/v1/sessions", "", json, `{"subject":"a"}`, 401, "invalid_client"},
		{"opening a session with a wrong secret", "POST", "/v1/sessions", "app:wrong", json, `{"subject":"a"}`, 401, "invalid_client"},
		{"opening a session as an unknown client", "POST", "/v1/sessions", "ghost:dev-app-secret", json, `{"subject":"a"}`, 401, "invalid_client"},
		{"opening a session without the permission", "POST", "/v1/sessions", adminAuth, json, `{"subject":"a"}`, 403, "access_denied"},
		{"a body that is not JSON", "POST", "/v1/sessions", appAuth, "text/plain", `subject=a`, 415, "invalid_request"},
		{"malformed JSON", "POST", "/v1/sessions", appAuth, json, `{"subject":`, 400, "invalid_request"},
		{"an unknown field", "POST", "/v1/sessions", appAuth, json, `{"subject":"a","admin":true}`, 400, "invalid_request"},
		{"two JSON objects", "POST", "/v1/sessions", appAuth, json, `{"subject":"a"}{"subject":"b"}`, 400, "invalid_request"},
		{"an empty body", "POST", "/v1/sessions", appAuth, json, ``, 400, "invalid_request"},
		{"a JSON array", "POST", "/v1/sessions", appAuth, json, `[1,2]`, 400, "invalid_request"},
		{"a wrong field type", "POST", "/v1/sessions", appAuth, json, `{"subject":42}`, 400, "invalid_request"},
		{"a body over the limit", "POST", "/v1/sessions", appAuth, json, big, 413, "invalid_request"},
		{"no subject", "POST", "/v1/sessions", appAuth, json, `{"scope":"read"}`, 400, "invalid_request"},
		{"a subject with a control character", "POST", "/v1/sessions", appAuth, json, `{"subject":"a\u0000b"}`, 400, "invalid_request"},
		{"a reserved extra claim", "POST", "/v1/sessions", appAuth, json, `{"subject":"a","claims":{"sub":"root"}}`, 400, "invalid_request"},
		{"a reserved extra claim in other case", "POST", "/v1/sessions", appAuth, json, `{"subject":"a","claims":{"SID":"x"}}`, 400, "invalid_request"},
		{"a malformed scope", "POST", "/v1/sessions", appAuth, json, `{"subject":"a","scope":"read  \"write\""}`, 400, "invalid_request"},
		{"a device IP that is not an IP", "POST", "/v1/sessions", appAuth, json, `{"subject":"a","device":{"ip":"not-an-ip"}}`, 400, "invalid_request"},
		{"logout with an unknown scope", "POST", "/v1/logout?scope=everything", "Bearer " + s.token, "", ``, 400, "invalid_request"},
		{"logout without a token", "POST", "/v1/logout", "", "", ``, 401, "invalid_token"},
		{"logout with Basic instead of Bearer", "POST", "/v1/logout", appAuth, "", ``, 401, "invalid_token"},
		{"revoking with both token and jti", "POST", "/v1/admin/revocations", adminAuth, json, `{"token":"x","jti":"y","exp":1}`, 400, "invalid_request"},
		{"revoking a jti without exp", "POST", "/v1/admin/revocations", adminAuth, json, `{"jti":"y"}`, 400, "invalid_request"},
		{"revoking garbage", "POST", "/v1/admin/revocations", adminAuth, json, `{"token":"garbage"}`, 400, "invalid_request"},
		{"revoking nothing", "POST", "/v1/admin/revocations", adminAuth, json, `{}`, 400, "invalid_request"},
		{"an admin call by the app client", "POST", "/v1/admin/users/alice/logout", appAuth, "", ``, 403, "access_denied"},
		{"an admin call without credentials", "POST", "/v1/admin/users/alice/logout", "", "", ``, 401, "invalid_client"},
		{"an unknown route", "GET", "/v1/nothing-here", "", "", ``, 404, "not_found"},
		{"a wrong method", "PUT", "/v1/sessions", appAuth, "", ``, 405, "method_not_allowed"},
	}
	ts.wantClientErrors(t, cases)
	ts.wantVerify(s, http.StatusOK, "nothing above may have hurt a good session")
}

func TestStoreOutageAnswers503AndRecovers(t *testing.T) {
	for _, mode := range []string{"strict", "mirror"} {
		t.Run(mode, func(t *testing.T) {
			ts := startServerWith(t, map[string]string{
				"TOKENGUARD_REVOCATION_MODE":          mode,
				"TOKENGUARD_REVOCATION_MAX_STALENESS": "300ms",
			})
			s := ts.session("alice")
			ts.redis.Stop()

			// A revocation is never acknowledged without Redis.
			for _, c := range []struct{ name, path, auth, body string }{
				{"logout", "/v1/logout", "Bearer " + s.token, ""},
				{"admin revocation", "/v1/admin/revocations", adminAuth, fmt.Sprintf(`{"jti":%q,"exp":%d}`, s.jti, s.exp.Unix())},
			} {
				r := ts.do("POST", c.path, c.auth, "application/json", []byte(c.body))
				if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
					t.Errorf("%s with Redis down = %d %s (Retry-After %q), want 503 with Retry-After", c.name, r.status, r.body, r.header.Get("Retry-After"))
				}
			}
			// Checks fail closed: at once in strict mode, once the mirror
			// is older than revocation.max_staleness in mirror mode.
			awaitStatus(t, ts, "/v1/verify", "Bearer "+s.token, http.StatusServiceUnavailable)
			awaitStatus(t, ts, "/readyz", "", http.StatusServiceUnavailable)
			if r := ts.do("GET", "/v1/verify", "Bearer "+s.token, "", nil); r.header.Get("Retry-After") == "" {
				t.Errorf("verify 503 without Retry-After")
			}
			if r := ts.do("GET", "/healthz", "", "", nil); r.status != http.StatusOK {
				t.Errorf("healthz with Redis down = %d, want 200 (the process is alive)", r.status)
			}

			ts.redis.Restart()
			awaitStatus(t, ts, "/readyz", "", http.StatusOK)
			ts.wantVerify(s, http.StatusOK, "after the outage")
		})
	}
}

// awaitStatus polls path until it answers want, failing after 10s. It
// awaits a state change the server makes; it measures no time.
func awaitStatus(t *testing.T, ts *testServer, path, auth string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := ts.do("GET", path, auth, "", nil)
		if r.status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s still %d %s after 10s, want %d", path, r.status, r.body, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
