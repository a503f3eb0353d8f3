package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/internal/keyspace"
	"github.com/tokenguard/tokenguard/internal/redistest"
	"github.com/tokenguard/tokenguard/internal/testclock"
)

const (
	testIdle   = 30 * 24 * time.Hour
	testMaxAge = 90 * 24 * time.Hour
	testWindow = 10 * time.Second
	testTail   = 15*time.Minute + 30*time.Second
)

// revoker records the sessions whose access tokens were revoked.
type revoker struct {
	mu   sync.Mutex
	sids []string
	err  error
}

func (r *revoker) RevokeSession(_ context.Context, sid string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.sids = append(r.sids, sid)
	return nil
}

func (r *revoker) RevokeSessions(ctx context.Context, sids []string) error {
	for _, sid := range sids {
		if err := r.RevokeSession(ctx, sid); err != nil {
			return err
		}
	}
	return nil
}

func (r *revoker) revoked() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sids)
}

type fixture struct {
	store  *Store
	rdb    *redis.Client
	rev    *revoker
	clock  *testclock.Clock
	mu     sync.Mutex
	events []ending
}

// ending is a session the store ended on its own authority, as a call
// returned it.
type ending struct {
	Session Session
	Cause   string
}

func (f *fixture) ended() []ending {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events)
}

func (f *fixture) endedBy(cause string, list ...Session) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range list {
		f.events = append(f.events, ending{s, cause})
	}
}

func newFixture(t *testing.T, rdb *redis.Client, edit func(*Config)) *fixture {
	t.Helper()
	f := &fixture{rdb: rdb, rev: &revoker{}, clock: testclock.New(time.Now())}
	cfg := Config{
		Prefix:          "tg:",
		RefreshTTL:      testIdle,
		MaxAge:          testMaxAge,
		ReuseWindow:     testWindow,
		AccessTokenLife: testTail,
		Revoker:         f.rev,
		Clock:           f.clock.Now,
	}
	if edit != nil {
		edit(&cfg)
	}
	f.store = New(rdb, cfg)
	return f
}

// open opens a session for subject with client "app" and returns it with its
// refresh token.
func (f *fixture) open(t *testing.T, subject string) (Session, string) {
	t.Helper()
	id, err := NewID(subject)
	if err != nil {
		t.Fatal(err)
	}
	sess := Session{ID: id, Subject: subject, ClientID: "app", Scope: "read", Device: Device{Name: "laptop", IP: "192.0.2.1", UserAgent: "test"}}
	rt, evicted, err := f.store.Open(context.Background(), sess)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	f.endedBy(CauseEvicted, evicted...)
	return sess, rt
}

func (f *fixture) refresh(t *testing.T, rt string) string {
	t.Helper()
	r, err := f.store.Refresh(context.Background(), rt, "app", "")
	if err != nil {
		t.Fatalf("Refresh = %v, want a new token", err)
	}
	return r.RefreshToken
}

func TestSessionIDsFallInTheirUsersShard(t *testing.T) {
	for _, sub := range []string{"alice", "bob", "", "ünïcode", strings.Repeat("x", 255)} {
		id, err := NewID(sub)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := keyspace.Shard(id), keyspace.Shard(sub); got != want {
			t.Errorf("Shard(NewID(%q)) = %d, want %d", sub, got, want)
		}
		if !validID(id) {
			t.Errorf("NewID(%q) = %q, which validID refuses", sub, id)
		}
	}
}

