package state

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tokenguard/tokenguard/internal/keyspace"
)

// TestAFeedEntryAsWrittenReadsBackAsItsStateEntry: the JSON tokenguard
// writes for each kind of entry, read back as the embedded verifier reads
// it, is the state entry it spells; an entry naming nothing, or of a kind
// this version does not know, is not applied.
func TestAFeedEntryAsWrittenReadsBackAsItsStateEntry(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	until := at.Add(time.Hour).Truncate(time.Second)
	for _, tc := range []struct {
		name   string
		in     FeedEntry
		json   string
		want   Entry
		wantOK bool
	}{
		{"a revoked token expires with its until", FeedEntry{Kind: FeedToken, Issuer: "i", JTI: "j", Until: until},
			`{"kind":"token","iss":"i","jti":"j","until":"2026-01-02T04:04:05Z"}`,
			Entry{Kind: keyspace.KindRevokedToken, ID: "j", Value: until.Unix()}, true},
		{"an ended session expires with its until", FeedEntry{Kind: FeedSession, Issuer: "i", SID: "s", Until: until},
			`{"kind":"session","iss":"i","sid":"s","until":"2026-01-02T04:04:05Z"}`,
			Entry{Kind: keyspace.KindEndedSession, ID: "s", Value: until.Unix()}, true},
		{"a cut-off keeps its microsecond", FeedEntry{Kind: FeedCutOff, Issuer: "i", Sub: "u", At: at, Until: until},
			`{"kind":"cut_off","iss":"i","sub":"u","at":"2026-01-02T03:04:05.000006Z","until":"2026-01-02T04:04:05Z"}`,
			Entry{Kind: keyspace.KindCutOff, ID: "u", Value: at.UnixMicro()}, true},
		{"an indefinite ban has no until", FeedEntry{Kind: FeedBan, Issuer: "i", Sub: "u", At: at},
			`{"kind":"ban","iss":"i","sub":"u","at":"2026-01-02T03:04:05.000006Z"}`,
			Entry{Kind: keyspace.KindBan, ID: "u", Ban: &Ban{At: at}}, true},
		{"an unban lifts the ban", FeedEntry{Kind: FeedUnban, Issuer: "i", Sub: "u"},
			`{"kind":"unban","iss":"i","sub":"u"}`,
			Entry{Kind: keyspace.KindBan, ID: "u"}, true},
		{"a token without a jti is not applied", FeedEntry{Kind: FeedToken, Issuer: "i", Until: until},
			`{"kind":"token","iss":"i","until":"2026-01-02T04:04:05Z"}`,
			Entry{Kind: keyspace.KindRevokedToken, Value: until.Unix()}, false},
		{"a kind this version does not know is not applied", FeedEntry{Kind: "later", Issuer: "i", Sub: "u"},
			`{"kind":"later","iss":"i","sub":"u"}`,
			Entry{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.json {
				t.Errorf("written = %s, want %s", b, tc.json)
			}
			var read FeedEntry
			if err := json.Unmarshal(b, &read); err != nil {
				t.Fatal(err)
			}
			got, ok := read.Entry()
			if diff := cmp.Diff(got, tc.want); diff != "" {
				t.Errorf("Entry (-got +want):\n%s", diff)
			}
			if ok != tc.wantOK {
				t.Errorf("Entry ok = %v, want %v", ok, tc.wantOK)
			}
		})
	}
}
