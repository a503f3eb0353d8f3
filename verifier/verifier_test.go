package verifier_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/internal/testclock"
	"github.com/tokenguard/tokenguard/verifier"
)

const (
	issuer   = "https://tokenguard.test"
	audience = "api"
	ttl      = 15 * time.Minute
)

// feedConn is one connection to the fake feed: what the test sends down
// it, and the Last-Event-ID it came with.
type feedConn struct {
	lastID string
	send   chan string
	drop   chan struct{}
	gone   chan struct{} // closed when the connection ends
}

// fakeTokenguard serves a JWKS and a revocation feed the test writes by
// hand, and issues tokens with the key the JWKS publishes.
type fakeTokenguard struct {
	t      testing.TB
	url    string
	tokens *auth.Service
	conns  chan *feedConn
}

func newFakeTokenguard(t testing.TB, clock func() time.Time) *fakeTokenguard {
	t.Helper()
	key, err := auth.GenerateEdDSAKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.New(auth.Config{Issuer: issuer, Audience: audience, AccessTTL: ttl, Leeway: time.Second, Keys: []*auth.Key{key}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeTokenguard{t: t, tokens: tokens, conns: make(chan *feedConn, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		if err := json.NewEncoder(w).Encode(tokens.JWKS()); err != nil {
			t.Errorf("encode JWKS: %v", err)
		}
	})
	mux.HandleFunc("GET /v1/revocations/stream", func(w http.ResponseWriter, r *http.Request) {
		if id, secret, ok := r.BasicAuth(); !ok || id != "feeder" || secret != "feeder-secret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		if err := rc.Flush(); err != nil {
			return
		}
		c := &feedConn{lastID: r.Header.Get("Last-Event-ID"), send: make(chan string), drop: make(chan struct{}), gone: make(chan struct{})}
		defer close(c.gone)
		f.conns <- c
		for {
			select {
			case <-r.Context().Done():
				return
			case <-c.drop:
				return
			case s := <-c.send:
				if _, err := w.Write([]byte(s)); err != nil {
					return
				}
				if err := rc.Flush(); err != nil {
					return
				}
			}
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// conn returns the next connection the verifier makes.
func (f *fakeTokenguard) conn() *feedConn {
	f.t.Helper()
	select {
	case c := <-f.conns:
		return c
	case <-time.After(10 * time.Second): // a bound on a broken verifier
		f.t.Fatal("the verifier did not connect to the feed within 10s")
	}
	return nil
}

// issue returns a token for subject in session sid, and its jti.
func (f *fakeTokenguard) issue(subject, sid string) (token, jti string) {
	f.t.Helper()
	tok, claims, err := f.tokens.Issue(auth.IssueRequest{Subject: subject, SessionID: sid})
	if err != nil {
		f.t.Fatal(err)
	}
	return tok, claims.ID
}

// event spells one SSE event as handlers/feed.go writes it.
func event(id, name, data string) string {
	s := ""
	if id != "" {
		s = "id: " + id + "\n"
	}
	return s + "event: " + name + "\ndata: " + data + "\n\n"
}

func revocation(id, kind, field, value string, until time.Time) string {
	return event(id, "revocation", fmt.Sprintf(`{"kind":%q,"iss":%q,%q:%q,"until":%q}`, kind, issuer, field, value, until.Format(time.RFC3339)))
}

// snapshot spells a whole snapshot ending at position pos.
func snapshot(pos string, entries ...string) string {
	return event("", "snapshot", fmt.Sprintf(`{"reset":false,"entries":%d}`, len(entries))) + strings.Join(entries, "") + event(pos, "ready", `{"resumed":false}`)
}

func newVerifier(t testing.TB, f *fakeTokenguard, clock func() time.Time, edit func(*verifier.Config)) *verifier.Verifier {
	t.Helper()
	cfg := verifier.Config{
		URL: f.url, Issuer: issuer, Audience: audience, AccessTTL: ttl, Leeway: time.Second,
		ClientID: "feeder", ClientSecret: "feeder-secret", MaxStaleness: time.Minute,
		Retry: time.Millisecond, Clock: clock,
	}
	if edit != nil {
		edit(&cfg)
	}
	v, err := verifier.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New = %v, want no error", err)
	}
	return v
}

// run runs v until the test ends.
func run(t testing.TB, v *verifier.Verifier) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil after its context ended", err)
		}
	})
}