func TestRefreshOutcomes(t *testing.T) {
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		cases := []struct {
			name string
			// run gets a fresh session and its first token, and returns the
			// token to present, the client presenting it, and whether the
			// session must survive.
			run         func(t *testing.T, f *fixture, sess Session, rt0 string) (present, client string)
			wantErr     error // nil: a token comes back
			wantRotated bool
			wantAlive   bool
		}{
			{
				name:        "the current token rotates",
				run:         func(t *testing.T, f *fixture, _ Session, rt0 string) (string, string) { return rt0, "app" },
				wantRotated: true, wantAlive: true,
			},
			{
				name: "the previous token within the window gets the current one back",
				run: func(t *testing.T, f *fixture, _ Session, rt0 string) (string, string) {
					f.refresh(t, rt0)
					f.clock.Advance(testWindow - time.Millisecond)
					return rt0, "app"
				},
				wantAlive: true,
			},
			{
				name: "the previous token after the window ends the session",
				run: func(t *testing.T, f *fixture, _ Session, rt0 string) (string, string) {
					f.refresh(t, rt0)
					f.clock.Advance(testWindow)
					return rt0, "app"
				},
				wantErr: ErrReused,
			},
			{
				name: "a token two rotations old ends the session even within the window",
				run: func(t *testing.T, f *fixture, _ Session, rt0 string) (string, string) {
					f.refresh(t, f.refresh(t, rt0))
					return rt0, "app"
				},
				wantErr: ErrReused,
			},
			{
				name: "a made-up secret for a real session changes nothing",
				run: func(t *testing.T, f *fixture, sess Session, _ string) (string, string) {
					forged, err := firstToken(sess.ID)
					if err != nil {
						t.Fatal(err)
					}
					return forged.String(), "app"
				},
				wantErr: ErrInvalidGrant, wantAlive: true,
			},
			{
				name: "a made-up old generation for a real session changes nothing",
				run: func(t *testing.T, f *fixture, sess Session, rt0 string) (string, string) {
					f.refresh(t, f.refresh(t, f.refresh(t, rt0)))
					return sess.ID + ".0." + strings.Repeat("A", 43), "app"
				},
				wantErr: ErrInvalidGrant, wantAlive: true,
			},
			{
				name:    "another client's token is refused and changes nothing",
				run:     func(t *testing.T, f *fixture, _ Session, rt0 string) (string, string) { return rt0, "other" },
				wantErr: ErrInvalidGrant, wantAlive: true,
			},
			{
				name: "a session idle for its whole refresh lifetime is over",
				run: func(t *testing.T, f *fixture, _ Session, rt0 string) (string, string) {
					f.clock.Advance(testIdle)
					return rt0, "app"
				},
				wantErr: ErrInvalidGrant,
			},
			{
				name: "a session used within each refresh lifetime lives on",
				run: func(t *testing.T, f *fixture, _ Session, rt0 string) (string, string) {
					f.clock.Advance(testIdle - time.Minute)
					rt := f.refresh(t, rt0)
					f.clock.Advance(testIdle - time.Minute)
					return rt, "app"
				},
				wantRotated: true, wantAlive: true,
			},
			{
				name: "a session in constant use still ends at its maximum age",
				run: func(t *testing.T, f *fixture, _ Session, rt0 string) (string, string) {
					rt := rt0
					for range 10 { // 150 days of a refresh every 15 days
						f.clock.Advance(testIdle / 2)
						r, err := f.store.Refresh(context.Background(), rt, "app", "")
						if err != nil {
							break
						}
						rt = r.RefreshToken
					}
					return rt, "app"
				},
				wantErr: ErrInvalidGrant,
			},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				f := newFixture(t, rdb, nil)
				sess, rt0 := f.open(t, "alice-"+fmt.Sprint(time.Now().UnixNano()))
				present, client := c.run(t, f, sess, rt0)
				got, err := f.store.Refresh(context.Background(), present, client, "")
				var ended *EndedError
				if errors.As(err, &ended) {
					f.endedBy(ended.Cause, ended.Session)
				}
				if !errors.Is(err, c.wantErr) || (c.wantErr == nil && err != nil) {
					t.Fatalf("Refresh = %v, want %v", err, c.wantErr)
				}
				if err == nil && got.Rotated != c.wantRotated {
					t.Errorf("Rotated = %v, want %v", got.Rotated, c.wantRotated)
				}
				_, gerr := f.store.Get(context.Background(), sess.ID)
				alive := gerr == nil
				if c.wantAlive && !alive {
					t.Errorf("the session is gone (%v), want it alive", gerr)
				}
				if errors.Is(c.wantErr, ErrReused) {
					if alive {
						t.Errorf("the session survived a replayed token")
					}
					if got, want := f.rev.revoked(), []string{sess.ID}; !cmp.Equal(got, want) {
						t.Errorf("revoked sessions = %v, want %v (its access tokens must die too)", got, want)
					}
					ev := f.ended()
					if len(ev) != 1 || ev[0].Cause != CauseReuse || ev[0].Session.ID != sess.ID {
						t.Errorf("reported endings = %+v, want one refresh_reuse of %s", ev, sess.ID)
					}
				} else if got := f.rev.revoked(); len(got) != 0 {
					t.Errorf("revoked sessions = %v, want none", got)
				}
			})
		}
	})
}

