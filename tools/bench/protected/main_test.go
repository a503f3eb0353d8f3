package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/auth"
)

// newService is tokenguard's auth service with one ES256 key, as the
// benchmark's tokenguard signs.
func newService(t *testing.T) *auth.Service {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "es256.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := auth.LoadKey(auth.KeyConfig{ID: "es1", Alg: "ES256", PrivateKeyFile: file})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.New(auth.Config{Issuer: "http://localhost:8080", Audience: "tokenguard", AccessTTL: 15 * time.Minute, Leeway: 30 * time.Second, Keys: []*auth.Key{k}, VerifiedCacheSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func TestSignaturesGuardLetsThroughOnlyGoodTokensAndNamesTheUser(t *testing.T) {
	svc := newService(t)
	good, _, err := svc.Issue(auth.IssueRequest{Subject: "alice", SessionID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := newService(t).Issue(auth.IssueRequest{Subject: "alice", SessionID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newServer(signaturesGuard(svc)))
	t.Cleanup(srv.Close)
	cases := []struct {
		name          string
		authorization string
		wantStatus    int
		wantBody      string
	}{
		{"a token of the key is let through to the handler", "Bearer " + good, http.StatusOK, "hello alice\n"},
		{"no token is refused", "", http.StatusUnauthorized, "invalid token\n"},
		{"another scheme is refused", "Basic " + good, http.StatusUnauthorized, "invalid token\n"},
		{"a token of another key is refused", "Bearer " + other, http.StatusUnauthorized, "invalid token\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, srv.URL+"/app", nil)
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
			if resp.StatusCode != c.wantStatus || string(body) != c.wantBody {
				t.Errorf("GET /app = %d %q, want %d %q", resp.StatusCode, body, c.wantStatus, c.wantBody)
			}
		})
	}
}

func TestAHandlerReachedWithoutAUserAnswers500(t *testing.T) {
	open := guard{middleware: func(next http.Handler) http.Handler { return next }, subject: func(*http.Request) string { return "" }}
	rec := httptest.NewRecorder()
	newServer(open).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/app", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("GET /app through a guard that names no user = %d %q, want 500", rec.Code, rec.Body)
	}
}

func TestRunRefusesAnUnknownGuardAndAnEmbeddedGuardWithoutTokenguard(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"an unknown guard", []string{"-guard", "nginx"}, `-guard: want signatures or embedded, got "nginx"`},
		{"the embedded verifier without tokenguard's URL", []string{"-guard", "embedded", "-issuer", "i", "-audience", "a", "-feed-client", "c", "-feed-secret-env", "S"}, "-guard embedded: verifier: bad config: URL is required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var stderr bytes.Buffer
			err := run(ctx, c.args, func(string) string { return "secret" }, &stderr)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("run = %v, want an error containing %q", err, c.want)
			}
		})
	}
}
