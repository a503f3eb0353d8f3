package blacklist

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/redistest"
)

// BenchmarkCheck measures the revocation check itself: the mirror answering
// from memory (a revoked token, a good one) against strict mode asking a
// real redis-server over loopback. The state holds 100,000 revocations.
func BenchmarkCheck(b *testing.B) {
	srv := redistest.Start(b)
	rdb := srv.Client()
	ctx := context.Background()
	exp := time.Now().Add(10 * time.Minute)
	writer := New(rdb, Config{Prefix: "tg:", Leeway: time.Second, MaxTokenLifetime: 15 * time.Minute, Mode: ModeStrict})
	const n = 100_000
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		go func() {
			var err error
			for i := w; i < n && err == nil; i += 16 {
				err = writer.RevokeToken(ctx, fmt.Sprintf("jti-%d", i), exp)
			}
			errs <- err
		}()
	}
	for w := 0; w < 16; w++ {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}

	mirror := New(rdb, Config{Prefix: "tg:", Leeway: time.Second, MaxTokenLifetime: 15 * time.Minute, Mode: ModeMirror})
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = mirror.Run(runCtx) }()
	for mirror.Ready(ctx) != nil {
		time.Sleep(10 * time.Millisecond)
	}
	if got := mirror.Stats().Entries; got < n {
		b.Fatalf("mirror holds %d entries, want %d", got, n)
	}

	hit := Token{ID: "jti-4242", SessionID: "s", Subject: "alice", IssuedAt: time.Now()}
	miss := Token{ID: "not-revoked", SessionID: "s", Subject: "alice", IssuedAt: time.Now()}
	for _, c := range []struct {
		name  string
		store *Store
		tok   Token
		want  bool // revoked
	}{
		{"mirror/hit", mirror, hit, true},
		{"mirror/miss", mirror, miss, false},
		{"strict/hit", writer, hit, true},
		{"strict/miss", writer, miss, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.store.Check(ctx, c.tok); (err != nil) != c.want {
					b.Fatalf("Check = %v, want revoked: %v", err, c.want)
				}
			}
		})
	}
	b.Run("mirror/miss-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := mirror.Check(ctx, miss); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