// send writes s down c and waits until the verifier has applied a change.
func send(t testing.TB, v *verifier.Verifier, c *feedConn, s string) {
	t.Helper()
	changed := v.Changed()
	select {
	case c.send <- s:
	case <-c.gone:
		t.Fatal("the verifier's feed connection ended before the test wrote to it")
	}
	select {
	case <-changed:
	case <-time.After(10 * time.Second): // a bound on a broken verifier
		t.Fatal("the verifier applied nothing within 10s")
	}
}

func TestNotReadyBeforeTheSnapshot(t *testing.T) {
	clock := testclock.New(time.Now())
	f := newFakeTokenguard(t, clock.Now)
	v := newVerifier(t, f, clock.Now, nil)
	tok, _ := f.issue("alice", "sid-1")
	run(t, v)
	c := f.conn()
	if err := v.Ready(); !errors.Is(err, verifier.ErrUnavailable) {
		t.Errorf("Ready before the snapshot = %v, want ErrUnavailable", err)
	}
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, verifier.ErrUnavailable) {
		t.Errorf("Verify before the snapshot = %v, want ErrUnavailable", err)
	}
	send(t, v, c, snapshot("e-0"))
	if err := v.Ready(); err != nil {
		t.Errorf("Ready after the snapshot = %v, want nil", err)
	}
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Errorf("Verify after the snapshot = %v, want nil", err)
	}
}

func TestRevocationsFromTheFeedRefuseTokens(t *testing.T) {
	clock := testclock.New(time.Now())
	f := newFakeTokenguard(t, clock.Now)
	v := newVerifier(t, f, clock.Now, nil)
	run(t, v)
	c := f.conn()
	until := clock.Now().Add(ttl)
	revokedTok, revokedJTI := f.issue("alice", "sid-a")
	endedTok, _ := f.issue("bob", "sid-b")
	cutTok, _ := f.issue("carol", "sid-c")
	bannedTok, _ := f.issue("dave", "sid-d")
	otherTok, _ := f.issue("erin", "sid-e")
	send(t, v, c, snapshot("e-0", revocation("", "token", "jti", revokedJTI, until)))
	send(t, v, c, revocation("e-1", "session", "sid", "sid-b", until))
	clock.Advance(time.Millisecond)
	send(t, v, c, event("e-2", "revocation", fmt.Sprintf(`{"kind":"cut_off","iss":%q,"sub":"carol","at":%q,"until":%q}`, issuer, clock.Now().Format(time.RFC3339Nano), until.Format(time.RFC3339))))
	send(t, v, c, event("e-3", "revocation", fmt.Sprintf(`{"kind":"ban","iss":%q,"sub":"dave","at":%q}`, issuer, clock.Now().Format(time.RFC3339Nano))))
	// Another issuer's erin is not ours: her entries refuse none of our tokens.
	send(t, v, c, event("e-4", "revocation", `{"kind":"ban","iss":"https://other.example","sub":"erin","at":"2026-01-01T00:00:00Z"}`))
	for _, tc := range []struct {
		name  string
		token string
		want  error
	}{
		{"a revoked token is refused", revokedTok, verifier.ErrRevoked},
		{"a token of an ended session is refused", endedTok, verifier.ErrRevoked},
		{"a token issued before its user's cut-off is refused", cutTok, verifier.ErrRevoked},
		{"a banned user's token is refused as banned", bannedTok, verifier.ErrBanned},
		{"a token whose user another issuer banned is accepted", otherTok, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tc.token)
			if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
	send(t, v, c, event("e-5", "revocation", fmt.Sprintf(`{"kind":"unban","iss":%q,"sub":"dave"}`, issuer)))
	// This feed sent the ban without the cut-off tokenguard writes with it.
	if _, err := v.Verify(context.Background(), bannedTok); err != nil {
		t.Errorf("Verify of the unbanned user's token = %v, want nil", err)
	}
	if st := v.Stats(); st.Position != "e-5" || st.Tokens != 1 || st.Sessions != 1 || st.CutOffs != 1 || st.Bans != 0 {
		t.Errorf("Stats = %+v, want position e-5 and 1 token, 1 session, 1 cut-off, 0 bans", st)
	}
}

func TestResumesAfterADroppedConnectionAndTakesAFreshSnapshot(t *testing.T) {
	clock := testclock.New(time.Now())
	f := newFakeTokenguard(t, clock.Now)
	v := newVerifier(t, f, clock.Now, nil)
	run(t, v)
	until := clock.Now().Add(ttl)
	first, firstJTI := f.issue("alice", "sid-a")
	second, secondJTI := f.issue("bob", "sid-b")

	c := f.conn()
	if c.lastID != "" {
		t.Errorf("first connection's Last-Event-ID = %q, want none", c.lastID)
	}
	send(t, v, c, snapshot("e-0"))
	send(t, v, c, revocation("e-1", "token", "jti", firstJTI, until))
	close(c.drop)

	c = f.conn()
	if c.lastID != "e-1" {
		t.Errorf("Last-Event-ID after a drop = %q, want e-1", c.lastID)
	}
	send(t, v, c, event("e-1", "ready", `{"resumed":true}`)) // the server had nothing more
	send(t, v, c, revocation("e-2", "token", "jti", secondJTI, until))
	for _, tok := range []string{first, second} {
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, verifier.ErrRevoked) {
			t.Errorf("Verify after resuming = %v, want ErrRevoked", err)
		}
	}

	// tokenguard's mirror reloaded: a fresh snapshot replaces everything.
	send(t, v, c, event("", "snapshot", `{"reset":true,"entries":1}`)+revocation("", "token", "jti", secondJTI, until)+event("f-0", "ready", `{"resumed":false}`))
	if _, err := v.Verify(context.Background(), first); err != nil {
		t.Errorf("Verify of a token the fresh snapshot does not name = %v, want nil", err)
	}
	if _, err := v.Verify(context.Background(), second); !errors.Is(err, verifier.ErrRevoked) {
		t.Errorf("Verify of a token the fresh snapshot names = %v, want ErrRevoked", err)
	}
	if st := v.Stats(); st.Position != "f-0" || st.Snapshots != 2 || st.Reconnects < 1 {
		t.Errorf("Stats = %+v, want position f-0, 2 snapshots, a reconnect", st)
	}
}