func TestGraceHandsBackTheSameTokenWhichKeepsWorking(t *testing.T) {
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		f := newFixture(t, rdb, nil)
		_, rt0 := f.open(t, "alice")
		rt1 := f.refresh(t, rt0)
		again := f.refresh(t, rt0)
		if again != rt1 {
			t.Fatalf("the previous token within the window gave %q, want the current token %q", again, rt1)
		}
		rt2 := f.refresh(t, rt1)
		if rt2 == rt1 || rt2 == rt0 {
			t.Fatalf("the current token after a grace did not rotate")
		}
		// rt0 is now two generations old: a replay.
		if _, err := f.store.Refresh(context.Background(), rt0, "app", ""); !errors.Is(err, ErrReused) {
			t.Fatalf("Refresh with a token two rotations old = %v, want ErrReused", err)
		}
		if _, err := f.store.Refresh(context.Background(), rt2, "app", ""); !errors.Is(err, ErrInvalidGrant) {
			t.Errorf("Refresh with the current token of an ended session = %v, want ErrInvalidGrant", err)
		}
	})
}

// TestParallelRefreshesWithOneTokenAgree fires many refreshes with the same
// token at once. With the reuse window, exactly one rotates and every other
// gets the same new token back; the session ends one generation on and its
// token works. Without the window (strict single use), exactly one succeeds
// and the rest end the session.
func TestParallelRefreshesWithOneTokenAgree(t *testing.T) {
	const n = 64
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		t.Run("within the reuse window", func(t *testing.T) {
			f := newFixture(t, rdb, nil)
			sess, rt0 := f.open(t, "alice")
			results := make([]Refreshed, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					results[i], errs[i] = f.store.Refresh(context.Background(), rt0, "app", "")
				})
			}
			close(start)
			wg.Wait()
			rotated := 0
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("refresh %d = %v, want success (all within the window)", i, errs[i])
				}
				if results[i].Rotated {
					rotated++
				}
				if results[i].RefreshToken != results[0].RefreshToken {
					t.Fatalf("refresh %d got token %q, refresh 0 got %q: want one and the same", i, results[i].RefreshToken, results[0].RefreshToken)
				}
			}
			if rotated != 1 {
				t.Errorf("%d refreshes rotated, want exactly 1", rotated)
			}
			got, err := f.store.Get(context.Background(), sess.ID)
			if err != nil || got.generation != 1 {
				t.Fatalf("session after the race = %+v, %v; want generation 1", got, err)
			}
			next := f.refresh(t, results[0].RefreshToken)
			if strings.Split(next, ".")[1] != "2" {
				t.Errorf("the token after the race rotated to %q, want generation 2", next)
			}
			if got := f.rev.revoked(); len(got) != 0 {
				t.Errorf("revoked = %v, want none: two tabs must not log the user out", got)
			}
		})
		t.Run("without a reuse window", func(t *testing.T) {
			f := newFixture(t, rdb, func(c *Config) { c.ReuseWindow = 0 })
			sess, rt0 := f.open(t, "bob")
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					_, errs[i] = f.store.Refresh(context.Background(), rt0, "app", "")
				})
			}
			close(start)
			wg.Wait()
			ok, reused, other := 0, 0, 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case errors.Is(err, ErrReused):
					reused++
				case errors.Is(err, ErrInvalidGrant):
					other++
				default:
					t.Fatalf("refresh = %v, want success, ErrReused or ErrInvalidGrant", err)
				}
			}
			if ok != 1 || reused != 1 || other != n-2 {
				t.Errorf("outcomes: %d ok, %d reused, %d refused; want 1, 1 and %d (the first replay ends the session, later ones find none)", ok, reused, other, n-2)
			}
			if _, err := f.store.Get(context.Background(), sess.ID); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get after a strict-mode race = %v, want ErrNotFound", err)
			}
			if got, want := f.rev.revoked(), []string{sess.ID}; !cmp.Equal(got, want) {
				t.Errorf("revoked = %v, want %v", got, want)
			}
		})
	})
}

