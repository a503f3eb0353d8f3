package signals

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/internal/redistest"
	"github.com/tokenguard/tokenguard/users"
)

// BenchmarkPublish is what telling the streams adds to a workflow that
// ends one session (a local logout): reading the streams, signing one SET
// per stream and appending it to each outbox, on a real redis-server on
// loopback. Receivers play no part: delivery is not running.
func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{0, 1, 10} {
		b.Run(fmt.Sprintf("%d streams", n), func(b *testing.B) {
			srv := redistest.Start(b)
			rdb := srv.Client()
			key, err := auth.GenerateEdDSAKey("k1")
			if err != nil {
				b.Fatal(err)
			}
			tokens, err := auth.New(auth.Config{Issuer: testIssuer, Audience: "api", AccessTTL: time.Minute, Keys: []*auth.Key{key}})
			if err != nil {
				b.Fatal(err)
			}
			tx, err := New(Config{Redis: rdb, Prefix: "tg:", Tokens: tokens, Audit: audit.New(rdb, audit.Config{Prefix: "tg:", Retention: time.Hour}), Dev: true})
			if err != nil {
				b.Fatal(err)
			}
			m := MethodPoll
			for i := range n {
				if _, err := tx.CreateStream(b.Context(), fmt.Sprintf("rp%d", i), Request{Method: &m}); err != nil {
					b.Fatal(err)
				}
			}
			c := users.Change{Event: audit.Event{Type: audit.TypeLogout, Subject: "alice", SessionID: "s1", Reason: "local"}, Sessions: []string{"s1"}}
			b.ResetTimer()
			for b.Loop() {
				tx.Publish(context.Background(), c)
			}
		})
	}
}
