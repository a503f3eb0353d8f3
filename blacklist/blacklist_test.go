package blacklist

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/internal/keyspace"
	"github.com/tokenguard/tokenguard/internal/redistest"
)

const (
	testLifetime = 15 * time.Minute
	testLeeway   = 30 * time.Second
)

// backend is a Redis the same tests run against: miniredis, whose clock the
// test can move, and a real redis-server.
type backend struct {
	name string
	open func(t *testing.T) (rdb *redis.Client, expire func(d time.Duration))
}

func backends() []backend {
	return []backend{
		{"miniredis", func(t *testing.T) (*redis.Client, func(time.Duration)) {
			m := miniredis.RunT(t)
			c := redis.NewClient(&redis.Options{Addr: m.Addr()})
			t.Cleanup(func() { _ = c.Close() })
			return c, m.FastForward
		}},
		{"redis-server", func(t *testing.T) (*redis.Client, func(time.Duration)) {
			srv := redistest.Start(t)
			return srv.Client(), nil
		}},
	}
}

// setup is one backend in one mode.
type setup struct {
	rdb  *redis.Client
	mode Mode
	// expire moves the backend's clock on so keys expire; nil where it
	// cannot (a real server) or where it proves nothing (the mirror keeps
	// an entry until it is swept, which has its own test).
	expire func(time.Duration)
}

// forEachSetup runs test on every backend in strict and in mirror mode: the
// two modes must answer alike.
func forEachSetup(t *testing.T, test func(t *testing.T, su setup)) {
	for _, b := range backends() {
		for _, mode := range []Mode{ModeStrict, ModeMirror} {
			t.Run(b.name+"/"+string(mode), func(t *testing.T) {
				rdb, expire := b.open(t)
				su := setup{rdb: rdb, mode: mode, expire: expire}
				if mode == ModeMirror {
					su.expire = nil
				}
				test(t, su)
			})
		}
	}
}

// store returns a store in the setup's mode, running and loaded.
func (su setup) store(t *testing.T, now func() time.Time) *Store {
	t.Helper()
	return startStore(t, su.rdb, Config{Mode: su.mode, Clock: now})
}

// startStore fills in the test defaults, runs the store's mirror until the
// test ends and waits until it is loaded.
func startStore(t *testing.T, rdb redis.UniversalClient, cfg Config) *Store {
	t.Helper()
	cfg.Prefix = "tg:"
	cfg.Leeway = testLeeway
	cfg.MaxTokenLifetime = testLifetime
	if cfg.PollTimeout == 0 {
		cfg.PollTimeout = 20 * time.Millisecond
	}
	s := New(rdb, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil on shutdown", err)
		}
	})
	awaitReady(t, s)
	return s
}

// awaitReady waits, bounded, until the store can answer.
func awaitReady(t *testing.T, s *Store) {
	t.Helper()
	awaitTrue(t, "the store to be ready", func() bool { return s.Ready(context.Background()) == nil })
}

