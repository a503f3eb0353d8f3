package blacklist

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/blacklist/state"
	"github.com/tokenguard/tokenguard/internal/keyspace"
	"github.com/tokenguard/tokenguard/internal/redistest"
)

// awaitCurrent waits until s's mirror has confirmed that it holds every
// change written before after.
func awaitCurrent(t *testing.T, s *Store, after time.Time) {
	t.Helper()
	awaitTrue(t, "the mirror to catch up", func() bool { return s.Stats().Confirmed.After(after) })
}

// dump copies a mirror's state for comparison, keyed by kind and id.
func (m *mirror) dump() map[string]state.Entry {
	out := map[string]state.Entry{}
	m.Range(func(e state.Entry) { out[string(e.Kind)+":"+e.ID] = e })
	return out
}

func dumpDiff(a, b map[string]state.Entry) string {
	return cmp.Diff(a, b)
}

func strictStore(rdb redis.UniversalClient) *Store {
	return New(rdb, Config{Prefix: "tg:", Leeway: testLeeway, MaxTokenLifetime: testLifetime, Mode: ModeStrict})
}

func TestSnapshotAndLogLoseNothingThatRacesTheSnapshot(t *testing.T) {
	srv := redistest.Start(t)
	writer := strictStore(srv.Client())
	ctx := context.Background()
	exp := time.Now().Add(10 * time.Minute)

	// Writers run before, during and after the new instance loads.
	const perWriter, writers = 1500, 4
	started := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				if i == perWriter/3 && w == 0 {
					close(started)
				}
				if err := writer.RevokeToken(ctx, fmt.Sprintf("w%d-%d", w, i), exp); err != nil {
					t.Errorf("RevokeToken: %v", err)
					return
				}
			}
		}()
	}
	<-started
	m := startStore(t, srv.Client(), Config{Mode: ModeMirror})
	wg.Wait()
	awaitCurrent(t, m, time.Now())

	missing := 0
	for w := 0; w < writers; w++ {
		for i := 0; i < perWriter; i++ {
			if err := m.Check(ctx, Token{ID: fmt.Sprintf("w%d-%d", w, i)}); !errors.Is(err, ErrRevoked) {
				missing++
			}
		}
	}
	if missing != 0 {
		t.Errorf("%d of %d revocations written while the mirror loaded are missing from it", missing, writers*perWriter)
	}
	if got, want := m.Stats().Entries, writers*perWriter; got != want {
		t.Errorf("mirror entries = %d, want %d", got, want)
	}
}

