package keyspace_test

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/internal/keyspace"
	"github.com/tokenguard/tokenguard/internal/redistest"
	"github.com/tokenguard/tokenguard/lockout"
	"github.com/tokenguard/tokenguard/sessions"
)

// TestEveryKeyKindHasItsExactName pins each key's name byte for byte: every
// running instance, and the data already in Redis, depend on it.
func TestEveryKeyKindHasItsExactName(t *testing.T) {
	k := keyspace.New("tg:")
	const sid = "AAAAAAAAAAAAAAAAAAAAAA" // the shape of sessions.NewID's ids
	for _, c := range []struct{ kind, got, want string }{
		{"revoked token", k.Entry(keyspace.KindRevokedToken, "jti-1"), "tg:{0}:j:jti-1"},
		{"ended session", k.Entry(keyspace.KindEndedSession, "sid-1"), "tg:{5}:s:sid-1"},
		{"cut-off", k.Entry(keyspace.KindCutOff, "alice"), "tg:{7}:u:alice"},
		{"ban", k.Entry(keyspace.KindBan, "alice"), "tg:{7}:b:alice"},
		{"change log", k.ChangeLog(7), "tg:{7}:log"},
		{"snapshot pattern", k.SnapshotPattern(), "tg:{*}:?:*"},
		{"one shard's snapshot pattern", k.ShardSnapshotPattern(7), "tg:{7}:?:*"},
		{"session", k.Session(sid), "tg:{11}:session:" + sid},
		{"refresh history", k.RefreshHistory(sid), "tg:{11}:rt-history:" + sid},
		{"refresh grace", k.RefreshGrace(sid), "tg:{11}:rt-grace:" + sid},
		{"user sessions", k.UserSessions("alice"), "tg:{7}:user-sessions:YWxpY2U"},
		{"all events", k.Events(), "tg:events"},
		{"user events", k.UserEvents("alice"), "tg:{7}:events:YWxpY2U"},
		{"failed authentications", k.AuthFailures("client:app"), "tg:{15}:auth-fails:BBf6spiy6hKC67SVtqZFIw"},
		{"lockout", k.AuthLockout("client:app"), "tg:{15}:auth-lock:BBf6spiy6hKC67SVtqZFIw"},
		{"SSF streams", k.SignalStreams(), "tg:ssf-streams"},
		{"SSF stream", k.SignalStream("AAAAAAAAAAAAAAAAAAAAAA"), "tg:{11}:ssf-stream:AAAAAAAAAAAAAAAAAAAAAA"},
		{"SSF outbox", k.SignalOutbox("AAAAAAAAAAAAAAAAAAAAAA"), "tg:{11}:ssf-outbox:AAAAAAAAAAAAAAAAAAAAAA"},
		{"SSF lease", k.SignalLease("AAAAAAAAAAAAAAAAAAAAAA"), "tg:{11}:ssf-lease:AAAAAAAAAAAAAAAAAAAAAA"},
		{"console session", k.ConsoleSession("cookie-value"), "tg:{7}:console-session:0P_1p_kaq-FOE0g738bkdw"},
		{"failed authentications from an address", k.AuthFailures("client-ip:192.0.2.7"), "tg:{11}:auth-fails:qEyRn8_P1zrAJ61KCzf9ug"},
		{"a logout token seen", k.SeenMessage("https://idp.test/\x1fjti-1"), "tg:{6}:seen-msg:dW4N3Ra4liKItgMa4G_cAA"},
	} {
		if c.got != c.want {
			t.Errorf("%s key = %q, want %q", c.kind, c.got, c.want)
		}
	}
}

func TestKeysOfOneIDShareAShardAndIDsSpreadOverAll(t *testing.T) {
	if got, want := keyspace.New("tg:").Entry(keyspace.KindCutOff, "alice"), "tg:{"; !strings.HasPrefix(got, want) {
		t.Fatalf("cut-off key = %q, want prefix %q", got, want)
	}
	seen := map[int]bool{}
	for i := 0; i < 1000; i++ {
		sh := keyspace.Shard(strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('0'+i%10)) + string(rune(i)))
		if sh < 0 || sh >= keyspace.Shards {
			t.Fatalf("Shard = %d, want 0..%d", sh, keyspace.Shards-1)
		}
		seen[sh] = true
	}
	if len(seen) != keyspace.Shards {
		t.Errorf("1000 ids landed in %d shards, want all %d", len(seen), keyspace.Shards)
	}
}

func TestShardDoesNotAllocate(t *testing.T) {
	id := "a-user-id-of-some-length"
	if n := testing.AllocsPerRun(100, func() { _ = keyspace.Shard(id) }); n != 0 {
		t.Errorf("Shard allocates %v times a call, want 0: it is on the revocation check's path", n)
	}
}