func TestMalformedRefreshTokensAreRefusedWithoutAnError(t *testing.T) {
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		f := newFixture(t, rdb, nil)
		sess, rt := f.open(t, "alice")
		parts := strings.Split(rt, ".")
		for _, bad := range []string{
			"", ".", "..", "garbage", strings.Repeat("A", 5000),
			sess.ID, sess.ID + ".0", sess.ID + ".0.",
			sess.ID + ".00." + parts[2], sess.ID + ".+0." + parts[2], sess.ID + ".-1." + parts[2],
			sess.ID + ".999999999." + parts[2], sess.ID + ".0." + parts[2] + "=",
			sess.ID + ".0." + parts[2][:42], "x" + rt, rt + "x",
			strings.Replace(rt, ".", "/", 1),
		} {
			if _, err := f.store.Refresh(context.Background(), bad, "app", ""); !errors.Is(err, ErrInvalidGrant) || errors.Is(err, ErrReused) {
				t.Errorf("Refresh(%.40q) = %v, want ErrInvalidGrant alone", bad, err)
			}
			if _, ok, err := f.store.Introspect(context.Background(), bad); ok || err != nil {
				t.Errorf("Introspect(%.40q) = %v, %v; want false, nil", bad, ok, err)
			}
			if _, ok, err := f.store.RevokeRefreshToken(context.Background(), bad); ok || err != nil {
				t.Errorf("RevokeRefreshToken(%.40q) = %v, %v; want false, nil", bad, ok, err)
			}
		}
		f.refresh(t, rt) // the session is untouched
	})
}

// TestARefreshTokenHasOneSpelling: Go's base64 decoders, even Strict, skip
// CR and LF, so a refresh token with line breaks spliced in decodes to the
// same secret. Only the token as issued is the token.
func TestARefreshTokenHasOneSpelling(t *testing.T) {
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		f := newFixture(t, rdb, nil)
		sess, rt := f.open(t, "alice")
		secretAt := len(sess.ID) + len(".0.")
		for name, bad := range map[string]string{
			"a line feed inside the secret":                  rt[:secretAt+10] + "\n" + rt[secretAt+10:],
			"a carriage return inside the secret":            rt[:secretAt+10] + "\r" + rt[secretAt+10:],
			"CR LF after the secret":                         rt + "\r\n",
			"line feeds all through the secret":              rt[:secretAt] + strings.Join(strings.Split(rt[secretAt:], ""), "\n"),
			"a line feed inside the session id":              rt[:5] + "\n" + rt[5:],
			"a line feed inside the session id, one dropped": rt[:5] + "\n" + rt[6:],
		} {
			if _, err := f.store.Refresh(context.Background(), bad, "app", ""); !errors.Is(err, ErrInvalidGrant) || errors.Is(err, ErrReused) {
				t.Errorf("%s: Refresh = %v, want ErrInvalidGrant alone", name, err)
			}
			if _, ok, err := f.store.Introspect(context.Background(), bad); ok || err != nil {
				t.Errorf("%s: Introspect = %v, %v; want false, nil", name, ok, err)
			}
			if _, ok, err := f.store.RevokeRefreshToken(context.Background(), bad); ok || err != nil {
				t.Errorf("%s: RevokeRefreshToken = %v, %v; want false, nil", name, ok, err)
			}
		}
		if _, err := f.store.Get(context.Background(), sess.ID[:5]+"\n"+sess.ID[5:]); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(the session id with a line feed) = %v, want ErrNotFound", err)
		}
		f.refresh(t, rt) // the session is untouched, its token as issued works
	})
}

