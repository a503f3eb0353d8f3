package audit

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/internal/keyspace"
	"github.com/tokenguard/tokenguard/internal/redistest"
)

// record writes events for alternating users and returns them newest first.
func record(t *testing.T, l *Log, n int) []Event {
	t.Helper()
	var out []Event
	for i := range n {
		sub := []string{"alice", "bob"}[i%2]
		e := Event{Type: TypeLogout, Actor: "app", Subject: sub, SessionID: fmt.Sprint("s", i), Reason: "local"}
		if err := l.Record(context.Background(), e); err != nil {
			t.Fatalf("Record: %v", err)
		}
		out = append([]Event{e}, out...)
	}
	return out
}

// strip leaves what the test can predict of an event.
func strip(list []Event) []string {
	out := make([]string, len(list))
	for i, e := range list {
		out[i] = e.Subject + "/" + e.SessionID + "/" + e.Type + "/" + e.Actor + "/" + e.Reason
	}
	return out
}

func TestEventsAreListedNewestFirstByUserAndInPages(t *testing.T) {
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		ctx := context.Background()
		now := time.Now()
		l := New(rdb, Config{Prefix: "tg:", Retention: time.Hour, Clock: func() time.Time { return now }})
		all := record(t, l, 7)

		got, err := l.List(ctx, Query{Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(strip(all), strip(got)); diff != "" {
			t.Errorf("all events (-want +got):\n%s", diff)
		}
		if !got[0].Time.Equal(now.Truncate(time.Microsecond)) {
			t.Errorf("time = %v, want %v", got[0].Time, now)
		}

		var alice []Event
		for _, e := range all {
			if e.Subject == "alice" {
				alice = append(alice, e)
			}
		}
		got, err = l.List(ctx, Query{Subject: "alice", Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(strip(alice), strip(got)); diff != "" {
			t.Errorf("alice's events (-want +got):\n%s", diff)
		}

		var paged []Event
		before := ""
		for range 10 {
			page, err := l.List(ctx, Query{Limit: 3, Before: before})
			if err != nil {
				t.Fatal(err)
			}
			paged = append(paged, page...)
			if len(page) < 3 {
				break
			}
			before = page[len(page)-1].ID
		}
		if diff := cmp.Diff(strip(all), strip(paged)); diff != "" {
			t.Errorf("pages of 3 (-want +got):\n%s", diff)
		}
		if got, err := l.List(ctx, Query{Limit: 3, Before: "0-0"}); err != nil || len(got) != 0 {
			t.Errorf("List before 0-0 = %v, %v; want nothing", got, err)
		}
	})
}

func TestOldEventsAreDroppedAndStreamsExpire(t *testing.T) {
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		ctx := context.Background()
		now := time.Now()
		l := New(rdb, Config{Prefix: "tg:", Retention: time.Hour, Clock: func() time.Time { return now }})
		record(t, l, 2)
		for _, key := range []string{l.keys.Events(), l.keys.UserEvents("alice"), l.keys.UserEvents("bob")} {
			if ttl := rdb.PTTL(ctx, key).Val(); ttl <= 0 || ttl > time.Hour {
				t.Errorf("TTL of %s = %v, want (0, 1h]", key, ttl)
			}
		}
		if err := l.Record(ctx, Event{Type: TypeBan, Actor: "admin", Subject: "eve}:u:x"}); err != nil {
			t.Fatal(err)
		}
		if clash := rdb.Keys(ctx, keyspace.New("tg:").SnapshotPattern()).Val(); len(clash) != 0 {
			t.Errorf("keys %v match the blacklist's entry pattern", clash)
		}
		now = now.Add(time.Hour + time.Second)
		if got, err := l.List(ctx, Query{Limit: 50}); err != nil || len(got) != 0 {
			t.Errorf("List past the retention = %v, %v; want nothing", strip(got), err)
		}
	})
}

func TestABadCursorIsRefused(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = rdb.Close() })
	l := New(rdb, Config{Retention: time.Hour})
	for _, before := range []string{"x", "1", "1-", "-1", "1-x", "99999999999999999999-0", "1-2-3", " 1-2"} {
		if _, err := l.List(context.Background(), Query{Limit: 1, Before: before}); !errors.Is(err, ErrBadCursor) {
			t.Errorf("List before %q = %v, want ErrBadCursor", before, err)
		}
	}
}
