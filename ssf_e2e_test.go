package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/redistest"
	"github.com/tokenguard/tokenguard/internal/ssftest"
	"github.com/tokenguard/tokenguard/internal/syncbuf"
	"github.com/tokenguard/tokenguard/signals"
)

// ssfConfig writes a dev configuration on the real redis-server srv with
// an RS256 key, the app client and an events client rp, and returns its
// path: the same file serves every start of the test.
func ssfConfig(t *testing.T, srv *redistest.Server) string {
	t.Helper()
	dir := t.TempDir()
	keyFile := writeRS256Key(t, dir)
	cfg := fmt.Sprintf(`
dev: true
listen: 127.0.0.1:0
issuer: https://tokenguard.test
audience: api
redis:
  addrs: [%q]
keys:
  - {kid: rs1, alg: RS256, private_key_file: %q}
clients:
  - {id: app, secret: dev-app-secret, permissions: [sessions]}
  - {id: rp, secret: dev-rp-secret, permissions: [events]}
  - {id: admin, secret: dev-admin-secret, permissions: [admin, revoke, introspect]}
`, srv.Addr, keyFile)
	file := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// serveOnce runs serve on cfgFile until stop is called, which waits for a
// clean shutdown; the test's cleanup stops it too.
func serveOnce(t *testing.T, cfgFile string) (base string, stop func()) {
	t.Helper()
	return startStoppable(t, []string{"-config", cfgFile}, nil, &syncbuf.Buffer{})
}

// pushReceiver is an RFC 8935 receiver for rp on a loopback server that
// takes the first `take` pushes and answers 503 to the rest until up is
// called, telling refused of each refusal.
type pushReceiver struct {
	*ssftest.Receiver
	url     string
	mu      sync.Mutex
	take    int
	down    bool
	refused chan struct{}
}

func newPushReceiver(t *testing.T, base string, take int) *pushReceiver {
	t.Helper()
	jwks := doRequest(t, base, http.MethodGet, "/.well-known/jwks.json", "", "", nil)
	rcv, err := ssftest.New("https://tokenguard.test", "rp", jwks.body)
	if err != nil {
		t.Fatal(err)
	}
	p := &pushReceiver{Receiver: rcv, take: take, down: true, refused: make(chan struct{}, 1000)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		refuse := p.down && p.take == 0
		if !refuse && p.down {
			p.take--
		}
		p.mu.Unlock()
		if refuse {
			p.refused <- struct{}{}
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.url = srv.URL + "/ssf"
	return p
}

func (p *pushReceiver) up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

func TestARestartMidDeliveryLosesNoEventAndKeepsTheirOrder(t *testing.T) {
	srv := redistest.Start(t)
	cfgFile := ssfConfig(t, srv)
	base, stop := serveOnce(t, cfgFile)
	rcv := newPushReceiver(t, base, 2)

	// The receiver authenticates with a token of its own (the
	// client_credentials grant) and creates a push stream.
	tok := doRequest(t, base, http.MethodPost, "/oauth2/token", "rp:dev-rp-secret", "application/x-www-form-urlencoded", []byte(url.Values{"grant_type": {"client_credentials"}, "scope": {"events"}}.Encode()))
	if tok.status != http.StatusOK {
		t.Fatalf("client_credentials = %d %s", tok.status, tok.body)
	}
	bearer := "Bearer " + tok.json(t)["access_token"].(string)
	body, err := json.Marshal(map[string]any{"delivery": map[string]string{"method": signals.MethodPush, "endpoint_url": rcv.url}})
	if err != nil {
		t.Fatal(err)
	}
	if r := doRequest(t, base, http.MethodPost, "/ssf/stream", bearer, "application/json", body); r.status != http.StatusCreated {
		t.Fatalf("create stream = %d %s", r.status, r.body)
	}

	// Five sessions end; the receiver takes two, then goes down.
	var want []string
	for i := range 5 {
		s := createSession(t, base, sessionBody(fmt.Sprintf("user-%d", i)))
		if r := doRequest(t, base, http.MethodPost, "/v1/logout", "Bearer "+s.token, "", nil); r.status != http.StatusNoContent {
			t.Fatalf("logout = %d %s", r.status, r.body)
		}
		want = append(want, s.sid)
	}
	select {
	case <-rcv.refused:
	case <-time.After(30 * time.Second):
		t.Fatal("no push reached the receiver after it went down")
	}
	stop() // tokenguard goes away with three events undelivered

	rcv.up()
	serveOnce(t, cfgFile) // and comes back on the same Redis
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	got, err := rcv.Await(ctx, len(want))
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range got {
		session, _ := ev.SubID["session"].(map[string]any)
		user, _ := ev.SubID["user"].(map[string]any)
		if ev.Type != signals.TypeSessionRevoked || session["id"] != want[i] || user["sub"] != fmt.Sprintf("user-%d", i) {
			t.Errorf("event %d = %s about %v, want session-revoked of %s (user-%d), in order", i, ev.Type, ev.SubID, want[i], i)
		}
	}
}

func TestAClientTokenVerifiesIntrospectsAndIsRevokedOnARealServer(t *testing.T) {
	srv := redistest.Start(t)
	base, _ := serveOnce(t, ssfConfig(t, srv))
	r := doRequest(t, base, http.MethodPost, "/oauth2/token", "rp:dev-rp-secret", "application/x-www-form-urlencoded", []byte("grant_type=client_credentials"))
	if r.status != http.StatusOK || r.json(t)["scope"] != "events" {
		t.Fatalf("client_credentials = %d %s, want 200 with scope events", r.status, r.body)
	}
	token := r.json(t)["access_token"].(string)
	if v := doRequest(t, base, http.MethodGet, "/v1/verify", "Bearer "+token, "", nil); v.status != http.StatusOK || v.header.Get("X-Auth-Request-User") != "rp" {
		t.Fatalf("verify = %d user %q, want 200 rp", v.status, v.header.Get("X-Auth-Request-User"))
	}
	in := doRequest(t, base, http.MethodPost, "/oauth2/introspect", "admin:dev-admin-secret", "application/x-www-form-urlencoded", []byte("token="+token)).json(t)
	if in["active"] != true || in["sub"] != "rp" || in["client_id"] != "rp" {
		t.Errorf("introspection = %v", in)
	}
	if r := doRequest(t, base, http.MethodPost, "/oauth2/revoke", "admin:dev-admin-secret", "application/x-www-form-urlencoded", []byte("token="+token)); r.status != http.StatusOK {
		t.Fatalf("revoke = %d", r.status)
	}
	if v := doRequest(t, base, http.MethodGet, "/v1/verify", "Bearer "+token, "", nil); v.status != http.StatusUnauthorized {
		t.Errorf("verify after revocation = %d, want 401", v.status)
	}
	if v := doRequest(t, base, http.MethodGet, "/ssf/stream", "Bearer "+token, "", nil); v.status != http.StatusUnauthorized {
		t.Errorf("stream management with the revoked token = %d, want 401", v.status)
	}
}

func TestABanAndUnbanArePolledFromARealServer(t *testing.T) {
	srv := redistest.Start(t)
	base, _ := serveOnce(t, ssfConfig(t, srv))
	jwks := doRequest(t, base, http.MethodGet, "/.well-known/jwks.json", "", "", nil)
	rcv, err := ssftest.New("https://tokenguard.test", "rp", jwks.body)
	if err != nil {
		t.Fatal(err)
	}
	r := doRequest(t, base, http.MethodPost, "/ssf/stream", "rp:dev-rp-secret", "application/json", []byte(`{"delivery":{"method":"urn:ietf:rfc:8936"}}`))
	if r.status != http.StatusCreated {
		t.Fatalf("create = %d %s", r.status, r.body)
	}
	id := r.json(t)["stream_id"].(string)
	s := createSession(t, base, sessionBody("mallory"))
	if r := doRequest(t, base, http.MethodPut, "/v1/admin/users/mallory/ban", "admin:dev-admin-secret", "application/json", []byte(`{"reason":"spam"}`)); r.status != http.StatusOK {
		t.Fatalf("ban = %d %s", r.status, r.body)
	}
	if r := doRequest(t, base, http.MethodDelete, "/v1/admin/users/mallory/ban", "admin:dev-admin-secret", "", nil); r.status != http.StatusNoContent {
		t.Fatalf("unban = %d %s", r.status, r.body)
	}
	// One poll, waiting (no returnImmediately) while events arrive.
	var got []ssftest.Event
	ack := []string{}
	for len(got) < 4 {
		body, err := json.Marshal(map[string]any{"ack": ack})
		if err != nil {
			t.Fatal(err)
		}
		p := doRequest(t, base, http.MethodPost, "/ssf/poll/"+id, "rp:dev-rp-secret", "application/json", body)
		if p.status != http.StatusOK {
			t.Fatalf("poll = %d %s", p.status, p.body)
		}
		var res struct {
			Sets map[string]string `json:"sets"`
		}
		if err := json.Unmarshal(p.body, &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Sets) == 0 {
			t.Fatalf("a poll found nothing after %d events", len(got))
		}
		ack = ack[:0]
		for jti, set := range res.Sets {
			ev, fresh, err := rcv.Accept(set)
			if err != nil {
				t.Fatalf("SET %s refused: %v", jti, err)
			}
			if fresh {
				got = append(got, ev)
			}
			ack = append(ack, jti)
		}
	}
	types := map[string]int{}
	txns := map[string]bool{}
	for _, ev := range got {
		types[ev.Type]++
		txns[ev.Txn] = true
		if sess, ok := ev.SubID["session"].(map[string]any); ok && sess["id"] != s.sid {
			t.Errorf("session-revoked of %v, want %s", sess["id"], s.sid)
		}
	}
	want := map[string]int{signals.TypeSessionRevoked: 2, signals.TypeAccountDisabled: 1, signals.TypeAccountEnabled: 1}
	for typ, n := range want {
		if types[typ] != n {
			t.Errorf("%d events of %s, want %d (all: %v)", types[typ], typ, n, types)
		}
	}
	if len(txns) != 2 {
		t.Errorf("%d txns, want 2: the ban's three events share one, the unban has its own", len(txns))
	}
}
