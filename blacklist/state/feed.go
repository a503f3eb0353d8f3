package state

import (
	"time"

	"github.com/tokenguard/tokenguard/internal/keyspace"
)

// The kinds of entry the revocation feed (GET /v1/revocations/stream)
// names in FeedEntry.Kind.
const (
	// FeedToken is a revoked token: FeedEntry.JTI.
	FeedToken = "token"
	// FeedSession is an ended session: FeedEntry.SID.
	FeedSession = "session"
	// FeedCutOff refuses every token of FeedEntry.Sub issued before At.
	FeedCutOff = "cut_off"
	// FeedBan bans FeedEntry.Sub from At until Until (zero: until lifted).
	FeedBan = "ban"
	// FeedUnban lifts the ban of FeedEntry.Sub.
	FeedUnban = "unban"
)

// FeedEntry is the data of one "revocation" event of the revocation feed,
// the one definition of its JSON that tokenguard writes and the embedded
// verifier reads: what is revoked, named as in tokens (jti, sid or sub, with
// the issuer that issued them), its kind and until when it holds.
type FeedEntry struct {
	Kind   string    `json:"kind"`
	Issuer string    `json:"iss"`
	JTI    string    `json:"jti,omitempty"`
	SID    string    `json:"sid,omitempty"`
	Sub    string    `json:"sub,omitempty"`
	At     time.Time `json:"at,omitzero"`
	Until  time.Time `json:"until,omitzero"`
}

// Entry is the state entry f spells, whatever its issuer; ok is false for
// a kind this version does not know or an entry that names nothing.
func (f FeedEntry) Entry() (e Entry, ok bool) {
	switch f.Kind {
	case FeedToken:
		return Entry{Kind: keyspace.KindRevokedToken, ID: f.JTI, Value: f.Until.Unix()}, f.JTI != ""
	case FeedSession:
		return Entry{Kind: keyspace.KindEndedSession, ID: f.SID, Value: f.Until.Unix()}, f.SID != ""
	case FeedCutOff:
		return Entry{Kind: keyspace.KindCutOff, ID: f.Sub, Value: f.At.UnixMicro()}, f.Sub != ""
	case FeedBan:
		return Entry{Kind: keyspace.KindBan, ID: f.Sub, Ban: &Ban{At: f.At, Until: f.Until}}, f.Sub != ""
	case FeedUnban:
		return Entry{Kind: keyspace.KindBan, ID: f.Sub}, f.Sub != ""
	}
	return Entry{}, false
}
