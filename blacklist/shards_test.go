package blacklist

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/keyspace"
	"github.com/tokenguard/tokenguard/internal/redistest"
)

// idIn returns an id whose shard is sh.
func idIn(t *testing.T, prefix string, sh int) string {
	t.Helper()
	for n := range 10000 {
		if id := fmt.Sprintf("%s-%d", prefix, n); keyspace.Shard(id) == sh {
			return id
		}
	}
	t.Fatalf("no id in shard %d", sh)
	return ""
}

func TestACheckIsJudgedByTheShardsItReadsAlone(t *testing.T) {
	now := time.Now()
	for _, open := range []bool{false, true} {
		t.Run(fmt.Sprintf("on_store_failure open=%v", open), func(t *testing.T) {
			s := New(nil, Config{Prefix: "tg:", Leeway: testLeeway, MaxTokenLifetime: testLifetime, Mode: ModeMirror,
				MaxStaleness: 5 * time.Second, FailOpen: open, Clock: func() time.Time { return now }})
			const lost = 7
			for i := range keyspace.Shards {
				s.mirror.Confirm([]int{i}, now.Add(-time.Second))
			}
			s.mirror.Confirm([]int{lost}, now.Add(-6*time.Second))
			if err := s.mirror.Set(keyspace.KindRevokedToken, idIn(t, "revoked", lost), "9999999999"); err != nil {
				t.Fatal(err)
			}

			healthy := Token{ID: idIn(t, "jti", 3), SessionID: idIn(t, "sid", 4), Subject: idIn(t, "user", 4), IssuedAt: now}
			if err := s.Check(context.Background(), healthy); err != nil {
				t.Errorf("Check of a token whose shards are all current = %v, want nil", err)
			}
			for _, c := range []struct {
				name string
				tok  Token
			}{
				{"its id in the stale shard", Token{ID: idIn(t, "jti", lost), Subject: healthy.Subject, IssuedAt: now}},
				{"its session in the stale shard", Token{ID: healthy.ID, SessionID: idIn(t, "sid", lost), Subject: healthy.Subject, IssuedAt: now}},
				{"its user in the stale shard", Token{ID: healthy.ID, Subject: idIn(t, "user", lost), IssuedAt: now}},
			} {
				err := s.Check(context.Background(), c.tok)
				if open {
					if err != nil {
						t.Errorf("%s, failing open: Check = %v, want nil from the stale mirror", c.name, err)
					}
					continue
				}
				if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), fmt.Sprintf("shard %d ", lost)) {
					t.Errorf("%s: Check = %v, want ErrUnavailable naming shard %d", c.name, err, lost)
				}
			}
			// Failing open still answers what the stale shard knows.
			if err := s.Check(context.Background(), Token{ID: idIn(t, "revoked", lost)}); open && !errors.Is(err, ErrRevoked) {
				t.Errorf("failing open, a revocation the stale shard holds: Check = %v, want ErrRevoked", err)
			}
			if got := s.StaleShards(); !slices.Equal(got, []int{lost}) {
				t.Errorf("StaleShards = %v, want [%d]", got, lost)
			}
			if err := s.Ready(context.Background()); err != nil {
				t.Errorf("Ready with one stale shard = %v, want nil: the other users are answered", err)
			}
		})
	}
}

func TestReadinessFollowsTheShards(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		name      string
		ages      func(i int) time.Duration // -1: never loaded
		open      bool
		wantReady bool
		wantStale int
	}{
		{"every shard current", func(int) time.Duration { return time.Second }, false, true, 0},
		{"some shards stale", func(i int) time.Duration { return time.Duration(i%2) * 6 * time.Second }, false, true, 8},
		{"every shard stale, failing closed", func(int) time.Duration { return 6 * time.Second }, false, false, 16},
		{"every shard stale, failing open", func(int) time.Duration { return 6 * time.Second }, true, true, 16},
		{"one shard never loaded", func(i int) time.Duration { return map[bool]time.Duration{true: -1}[i == 3] }, true, false, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := New(nil, Config{Mode: ModeMirror, MaxStaleness: 5 * time.Second, FailOpen: c.open, Clock: func() time.Time { return now }})
			for i := range keyspace.Shards {
				if age := c.ages(i); age >= 0 {
					s.mirror.Confirm([]int{i}, now.Add(-age))
				}
			}
			if err := s.Ready(context.Background()); (err == nil) != c.wantReady || (err != nil && !errors.Is(err, ErrUnavailable)) {
				t.Errorf("Ready = %v, want ready: %v", err, c.wantReady)
			}
			if got := len(s.StaleShards()); got != c.wantStale {
				t.Errorf("StaleShards = %v, want %d of them", s.StaleShards(), c.wantStale)
			}
		})
	}
}

// TestALostMasterStalesOnlyItsOwnShards kills a Cluster master and its
// replica: the shards it served cannot be confirmed any more, and only the
// checks that read them fail.
func TestALostMasterStalesOnlyItsOwnShards(t *testing.T) {
	cl := redistest.StartCluster(t)
	rdb := cl.Client()
	clock := &testClock{}
	s := startStore(t, rdb, Config{Mode: ModeMirror, Clock: clock.Now, MaxStaleness: 5 * time.Second})
	ctx := context.Background()

	victim := cl.MasterOf(s.keys.ChangeLog(0))
	var lost, healthy []int
	for sh := range keyspace.Shards {
		if cl.MasterOf(s.keys.ChangeLog(sh)) == victim {
			lost = append(lost, sh)
		} else {
			healthy = append(healthy, sh)
		}
	}
	cl.ReplicaOf(victim).Stop() // no failover: the shards stay lost
	victim.Stop()
	// The clock moves past the bound: shards that go on confirming are
	// current at the new time, the others are not.
	clock.Advance(6 * time.Second)
	awaitTrue(t, "the lost master's shards, and only those, to be stale", func() bool { return slices.Equal(s.StaleShards(), lost) })

	good := Token{ID: idIn(t, "jti", healthy[0]), SessionID: idIn(t, "sid", healthy[1]), Subject: idIn(t, "user", healthy[1]), IssuedAt: clock.Now()}
	if err := s.Check(ctx, good); err != nil {
		t.Errorf("Check of a token on healthy masters = %v, want nil", err)
	}
	if err := s.RevokeToken(ctx, good.ID, clock.Now().Add(time.Hour)); err != nil {
		t.Errorf("RevokeToken on a healthy master = %v, want nil", err)
	}
	if err := s.Check(ctx, good); !errors.Is(err, ErrRevoked) {
		t.Errorf("Check after its revocation = %v, want ErrRevoked", err)
	}
	if err := s.Check(ctx, Token{ID: idIn(t, "jti", lost[0]), Subject: good.Subject}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Check of a token on the lost master = %v, want ErrUnavailable", err)
	}
	if err := s.RevokeToken(ctx, idIn(t, "jti", lost[0]), clock.Now().Add(time.Hour)); !errors.Is(err, ErrUnavailable) {
		t.Errorf("RevokeToken on the lost master = %v, want ErrUnavailable", err)
	}
	if err := s.Ready(ctx); err != nil {
		t.Errorf("Ready = %v, want nil while most shards answer", err)
	}
}