func TestOpeningOneSessionTooManyEndsTheOldest(t *testing.T) {
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		f := newFixture(t, rdb, func(c *Config) { c.MaxPerUser = 2 })
		s1, rt1 := f.open(t, "alice")
		f.clock.Advance(time.Millisecond)
		s2, _ := f.open(t, "alice")
		f.clock.Advance(time.Millisecond)
		other, _ := f.open(t, "bob")
		f.clock.Advance(time.Millisecond)
		s3, _ := f.open(t, "alice")

		page, err := f.store.List(context.Background(), "alice", PageRequest{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ids(page.Sessions), []string{s3.ID, s2.ID}; !cmp.Equal(got, want) {
			t.Errorf("alice's sessions = %v, want %v (newest first, the oldest evicted)", got, want)
		}
		if got, want := f.rev.revoked(), []string{s1.ID}; !cmp.Equal(got, want) {
			t.Errorf("revoked = %v, want %v", got, want)
		}
		if _, err := f.store.Refresh(context.Background(), rt1, "app", ""); !errors.Is(err, ErrInvalidGrant) {
			t.Errorf("refresh of the evicted session = %v, want ErrInvalidGrant", err)
		}
		if ev := f.ended(); len(ev) != 1 || ev[0].Cause != CauseEvicted || ev[0].Session.ID != s1.ID {
			t.Errorf("reported endings = %+v, want the eviction of %s", ev, s1.ID)
		}
		if n, err := f.store.Count(context.Background(), "bob"); err != nil || n != 1 {
			t.Errorf("bob's count = %d, %v; want 1 (%s untouched)", n, err, other.ID)
		}
	})
}

func ids(list []Session) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.ID
	}
	return out
}

func TestEndingSessions(t *testing.T) {
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		ctx := context.Background()
		f := newFixture(t, rdb, nil)
		a1, rtA1 := f.open(t, "alice")
		a2, rtA2 := f.open(t, "alice")
		a3, rtA3 := f.open(t, "alice")
		b1, rtB1 := f.open(t, "bob")

		if _, err := f.store.EndOwned(ctx, "bob", a1.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("bob ending alice's session = %v, want ErrNotFound", err)
		}
		if _, err := f.store.EndOwned(ctx, "alice", "not-an-id"); !errors.Is(err, ErrNotFound) {
			t.Errorf("ending a malformed id = %v, want ErrNotFound", err)
		}
		if got := f.rev.revoked(); len(got) != 0 {
			t.Fatalf("revoked = %v after refused requests, want none", got)
		}
		if _, err := f.store.EndOwned(ctx, "alice", a1.ID); err != nil {
			t.Fatalf("EndOwned: %v", err)
		}
		if _, err := f.store.End(ctx, a1.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("ending an ended session = %v, want ErrNotFound", err)
		}
		ended, err := f.store.EndAll(ctx, "alice", a3.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ids(ended), []string{a2.ID}; !cmp.Equal(got, want) {
			t.Errorf("EndAll except %s ended %v, want %v", a3.ID, got, want)
		}
		for _, c := range []struct {
			rt   string
			want bool
		}{{rtA1, false}, {rtA2, false}, {rtA3, true}, {rtB1, true}} {
			_, err := f.store.Refresh(ctx, c.rt, "app", "")
			if got := err == nil; got != c.want {
				t.Errorf("refresh of %s... = %v, want success %v", c.rt[:8], err, c.want)
			}
		}
		if got, want := f.rev.revoked(), []string{a1.ID, a2.ID}; !cmp.Equal(got, want) {
			t.Errorf("revoked = %v, want %v", got, want)
		}
		if n, _ := f.store.Count(ctx, "bob"); n != 1 {
			t.Errorf("bob has %d sessions, want 1 (%s)", n, b1.ID)
		}
	})
}

func TestAFailedRevocationLeavesTheSessionToRetry(t *testing.T) {
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		f := newFixture(t, rdb, nil)
		sess, rt := f.open(t, "alice")
		f.rev.err = errors.New("store down")
		if _, err := f.store.End(context.Background(), sess.ID); err == nil {
			t.Fatalf("End with the revocation failing = nil, want an error")
		}
		f.rev.err = nil
		if _, err := f.store.Get(context.Background(), sess.ID); err != nil {
			t.Fatalf("the session is gone after a failed End (%v); it must stay so that End can be retried", err)
		}
		f.refresh(t, rt)
	})
}

