package blacklist

import (
	"context"
	"testing"
	"time"
)

// TestAMessageIsSeenOnceWhileItIsAccepted: the mark of a received logout
// token refuses its replays until the token would no longer be accepted,
// and no longer; forgetting it lets the sender deliver it again.
func TestAMessageIsSeenOnceWhileItIsAccepted(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			rdb, expire := b.open(t)
			ctx := context.Background()
			now := time.Now()
			s := New(rdb, Config{Prefix: "tg:", Leeway: testLeeway, MaxTokenLifetime: testLifetime, Mode: ModeStrict, Clock: func() time.Time { return now }})
			until := now.Add(5 * time.Minute)
			const id = "https://idp.test/\x1fjti-1"

			for i, want := range []bool{true, false, false} {
				if first, err := s.MarkSeen(ctx, id, until); err != nil || first != want {
					t.Fatalf("MarkSeen #%d = %v, %v; want %v, nil", i+1, first, err, want)
				}
			}
			if first, err := s.MarkSeen(ctx, "https://other.test/\x1fjti-1", until); err != nil || !first {
				t.Errorf("MarkSeen(the same jti of another issuer) = %v, %v; want true, nil", first, err)
			}
			ttl, err := rdb.PTTL(ctx, s.keys.SeenMessage(id)).Result()
			if err != nil {
				t.Fatal(err)
			}
			if d := 5*time.Minute - ttl; d < 0 || d > time.Second {
				t.Errorf("TTL of the mark = %v, want within a second below 5m (until - now)", ttl)
			}
			if n, err := rdb.Exists(ctx, s.keys.Entry('j', id)).Result(); err != nil || n != 0 {
				t.Errorf("a revocation entry under the message id exists (%d, %v): a mark is no revocation", n, err)
			}

			if err := s.UnmarkSeen(ctx, id); err != nil {
				t.Fatal(err)
			}
			if first, err := s.MarkSeen(ctx, id, until); err != nil || !first {
				t.Errorf("MarkSeen after UnmarkSeen = %v, %v; want true, nil", first, err)
			}
			if expire != nil {
				expire(5*time.Minute + time.Millisecond)
				if n, err := rdb.Exists(ctx, s.keys.SeenMessage(id)).Result(); err != nil || n != 0 {
					t.Errorf("the mark exists after the message stopped being accepted (%d, %v)", n, err)
				}
			}
			if first, err := s.MarkSeen(ctx, "jti-past", now.Add(-time.Second)); err != nil || !first {
				t.Errorf("MarkSeen(until past) = %v, %v; want true, nil", first, err)
			}
			if n, err := rdb.Exists(ctx, s.keys.SeenMessage("jti-past")).Result(); err != nil || n != 0 {
				t.Errorf("a mark for a message no longer accepted was written (%d, %v); want none, never one without a TTL", n, err)
			}
		})
	}
}