// ids are ids and subjects that try to make a key look like a revocation
// entry, or break the parsing of one.
var ids = []string{
	"", "x", ":", "}", "{", "?", "*", "[", "]", `\`, "%", "%7D", "::", "}:",
	"}:u:x", "a}:j:b", "}:s:", "{*}:?:*", "tg:{1}:j:x", "}:ab:", strings.Repeat("}:b:", 8),
	"ünïcode", "😀}:b:😀", "\x00}:j:\x00", "line\nbreak}:u:x", " }: :", strings.Repeat("x", 300),
}

var entryKinds = []byte{keyspace.KindRevokedToken, keyspace.KindEndedSession, keyspace.KindCutOff, keyspace.KindBan}

// allKeys calls every key builder of k with every id in ids: each method of
// Keys that takes a string and returns one, each without arguments, and
// ChangeLog for every shard. A builder with another signature fails the
// test until the test learns to call it, so a new key kind cannot be added
// without being checked. It returns the entry keys and all the others.
func allKeys(t *testing.T, k keyspace.Keys) (entries, others []string) {
	t.Helper()
	for _, kind := range entryKinds {
		for _, id := range ids {
			entries = append(entries, k.Entry(kind, id))
		}
	}
	for sh := range keyspace.Shards {
		others = append(others, k.ChangeLog(sh))
	}
	str := reflect.TypeFor[string]()
	v := reflect.ValueOf(k)
	builders := 0
	for i := range v.NumMethod() {
		m, name := v.Method(i), v.Type().Method(i).Name
		mt := m.Type()
		switch {
		case name == "Entry" || name == "ChangeLog" || name == "SnapshotPattern" || name == "ShardSnapshotPattern" || name == "ParseEntry":
		case mt.NumIn() == 1 && mt.In(0) == str && mt.NumOut() == 1 && mt.Out(0) == str:
			builders++
			for _, id := range ids {
				others = append(others, m.Call([]reflect.Value{reflect.ValueOf(id)})[0].String())
			}
		case mt.NumIn() == 0 && mt.NumOut() == 1 && mt.Out(0) == str:
			builders++
			others = append(others, m.Call(nil)[0].String())
		default:
			t.Fatalf("Keys.%s%v: the test cannot call this builder; teach allKeys to", name, mt)
		}
	}
	if builders < 6 {
		t.Fatalf("found %d key builders besides the entries, want at least the 6 of sessions and audit", builders)
	}
	return entries, others
}

// TestNoKeyButAnEntryMatchesTheSnapshotPattern is the keyspace's promise to
// the mirror: its SCAN loads revocation entries and nothing else, whatever
// the ids and subjects in the other keys hold.
func TestNoKeyButAnEntryMatchesTheSnapshotPattern(t *testing.T) {
	k := keyspace.New("tg:")
	pattern := k.SnapshotPattern()
	entries, others := allKeys(t, k)
	for _, key := range others {
		if globMatch(pattern, key) {
			t.Errorf("key %q matches the snapshot pattern %q", key, pattern)
		}
		if kind, id, ok := k.ParseEntry(key); ok {
			t.Errorf("ParseEntry(%q) = %c, %q: a key that is not an entry parses as one", key, kind, id)
		}
	}
	for i, key := range entries {
		kind, id := entryKinds[i/len(ids)], ids[i%len(ids)]
		if !globMatch(pattern, key) {
			t.Errorf("entry %q does not match the snapshot pattern %q", key, pattern)
		}
		gotKind, gotID, ok := k.ParseEntry(key)
		if !ok || gotKind != kind || gotID != id {
			t.Errorf("ParseEntry(%q) = %c, %q, %v; want %c, %q", key, gotKind, gotID, ok, kind, id)
		}
	}
}

func TestParseEntryRefusesWhatIsNotAnEntry(t *testing.T) {
	k := keyspace.New("tg:")
	for _, key := range []string{"", "tg:", "tg:events", "other:{1}:j:x", "tg:{1}:log", "tg:{1}", "tg:{1}:j", "tg:1}:j:x", "tg:{1}-j:x"} {
		if kind, id, ok := k.ParseEntry(key); ok {
			t.Errorf("ParseEntry(%q) = %c, %q, true; want not an entry", key, kind, id)
		}
	}
}

// TestSnapshotScanFindsOnlyEntries writes one key of every kind, through the
// packages that write them and through every builder, with hostile ids, and
// asks Redis itself which keys the snapshot's SCAN returns: exactly the
// revocation entries. It also checks the glob matcher of the test above
// against Redis.
func TestSnapshotScanFindsOnlyEntries(t *testing.T) {
	redistest.ForEachBackend(t, func(t *testing.T, rdb *redis.Client) {
		ctx := context.Background()
		k := keyspace.New("tg:")
		writeThroughThePackages(t, rdb)
		entries, others := allKeys(t, k)
		for _, key := range append(slices.Clone(entries), others...) {
			if err := rdb.Set(ctx, key, "1", time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
		}

		all, err := rdb.Keys(ctx, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		var scanned []string
		iter := rdb.Scan(ctx, 0, k.SnapshotPattern(), 1000).Iterator()
		for iter.Next(ctx) {
			scanned = append(scanned, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
		slices.Sort(scanned)
		scanned = slices.Compact(scanned)
		want := append(slices.Clone(entries), packageEntries()...)
		for _, key := range all {
			if got, redisSays := globMatch(k.SnapshotPattern(), key), slices.Contains(scanned, key); got != redisSays {
				t.Errorf("globMatch(%q) = %v, Redis says %v", key, got, redisSays)
			}
		}
		slices.Sort(want)
		want = slices.Compact(want)
		if !slices.Equal(scanned, want) {
			t.Errorf("SCAN %s returned %d keys, want the %d entries:\n got %q\nwant %q", k.SnapshotPattern(), len(scanned), len(want), scanned, want)
		}
	})
}

// packageSubjects are the hostile subjects and ids the packages write with.
var packageSubjects = []string{"alice", "eve}:u:x", "{*}:?:*", "😀}:b:😀", "%7D"}

// writeThroughThePackages makes blacklist, sessions, audit and lockout write
// every kind of key they have, for every subject in packageSubjects.
func writeThroughThePackages(t *testing.T, rdb *redis.Client) {
	t.Helper()
	ctx := context.Background()
	rev := blacklist.New(rdb, blacklist.Config{Prefix: "tg:", MaxTokenLifetime: time.Minute, Mode: blacklist.ModeStrict})
	store := sessions.New(rdb, sessions.Config{
		Prefix: "tg:", RefreshTTL: time.Hour, MaxAge: time.Hour, ReuseWindow: time.Minute,
		AccessTokenLife: time.Minute, Revoker: rev,
	})
	events := audit.New(rdb, audit.Config{Prefix: "tg:", Retention: time.Hour})
	limiter, err := lockout.New(rdb, lockout.Config{
		Name: "client", Prefix: "tg:", MaxPerID: 2, MaxPerIP: 1000, Window: time.Minute,
		Audit: events, IDEvent: audit.TypeClientLockedOut, IPEvent: audit.TypeClientIPLockedOut,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range packageSubjects {
		// A count, then a lockout, of the subject as a client id and as an
		// address.
		for range 2 {
			if err := limiter.Fail(ctx, sub, sub); err != nil {
				t.Fatal(err)
			}
		}
		if err := rev.RevokeToken(ctx, sub, time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := rev.RevokeSession(ctx, sub); err != nil {
			t.Fatal(err)
		}
		if err := rev.Ban(ctx, sub, blacklist.Ban{Reason: "test"}, time.Minute); err != nil { // a ban and a cut-off
			t.Fatal(err)
		}
		id, err := sessions.NewID(sub)
		if err != nil {
			t.Fatal(err)
		}
		rt, _, err := store.Open(ctx, sessions.Session{ID: id, Subject: sub, ClientID: "app"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Refresh(ctx, rt, "app", ""); err != nil { // the reuse window's salt
			t.Fatal(err)
		}
		if err := events.Record(ctx, audit.Event{Type: audit.TypeBan, Actor: "admin", Subject: sub}); err != nil {
			t.Fatal(err)
		}
		if _, err := rev.MarkSeen(ctx, sub, time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	kinds := map[string]bool{}
	for _, key := range rdb.Keys(ctx, "*").Val() {
		for _, kind := range []string{":session:", ":rt-history:", ":rt-grace:", ":user-sessions:", ":events:", ":log", "tg:events", ":auth-fails:", ":auth-lock:", ":seen-msg:"} {
			if strings.Contains(key, kind) {
				kinds[kind] = true
			}
		}
	}
	if len(kinds) != 10 {
		t.Fatalf("the packages wrote the key kinds %v, want all 10 besides the entries", kinds)
	}
}

// packageEntries are the revocation entries writeThroughThePackages
// writes.
func packageEntries() []string {
	k := keyspace.New("tg:")
	var out []string
	for _, sub := range packageSubjects {
		for _, kind := range entryKinds {
			out = append(out, k.Entry(kind, sub))
		}
	}
	return out
}

// globMatch matches key against pattern as Redis's stringmatchlen does for
// the parts a snapshot pattern uses: '*' (any run of bytes, ':' and '/'
// included), '?' (any one byte), '\' (the next byte literally) and literal
// bytes. It refuses a pattern with '[', which it does not implement.
func globMatch(pattern, key string) bool {
	if strings.Contains(pattern, "[") {
		panic("globMatch: character classes are not implemented")
	}
	if pattern == "" {
		return key == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(key); i++ {
			if globMatch(pattern[1:], key[i:]) {
				return true
			}
		}
		return false
	case '?':
		return key != "" && globMatch(pattern[1:], key[1:])
	case '\\':
		if len(pattern) > 1 {
			pattern = pattern[1:]
		}
	}
	return key != "" && key[0] == pattern[0] && globMatch(pattern[1:], key[1:])
}
