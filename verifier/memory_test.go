package verifier_test

import (
	"encoding/base64"
	"encoding/binary"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/testclock"
)

// TestMemoryPerRevocationFromTheFeed measures the heap a revoked token
// costs in a verifier that learnt of it from the feed, its id included:
// the target is at most 150 bytes.
func TestMemoryPerRevocationFromTheFeed(t *testing.T) {
	n := 200_000
	if testing.Short() || raceEnabled {
		n = 20_000
	}
	clock := testclock.New(time.Now())
	until := clock.Now().Add(ttl)
	var b strings.Builder
	var id [16]byte
	for i := range n {
		binary.BigEndian.PutUint64(id[:8], uint64(i))
		binary.BigEndian.PutUint64(id[8:], uint64(i)*0x9e3779b97f4a7c15)
		b.WriteString(revocation("", "token", "jti", base64.RawURLEncoding.EncodeToString(id[:]), until))
	}
	entries := b.String()
	b.Reset()
	// Connected only now: the fake feed sends no heartbeats, and building
	// the entries may take longer than MaxStaleness on a busy machine.
	f := newFakeTokenguard(t, clock.Now)
	v := newVerifier(t, f, clock.Now, nil)
	run(t, v)
	c := f.conn()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	send(t, v, c, snapshot("e-0", entries))
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(entries) // in both measurements, so in neither's difference
	if st := v.Stats(); st.Tokens != n {
		t.Fatalf("the verifier holds %d revoked tokens, want %d", st.Tokens, n)
	}
	per := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(n)
	t.Logf("%d revoked tokens from the feed: %.1f bytes each", n, per)
	if per > 150 {
		t.Errorf("memory per revocation = %.1f B, want at most 150 B", per)
	}
}