// awaitTrue polls cond until it holds, failing the test after 10s: it awaits
// an event the code under test makes happen, and never measures time.
func awaitTrue(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testClock is real time plus an offset the test can move forward.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

func wantRevoked(t *testing.T, err error, why string) {
	t.Helper()
	if !errors.Is(err, ErrRevoked) {
		t.Errorf("Check = %v, want ErrRevoked (%s)", err, why)
	}
}

func wantGood(t *testing.T, err error, why string) {
	t.Helper()
	if err != nil {
		t.Errorf("Check = %v, want nil (%s)", err, why)
	}
}

func TestRevokedTokenIsRefusedUntilItExpires(t *testing.T) {
	forEachSetup(t, func(t *testing.T, su setup) {
		rdb, expire := su.rdb, su.expire
		ctx := context.Background()
		now := time.Now()
		s := su.store(t, func() time.Time { return now })
		exp := now.Add(10 * time.Minute)

		if err := s.RevokeToken(ctx, "jti-1", exp); err != nil {
			t.Fatalf("RevokeToken: %v", err)
		}
		wantRevoked(t, s.Check(ctx, Token{ID: "jti-1", Subject: "alice", IssuedAt: now}), "revoked jti")
		wantGood(t, s.Check(ctx, Token{ID: "jti-2", Subject: "alice", IssuedAt: now}), "another jti of the same user")

		ttl, err := rdb.PTTL(ctx, s.keys.Entry(keyspace.KindRevokedToken, "jti-1")).Result()
		if err != nil {
			t.Fatal(err)
		}
		want := 10*time.Minute + testLeeway
		if d := want - ttl; d < 0 || d > time.Second {
			t.Errorf("TTL of the revocation key = %v, want within a second below %v (exp - now + leeway)", ttl, want)
		}
		if expire != nil {
			expire(want + time.Millisecond)
			wantGood(t, s.Check(ctx, Token{ID: "jti-1", Subject: "alice", IssuedAt: now}), "entry expired with the token")
		}
	})
}

func TestAlreadyExpiredTokenIsNotWritten(t *testing.T) {
	forEachSetup(t, func(t *testing.T, su setup) {
		rdb := su.rdb
		ctx := context.Background()
		now := time.Now()
		s := su.store(t, func() time.Time { return now })
		for name, exp := range map[string]time.Time{
			"expired beyond the leeway": now.Add(-testLeeway - time.Second),
			"expiring right now":        now.Add(-testLeeway),
		} {
			if err := s.RevokeToken(ctx, "old-"+name, exp); err != nil {
				t.Fatalf("RevokeToken(%s): %v", name, err)
			}
			n, err := rdb.Exists(ctx, s.keys.Entry(keyspace.KindRevokedToken, "old-"+name)).Result()
			if err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%s: key written (exists=%d), want nothing written", name, n)
			}
		}
		// Inside the leeway the token still verifies, so it must be written.
		if err := s.RevokeToken(ctx, "in-leeway", now.Add(-testLeeway/2)); err != nil {
			t.Fatal(err)
		}
		wantRevoked(t, s.Check(ctx, Token{ID: "in-leeway"}), "token expired but still inside the leeway")
	})
}

func TestRevokedSessionRefusesEveryTokenOfThatSessionOnly(t *testing.T) {
	forEachSetup(t, func(t *testing.T, su setup) {
		rdb, expire := su.rdb, su.expire
		ctx := context.Background()
		now := time.Now()
		s := su.store(t, func() time.Time { return now })
		if err := s.RevokeSession(ctx, "sid-a"); err != nil {
			t.Fatal(err)
		}
		wantRevoked(t, s.Check(ctx, Token{ID: "t1", SessionID: "sid-a", Subject: "alice", IssuedAt: now}), "token of the ended session")
		wantRevoked(t, s.Check(ctx, Token{ID: "t2", SessionID: "sid-a", Subject: "alice", IssuedAt: now}), "another token of the ended session")
		wantGood(t, s.Check(ctx, Token{ID: "t3", SessionID: "sid-b", Subject: "alice", IssuedAt: now}), "another session of the same user")

		ttl, err := rdb.PTTL(ctx, s.keys.Entry(keyspace.KindEndedSession, "sid-a")).Result()
		if err != nil {
			t.Fatal(err)
		}
		if want := testLifetime + testLeeway; want-ttl < 0 || want-ttl > time.Second {
			t.Errorf("session key TTL = %v, want about %v (longest token lifetime + leeway)", ttl, want)
		}
		if expire != nil {
			expire(testLifetime + testLeeway + time.Millisecond)
			wantGood(t, s.Check(ctx, Token{ID: "t1", SessionID: "sid-a", Subject: "alice", IssuedAt: now}), "session entry expired")
		}
	})
}

// TestRevokeSessionsEndsEachInFewWrites ends more sessions than one write
// takes, over several shards, and checks that each is refused and that its
// shard's log has an entry for each, as RevokeSession would leave.
func TestRevokeSessionsEndsEachInFewWrites(t *testing.T) {
	forEachSetup(t, func(t *testing.T, su setup) {
		ctx := context.Background()
		now := time.Now()
		s := su.store(t, func() time.Time { return now })
		var ids []string
		for i := range maxChangesPerWrite + 10 {
			ids = append(ids, fmt.Sprintf("sid-%d", i))
		}
		if err := s.RevokeSessions(ctx, ids); err != nil {
			t.Fatal(err)
		}
		logged := 0
		for sh := range keyspace.Shards {
			n, err := su.rdb.XLen(ctx, s.keys.ChangeLog(sh)).Result()
			if err != nil {
				t.Fatal(err)
			}
			logged += int(n)
		}
		if logged != len(ids) {
			t.Errorf("the shards' logs hold %d entries, want one per session (%d)", logged, len(ids))
		}
		for _, id := range ids {
			wantRevoked(t, s.Check(ctx, Token{ID: "t-" + id, SessionID: id, Subject: "alice", IssuedAt: now}), "a token of "+id)
		}
		wantGood(t, s.Check(ctx, Token{ID: "t", SessionID: "sid-other", Subject: "alice", IssuedAt: now}), "a session not in the list")
	})
}

