package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/examples/verifier/app"
	"github.com/tokenguard/tokenguard/verifier"
)

// feederClient is the config line of a client with the permission feed.
const feederClient = "  - {id: feeder, secret: dev-feeder-secret, permissions: [feed]}\n"

// conns dials through a net.Dialer and remembers every connection, so that
// a test can cut them all, as a network failure would.
type conns struct {
	mu   sync.Mutex
	open []net.Conn
}

func (c *conns) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		c.mu.Lock()
		c.open = append(c.open, conn)
		c.mu.Unlock()
	}
	return conn, err
}

// cut closes every connection dialled so far.
func (c *conns) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.open {
		conn.Close() // an error means it was closed already
	}
	c.open = nil
}

// embedded is the example service, run in process against a tokenguard.
type embedded struct {
	t     *testing.T
	v     *verifier.Verifier
	base  string
	conns *conns
}

// startExample builds the embedded verifier for ts and serves the example
// service with it; the verifier's feed is not followed until follow.
func startExample(t *testing.T, ts *testServer) *embedded {
	t.Helper()
	cs := &conns{}
	v, err := verifier.New(t.Context(), verifier.Config{
		URL: ts.base, Issuer: "https://tokenguard.test", Audience: "api",
		AccessTTL: testAccessTTL, Leeway: testLeeway,
		ClientID: "feeder", ClientSecret: "dev-feeder-secret",
		Retry:      50 * time.Millisecond,
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: cs.dial}},
	})
	if err != nil {
		t.Fatalf("verifier.New = %v, want no error", err)
	}
	srv := httptest.NewServer(app.Handler(v))
	t.Cleanup(srv.Close)
	return &embedded{t: t, v: v, base: srv.URL, conns: cs}
}

// follow runs the verifier's feed client until the test ends.
func (e *embedded) follow() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.v.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("Run = %v, want nil once stopped", err)
		}
	})
}

// await waits, change by change of the verifier's state, until cond holds.
func (e *embedded) await(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.After(30 * time.Second) // a bound on a broken verifier
	for {
		changed := e.v.Changed()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			e.t.Fatalf("the verifier's state changed no more without %s within 30s", what)
		}
	}
}

// get calls the example service.
func (e *embedded) get(path, token string) (int, string, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.base+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, string(body), resp.Header
}

func (ts *testServer) logout(s session) {
	ts.t.Helper()
	if r := ts.do(http.MethodPost, "/v1/logout", "Bearer "+s.token, "", nil); r.status != http.StatusNoContent {
		ts.t.Fatalf("logout = %d %s, want 204", r.status, r.body)
	}
}

func TestEmbeddedVerifierRefusesATokenLoggedOutAtTokenguard(t *testing.T) {
	ts := startServerYAML(t, map[string]string{"TOKENGUARD_FEED_HEARTBEAT": "100ms"}, feederClient)
	ex := startExample(t, ts)
	s := ts.session("alice")

	// Before the feed's snapshot, the example is not ready and refuses.
	if code, body, _ := ex.get("/readyz", ""); code != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz before the snapshot = %d %q, want 503", code, body)
	}
	if code, body, _ := ex.get("/hello", s.token); code != http.StatusServiceUnavailable {
		t.Errorf("GET /hello before the snapshot = %d %q, want 503", code, body)
	}
	ex.follow()
	ex.await("readiness", func() bool { return ex.v.Ready() == nil })
	if code, body, _ := ex.get("/readyz", ""); code != http.StatusOK {
		t.Errorf("GET /readyz after the snapshot = %d %q, want 200", code, body)
	}

	if code, body, _ := ex.get("/hello", s.token); code != http.StatusOK || body != "hello, alice\n" {
		t.Fatalf("GET /hello with a fresh session's token = %d %q, want 200 hello, alice", code, body)
	}
	ts.logout(s)
	var hdr http.Header
	ex.await("a 401 for the logged-out token", func() bool {
		var code int
		code, _, hdr = ex.get("/hello", s.token)
		return code == http.StatusUnauthorized
	})
	if ch := hdr.Get("WWW-Authenticate"); !strings.HasPrefix(ch, `Bearer realm="tokenguard", error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q, want /v1/verify's invalid_token challenge", ch)
	}
	if code := ts.verifyStatus(s.token); code != http.StatusUnauthorized {
		t.Errorf("/v1/verify of the same token = %d, want 401 as the example answers", code)
	}
}

func TestEmbeddedVerifierResumesAfterTheFeedConnectionDrops(t *testing.T) {
	ts := startServerYAML(t, map[string]string{"TOKENGUARD_FEED_HEARTBEAT": "100ms"}, feederClient)
	ex := startExample(t, ts)
	ex.follow()
	ex.await("readiness", func() bool { return ex.v.Ready() == nil })
	first, second := ts.session("alice"), ts.session("bob")
	ts.logout(first)
	ex.await("alice's logout", func() bool { code, _, _ := ex.get("/hello", first.token); return code == http.StatusUnauthorized })
	before := ex.v.Stats()

	ex.conns.cut() // the feed's connection drops
	ts.logout(second)
	ex.await("bob's logout, after the drop", func() bool {
		code, _, _ := ex.get("/hello", second.token)
		return code == http.StatusUnauthorized
	})
	after := ex.v.Stats()
	if after.Reconnects <= before.Reconnects || after.Snapshots != before.Snapshots || after.Position == before.Position {
		t.Errorf("stats after the drop = %+v, before %+v: want a reconnect that resumed (no new snapshot) and moved on", after, before)
	}
	if code, _, _ := ex.get("/hello", first.token); code != http.StatusUnauthorized {
		t.Errorf("GET /hello with alice's token after the resume = %d, want 401 still", code)
	}
}