// TestMirrorResyncsAfterNotReadingForLongerThanTheLogsWindow covers the
// logs that cannot show a gap (entries of an older tokenguard carry no
// number): a mirror that has not read for longer than the log's window
// reloads. TestAFrozenMirrorReplaysTheLogOrReloadsWhenItWasTrimmedAndLosesNothing
// covers the numbered entries.
func TestMirrorResyncsAfterNotReadingForLongerThanTheLogsWindow(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	ctx := context.Background()
	clock := &testClock{}
	m := startStore(t, rdb, Config{Mode: ModeMirror, Clock: clock.Now})

	// A change the log no longer holds: the key is there, its log entry
	// was trimmed away before this reader saw it.
	key := m.keys.Entry(keyspace.KindRevokedToken, "trimmed-away")
	if err := rdb.Set(ctx, key, time.Now().Add(time.Hour).Unix(), time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if err := m.Check(ctx, Token{ID: "trimmed-away"}); err != nil {
		t.Fatalf("Check before the resync = %v: the test proves nothing if the mirror already has it", err)
	}
	// Time passes beyond what the log keeps (its window) since the reader
	// last read: it must not trust the log and resync.
	before := m.Stats()
	clock.Advance(ChangeLogWindow + time.Minute)
	awaitTrue(t, "a resync", func() bool { return m.Stats().Resyncs > before.Resyncs })
	awaitReady(t, m)
	if after := m.Stats(); after.ResyncsFellBehind <= before.ResyncsFellBehind || after.ResyncsAfterError != before.ResyncsAfterError {
		t.Errorf("resyncs fell behind %d → %d, after an error %d → %d; want one more that fell behind and no error", before.ResyncsFellBehind, after.ResyncsFellBehind, before.ResyncsAfterError, after.ResyncsAfterError)
	}
	if err := m.Check(ctx, Token{ID: "trimmed-away"}); !errors.Is(err, ErrRevoked) {
		t.Errorf("Check after the resync = %v, want ErrRevoked (the snapshot holds it)", err)
	}
}

func TestMirrorResyncsAfterARedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	m := startStore(t, srv.Client(), Config{Mode: ModeMirror})
	writer := strictStore(srv.Client())
	ctx := context.Background()
	exp := time.Now().Add(10 * time.Minute)
	if err := writer.RevokeToken(ctx, "before", exp); err != nil {
		t.Fatal(err)
	}
	awaitTrue(t, "the first revocation to arrive", func() bool { return errors.Is(m.Check(ctx, Token{ID: "before"}), ErrRevoked) })

	before := m.Stats().Resyncs
	srv.Restart() // empty: the revocation above is gone from Redis
	if err := writer.RevokeToken(ctx, "after", exp); err != nil {
		t.Fatalf("RevokeToken after the restart: %v", err)
	}
	awaitTrue(t, "a resync", func() bool { return m.Stats().ResyncsAfterError > 0 && m.Stats().Resyncs > before })
	awaitCurrent(t, m, time.Now())
	if err := m.Check(ctx, Token{ID: "after"}); !errors.Is(err, ErrRevoked) {
		t.Errorf("Check of a revocation written after the restart = %v, want ErrRevoked", err)
	}
	if err := m.Check(ctx, Token{ID: "before"}); err != nil {
		t.Errorf("Check of a revocation Redis lost = %v, want nil: the mirror follows Redis, as a new instance would", err)
	}
}

