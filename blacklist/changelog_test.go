package blacklist

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/internal/keyspace"
	"github.com/tokenguard/tokenguard/internal/redistest"
)

// TestTheChangeLogKeepsOnlyItsWindowAndNumbersEveryEntry writes into one
// shard, moves Redis's clock past the log's window and writes again: the
// old entry leaves the log, the revocation it recorded stays (the key holds
// it for the token's lifetime), and the numbers go on from where they were.
func TestTheChangeLogKeepsOnlyItsWindowAndNumbersEveryEntry(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	s := strictStore(rdb)
	const sh = 5
	first, second, third := idIn(t, "first", sh), idIn(t, "second", sh), idIn(t, "third", sh)
	logKey := s.keys.ChangeLog(sh)

	start := time.Now()
	mr.SetTime(start)
	for _, id := range []string{first, second} {
		if err := s.RevokeToken(ctx, id, time.Now().Add(10*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	mr.SetTime(start.Add(ChangeLogWindow + time.Second))
	if err := s.RevokeToken(ctx, third, time.Now().Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}

	msgs, err := rdb.XRange(ctx, logKey, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, fmt.Sprintf("%v #%v", m.Values["id"], m.Values["n"]))
	}
	if want := []string{third + " #3"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("log entries = %v, want %v: the entries older than the window trimmed, the numbers going on", got, want)
	}
	for _, id := range []string{first, second, third} {
		wantRevoked(t, s.Check(ctx, Token{ID: id}), id+": the key keeps the revocation when its log entry is trimmed")
	}
	if ttl := rdb.PTTL(ctx, logKey).Val(); ttl < testLifetime {
		t.Errorf("log TTL = %v, want the entries' longest hold (%v): an idle log must not restart its numbers early", ttl, testLifetime+testLeeway)
	}
}

// freezer is a clock that can stop the store that reads it, as a stopped
// process, a starved one or a long pause would stop it, without closing its
// connection to Redis: while frozen, every call blocks.
type freezer struct {
	mu      sync.Mutex
	gate    chan struct{} // nil while running; closed to thaw
	blocked chan struct{} // told when a call blocks
}

func newFreezer() *freezer { return &freezer{blocked: make(chan struct{}, 1)} }

func (f *freezer) Now() time.Time {
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case f.blocked <- struct{}{}:
		default:
		}
		<-gate
	}
	return time.Now()
}

// freeze stops the store and waits until its follower is parked (the only
// caller of the clock while the test leaves the store alone).
func (f *freezer) freeze(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	f.gate = make(chan struct{})
	f.mu.Unlock()
	select {
	case <-f.blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("gave up waiting for the mirror's follower to stop")
	}
}

func (f *freezer) thaw() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.gate)
	f.gate = nil
}

