package blacklist

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/redis/go-redis/v9"
	"github.com/tokenguard/tokenguard/internal/keyspace"
	"github.com/tokenguard/tokenguard/internal/redistest"
)

// Tests of the feed's bookkeeping (feed.go) and of the mirror strict mode
// keeps for it; the stream end to end is tested through handlers and the
// served binary.

func TestFeedResumesWithinItsBacklogAndNotBeyond(t *testing.T) {
	f := newFeed(3, 8)
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		f.publish(Change{Kind: ChangeToken, ID: id})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	cases := []struct {
		name     string
		position string
		want     bool
	}{
		{"the latest position resumes", f.position(5), true},
		{"a position the backlog still follows resumes", f.position(2), true},
		{"a position older than the backlog does not", f.position(1), false},
		{"a position ahead of the feed does not", f.position(6), false},
		{"another epoch's position does not", "other-4", false},
		{"garbage does not", "garbage", false},
		{"no position does not", "", false},
	}
	for _, c := range cases {
		if _, got := f.resumable(c.position); got != c.want {
			t.Errorf("%s: resumable(%q) = %v, want %v", c.name, c.position, got, c.want)
		}
	}
}

func TestFeedDropsASubscriberWhoseBufferIsFullAndKeepsTheOthers(t *testing.T) {
	f := newFeed(16, 2)
	slow := &Subscription{f: f, ch: make(chan *Event, 2), done: make(chan struct{})}
	fast := &Subscription{f: f, ch: make(chan *Event, 8), done: make(chan struct{})}
	f.subs[slow], f.subs[fast] = struct{}{}, struct{}{}
	for _, id := range []string{"a", "b", "c"} {
		f.publish(Change{Kind: ChangeToken, ID: id})
	}
	if err := slow.Err(); !errors.Is(err, ErrTooSlow) {
		t.Errorf("the slow subscriber's error = %v, want ErrTooSlow", err)
	}
	select {
	case <-slow.Done():
	default:
		t.Errorf("the slow subscriber's Done is open, want it closed")
	}
	n := 0
	for range slow.ch {
		n++
	}
	if n != 2 {
		t.Errorf("the slow subscriber got %d events before its channel closed, want its 2 buffered", n)
	}
	if len(fast.ch) != 3 || f.subscribers() != 1 {
		t.Errorf("the other subscriber holds %d events, %d subscribers left; want 3 and 1", len(fast.ch), f.subscribers())
	}
}

func TestFeedResetEndsEverySubscriptionAndForgetsOldPositions(t *testing.T) {
	f := newFeed(16, 8)
	f.publish(Change{Kind: ChangeToken, ID: "a"})
	old := f.position(1)
	sub := &Subscription{f: f, ch: make(chan *Event, 8), done: make(chan struct{})}
	f.subs[sub] = struct{}{}
	f.reset()
	if err := sub.Err(); !errors.Is(err, ErrResync) {
		t.Errorf("after a reset the subscription's error = %v, want ErrResync", err)
	}
	f.mu.Lock()
	_, ok := f.resumable(old)
	f.mu.Unlock()
	if ok {
		t.Errorf("position %q resumes after a reset, want a fresh snapshot", old)
	}
	sub.Close() // after the reset ended it: no double close
}

func TestStrictModeWithTheFeedChecksRedisAndFeedsFromItsOwnMirror(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	ctx := context.Background()
	s := startStore(t, rdb, Config{Mode: ModeStrict, Feed: true})
	var sub *Subscription
	awaitTrue(t, "the feed's mirror to load", func() bool {
		var err error
		sub, err = s.Subscribe("")
		return err == nil
	})
	defer sub.Close()

	// A revocation the change log never saw: only a check that reads
	// Redis can know it.
	key := s.keys.Entry(keyspace.KindRevokedToken, "beside-the-log")
	if err := rdb.Set(ctx, key, "1", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	wantRevoked(t, s.Check(ctx, Token{ID: "beside-the-log"}), "strict mode reads Redis even with a mirror for the feed")
	if got := s.StaleShards(); got != nil {
		t.Errorf("StaleShards = %v, want none: strict checks never read the mirror", got)
	}

	// Another instance's revocation reaches the subscriber through the log.
	if err := strictStore(rdb).RevokeToken(ctx, "elsewhere", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-sub.C:
		if ev.Kind != ChangeToken || ev.ID != "elsewhere" || ev.Position == "" {
			t.Errorf("live event = %+v, want token elsewhere with a position", ev)
		}
	case <-time.After(10 * time.Second): // a bound on a broken feed
		t.Fatal("no live event within 10s")
	}
	if st := s.Stats(); !st.Mirror || st.FeedSubscribers != 1 {
		t.Errorf("Stats = mirror %v, %d subscribers; want the feed's mirror and 1", st.Mirror, st.FeedSubscribers)
	}
}

func TestStrictModeReadinessIgnoresTheFeedsMirror(t *testing.T) {
	srv := redistest.Start(t)
	// Never run: its mirror never loads.
	s := New(srv.Client(), Config{Prefix: "tg:", Leeway: testLeeway, MaxTokenLifetime: testLifetime, Mode: ModeStrict, Feed: true})
	if err := s.Ready(context.Background()); err != nil {
		t.Errorf("Ready = %v, want nil: strict readiness is Redis answering", err)
	}
	if _, err := s.Subscribe(""); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Subscribe before the mirror loaded = %v, want ErrUnavailable", err)
	}
}

func TestStrictModeWithoutTheFeedKeepsNoMirror(t *testing.T) {
	s := strictStore(nil)
	if _, err := s.Subscribe(""); !errors.Is(err, ErrNoFeed) {
		t.Errorf("Subscribe = %v, want ErrNoFeed", err)
	}
	if st := s.Stats(); st.Mirror {
		t.Errorf("Stats = %+v, want no mirror", st)
	}
}