func TestCutOffSplitsTokensAtTheMicrosecond(t *testing.T) {
	forEachSetup(t, func(t *testing.T, su setup) {
		ctx := context.Background()
		cut := time.Date(2026, 11, 22, 10, 0, 0, 500_000_000, time.UTC)
		s := su.store(t, func() time.Time { return cut })
		if err := s.CutOff(ctx, "alice", cut, testLifetime); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name     string
			issued   time.Time
			subject  string
			wantGood bool
		}{
			{"a token issued a second before the cut-off is dead", cut.Add(-time.Second), "alice", false},
			{"a token issued a microsecond before the cut-off is dead", cut.Add(-time.Microsecond), "alice", false},
			{"a token issued at the cut-off is dead", cut, "alice", false},
			{"a token issued a microsecond after, in the same second, works", cut.Add(time.Microsecond), "alice", true},
			{"a token that only knows its second, the cut-off's second, is dead", cut.Truncate(time.Second), "alice", false},
			{"a token that does not say when it was issued is dead", time.Time{}, "alice", false},
			{"a token issued the next second works", cut.Truncate(time.Second).Add(time.Second), "alice", true},
			{"another user's old token works", cut.Add(-time.Hour), "bob", true},
		}
		for _, c := range cases {
			err := s.Check(ctx, Token{ID: "x", Subject: c.subject, IssuedAt: c.issued})
			if c.wantGood {
				wantGood(t, err, c.name)
			} else {
				wantRevoked(t, err, c.name)
			}
		}
	})
}

func TestCutOffNeverMovesBack(t *testing.T) {
	forEachSetup(t, func(t *testing.T, su setup) {
		rdb := su.rdb
		ctx := context.Background()
		now := time.Now()
		s := su.store(t, func() time.Time { return now })
		later, earlier := now, now.Add(-time.Minute)
		if err := s.CutOff(ctx, "alice", later, testLifetime); err != nil {
			t.Fatal(err)
		}
		if err := s.CutOff(ctx, "alice", earlier, testLifetime); err != nil {
			t.Fatal(err)
		}
		wantRevoked(t, s.Check(ctx, Token{ID: "x", Subject: "alice", IssuedAt: now.Add(-time.Second)}),
			"token issued between the two cut-offs: the later one must stand")
		ttl, err := rdb.PTTL(ctx, s.keys.Entry(keyspace.KindCutOff, "alice")).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= 0 {
			t.Errorf("cut-off TTL = %v, want a positive TTL", ttl)
		}
	})
}