// TestAFrozenMirrorReplaysTheLogOrReloadsWhenItWasTrimmedAndLosesNothing
// stops a mirror (its connection open), writes revocations through another
// instance meanwhile, and lets it go on. If the log still holds what it
// missed, it replays the log and does not reload; if the log was trimmed
// past it (as the window does once it passes), it sees the gap in the
// entries' numbers, reloads from a snapshot, and has every revocation.
func TestAFrozenMirrorReplaysTheLogOrReloadsWhenItWasTrimmedAndLosesNothing(t *testing.T) {
	for _, trimmed := range []bool{false, true} {
		name := "the log holds what it missed: it replays without reloading"
		if trimmed {
			name = "the log was trimmed past it: it reloads"
		}
		t.Run(name, func(t *testing.T) {
			srv := redistest.Start(t)
			rdb := srv.Client()
			ctx := context.Background()
			writer := strictStore(rdb)
			exp := time.Now().Add(10 * time.Minute)
			if err := writer.RevokeToken(ctx, "before", exp); err != nil {
				t.Fatal(err)
			}
			clock := newFreezer()
			m := startStore(t, rdb, Config{Mode: ModeMirror, Clock: clock.Now, SweepInterval: time.Hour})
			awaitCurrent(t, m, time.Now())
			before := m.Stats()

			clock.freeze(t)
			const missed = 200 // about 12 in each shard
			for i := range missed {
				if err := writer.RevokeToken(ctx, fmt.Sprintf("missed-%d", i), exp); err != nil {
					t.Fatal(err)
				}
			}
			if trimmed {
				for sh := range keyspace.Shards {
					// Keep each log's newest entry alone, as the window
					// leaves a log once the mirror paused past it.
					if err := rdb.XTrimMaxLen(ctx, m.keys.ChangeLog(sh), 1).Err(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if tokens, _, _, _ := m.mirror.Count(); tokens != 1 {
				t.Fatalf("the frozen mirror holds %d tokens, want 1: the test proves nothing if it read the new ones", tokens)
			}
			clock.thaw()

			awaitCurrent(t, m, time.Now())
			if trimmed {
				awaitTrue(t, "a reload", func() bool { return m.Stats().ResyncsFellBehind > before.ResyncsFellBehind })
				awaitCurrent(t, m, time.Now())
			}
			after := m.Stats()
			wantReloads := int64(0)
			if trimmed {
				wantReloads = 1
			}
			if got := after.ResyncsFellBehind - before.ResyncsFellBehind; got != wantReloads {
				t.Errorf("reloads for falling behind = %d, want %d", got, wantReloads)
			}
			if after.ResyncsAfterError != before.ResyncsAfterError {
				t.Errorf("reloads after an error %d → %d, want none: the connection stayed open", before.ResyncsAfterError, after.ResyncsAfterError)
			}
			lost := 0
			for i := range missed {
				if err := m.Check(ctx, Token{ID: fmt.Sprintf("missed-%d", i)}); !errors.Is(err, ErrRevoked) {
					lost++
				}
			}
			if lost != 0 {
				t.Errorf("%d of %d revocations written while the mirror was frozen are missing from it", lost, missed)
			}
			wantRevoked(t, m.Check(ctx, Token{ID: "before"}), "written before the freeze")
		})
	}
}

// TestEntriesWithoutANumberAreFollowedAsBefore writes a log entry as an
// older tokenguard did (no number) between numbered ones: a mirror applies
// it and goes on, taking the next number as its new reference.
func TestEntriesWithoutANumberAreFollowedAsBefore(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	ctx := context.Background()
	m := startStore(t, rdb, Config{Mode: ModeMirror})
	writer := strictStore(rdb)
	exp := time.Now().Add(10 * time.Minute)
	const sh = 2
	old := idIn(t, "old", sh)
	if err := writer.RevokeToken(ctx, idIn(t, "new", sh), exp); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, m.keys.Entry(keyspace.KindRevokedToken, old), "1", 10*time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: m.keys.ChangeLog(sh), Values: []string{"t", "j", "id", old, "v", fmt.Sprint(exp.Unix())}}).Err(); err != nil {
		t.Fatal(err)
	}
	last := idIn(t, "newer", sh)
	if err := writer.RevokeToken(ctx, last, exp); err != nil {
		t.Fatal(err)
	}
	awaitTrue(t, "the last revocation to arrive", func() bool { return errors.Is(m.Check(ctx, Token{ID: last}), ErrRevoked) })
	wantRevoked(t, m.Check(ctx, Token{ID: old}), "an entry an older tokenguard wrote")
	if st := m.Stats(); st.Resyncs != 0 {
		t.Errorf("resyncs = %d, want 0: an entry without a number is no gap", st.Resyncs)
	}
}

// TestALogThatExpiredWhileIdleStartsAgainWithoutAReload lets a shard's log
// expire (no write for its whole TTL) under a mirror that follows it: the
// next write starts a new log at number 1, which the mirror follows
// without reloading. A log that starts again sooner was lost with entries
// the mirror may not have read: it reloads.
func TestALogThatExpiredWhileIdleStartsAgainWithoutAReload(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	start := time.Now()
	mr.SetTime(start)
	m := startStore(t, rdb, Config{Mode: ModeMirror})
	writer := strictStore(rdb)
	const sh = 9
	logKey := m.keys.ChangeLog(sh)
	revoke := func(name string) string {
		t.Helper()
		id := idIn(t, name, sh)
		if err := writer.RevokeToken(ctx, id, time.Now().Add(10*time.Minute)); err != nil {
			t.Fatal(err)
		}
		awaitTrue(t, name+" to reach the mirror", func() bool { return errors.Is(m.Check(ctx, Token{ID: id}), ErrRevoked) })
		return id
	}
	revoke("first")

	// The log's whole TTL passes on Redis's clock without a write.
	idle := testLifetime + testLeeway + time.Second
	mr.SetTime(start.Add(idle))
	mr.FastForward(idle)
	if n := rdb.Exists(ctx, logKey).Val(); n != 0 {
		t.Fatalf("the idle log still exists: the test proves nothing")
	}
	revoke("after-expiry")
	if msgs := rdb.XRange(ctx, logKey, "-", "+").Val(); len(msgs) != 1 || msgs[0].Values["n"] != "1" {
		t.Fatalf("new log = %v, want one entry numbered 1", msgs)
	}
	if st := m.Stats(); st.Resyncs != 0 {
		t.Errorf("resyncs after an expired log started again = %d, want 0", st.Resyncs)
	}

	// Lost a second after its last write: not an expiry.
	if err := rdb.Del(ctx, logKey).Err(); err != nil {
		t.Fatal(err)
	}
	mr.SetTime(start.Add(idle + time.Second))
	before := m.Stats()
	revoke("after-loss")
	awaitTrue(t, "a reload", func() bool { return m.Stats().ResyncsFellBehind > before.ResyncsFellBehind })
}