func TestStaleStateFailsClosedOrOpen(t *testing.T) {
	for _, open := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail open %v", open), func(t *testing.T) {
			clock := testclock.New(time.Now())
			f := newFakeTokenguard(t, clock.Now)
			v := newVerifier(t, f, clock.Now, func(c *verifier.Config) { c.FailOpen = open })
			run(t, v)
			tok, _ := f.issue("alice", "sid-a")
			send(t, v, f.conn(), snapshot("e-0"))
			clock.Advance(time.Minute + time.Second) // past MaxStaleness
			_, err := v.Verify(context.Background(), tok)
			rerr := v.Ready()
			if open {
				if err != nil || rerr != nil {
					t.Errorf("Verify = %v, Ready = %v on a stale state failing open; want nil, nil", err, rerr)
				}
				return
			}
			if !errors.Is(err, verifier.ErrUnavailable) || !errors.Is(rerr, verifier.ErrUnavailable) {
				t.Errorf("Verify = %v, Ready = %v on a stale state failing closed; want ErrUnavailable twice", err, rerr)
			}
		})
	}
}

func TestNewRefusesAnIncompleteConfig(t *testing.T) {
	clock := testclock.New(time.Now())
	f := newFakeTokenguard(t, clock.Now)
	if _, err := verifier.New(t.Context(), verifier.Config{URL: f.url, Issuer: issuer, Audience: audience}); !errors.Is(err, verifier.ErrConfig) {
		t.Errorf("New without feed credentials = %v, want ErrConfig", err)
	}
}

// TestImportsNeitherEchoNorRedisNorPrometheus checks what a service that
// imports the verifier compiles in.
func TestImportsNeitherEchoNorRedisNorPrometheus(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed %d packages, want the verifier's dependencies", len(deps))
	}
	for _, d := range deps {
		for _, banned := range []string{"github.com/labstack/echo", "github.com/redis/go-redis", "github.com/prometheus/"} {
			if strings.HasPrefix(d, banned) {
				t.Errorf("the verifier depends on %s", d)
			}
		}
	}
}