func TestAnEventIsEncodedOnceForEverySubscriber(t *testing.T) {
	f := newFeed(16, 8)
	a := &Subscription{f: f, ch: make(chan *Event, 8), done: make(chan struct{})}
	b := &Subscription{f: f, ch: make(chan *Event, 8), done: make(chan struct{})}
	f.subs[a], f.subs[b] = struct{}{}, struct{}{}
	f.publish(Change{Kind: ChangeToken, ID: "a"})
	calls := 0
	encode := func(ev Event) []byte {
		calls++
		return []byte(ev.Position + " " + ev.ID)
	}
	got := []string{string((<-a.ch).Encoded(encode)), string((<-b.ch).Encoded(encode)), string(f.backlog[1].Encoded(encode))}
	want := f.position(1) + " a"
	for _, g := range got {
		if g != want {
			t.Errorf("Encoded = %q, want %q", g, want)
		}
	}
	if calls != 1 {
		t.Errorf("encode ran %d times for one event sent to two subscribers and kept in the backlog, want 1", calls)
	}
}

// TestTheFeedIsNotCurrentWhileItsMirrorIsStale: in either mode, while a
// shard of the feed's mirror is past max_staleness (Redis gone), the feed
// is not current (its handler then refuses new subscribers and sends no
// heartbeat); once Redis is back and the mirror has reloaded, it is.
func TestTheFeedIsNotCurrentWhileItsMirrorIsStale(t *testing.T) {
	for _, mode := range []Mode{ModeMirror, ModeStrict} {
		t.Run(string(mode), func(t *testing.T) {
			srv := redistest.Start(t)
			rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
			t.Cleanup(func() { _ = rdb.Close() })
			clock := &testClock{}
			s := startStore(t, rdb, Config{Mode: mode, Feed: true, Clock: clock.Now, MaxStaleness: 5 * time.Second})
			awaitTrue(t, "the feed's mirror to load", func() bool {
				sub, err := s.Subscribe("")
				if err == nil {
					sub.Close()
				}
				return err == nil
			})
			if !s.FeedCurrent() {
				t.Fatal("FeedCurrent = false with a loaded mirror and Redis up")
			}
			srv.Stop()
			clock.Advance(6 * time.Second)
			if s.FeedCurrent() {
				t.Error("FeedCurrent = true past max_staleness with Redis down")
			}
			srv.Restart()
			awaitTrue(t, "the feed to be current again once Redis is back", s.FeedCurrent)
		})
	}
}

// TestTheFeedSpellsEveryKindOfEntryAndItsSnapshotSpellsThemAlike: each kind
// of change another instance logs reaches a subscriber as its Change (a
// cut-off held for the longest token life plus the leeway, a ban with its
// bounds, an unban), and a snapshot taken afterwards spells the live
// entries exactly as the live events did.
func TestTheFeedSpellsEveryKindOfEntryAndItsSnapshotSpellsThemAlike(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	ctx := context.Background()
	s := startStore(t, rdb, Config{Mode: ModeMirror})
	sub, err := s.Subscribe("")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	writer := strictStore(rdb)
	now := time.Now().UTC()
	exp := now.Truncate(time.Second).Add(10 * time.Minute) // a whole second: the entry's expiry, rounded up, is exact
	at := now.Add(-time.Second)
	ban := Ban{At: at, Until: at.Add(time.Hour)}
	for _, write := range []func() error{
		func() error { return writer.RevokeToken(ctx, "tok", exp) },
		func() error { return writer.EndSession(ctx, "sid", time.Minute) },
		func() error { return writer.CutOff(ctx, "carol", at, time.Minute) },
		func() error { return writer.Ban(ctx, "mallory", ban, time.Minute) },
		func() error { return writer.Unban(ctx, "mallory") },
	} {
		if err := write(); err != nil {
			t.Fatal(err)
		}
	}
	var live []Change
	for len(live) < 6 {
		select {
		case ev := <-sub.C:
			live = append(live, ev.Change)
		case <-time.After(10 * time.Second): // a bound on a broken feed
			t.Fatalf("live changes = %+v after 10s, want 6", live)
		}
	}
	hold := s.longest + s.leeway
	cutAt := at.Truncate(time.Microsecond)
	want := []Change{
		{Kind: ChangeToken, ID: "tok", Until: exp.Add(s.leeway)},
		{Kind: ChangeSession, ID: "sid", Until: live[1].Until},
		{Kind: ChangeCutOff, ID: "carol", At: cutAt, Until: cutAt.Add(hold)},
		{Kind: ChangeBan, ID: "mallory", At: ban.At, Until: ban.Until},
		{Kind: ChangeCutOff, ID: "mallory", At: live[4].At, Until: live[4].At.Add(hold)},
		{Kind: ChangeUnban, ID: "mallory"},
	}
	if diff := cmp.Diff(live, want); diff != "" {
		t.Errorf("live changes (-got +want):\n%s", diff)
	}
	if live[1].Until.Before(now) || live[4].At.Before(now) {
		t.Errorf("session until %v, ban's cut-off at %v; want both after %v", live[1].Until, live[4].At, now)
	}

	fresh, err := s.Subscribe("")
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	byID := func(a, b Change) bool { return a.ID < b.ID }
	wantSnapshot := []Change{live[0], live[1], live[2], live[4]} // the ban was lifted
	if diff := cmp.Diff(fresh.Snapshot, wantSnapshot, cmpopts.SortSlices(byID)); diff != "" {
		t.Errorf("snapshot (-got +want):\n%s", diff)
	}
}
