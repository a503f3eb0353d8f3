package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/internal/redistest"
	"github.com/tokenguard/tokenguard/internal/syncbuf"
)

const (
	testAccessTTL = 10 * time.Minute
	testLeeway    = 30 * time.Second
	appAuth       = "app:dev-app-secret"
	adminAuth     = "admin:dev-admin-secret"
)

// testServer is the real service, started through serve on 127.0.0.1:0.
type testServer struct {
	t     *testing.T
	base  string
	redis *redistest.Server
	rdb   *redis.Client
	logs  *syncbuf.Buffer
}

// startServer writes a config with a real redis-server, an RS256 key and the
// dev clients, and serves it until the test ends; the test fails if the
// server does not shut down cleanly.
func startServer(t *testing.T) *testServer {
	t.Helper()
	return startServerWith(t, nil)
}

// startServerWith is startServer with extra environment variables.
func startServerWith(t *testing.T, env map[string]string) *testServer {
	t.Helper()
	return startServerYAML(t, env, "")
}

// startServerYAML is startServerWith with more configuration: extra is
// appended to the file right after the clients list, so it may go on with
// more "  - {id: ...}" client lines and then add top-level settings.
func startServerYAML(t *testing.T, env map[string]string, extra string) *testServer {
	t.Helper()
	srv := redistest.Start(t)
	dir := t.TempDir()
	keyFile := writeRS256Key(t, dir)
	cfg := fmt.Sprintf(`
dev: true
listen: 127.0.0.1:0
issuer: https://tokenguard.test
audience: api
redis:
  addrs: [%q]
  dial_timeout: 500ms
tokens:
  access_ttl: %s
  leeway: %s
http:
  body_limit: 4096
keys:
  - kid: rs1
    alg: RS256
    private_key_file: %q
clients:
  - {id: app, secret: dev-app-secret, permissions: [sessions]}
  - {id: admin, secret: dev-admin-secret, permissions: [admin]}
`, srv.Addr, testAccessTTL, testLeeway, keyFile) + extra
	cfgFile := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, redis: srv, rdb: srv.Client(), logs: &syncbuf.Buffer{}}
	ts.base = startServe(t, []string{"-config", cfgFile}, env, ts.logs)
	return ts
}

// writeRS256Key writes a fresh RS256 private key (PKCS #8 PEM) in dir and
// returns the file's path, for a config's keys[].private_key_file.
func writeRS256Key(t *testing.T, dir string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "rs256.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// startServe runs serve in the background and returns its base URL. The
// test's cleanup cancels it and requires a clean shutdown.
func startServe(t *testing.T, args []string, env map[string]string, logs io.Writer) string {
	t.Helper()
	base, _ := startStoppable(t, args, env, logs)
	return base
}

// startStoppable is startServe that also returns stop, which cancels serve
// and requires a clean shutdown, so that a test can stop and start the
// server again; the test's cleanup calls it if the test did not.
func startStoppable(t *testing.T, args []string, env map[string]string, logs io.Writer) (base string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, args, func(k string) string { return env[k] }, logs, func(a net.Addr) { addrs <- a })
	}()
	select {
	case a := <-addrs:
		var once sync.Once
		stop = func() {
			once.Do(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("serve returned %v after shutdown, want nil", err)
				}
			})
		}
		t.Cleanup(stop)
		base = "http://" + a.String()
		awaitReadyz(t, base)
		return base, stop
	case err := <-done:
		cancel()
		t.Fatalf("serve stopped before listening: %v", err)
	}
	return "", nil
}

