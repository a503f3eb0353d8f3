package sessions

import (
	"context"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/internal/redistest"
)

// BenchmarkEndAll3000 ends every one of a user's 3,000 sessions, as a
// global logout or a ban does, on a real redis-server with the real
// revocation store: each session's access tokens are revoked, then its
// state is dropped.
func BenchmarkEndAll3000(b *testing.B) {
	const n = 3000
	ctx := context.Background()
	rdb := redistest.Start(b).Client()
	rev := blacklist.New(rdb, blacklist.Config{Prefix: "tg:", MaxTokenLifetime: 15 * time.Minute, Mode: blacklist.ModeStrict})
	store := New(rdb, Config{
		Prefix: "tg:", RefreshTTL: testIdle, MaxAge: testMaxAge, ReuseWindow: testWindow,
		AccessTokenLife: testTail, Revoker: rev,
	})
	for range b.N {
		b.StopTimer()
		for range n {
			id, err := NewID("alice")
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := store.Open(ctx, Session{ID: id, Subject: "alice", ClientID: "app"}); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		ended, err := store.EndAll(ctx, "alice", "")
		if err != nil {
			b.Fatal(err)
		}
		if len(ended) != n {
			b.Fatalf("EndAll ended %d sessions, want %d", len(ended), n)
		}
	}
}