func TestExpiredEntriesLeaveMemory(t *testing.T) {
	srv := redistest.Start(t)
	clock := &testClock{}
	m := startStore(t, srv.Client(), Config{Mode: ModeMirror, Clock: clock.Now, SweepInterval: 10 * time.Millisecond})
	ctx := context.Background()
	if err := m.RevokeToken(ctx, "short", clock.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// The latest exp a token the store must know of can have.
	if err := m.RevokeToken(ctx, "long", clock.Now().Add(testLifetime+testLeeway)); err != nil {
		t.Fatal(err)
	}
	if err := m.RevokeSession(ctx, "sess"); err != nil {
		t.Fatal(err)
	}
	if err := m.Ban(ctx, "mallory", Ban{Until: clock.Now().Add(2 * time.Minute)}, testLifetime); err != nil {
		t.Fatal(err)
	}
	// token, token, session, ban, cut-off
	if got := m.Stats().Entries; got != 5 {
		t.Fatalf("entries = %d, want 5", got)
	}
	clock.Advance(time.Minute + testLeeway + 2*time.Second)
	awaitTrue(t, "the short token's entry to be swept", func() bool { return m.Stats().Entries == 4 })
	// Past the session and cut-off entries' hold (the lifetime and the
	// leeway), before the long token's end (a leeway later).
	clock.Advance(testLifetime - time.Minute + 5*time.Second)
	awaitTrue(t, "the session, ban and cut-off entries to be swept", func() bool { return m.Stats().Entries == 1 })
	awaitReady(t, m)
	if err := m.Check(ctx, Token{ID: "long"}); !errors.Is(err, ErrRevoked) {
		t.Errorf("the live revocation was swept too: Check = %v", err)
	}
}

func TestTheRevokingInstanceRefusesAtOnceWithoutTheLog(t *testing.T) {
	srv := redistest.Start(t)
	s := New(srv.Client(), Config{Prefix: "tg:", Leeway: testLeeway, MaxTokenLifetime: testLifetime, Mode: ModeMirror})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	awaitReady(t, s)
	// Stop following the log: whatever the mirror learns now, it learns
	// from its own writes.
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	bg := context.Background()
	if err := s.RevokeToken(bg, "mine", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(bg, Token{ID: "mine"}); !errors.Is(err, ErrRevoked) {
		t.Errorf("Check right after our own revocation = %v, want ErrRevoked", err)
	}
	if err := s.Ban(bg, "mallory", Ban{}, testLifetime); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(bg, Token{ID: "x", Subject: "mallory", IssuedAt: time.Now().Add(time.Hour)}); !errors.Is(err, ErrBanned) {
		t.Errorf("Check right after our own ban = %v, want ErrBanned", err)
	}
	if err := s.Unban(bg, "mallory"); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(bg, Token{ID: "x", Subject: "mallory", IssuedAt: time.Now().Add(time.Hour)}); err != nil {
		t.Errorf("Check right after our own unban = %v, want nil", err)
	}
}

// randomOps applies a random sequence of every kind of change through
// writers picked at random, and returns the tokens to ask about.
func randomOps(t *testing.T, rng *rand.Rand, writers []*Store, n int) []Token {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	subjects := []string{"alice", "bob", "carol", "dave"}
	var probes []Token
	for i := 0; i < n; i++ {
		w := writers[rng.IntN(len(writers))]
		sub := subjects[rng.IntN(len(subjects))]
		id := fmt.Sprintf("t%d", rng.IntN(n))
		sid := fmt.Sprintf("s%d", rng.IntN(n/4+1))
		var err error
		switch rng.IntN(6) {
		case 0, 1:
			err = w.RevokeToken(ctx, id, now.Add(time.Duration(rng.IntN(600))*time.Second))
		case 2:
			err = w.RevokeSession(ctx, sid)
		case 3:
			err = w.CutOff(ctx, sub, now.Add(-time.Duration(rng.IntN(60))*time.Second), testLifetime)
		case 4:
			var until time.Time
			if rng.IntN(2) == 0 {
				until = now.Add(time.Hour)
			}
			err = w.Ban(ctx, sub, Ban{Until: until, Reason: "r"}, testLifetime)
		case 5:
			err = w.Unban(ctx, sub)
		}
		if err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
		probes = append(probes, Token{ID: id, SessionID: sid, Subject: sub, IssuedAt: now.Add(-time.Duration(rng.IntN(120)) * time.Second)})
	}
	return probes
}

func verdict(err error) string {
	switch {
	case err == nil:
		return "good"
	case errors.Is(err, ErrBanned):
		return "banned"
	case errors.Is(err, ErrRevoked):
		return "revoked"
	}
	return "error: " + err.Error()
}

func TestTwoInstancesConvergeAndAgreeWithStrictMode(t *testing.T) {
	srv := redistest.Start(t)
	a := startStore(t, srv.Client(), Config{Mode: ModeMirror})
	b := startStore(t, srv.Client(), Config{Mode: ModeMirror})
	strict := strictStore(srv.Client())
	rng := rand.New(rand.NewPCG(1, 2))
	probes := randomOps(t, rng, []*Store{a, b}, 600)

	written := time.Now()
	awaitCurrent(t, a, written)
	awaitCurrent(t, b, written)
	if d := dumpDiff(a.mirror.dump(), b.mirror.dump()); d != "" {
		t.Errorf("the two mirrors differ after both caught up (-a +b):\n%s", d)
	}
	ctx := context.Background()
	disagree := 0
	for _, p := range probes {
		want := verdict(strict.Check(ctx, p))
		for name, s := range map[string]*Store{"a": a, "b": b} {
			if got := verdict(s.Check(ctx, p)); got != want {
				disagree++
				if disagree < 5 {
					t.Errorf("mirror %s says %s for %+v, strict mode says %s", name, got, p, want)
				}
			}
		}
	}
	if disagree != 0 {
		t.Errorf("%d of %d answers differ between mirror and strict mode", disagree, 2*len(probes))
	}
}

func TestStaleMirrorFailsClosedOrOpenAsConfigured(t *testing.T) {
	for _, open := range []bool{false, true} {
		t.Run(fmt.Sprintf("on_store_failure open=%v", open), func(t *testing.T) {
			srv := redistest.Start(t)
			rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
			t.Cleanup(func() { _ = rdb.Close() })
			clock := &testClock{}
			s := startStore(t, rdb, Config{Mode: ModeMirror, Clock: clock.Now, MaxStaleness: 5 * time.Second, FailOpen: open})
			ctx := context.Background()
			if err := s.RevokeToken(ctx, "dead", clock.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			srv.Stop()
			// Within the staleness bound the mirror still answers.
			if err := s.Check(ctx, Token{ID: "dead"}); !errors.Is(err, ErrRevoked) {
				t.Errorf("Check within the bound = %v, want ErrRevoked", err)
			}
			clock.Advance(6 * time.Second)
			errDead, errLive := s.Check(ctx, Token{ID: "dead"}), s.Check(ctx, Token{ID: "live"})
			readyErr := s.Ready(ctx)
			if open {
				if !errors.Is(errDead, ErrRevoked) || errLive != nil {
					t.Errorf("stale, failing open: Check = %v / %v, want ErrRevoked / nil from the stale mirror", errDead, errLive)
				}
				if readyErr != nil {
					t.Errorf("Ready when failing open = %v, want nil (the operator chose availability)", readyErr)
				}
			} else {
				if !errors.Is(errDead, ErrUnavailable) || !errors.Is(errLive, ErrUnavailable) {
					t.Errorf("stale, failing closed: Check = %v / %v, want ErrUnavailable for both", errDead, errLive)
				}
				if !errors.Is(readyErr, ErrUnavailable) {
					t.Errorf("Ready when stale = %v, want ErrUnavailable", readyErr)
				}
			}
			if err := s.RevokeToken(ctx, "while-down", clock.Now().Add(time.Hour)); !errors.Is(err, ErrUnavailable) {
				t.Errorf("RevokeToken with Redis down = %v, want ErrUnavailable (never acknowledged)", err)
			}
			if err := s.Check(ctx, Token{ID: "while-down"}); errors.Is(err, ErrRevoked) {
				t.Errorf("an unacknowledged revocation reached the mirror")
			}

			srv.Restart()
			awaitReady(t, s)
			if err := s.Check(ctx, Token{ID: "live"}); err != nil {
				t.Errorf("Check after Redis came back = %v, want nil", err)
			}
		})
	}
}

func TestParseModeRefusesAModeWithoutACheck(t *testing.T) {
	for _, m := range []string{"off", "none", "", "Mirror"} {
		if got, err := ParseMode(m); err == nil {
			t.Errorf("ParseMode(%q) = %q, nil; want an error: every mode checks revocations", m, got)
		}
	}
	for _, m := range []string{"mirror", "strict"} {
		if _, err := ParseMode(m); err != nil {
			t.Errorf("ParseMode(%s) = %v", m, err)
		}
	}
}

func TestSnapshotSkipsForeignKeysThatMatchThePattern(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	ctx := context.Background()
	// Keys of other types and shapes under our prefix, as another package
	// or an operator might leave them.
	if err := rdb.ZAdd(ctx, "tg:{3}:x:not-a-string", redis.Z{Score: 1, Member: "m"}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: "tg:{4}:j:a-stream", Values: []string{"a", "b"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, "tg:{5}:u:bad-cut-off", "yesterday", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	writer := strictStore(rdb)
	if err := writer.RevokeToken(ctx, "real", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	m := startStore(t, rdb, Config{Mode: ModeMirror})
	if err := m.Check(ctx, Token{ID: "real"}); !errors.Is(err, ErrRevoked) {
		t.Errorf("Check = %v, want ErrRevoked: the snapshot must load around foreign keys", err)
	}
}
