package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/auth"
)

func newService(t *testing.T, secret string) *auth.Service {
	t.Helper()
	key, err := auth.LoadKey(auth.KeyConfig{ID: "hs1", Alg: "HS256", Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.New(auth.Config{Issuer: "http://localhost:8080", Audience: "tokenguard", AccessTTL: 15 * time.Minute, Leeway: 30 * time.Second, Keys: []*auth.Key{key}})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func issue(t *testing.T, svc *auth.Service, subject string) string {
	t.Helper()
	token, _, err := svc.Issue(auth.IssueRequest{Subject: subject, SessionID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func TestVerifyAcceptsOnlyTokensWhoseSignatureAndClaimsAreGood(t *testing.T) {
	svc := newService(t, strings.Repeat("k", 32))
	good := issue(t, svc, "alice")
	other := issue(t, newService(t, strings.Repeat("x", 32)), "alice")
	tampered := good[:len(good)-2] + "AA"
	srv := httptest.NewServer(newServer(svc, signaturesGuard(svc)))
	t.Cleanup(srv.Close)

	cases := []struct {
		name          string
		authorization string
		wantStatus    int
		wantUser      string
	}{
		{"a token it signed is accepted with the user's header", "Bearer " + good, http.StatusOK, "alice"},
		{"no token is refused", "", http.StatusUnauthorized, ""},
		{"another scheme is refused", "Basic " + good, http.StatusUnauthorized, ""},
		{"a tampered signature is refused", "Bearer " + tampered, http.StatusUnauthorized, ""},
		{"a token of another key is refused", "Bearer " + other, http.StatusUnauthorized, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, srv.URL+"/v1/verify", nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.authorization != "" {
				req.Header.Set("Authorization", c.authorization)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != c.wantStatus {
				t.Fatalf("status = %d (%s), want %d", resp.StatusCode, body, c.wantStatus)
			}
			if got := resp.Header.Get("X-Auth-Request-User"); got != c.wantUser {
				t.Errorf("X-Auth-Request-User = %q, want %q", got, c.wantUser)
			}
			if c.wantStatus == http.StatusOK {
				if got := resp.Header.Get("Cache-Control"); got != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", got)
				}
				if len(body) != 0 {
					t.Errorf("body = %q, want none", body)
				}
			}
		})
	}
}

func TestReadyzAnswers200(t *testing.T) {
	svc := newService(t, strings.Repeat("k", 32))
	srv := httptest.NewServer(newServer(svc, signaturesGuard(svc)))
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz = %d, want 200", resp.StatusCode)
	}
}

func TestRunRefusesAKeyAuthRefuses(t *testing.T) {
	var stderr bytes.Buffer
	env := map[string]string{"SECRET": "too short"}
	err := run(context.Background(), []string{"-kid", "hs1", "-alg", "HS256", "-secret-env", "SECRET",
		"-issuer", "http://localhost:8080", "-audience", "tokenguard", "-access-ttl", "15m"}, func(k string) string { return env[k] }, &stderr)
	if err == nil || !strings.Contains(err.Error(), "hs1") {
		t.Errorf("run with a 9-byte HS256 secret = %v, want an error naming kid hs1", err)
	}
}

// get sends GET path with the given headers and returns the status and
// body.
func get(t *testing.T, srv *httptest.Server, path string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestAppBehindSignaturesLetsInOnlyAGoodTokenAndNamesItsUser(t *testing.T) {
	svc := newService(t, strings.Repeat("k", 32))
	good := issue(t, svc, "alice")
	other := issue(t, newService(t, strings.Repeat("x", 32)), "alice")
	srv := httptest.NewServer(newServer(svc, signaturesGuard(svc)))
	t.Cleanup(srv.Close)

	cases := []struct {
		name       string
		header     map[string]string
		wantStatus int
		wantBody   string
	}{
		{"a token it signed reaches the handler as its user", map[string]string{"Authorization": "Bearer " + good}, http.StatusOK, "hello alice\n"},
		{"no token is refused", nil, http.StatusUnauthorized, ""},
		{"a token of another key is refused", map[string]string{"Authorization": "Bearer " + other}, http.StatusUnauthorized, ""},
		{"a forwarded user header without a token is refused", map[string]string{"X-Auth-Request-User": "mallory"}, http.StatusUnauthorized, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := get(t, srv, "/app", c.header)
			if status != c.wantStatus {
				t.Fatalf("status = %d (%s), want %d", status, body, c.wantStatus)
			}
			if c.wantBody != "" && body != c.wantBody {
				t.Errorf("body = %q, want %q", body, c.wantBody)
			}
		})
	}
}

func TestAppBehindNginxTakesTheUserNginxNamesAndFailsWithoutOne(t *testing.T) {
	svc := newService(t, strings.Repeat("k", 32))
	srv := httptest.NewServer(newServer(svc, forwardedGuard()))
	t.Cleanup(srv.Close)
	if status, body := get(t, srv, "/app", map[string]string{"X-Auth-Request-User": "alice"}); status != http.StatusOK || body != "hello alice\n" {
		t.Errorf("with X-Auth-Request-User: %d %q, want 200 \"hello alice\\n\"", status, body)
	}
	if status, body := get(t, srv, "/app", nil); status != http.StatusInternalServerError {
		t.Errorf("without X-Auth-Request-User: %d %q, want 500 (the round fails)", status, body)
	}
}

func TestProtectEmbeddedRefusesToStartWithoutTokenguard(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stderr bytes.Buffer
	env := map[string]string{"SECRET": strings.Repeat("k", 32), "FEED": "feed-secret"}
	err := run(ctx, []string{"-kid", "hs1", "-alg", "HS256", "-secret-env", "SECRET",
		"-issuer", "http://localhost:8080", "-audience", "tokenguard", "-access-ttl", "15m", "-protect", "embedded",
		"-feed-client", "feed", "-feed-secret-env", "FEED"}, func(k string) string { return env[k] }, &stderr)
	const want = "-protect embedded: verifier: bad config: URL is required"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("run -protect embedded without -tokenguard = %v, want an error containing %q", err, want)
	}
}