func TestEveryKeyHasATTL(t *testing.T) {
	forEachSetup(t, func(t *testing.T, su setup) {
		rdb := su.rdb
		ctx := context.Background()
		now := time.Now()
		s := su.store(t, func() time.Time { return now })
		if err := s.RevokeToken(ctx, "j", now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeSession(ctx, "s"); err != nil {
			t.Fatal(err)
		}
		if err := s.CutOff(ctx, "u", now, testLifetime); err != nil {
			t.Fatal(err)
		}
		keys, err := rdb.Keys(ctx, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		entries := 0
		for _, k := range keys {
			if !strings.HasSuffix(k, ":log") {
				entries++
			}
		}
		if entries != 3 {
			t.Fatalf("keys = %v, want 3 entries (and their shards' logs)", keys)
		}
		for _, k := range keys {
			if !strings.HasPrefix(k, "tg:{") {
				t.Errorf("key %q does not start with the prefix and a hash tag", k)
			}
			ttl, err := rdb.PTTL(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			if ttl <= 0 {
				t.Errorf("key %q has TTL %v, want a positive TTL", k, ttl)
			}
		}
	})
}

// TestARevocationByIDNeverOutlivesTheTokens: an exp later than any token
// tokenguard accepts can have (an admin's typo, a forged far-future token)
// is taken as the latest one can, so that no entry lives on for centuries.
func TestARevocationByIDNeverOutlivesTheTokens(t *testing.T) {
	forEachSetup(t, func(t *testing.T, su setup) {
		ctx := context.Background()
		now := time.Now()
		s := su.store(t, func() time.Time { return now })
		if err := s.RevokeToken(ctx, "far", time.Unix(99999999999, 0)); err != nil {
			t.Fatal(err)
		}
		wantRevoked(t, s.Check(ctx, Token{ID: "far"}), "a token revoked with a far-future exp")
		ttl, err := su.rdb.PTTL(ctx, s.keys.Entry(keyspace.KindRevokedToken, "far")).Result()
		if err != nil {
			t.Fatal(err)
		}
		// The latest exp a token can have, plus the leeway; a second for
		// the rounding up to whole seconds.
		if limit := testLifetime + 2*testLeeway + time.Second; ttl <= 0 || ttl > limit {
			t.Errorf("TTL of a revocation with exp in the year 5138 = %v, want at most %v", ttl, limit)
		}
	})
}

// TestNoEntryOutlivesTheLongestLivedToken: a trusted issuer's entries are
// kept as long as its tokens live, and none longer than the longest-lived
// token tokenguard accepts.
func TestNoEntryOutlivesTheLongestLivedToken(t *testing.T) {
	const trustedLife = 2 * time.Hour
	forEachSetup(t, func(t *testing.T, su setup) {
		ctx := context.Background()
		now := time.Now()
		s := startStore(t, su.rdb, Config{Mode: su.mode, Clock: func() time.Time { return now }, LongestTokenLifetime: trustedLife})
		for name, write := range map[string]func() error{
			"a revocation with a far-future exp": func() error { return s.RevokeToken(ctx, "far", now.AddDate(300, 0, 0)) },
			"a session of a trusted issuer":      func() error { return s.EndSession(ctx, "theirs", trustedLife) },
			"a session claiming a longer life":   func() error { return s.EndSession(ctx, "longer", 100*time.Hour) },
			"a cut-off claiming a longer life":   func() error { return s.CutOff(ctx, "u-longer", now, 100*time.Hour) },
			"a ban of a trusted issuer's user":   func() error { return s.Ban(ctx, "b-theirs", Ban{}, trustedLife) },
			"our session":                        func() error { return s.RevokeSession(ctx, "ours") },
		} {
			if err := write(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		for _, life := range []time.Duration{0, -time.Second} {
			if err := s.CutOff(ctx, "u-none", now, life); err == nil {
				t.Errorf("CutOff with lifetime %v = nil, want an error (the entry would not last)", life)
			}
			if err := s.EndSession(ctx, "s-none", life); err == nil {
				t.Errorf("EndSession with lifetime %v = nil, want an error", life)
			}
		}
		hold := trustedLife + testLeeway
		for _, c := range []struct {
			kind    byte
			id      string
			want    time.Duration // -1: no TTL
			maxSkew time.Duration
		}{
			{keyspace.KindRevokedToken, "far", hold + testLeeway, time.Second},
			{keyspace.KindEndedSession, "theirs", hold, time.Second},
			{keyspace.KindEndedSession, "longer", hold, time.Second},
			{keyspace.KindCutOff, "u-longer", hold, time.Second},
			{keyspace.KindCutOff, "b-theirs", hold, time.Second},
			{keyspace.KindBan, "b-theirs", -1, 0},
			{keyspace.KindEndedSession, "ours", testLifetime + testLeeway, time.Second},
		} {
			key := s.keys.Entry(c.kind, c.id)
			ttl, err := su.rdb.PTTL(ctx, key).Result()
			if err != nil {
				t.Fatal(err)
			}
			if c.want == -1 {
				if ttl != -1 { // go-redis reports "no TTL" as -1
					t.Errorf("%s: TTL %v, want none (an indefinite ban)", key, ttl)
				}
				continue
			}
			if d := ttl - c.want; d > c.maxSkew || d < -c.maxSkew {
				t.Errorf("%s: TTL %v, want %v", key, ttl, c.want)
			}
		}
		for _, id := range []string{"u-none", "s-none"} {
			for _, kind := range []byte{keyspace.KindCutOff, keyspace.KindEndedSession} {
				if n, err := su.rdb.Exists(ctx, s.keys.Entry(kind, id)).Result(); err != nil || n != 0 {
					t.Errorf("%c:%s written without a lifetime (exists %d, %v)", kind, id, n, err)
				}
			}
		}
	})
}

func TestUnreachableStoreRefusesAndDoesNotAcknowledge(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	s := New(rdb, Config{Prefix: "tg:", Leeway: testLeeway, MaxTokenLifetime: testLifetime, Mode: ModeStrict})
	ctx := context.Background()
	srv.Stop()

	if err := s.Check(ctx, Token{ID: "x", Subject: "alice", SessionID: "s", IssuedAt: time.Now()}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Check with Redis down = %v, want ErrUnavailable", err)
	}
	if err := s.RevokeToken(ctx, "x", time.Now().Add(time.Minute)); !errors.Is(err, ErrUnavailable) {
		t.Errorf("RevokeToken with Redis down = %v, want ErrUnavailable", err)
	}
	if err := s.CutOff(ctx, "alice", time.Now(), testLifetime); !errors.Is(err, ErrUnavailable) {
		t.Errorf("CutOff with Redis down = %v, want ErrUnavailable", err)
	}
	if err := s.Ready(ctx); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Ready with Redis down = %v, want ErrUnavailable", err)
	}

	srv.Restart()
	if err := s.Ready(ctx); err != nil {
		t.Errorf("Ready after restart = %v, want nil", err)
	}
	if err := s.RevokeToken(ctx, "x", time.Now().Add(time.Minute)); err != nil {
		t.Errorf("RevokeToken after restart = %v, want nil", err)
	}
}

func TestMalformedCutOffValueIsNotTrusted(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	s := New(rdb, Config{Prefix: "tg:", Mode: ModeStrict})
	if err := m.Set(s.keys.Entry(keyspace.KindCutOff, "alice"), "not-a-number"); err != nil {
		t.Fatal(err)
	}
	err := s.Check(context.Background(), Token{ID: "x", Subject: "alice", IssuedAt: time.Now()})
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("Check with a foreign cut-off value = %v, want ErrUnavailable (refuse, never guess)", err)
	}
}

func TestBanRefusesTheUserAndCutsOffEveryEarlierToken(t *testing.T) {
	forEachSetup(t, func(t *testing.T, su setup) {
		rdb := su.rdb
		ctx := context.Background()
		now := time.Now()
		clock := &testClock{}
		s := su.store(t, clock.Now)
		old := Token{ID: "old", SessionID: "s1", Subject: "mallory", IssuedAt: now.Add(-time.Minute)}

		if err := s.Ban(ctx, "mallory", Ban{Until: now.Add(time.Hour), Reason: "spam", By: "admin"}, testLifetime); err != nil {
			t.Fatalf("Ban: %v", err)
		}
		if err := s.Check(ctx, old); !errors.Is(err, ErrBanned) {
			t.Errorf("Check of a banned user's token = %v, want ErrBanned", err)
		}
		if err := s.Check(ctx, Token{ID: "x", Subject: "alice", IssuedAt: now}); err != nil {
			t.Errorf("Check of another user = %v, want nil", err)
		}
		b, ok, err := s.BanOf(ctx, "mallory")
		if err != nil || !ok {
			t.Fatalf("BanOf = %v, %v, %v; want the ban", b, ok, err)
		}
		if b.Reason != "spam" || b.By != "admin" || b.Until.Sub(now.Add(time.Hour)).Abs() > time.Millisecond {
			t.Errorf("BanOf = %+v, want reason spam, by admin, until in an hour", b)
		}
		ttl := rdb.PTTL(ctx, s.keys.Entry(keyspace.KindBan, "mallory")).Val()
		if ttl <= 0 || ttl > time.Hour {
			t.Errorf("ban key TTL = %v, want (0, 1h]: a ban with a duration lapses by itself", ttl)
		}

		if err := s.Unban(ctx, "mallory"); err != nil {
			t.Fatalf("Unban: %v", err)
		}
		wantRevoked(t, s.Check(ctx, old), "a token cut off by the ban stays dead after the unban")
		wantGood(t, s.Check(ctx, Token{ID: "new", Subject: "mallory", IssuedAt: clock.Now().Add(time.Microsecond)}), "a token issued after the unban")
		if _, ok, _ := s.BanOf(ctx, "mallory"); ok {
			t.Errorf("BanOf after Unban still finds a ban")
		}
	})
}

func TestABanWithADurationLapsesByItself(t *testing.T) {
	forEachSetup(t, func(t *testing.T, su setup) {
		rdb, expire := su.rdb, su.expire
		ctx := context.Background()
		now := time.Now()
		clock := &testClock{}
		s := su.store(t, clock.Now)
		if err := s.Ban(ctx, "mallory", Ban{Until: now.Add(time.Hour)}, testLifetime); err != nil {
			t.Fatal(err)
		}
		fresh := Token{ID: "x", Subject: "mallory", IssuedAt: now.Add(2 * time.Hour)}
		if err := s.Check(ctx, fresh); !errors.Is(err, ErrBanned) {
			t.Fatalf("Check during the ban = %v, want ErrBanned", err)
		}
		// Past the ban's end the decision no longer counts it, even where
		// the key has not expired yet (a mirror, a slow expiry).
		clock.Advance(time.Hour + time.Second)
		awaitReady(t, s) // a mirror must first confirm it is current at the new time
		wantGood(t, s.Check(ctx, fresh), "a ban past its end")
		if expire != nil {
			expire(time.Hour + time.Second)
			if n := rdb.Exists(ctx, s.keys.Entry(keyspace.KindBan, "mallory")).Val(); n != 0 {
				t.Errorf("the ban key outlived its duration")
			}
		}
		if err := s.Ban(ctx, "mallory", Ban{Until: clock.Now().Add(-time.Second)}, testLifetime); err == nil {
			t.Errorf("Ban with an end in the past succeeded, want an error")
		}
	})
}

func TestEveryChangeIsAppendedToItsShardsLog(t *testing.T) {
	forEachSetup(t, func(t *testing.T, su setup) {
		rdb := su.rdb
		ctx := context.Background()
		now := time.Now()
		s := su.store(t, func() time.Time { return now })
		if err := s.Ban(ctx, "mallory", Ban{}, testLifetime); err != nil {
			t.Fatal(err)
		}
		msgs, err := rdb.XRange(ctx, s.keys.ChangeLog(keyspace.Shard("mallory")), "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 2 {
			t.Fatalf("log entries = %v, want 2 (the ban and its cut-off)", msgs)
		}
		if msgs[0].Values["t"] != "b" || msgs[1].Values["t"] != "u" || msgs[0].Values["id"] != "mallory" {
			t.Errorf("log entries = %v, want the ban then the cut-off of mallory", msgs)
		}
		if ttl := rdb.PTTL(ctx, s.keys.ChangeLog(keyspace.Shard("mallory"))).Val(); ttl <= 0 {
			t.Errorf("log TTL = %v, want positive", ttl)
		}
		// An indefinite ban is the one entry without a TTL (go-redis
		// reports "no expiry" as -1).
		if ttl := rdb.PTTL(ctx, s.keys.Entry(keyspace.KindBan, "mallory")).Val(); ttl != -1 {
			t.Errorf("indefinite ban TTL = %v, want none (-1)", ttl)
		}
	})
}

func TestATokenWithoutAnIDIsJudgedBySessionAndUserAndCannotBeRevokedByID(t *testing.T) {
	forEachSetup(t, func(t *testing.T, su setup) {
		ctx := context.Background()
		s := su.store(t, time.Now)
		if err := s.RevokeToken(ctx, "", time.Now().Add(time.Hour)); err == nil {
			t.Errorf("RevokeToken with an empty id succeeded, want an error")
		}
		if err := s.RevokeSession(ctx, "s1"); err != nil {
			t.Fatal(err)
		}
		wantRevoked(t, s.Check(ctx, Token{SessionID: "s1", Subject: "alice", IssuedAt: time.Now()}), "no id, ended session")
		wantGood(t, s.Check(ctx, Token{SessionID: "s2", Subject: "alice", IssuedAt: time.Now()}), "no id, live session")
	})
}

func TestStrictModeFailingOpenLetsTokensThroughWhileRedisIsDown(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	open := New(rdb, Config{Prefix: "tg:", Leeway: testLeeway, MaxTokenLifetime: testLifetime, Mode: ModeStrict, FailOpen: true})
	if err := open.RevokeToken(ctx, "dead", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	wantRevoked(t, open.Check(ctx, Token{ID: "dead"}), "while Redis answers, failing open changes nothing")
	srv.Stop()
	if err := open.Check(ctx, Token{ID: "dead"}); err != nil {
		t.Errorf("Check with Redis down, strict, on_store_failure open = %v, want nil (the operator chose availability)", err)
	}
	if err := open.RevokeToken(ctx, "x", time.Now().Add(time.Hour)); !errors.Is(err, ErrUnavailable) {
		t.Errorf("RevokeToken with Redis down = %v, want ErrUnavailable: failing open never acknowledges a revocation", err)
	}
}