func TestIntrospectAndRevoke(t *testing.T) {
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		ctx := context.Background()
		f := newFixture(t, rdb, nil)
		opened := f.clock.Now().Truncate(time.Millisecond)
		sess, rt0 := f.open(t, "alice")
		f.clock.Advance(time.Minute)
		rt1 := f.refresh(t, rt0)

		info, ok, err := f.store.Introspect(ctx, rt1)
		if err != nil || !ok {
			t.Fatalf("Introspect(current) = %v, %v; want active", ok, err)
		}
		rotated := opened.Add(time.Minute)
		want := Info{SessionID: sess.ID, Subject: "alice", ClientID: "app", Scope: "read", CreatedAt: opened, IssuedAt: rotated, ExpiresAt: rotated.Add(testIdle)}
		if diff := cmp.Diff(want, info); diff != "" {
			t.Errorf("Introspect (-want +got):\n%s", diff)
		}
		if _, ok, _ := f.store.Introspect(ctx, rt0); ok {
			t.Errorf("Introspect(previous) = active, want inactive")
		}
		ended, ok, err := f.store.RevokeRefreshToken(ctx, rt0)
		if !ok || err != nil {
			t.Fatalf("RevokeRefreshToken(previous, in the window) = %v, %v; want true", ok, err)
		}
		f.endedBy(CauseRevoked, ended)
		if _, ok, _ := f.store.Introspect(ctx, rt1); ok {
			t.Errorf("Introspect after revocation = active, want inactive")
		}
		if _, ok, err := f.store.RevokeRefreshToken(ctx, rt1); ok || err != nil {
			t.Errorf("RevokeRefreshToken again = %v, %v; want false, nil", ok, err)
		}
		if got, want := f.rev.revoked(), []string{sess.ID}; !cmp.Equal(got, want) {
			t.Errorf("revoked = %v, want %v", got, want)
		}
		if ev := f.ended(); len(ev) != 1 || ev[0].Cause != CauseRevoked || ev[0].Session.ID != sess.ID {
			t.Errorf("reported endings = %+v, want one refresh_revoked of %s", ev, sess.ID)
		}
	})
}

