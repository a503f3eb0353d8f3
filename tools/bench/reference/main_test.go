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
	srv := httptest.NewServer(newServer(svc))
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
	srv := httptest.NewServer(newServer(newService(t, strings.Repeat("k", 32))))
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
