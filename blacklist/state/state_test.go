package state

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/keyspace"
)

// jti returns the i-th id shaped as tokenguard's: 128 bits, base64url.
func jti(i int) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[8:], uint64(i)*0x9e3779b97f4a7c15)
	binary.BigEndian.PutUint64(b[:8], uint64(i))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// loaded returns a mirror with every shard confirmed at now.
func loaded(now time.Time) *Mirror {
	m := NewMirror()
	for i := range keyspace.Shards {
		m.Confirm([]int{i}, now)
	}
	return m
}

func TestDecideRefusesWhatTheStateSays(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	issued := now.Add(-time.Minute)
	tok := Token{ID: "jti-1", SessionID: "sid-1", Subject: "alice", IssuedAt: issued}
	for _, c := range []struct {
		name    string
		entries []Entry
		want    error
	}{
		{"a token nothing names is good", nil, nil},
		{"a revoked token is refused", []Entry{{Kind: keyspace.KindRevokedToken, ID: "jti-1", Value: now.Unix() + 60}}, ErrTokenRevoked},
		{"a token of an ended session is refused", []Entry{{Kind: keyspace.KindEndedSession, ID: "sid-1", Value: now.Unix() + 60}}, ErrSessionEnded},
		{"a token issued at its user's cut-off is refused", []Entry{{Kind: keyspace.KindCutOff, ID: "alice", Value: issued.UnixMicro()}}, ErrCutOff},
		{"a token issued after its user's cut-off is good", []Entry{{Kind: keyspace.KindCutOff, ID: "alice", Value: issued.UnixMicro() - 1}}, nil},
		{"a banned user's token is refused as banned, before anything else", []Entry{
			{Kind: keyspace.KindRevokedToken, ID: "jti-1", Value: now.Unix() + 60},
			{Kind: keyspace.KindBan, ID: "alice", Ban: &Ban{At: issued}},
		}, ErrBanned},
		{"a lapsed ban refuses nothing", []Entry{{Kind: keyspace.KindBan, ID: "alice", Ban: &Ban{At: issued, Until: now}}}, nil},
		{"a lifted ban refuses nothing", []Entry{
			{Kind: keyspace.KindBan, ID: "alice", Ban: &Ban{At: issued}},
			{Kind: keyspace.KindBan, ID: "alice"},
		}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := loaded(now)
			for _, e := range c.entries {
				m.Apply(e)
			}
			f, err := m.Lookup(tok, now.UnixNano(), time.Second)
			if err != nil {
				t.Fatalf("Lookup = %v, want no error from a current mirror", err)
			}
			if got := f.Decide(tok, now); !errors.Is(got, c.want) || (got == nil) != (c.want == nil) {
				t.Errorf("Decide = %v, want %v", got, c.want)
			}
		})
	}
}

func TestLookupFailsOnAShardNotCurrent(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	m := NewMirror()
	tok := Token{ID: "jti-1", Subject: "alice"}
	if _, err := m.Lookup(tok, now.UnixNano(), time.Second); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Lookup on a mirror never loaded = %v, want ErrUnavailable", err)
	}
	for i := range keyspace.Shards {
		m.Confirm([]int{i}, now.Add(-2*time.Second))
	}
	if _, err := m.Lookup(tok, now.UnixNano(), time.Second); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Lookup on a mirror 2s behind with a 1s bound = %v, want ErrUnavailable", err)
	}
	if list, unloaded := m.Stale(now.UnixNano(), time.Second); len(list) != keyspace.Shards || unloaded != 0 {
		t.Errorf("Stale = %d stale, %d unloaded; want %d stale, 0 unloaded", len(list), unloaded, keyspace.Shards)
	}
}

func TestPutDecodesWhatTheKeysHold(t *testing.T) {
	e := NewEntries()
	for _, c := range []struct {
		kind  byte
		value string
	}{
		{keyspace.KindRevokedToken, "x"}, {keyspace.KindCutOff, "1.5"}, {keyspace.KindBan, "{"}, {'z', "1"},
	} {
		if err := e.Put(c.kind, "id", c.value); err == nil {
			t.Errorf("Put(%c, %q) = nil, want an error", c.kind, c.value)
		}
	}
	if err := e.Put(keyspace.KindCutOff, "alice", "20"); err != nil {
		t.Fatal(err)
	}
	if err := e.Put(keyspace.KindCutOff, "alice", "10"); err != nil {
		t.Fatal(err)
	}
	if got := e.cutOffs["alice"]; got != 20 {
		t.Errorf("cut-off after 20 then 10 = %d, want 20 (a cut-off never moves back)", got)
	}
}

// revocations is how many revoked tokens TestMemoryPerRevocation holds.
func revocations() int {
	if testing.Short() {
		return 100_000
	}
	return 1_000_000
}

// TestMemoryPerRevocation measures the heap a revoked token costs in a
// Mirror, its id included: the target is at most 150 bytes.
func TestMemoryPerRevocation(t *testing.T) {
	n := revocations()
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := NewMirror()
	for i := range n {
		if err := m.Set(keyspace.KindRevokedToken, jti(i), exp); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
	t.Logf("%d revoked tokens: %.1f bytes each (heap %d → %d)", n, per, before.HeapAlloc, after.HeapAlloc)
	if per > 150 {
		t.Errorf("memory per revocation = %.1f B, want at most 150 B", per)
	}
	if tokens, _, _, _ := m.Count(); tokens != n {
		t.Errorf("Count = %d tokens, want %d", tokens, n)
	}
	runtime.KeepAlive(m)
}

// BenchmarkLookup is the check of a token against a mirror of 100,000
// revocations: it must not allocate.
func BenchmarkLookup(b *testing.B) {
	now := time.Now()
	m := loaded(now)
	exp := now.Add(time.Hour).Unix()
	for i := range 100_000 {
		m.Apply(Entry{Kind: keyspace.KindRevokedToken, ID: jti(i), Value: exp})
	}
	tok := Token{ID: jti(-1), SessionID: "sid", Subject: "alice", IssuedAt: now}
	b.ReportAllocs()
	for b.Loop() {
		f, err := m.Lookup(tok, now.UnixNano(), time.Second)
		if err != nil || f.Decide(tok, now) != nil {
			b.Fatal("a good token refused")
		}
	}
}
