package keyspace_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/tokenguard/tokenguard/internal/keyspace"
)

// TestTheREADMENamesEveryKeyKind holds the README's Redis key tables
// ("Session state in Redis", "How revocation works") to the keyspace: every
// kind of key tokenguard writes, with the committed prefix `tg:`, appears
// there as `tg:{n}:<kind>` (a hash-tagged key) or by its whole name (a
// global one), so an operator reading Redis finds each key explained.
// allKeys fails on a builder it cannot call, so a new kind is covered.
func TestTheREADMENamesEveryKeyKind(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	tagged := regexp.MustCompile(`^tg:\{[0-9]+\}:([^:]*)`)
	entries, others := allKeys(t, keyspace.New("tg:"))
	seen := map[string]bool{}
	for _, key := range append(entries, others...) {
		want := []string{"`" + key + "`"}
		if m := tagged.FindStringSubmatch(key); m != nil {
			// The kind ends at ':' (before the id) or at the closing '`'
			// (tg:{n}:log), so that `u` is not found inside `user-sessions`.
			want = []string{"`tg:{n}:" + m[1] + ":", "`tg:{n}:" + m[1] + "`"}
		}
		if seen[want[0]] {
			continue
		}
		seen[want[0]] = true
		if !strings.Contains(readme, want[0]) && (len(want) == 1 || !strings.Contains(readme, want[1])) {
			t.Errorf("README.md names no key %s… (from %q): add it to a Redis key table", want[0], key)
		}
	}
	if len(seen) < 10 {
		t.Fatalf("checked %d key kinds, want every one of the keyspace's (at least 10)", len(seen))
	}
}