// awaitReadyz waits, as an orchestrator does, until /readyz answers 200:
// the revocation mirror loads after the server starts listening.
func awaitReadyz(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/readyz not 200 after 10s (last error: %v)", base, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// response is what a request came back with.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// do sends a request. auth is "Bearer <token>", "id:secret" for Basic, or "".
func (ts *testServer) do(method, path, auth, contentType string, body []byte) response {
	return doRequest(ts.t, ts.base, method, path, auth, contentType, body)
}

func doRequest(t *testing.T, base, method, path, auth, contentType string, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case strings.HasPrefix(auth, "Bearer "):
		req.Header.Set("Authorization", auth)
	case auth != "":
		id, secret, _ := strings.Cut(auth, ":")
		req.SetBasicAuth(id, secret)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

// form posts a form to path; auth is "id:secret" for Basic or "".
func (ts *testServer) form(path, auth string, v url.Values) response {
	ts.t.Helper()
	return ts.do(http.MethodPost, path, auth, "application/x-www-form-urlencoded", []byte(v.Encode()))
}

// session is one login: its access token, refresh token and session id.
type session struct {
	token   string
	refresh string
	sid     string
	jti     string
	exp     time.Time
}

// sessionBody is the body of a login of subject from a laptop, with a scope
// and an extra claim.
func sessionBody(subject string) string {
	return fmt.Sprintf(`{"subject":%q,"scope":"read write","claims":{"tenant":"t1"},"device":{"name":"laptop","ip":"192.0.2.7","user_agent":"curl/8"}}`, subject)
}

// createSession is the one login of the end-to-end tests: POST /v1/sessions
// as the app client with the JSON body given, failing the test unless it is
// answered 201 with a Bearer token and a session.
func createSession(t *testing.T, base, body string) session {
	t.Helper()
	r := doRequest(t, base, http.MethodPost, "/v1/sessions", appAuth, "application/json", []byte(body))
	if r.status != http.StatusCreated {
		t.Fatalf("POST /v1/sessions %s = %d %s, want 201", body, r.status, r.body)
	}
	var out struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		ExpiresIn    int64  `json:"expires_in"`
		RefreshToken string `json:"refresh_token"`
		SessionID    string `json:"session_id"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatal(err)
	}
	if out.TokenType != "Bearer" || out.AccessToken == "" || out.RefreshToken == "" || out.SessionID == "" || out.ExpiresIn <= 0 {
		t.Fatalf("session response %s lacks token, type, expiry or session id", r.body)
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(out.AccessToken, claims); err != nil {
		t.Fatal(err)
	}
	exp, err := claims.GetExpirationTime()
	if err != nil {
		t.Fatal(err)
	}
	return session{token: out.AccessToken, refresh: out.RefreshToken, sid: out.SessionID, jti: claims["jti"].(string), exp: exp.Time}
}

// session logs subject in with sessionBody.
func (ts *testServer) session(subject string) session {
	ts.t.Helper()
	return createSession(ts.t, ts.base, sessionBody(subject))
}

// verifyStatus asks /v1/verify about a token.
func (ts *testServer) verifyStatus(token string) int {
	return ts.do(http.MethodGet, "/v1/verify", "Bearer "+token, "", nil).status
}

func (ts *testServer) wantVerify(s session, want int, why string) {
	ts.t.Helper()
	if got := ts.verifyStatus(s.token); got != want {
		ts.t.Errorf("verify = %d, want %d: %s", got, want, why)
	}
}

// keyTTL finds the one key matching pattern and returns its TTL.
func (ts *testServer) keyTTL(pattern string) time.Duration {
	ts.t.Helper()
	ctx := context.Background()
	keys, err := ts.rdb.Keys(ctx, pattern).Result()
	if err != nil {
		ts.t.Fatal(err)
	}
	if len(keys) != 1 {
		ts.t.Fatalf("keys matching %q = %v, want exactly one", pattern, keys)
	}
	ttl, err := ts.rdb.PTTL(ctx, keys[0]).Result()
	if err != nil {
		ts.t.Fatal(err)
	}
	return ttl
}

// wantTTLNear checks a revocation key's TTL against the token's remaining
// lifetime plus the leeway, to within a second.
func (ts *testServer) wantTTLNear(pattern string, exp time.Time) {
	ts.t.Helper()
	ttl := ts.keyTTL(pattern)
	want := time.Until(exp) + testLeeway
	if d := ttl - want; d < -time.Second || d > time.Second {
		ts.t.Errorf("TTL of %s = %v, want %v ± 1s (remaining lifetime + leeway)", pattern, ttl, want)
	}
}

// freeLoopbackAddr returns 127.0.0.1 and a port nothing listens on now, for
// a listener of the service that cannot be told to take port 0 and report
// it (the metrics listener of the committed config.yaml, which the README
// reaches at a fixed address).
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}
