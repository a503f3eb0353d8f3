package signals

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/internal/ssftest"
	"github.com/tokenguard/tokenguard/internal/testclock"
	"github.com/tokenguard/tokenguard/users"
)

const testIssuer = "https://tokenguard.test"

// counts is a signals.Metrics that remembers what it was told.
type counts struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counts) add(k string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[k] += n
}
func (c *counts) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k]
}
func (c *counts) EventQueued(typ string)             { c.add("queued/"+typ, 1) }
func (c *counts) EventDelivered(typ, method string)  { c.add("delivered/"+typ+"/"+method, 1) }
func (c *counts) EventFailed(typ, outcome string)    { c.add("failed/"+outcome, 1) }
func (c *counts) EventsDropped(reason string, n int) { c.add("dropped/"+reason, n) }

type fixture struct {
	tx      *Transmitter
	tokens  *auth.Service
	trail   *audit.Log
	clock   *testclock.Clock
	metrics *counts
}

// newFixture is a transmitter on miniredis in dev mode (http receivers),
// retrying fast, with a clock the test may move.
func newFixture(t *testing.T, dev bool, allowed ...string) *fixture {
	t.Helper()
	key, err := auth.GenerateEdDSAKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	clk := testclock.New(time.Now())
	tokens, err := auth.New(auth.Config{Issuer: testIssuer, Audience: "api", AccessTTL: time.Minute, Keys: []*auth.Key{key}, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	trail := audit.New(rdb, audit.Config{Prefix: "tg:", Retention: time.Hour})
	m := &counts{}
	tx, err := New(Config{
		Redis: rdb, Prefix: "tg:", Tokens: tokens, Audit: trail, Dev: dev, AllowedHosts: allowed,
		Retention: time.Hour, Metrics: m, Clock: clk.Now,
		MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, Scan: 5 * time.Millisecond, PollWait: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{tx: tx, tokens: tokens, trail: trail, clock: clk, metrics: m}
}

// run delivers until the test ends.
func (f *fixture) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.tx.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// receiver is an RFC 8935 receiver for client on a loopback server; hook,
// when not nil, runs first on every request and may answer it itself
// (returning true).
func (f *fixture) receiver(t *testing.T, client string, hook func(w http.ResponseWriter, r *http.Request) bool) (*ssftest.Receiver, string) {
	t.Helper()
	jwks, err := json.Marshal(f.tokens.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	rcv, err := ssftest.New(testIssuer, client, jwks)
	if err != nil {
		t.Fatal(err)
	}
	rcv.SetClock(f.clock.Now)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hook != nil && hook(w, r) {
			return
		}
		rcv.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return rcv, srv.URL + "/events"
}

func (f *fixture) pushStream(t *testing.T, client, endpoint string) Stream {
	t.Helper()
	m, u := MethodPush, endpoint
	s, err := f.tx.CreateStream(t.Context(), client, Request{Method: &m, EndpointURL: &u})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// endSession publishes the end of one session of alice.
func (f *fixture) endSession(sid string) {
	f.tx.Publish(context.Background(), users.Change{Event: audit.Event{Type: audit.TypeLogout, Subject: "alice", SessionID: sid, Reason: "local"}, Sessions: []string{sid}})
}

func await(t *testing.T, rcv *ssftest.Receiver, n int) []ssftest.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	got, err := rcv.Await(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func sessionOf(ev ssftest.Event) string {
	s, _ := ev.SubID["session"].(map[string]any)
	id, _ := s["id"].(string)
	return id
}

// outage answers 503 while down, telling failed of every attempt.
type outage struct {
	mu     sync.Mutex
	down   bool
	failed chan struct{}
}

func (o *outage) set(down bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.down = down
}

func (o *outage) hook(w http.ResponseWriter, _ *http.Request) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.down {
		return false
	}
	select {
	case o.failed <- struct{}{}:
	default:
	}
	http.Error(w, "down", http.StatusServiceUnavailable)
	return true
}

func TestAReceiverDownForAWhileGetsEveryEventInOrderOnceBack(t *testing.T) {
	f := newFixture(t, true)
	o := &outage{down: true, failed: make(chan struct{}, 100)}
	rcv, url := f.receiver(t, "rp", o.hook)
	f.pushStream(t, "rp", url)
	f.run(t)
	want := []string{"s1", "s2", "s3", "s4", "s5"}
	for _, sid := range want {
		f.endSession(sid)
	}
	// Several attempts fail, with backoff, before it comes back.
	for range 3 {
		select {
		case <-o.failed:
		case <-time.After(20 * time.Second):
			t.Fatal("no push attempt reached the receiver that is down")
		}
	}
	o.set(false)
	got := await(t, rcv, len(want))
	for i, ev := range got {
		if sessionOf(ev) != want[i] {
			t.Errorf("event %d is about session %q, want %q (in order)", i, sessionOf(ev), want[i])
		}
		if ev.Type != TypeSessionRevoked {
			t.Errorf("event %d is %s", i, ev.Type)
		}
	}
	if n := f.metrics.get("failed/status"); n < 3 {
		t.Errorf("failed/status counted %d, want at least 3", n)
	}
}

func TestASlowReceiverNeverDelaysAnotherStream(t *testing.T) {
	f := newFixture(t, true)
	release := make(chan struct{})
	stuck := make(chan struct{}, 10)
	_, slowURL := f.receiver(t, "slow", func(w http.ResponseWriter, r *http.Request) bool {
		stuck <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		http.Error(w, "late", http.StatusServiceUnavailable)
		return true
	})
	// Runs before the server's Close, which waits for the held push.
	t.Cleanup(func() { close(release) })
	fast, fastURL := f.receiver(t, "fast", nil)
	f.pushStream(t, "slow", slowURL)
	f.pushStream(t, "fast", fastURL)
	f.run(t)
	f.endSession("s1")
	<-stuck // the slow receiver holds its push
	f.endSession("s2")
	got := await(t, fast, 2)
	if sessionOf(got[0]) != "s1" || sessionOf(got[1]) != "s2" {
		t.Errorf("the fast receiver got %q, %q; want s1, s2", sessionOf(got[0]), sessionOf(got[1]))
	}
}

func TestPushNeverFollowsARedirectAndDropsWhatTheReceiverRefuses(t *testing.T) {
	f := newFixture(t, true)
	target := make(chan struct{}, 10)
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		target <- struct{}{}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(elsewhere.Close)
	redirected := make(chan struct{}, 100)
	refused := false
	var mu sync.Mutex
	rcv, url := f.receiver(t, "rp", func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		if len(redirected) < 3 {
			redirected <- struct{}{}
			http.Redirect(w, r, elsewhere.URL, http.StatusTemporaryRedirect)
			return true
		}
		if !refused {
			// RFC 8935 §2.3: a SET the receiver refuses, once.
			refused = true
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"err":"invalid_request","description":"no"}`))
			return true
		}
		return false
	})
	f.pushStream(t, "rp", url)
	f.run(t)
	f.endSession("s1")
	f.endSession("s2")
	got := await(t, rcv, 1)
	if len(got) != 1 || sessionOf(got[0]) != "s2" {
		t.Errorf("received %v, want s2 only (s1 refused)", got)
	}
	select {
	case <-target:
		t.Error("a redirect was followed")
	default:
	}
	if f.metrics.get("failed/rejected") != 1 || f.metrics.get("failed/status") < 3 {
		t.Errorf("metrics %v, want 1 rejected and 3 redirects counted as status", f.metrics.m)
	}
}

func TestReceiverEndpointsOutsideDevAreHTTPSOnAllowedHostsOnly(t *testing.T) {
	allowed := []string{"hooks.example.com", "*.receivers.example.net"}
	for _, c := range []struct {
		url string
		ok  bool
	}{
		{"https://hooks.example.com/ssf", true},
		{"https://HOOKS.example.com:8443/ssf", true},
		{"https://a.receivers.example.net/x", true},
		{"https://a.b.receivers.example.net/x", true},
		{"https://receivers.example.net/x", false},
		{"http://hooks.example.com/ssf", false},
		{"https://evil.example.com/ssf", false},
		{"https://hooks.example.com.evil.test/", false},
		{"https://127.0.0.1/", false},
		{"https://169.254.169.254/latest/meta-data", false},
		{"https://user:pw@hooks.example.com/", false},
		{"https://hooks.example.com/#frag", false},
		{"ftp://hooks.example.com/", false},
		{"//hooks.example.com/", false},
	} {
		err := checkReceiver(c.url, false, allowed)
		if (err == nil) != c.ok {
			t.Errorf("checkReceiver(%q) = %v, want ok %v", c.url, err, c.ok)
		}
	}
	if err := checkReceiver("https://hooks.example.com/", false, nil); err == nil {
		t.Error("outside dev, no allowed hosts must admit no endpoint")
	}
	if err := checkReceiver("http://127.0.0.1:9/x", true, nil); err != nil {
		t.Errorf("dev without allowed hosts refuses a loopback http receiver: %v", err)
	}
	for _, bad := range []string{"", "*", "*.", "a/b", "host:1", ".x", "a..*"} {
		if CheckHostPatterns([]string{bad}) == nil {
			t.Errorf("CheckHostPatterns accepts %q", bad)
		}
	}
	f := newFixture(t, false, allowed...)
	m, u := MethodPush, "http://hooks.example.com/ssf"
	if _, err := f.tx.CreateStream(t.Context(), "rp", Request{Method: &m, EndpointURL: &u}); err == nil {
		t.Error("outside dev an http endpoint was accepted")
	}
}

func TestEventsPastTheRetentionAreDroppedCountedAuditedAndMarked(t *testing.T) {
	f := newFixture(t, true)
	m := MethodPoll
	s, err := f.tx.CreateStream(t.Context(), "rp", Request{Method: &m})
	if err != nil {
		t.Fatal(err)
	}
	f.endSession("s1")
	f.endSession("s2")
	if n, err := f.tx.Backlog(t.Context(), "rp", s.ID); err != nil || n != 2 {
		t.Fatalf("backlog = %d, %v; want 2", n, err)
	}
	f.clock.Advance(time.Hour + time.Minute)
	streams, err := f.tx.all(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	f.tx.sweep(t.Context(), streams)
	f.tx.sweep(t.Context(), streams) // a second sweep finds nothing more
	if n, err := f.tx.Backlog(t.Context(), "rp", s.ID); err != nil || n != 0 {
		t.Errorf("backlog after the retention = %d, %v; want 0", n, err)
	}
	got, err := f.tx.Stream(t.Context(), "rp", s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Lost != 2 || got.LostAt.IsZero() {
		t.Errorf("stream marked lost %d at %v, want 2", got.Lost, got.LostAt)
	}
	if n := f.metrics.get("dropped/retention"); n != 2 {
		t.Errorf("dropped/retention = %d, want 2", n)
	}
	events, err := f.trail.List(t.Context(), audit.Query{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Type != TypeEventsLost || events[0].Actor != "rp" {
		t.Errorf("audit = %+v, want one %s by rp", events, TypeEventsLost)
	}
}

func TestADisabledStreamDropsWhatWaitsAndTakesNothingAPausedOneHolds(t *testing.T) {
	f := newFixture(t, true)
	m := MethodPoll
	s, err := f.tx.CreateStream(t.Context(), "rp", Request{Method: &m})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := f.tx.SetStatus(ctx, "rp", s.ID, StatusPaused, ""); err != nil {
		t.Fatal(err)
	}
	f.endSession("s1")
	res, err := f.tx.Poll(ctx, "rp", s.ID, PollRequest{MaxEvents: 10, ReturnImmediately: true})
	if err != nil || len(res.Sets) != 0 {
		t.Fatalf("a paused stream's poll = %v, %v; want nothing", res, err)
	}
	if _, err := f.tx.SetStatus(ctx, "rp", s.ID, StatusEnabled, ""); err != nil {
		t.Fatal(err)
	}
	if res, err := f.tx.Poll(ctx, "rp", s.ID, PollRequest{MaxEvents: 10, ReturnImmediately: true}); err != nil || len(res.Sets) != 1 {
		t.Fatalf("enabled again, poll = %v, %v; want the held event", res, err)
	}
	if _, err := f.tx.SetStatus(ctx, "rp", s.ID, StatusDisabled, ""); err != nil {
		t.Fatal(err)
	}
	f.endSession("s2")
	if n, err := f.tx.Backlog(ctx, "rp", s.ID); err != nil || n != 0 {
		t.Errorf("a disabled stream holds %d, %v; want 0", n, err)
	}
	if got := f.metrics.get("dropped/disabled"); got != 1 {
		t.Errorf("dropped/disabled = %d, want 1", got)
	}
}

func TestAClientHasAtMostItsShareOfStreams(t *testing.T) {
	f := newFixture(t, true)
	m := MethodPoll
	for i := range MaxStreamsPerClient {
		if _, err := f.tx.CreateStream(t.Context(), "rp", Request{Method: &m}); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}
	if _, err := f.tx.CreateStream(t.Context(), "rp", Request{Method: &m}); err != ErrConflict {
		t.Errorf("one stream too many: %v, want ErrConflict", err)
	}
	if _, err := f.tx.CreateStream(t.Context(), "other", Request{Method: &m}); err != nil {
		t.Errorf("another client: %v", err)
	}
}
