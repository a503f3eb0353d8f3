package blacklist

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

func TestCheckSaysWhichRevocationRefusedTheToken(t *testing.T) {
	forEachSetup(t, func(t *testing.T, su setup) {
		s := su.store(t, nil)
		ctx := context.Background()
		now := time.Now()
		if err := s.RevokeToken(ctx, "j1", now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeSession(ctx, "s1"); err != nil {
			t.Fatal(err)
		}
		if err := s.CutOff(ctx, "carol", now, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := s.Ban(ctx, "mallory", Ban{}, time.Minute); err != nil {
			t.Fatal(err)
		}
		issued := now.Add(-time.Second)
		for _, c := range []struct {
			name    string
			tok     Token
			want    error
			wantMsg string
		}{
			{"a revoked token is told by ErrTokenRevoked", Token{ID: "j1"}, ErrTokenRevoked, "token revoked: the token was revoked"},
			{"an ended session is told by ErrSessionEnded", Token{ID: "j2", SessionID: "s1"}, ErrSessionEnded, "token revoked: the session has ended"},
			{"a cut-off is told by ErrCutOff", Token{ID: "j3", Subject: "carol", IssuedAt: issued}, ErrCutOff, "token revoked: the user was logged out everywhere"},
			{"a ban is told by ErrBanned", Token{ID: "j4", Subject: "mallory", IssuedAt: issued}, ErrBanned, "user banned: the user is banned"},
		} {
			t.Run(c.name, func(t *testing.T) {
				err := s.Check(ctx, c.tok)
				if !errors.Is(err, c.want) {
					t.Fatalf("Check = %v, want %v", err, c.want)
				}
				if err.Error() != c.wantMsg {
					t.Errorf("Check's message = %q, want %q (unchanged from before the sentinels)", err.Error(), c.wantMsg)
				}
				kinds := 0
				for _, k := range []error{ErrTokenRevoked, ErrSessionEnded, ErrCutOff, ErrBanned} {
					if errors.Is(err, k) {
						kinds++
					}
				}
				if kinds != 1 {
					t.Errorf("Check = %v matches %d of the four kinds, want exactly one", err, kinds)
				}
				if c.want != ErrBanned && !errors.Is(err, ErrRevoked) {
					t.Errorf("Check = %v, want it to wrap ErrRevoked too", err)
				}
			})
		}
	})
}

func TestStatsCountEntriesByKindAndEveryShardsConfirmation(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	s := startStore(t, rdb, Config{Mode: ModeMirror})
	ctx := context.Background()
	now := time.Now()
	for _, id := range []string{"j1", "j2"} {
		if err := s.RevokeToken(ctx, id, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RevokeSession(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if err := s.CutOff(ctx, "carol", now, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Ban(ctx, "mallory", Ban{}, time.Minute); err != nil { // a ban and a cut-off
		t.Fatal(err)
	}

	st := s.Stats()
	got := [...]int{st.Tokens, st.Sessions, st.CutOffs, st.Bans, st.Entries}
	if want := [...]int{2, 1, 2, 1, 6}; got != want {
		t.Errorf("Stats tokens, sessions, cut-offs, bans, entries = %v, want %v", got, want)
	}
	if !st.Mirror {
		t.Error("Stats.Mirror = false for a mirror")
	}
	for i, c := range st.Shards {
		if c.IsZero() || c.After(st.At) {
			t.Errorf("shard %d confirmed at %v, want a time up to the stats' time %v", i, c, st.At)
		}
		if c.Before(st.Confirmed) {
			t.Errorf("shard %d confirmed at %v, before the oldest confirmation %v", i, c, st.Confirmed)
		}
	}
	if st.Resyncs != st.ResyncsAfterError+st.ResyncsFellBehind {
		t.Errorf("Resyncs = %d, want the sum of its causes %d + %d", st.Resyncs, st.ResyncsAfterError, st.ResyncsFellBehind)
	}

	if got := strictStore(rdb).Stats(); got != (Stats{}) {
		t.Errorf("Stats in strict mode = %+v, want zero", got)
	}
}

func TestOnAppliedIsToldHowLongAfterItsCommitEachChangeArrived(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	// This instance's clock runs an hour ahead of Redis's: every delay it
	// reports is at least that hour, and within a minute of it.
	clock := &testClock{}
	clock.Advance(time.Hour)
	delays := make(chan time.Duration, 16)
	startStore(t, rdb, Config{Mode: ModeMirror, Clock: clock.Now, OnApplied: func(d time.Duration) { delays <- d }})
	writer := strictStore(rdb)
	ctx := context.Background()
	if err := writer.RevokeToken(ctx, "j1", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := writer.Ban(ctx, "mallory", Ban{}, time.Minute); err != nil { // two log entries
		t.Fatal(err)
	}
	for i := range 3 {
		select {
		case d := <-delays:
			if d < time.Hour || d > time.Hour+time.Minute {
				t.Errorf("change %d: OnApplied delay = %v, want the clocks' hour apart plus the propagation", i, d)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("OnApplied was told of %d changes after 10s, want 3", i)
		}
	}
	select {
	case d := <-delays:
		t.Errorf("OnApplied told of a fourth change (%v); three were written", d)
	default:
	}
}

func TestSinceCommitReadsRedisClockFromTheStreamID(t *testing.T) {
	commit := time.UnixMilli(1_900_000_000_123)
	for _, c := range []struct {
		name string
		now  time.Time
		id   string
		want time.Duration
	}{
		{"a change is as old as the time since its id's milliseconds", commit.Add(250 * time.Millisecond), "1900000000123-0", 250 * time.Millisecond},
		{"the sequence part does not matter", commit.Add(time.Second), "1900000000123-42", time.Second},
		{"a commit in this clock's future counts as no delay", commit.Add(-time.Second), "1900000000123-0", 0},
		{"an id that is no stream id counts as no delay", commit, "not-an-id", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := New(nil, Config{Mode: ModeStrict, Clock: func() time.Time { return c.now }})
			if got := s.sinceCommit(c.id); got != c.want {
				t.Errorf("sinceCommit(%q) = %v, want %v", c.id, got, c.want)
			}
		})
	}
}