func TestClaimsComeBackExactly(t *testing.T) {
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		f := newFixture(t, rdb, nil)
		id, _ := NewID("alice")
		claims := map[string]any{"tenant": "t1", "big": json.Number("9007199254740993"), "nested": map[string]any{"a": []any{1, "x"}}}
		rt, _, err := f.store.Open(context.Background(), Session{ID: id, Subject: "alice", ClientID: "app", Claims: claims})
		if err != nil {
			t.Fatal(err)
		}
		r, err := f.store.Refresh(context.Background(), rt, "app", "")
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(r.Session.Claims)
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"big":9007199254740993,"nested":{"a":[1,"x"]},"tenant":"t1"}`; string(got) != want {
			t.Errorf("claims after a refresh = %s, want %s", got, want)
		}
	})
}

func TestEveryKeyIsInTheUsersShardAndExpires(t *testing.T) {
	// A subject that spells the blacklist's key pattern must not make any
	// key of ours look like one of its entries.
	const subject = "alice}:u:x"
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		ctx := context.Background()
		f := newFixture(t, rdb, nil)
		sess, rt := f.open(t, subject)
		f.refresh(t, rt)
		keys, err := rdb.Keys(ctx, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(keys)
		tag := fmt.Sprintf("tg:{%d}:", keyspace.Shard(subject))
		if len(keys) != 4 {
			t.Errorf("keys = %v, want session, history, grace and index", keys)
		}
		for _, k := range keys {
			if !strings.HasPrefix(k, tag) {
				t.Errorf("key %q is not in the user's shard %s", k, tag)
			}
			ttl := rdb.PTTL(ctx, k).Val()
			if ttl <= 0 || ttl > testMaxAge+testTail {
				t.Errorf("TTL of %s = %v, want (0, max age + tail]", k, ttl)
			}
			if strings.Contains(k, ":rt-grace:") && ttl > testWindow+graceSlack {
				t.Errorf("the window's salt lives %v, want at most the window and its slack", ttl)
			}
		}
		if clash := rdb.Keys(ctx, keyspace.New("tg:").SnapshotPattern()).Val(); len(clash) != 0 {
			t.Errorf("keys %v match the blacklist's entry pattern", clash)
		}
		secret := strings.Split(rt, ".")[2]
		if strings.Contains(fmt.Sprint(rdb.HGetAll(ctx, f.store.keys.Session(sess.ID)).Val()), secret) {
			t.Errorf("the refresh token's secret is stored in clear")
		}
	})
}

func TestRefreshCanNarrowTheScopeButNotWidenIt(t *testing.T) {
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		ctx := context.Background()
		f := newFixture(t, rdb, nil)
		id, _ := NewID("alice")
		rt, _, err := f.store.Open(ctx, Session{ID: id, Subject: "alice", ClientID: "app", Scope: "read write"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.Refresh(ctx, rt, "app", "read admin"); !errors.Is(err, ErrScope) {
			t.Fatalf("Refresh for a wider scope = %v, want ErrScope", err)
		}
		r, err := f.store.Refresh(ctx, rt, "app", "read")
		if err != nil || !r.Rotated {
			t.Fatalf("Refresh for a narrower scope = %+v, %v; want a rotation (the refused one changed nothing)", r, err)
		}
		if r.Session.Scope != "read write" {
			t.Errorf("the session's scope became %q, want it unchanged", r.Session.Scope)
		}
	})
}

// pageIDs pages through a user's sessions with limit and returns the ids of
// each page; between pages it calls between, which may open sessions.
func pageIDs(t *testing.T, f *fixture, subject string, limit int, between func()) [][]string {
	t.Helper()
	var pages [][]string
	req := PageRequest{Limit: limit}
	for range 100 {
		page, err := f.store.List(context.Background(), subject, req)
		if err != nil {
			t.Fatalf("List(%+v): %v", req, err)
		}
		pages = append(pages, ids(page.Sessions))
		if page.Next == "" {
			return pages
		}
		if len(page.Sessions) != limit {
			t.Fatalf("a page of %d sessions with a next page, want full pages (%d) before the last", len(page.Sessions), limit)
		}
		req.Before = page.Next
		if between != nil {
			between()
		}
	}
	t.Fatalf("more than 100 pages")
	return nil
}

// TestListPagesNewestFirstAndNewLoginsShiftNothing pages through a user's
// sessions, some opened in the same millisecond, while more are opened
// between pages: every session that existed at the start is listed once, in
// order, newest first, and the last page has no next.
func TestListPagesNewestFirstAndNewLoginsShiftNothing(t *testing.T) {
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		f := newFixture(t, rdb, nil)
		var opened []string
		for i := range 11 {
			s, _ := f.open(t, "alice")
			opened = append(opened, s.ID)
			if i%3 == 2 { // three sessions a millisecond
				f.clock.Advance(time.Millisecond)
			}
		}
		f.open(t, "bob")
		full, err := f.store.List(context.Background(), "alice", PageRequest{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		want := ids(full.Sessions)
		if len(want) != len(opened) || full.Next != "" {
			t.Fatalf("one page of 100 = %d sessions, next %q; want all %d and no next", len(want), full.Next, len(opened))
		}
		for i := 1; i < len(full.Sessions); i++ {
			if full.Sessions[i].CreatedAt.After(full.Sessions[i-1].CreatedAt) {
				t.Errorf("session %d is newer than session %d: want newest first", i, i-1)
			}
		}

		pages := pageIDs(t, f, "alice", 4, func() {
			f.clock.Advance(time.Millisecond)
			f.open(t, "alice") // a login while the client pages
		})
		if got := len(pages); got != 3 {
			t.Errorf("11 sessions by 4 = %d pages, want 3", got)
		}
		if got := slices.Concat(pages...); !cmp.Equal(got, want) {
			t.Errorf("the pages list %v, want each session that existed at the start once, newest first: %v", got, want)
		}
		if got := pageIDs(t, f, "alice", 14, nil); len(got) != 1 || len(got[0]) != 13 {
			t.Errorf("the 13 sessions by 14 = %v, want one page (no next) of 13", got)
		}
		if got := pageIDs(t, f, "alice", 13, nil); len(got) != 1 {
			t.Errorf("13 sessions by 13 = %d pages, want one: no next when nothing follows", len(got))
		}
	})
}

// TestListSkipsSessionsThatCannotBeRefreshed: a session past its refresh
// lifetime keeps state for its last access token but is not listed, and a
// page is still filled with live ones.
func TestListSkipsSessionsThatCannotBeRefreshed(t *testing.T) {
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		f := newFixture(t, rdb, func(c *Config) { c.RefreshTTL = time.Hour; c.MaxAge = 2 * time.Hour })
		old1, _ := f.open(t, "alice")
		f.open(t, "alice")
		f.clock.Advance(90 * time.Minute)
		live1, _ := f.open(t, "alice")
		f.clock.Advance(time.Millisecond)
		live2, _ := f.open(t, "alice")
		if _, err := f.store.Get(context.Background(), old1.ID); err != nil {
			t.Fatalf("the lapsed session %s has no state (%v); the test needs it kept for its last token", old1.ID, err)
		}
		pages := pageIDs(t, f, "alice", 1, nil)
		if want := [][]string{{live2.ID}, {live1.ID}}; !cmp.Equal(pages, want) {
			t.Errorf("pages = %v, want %v (lapsed sessions left out)", pages, want)
		}
		if n, err := f.store.Count(context.Background(), "alice"); err != nil || n != 2 {
			t.Errorf("Count = %d, %v; want 2", n, err)
		}
	})
}

func TestListRefusesACursorItDidNotMake(t *testing.T) {
	f := newFixture(t, redistest.Start(t).Client(), nil)
	s, _ := f.open(t, "alice")
	for _, before := range []string{"x", "1", "1.", ".", "." + s.ID, "-1." + s.ID, "1.x", "1." + s.ID + "x", "99999999999999999999." + s.ID, "1 ." + s.ID} {
		if _, err := f.store.List(context.Background(), "alice", PageRequest{Limit: 5, Before: before}); !errors.Is(err, ErrBadCursor) {
			t.Errorf("List(before %q) = %v, want ErrBadCursor", before, err)
		}
	}
}

// TestEndAllEndsMoreSessionsThanABatch ends a user's sessions across several
// batches of the index, keeping the one it is told to and another user's.
func TestEndAllEndsMoreSessionsThanABatch(t *testing.T) {
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		f := newFixture(t, rdb, nil)
		const n = 2*walkBatch + 7
		var keep Session
		for i := range n {
			s, _ := f.open(t, "alice")
			if i == walkBatch+3 {
				keep = s
			}
			if i%50 == 0 {
				f.clock.Advance(time.Millisecond)
			}
		}
		bob, _ := f.open(t, "bob")
		ended, err := f.store.EndAll(context.Background(), "alice", keep.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ended) != n-1 || slices.Contains(ids(ended), keep.ID) {
			t.Errorf("EndAll ended %d sessions, want %d, all but %s", len(ended), n-1, keep.ID)
		}
		if got := len(f.rev.revoked()); got != n-1 {
			t.Errorf("%d sessions revoked, want %d", got, n-1)
		}
		if got := pageIDs(t, f, "alice", 10, nil); !cmp.Equal(got, [][]string{{keep.ID}}) {
			t.Errorf("alice's sessions after EndAll = %v, want only %s", got, keep.ID)
		}
		if card := rdb.ZCard(context.Background(), f.store.keys.UserSessions("alice")).Val(); card != 1 {
			t.Errorf("alice's index holds %d entries, want 1", card)
		}
		if n, _ := f.store.Count(context.Background(), "bob"); n != 1 {
			t.Errorf("bob has %d sessions, want 1 (%s)", n, bob.ID)
		}
	})
}
