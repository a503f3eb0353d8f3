package state

import (
	"fmt"
	"strconv"
	"time"

	"github.com/tokenguard/tokenguard/internal/keyspace"
)

// Entries is the revocation state of some shards, as plain maps. The zero
// value is not usable; use NewEntries. It is not safe for concurrent use:
// a Mirror guards each shard's Entries with the shard's lock.
type Entries struct {
	tokens   map[string]int64 // jti → expiry, unix seconds
	sessions map[string]int64 // sid → expiry, unix seconds
	cutOffs  map[string]int64 // subject → cut-off, unix µs
	bans     map[string]Ban   // subject → ban
}

// NewEntries returns empty entries.
func NewEntries() Entries {
	return Entries{
		tokens:   map[string]int64{},
		sessions: map[string]int64{},
		cutOffs:  map[string]int64{},
		bans:     map[string]Ban{},
	}
}

// Entry is one entry of the state, decoded.
type Entry struct {
	// Kind is the entry's kind: keyspace.KindRevokedToken,
	// KindEndedSession, KindCutOff or KindBan.
	Kind byte
	// ID is the jti, session id or subject.
	ID string
	// Value is a revoked token's or an ended session's expiry (unix
	// seconds), or a cut-off (unix microseconds).
	Value int64
	// Ban is a ban's value; nil for a ban lifted.
	Ban *Ban
}

// Put applies one entry as the keys and the change log spell it: the same
// (kind, id, value) whether it comes from a snapshot, the log or our own
// write. Applying it twice, or replaying older entries before newer ones,
// converges on the same state.
func (e *Entries) Put(kind byte, id, value string) error {
	en, err := Decode(kind, id, value)
	if err != nil {
		return err
	}
	e.Apply(en)
	return nil
}

// Decode reads one entry as the keys and the change log spell it: an
// expiry in unix seconds for a revoked token or an ended session, unix
// microseconds for a cut-off, JSON for a ban and "" for a ban lifted.
func Decode(kind byte, id, value string) (Entry, error) {
	switch kind {
	case keyspace.KindRevokedToken, keyspace.KindEndedSession:
		exp, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return Entry{}, fmt.Errorf("entry %c:%s: bad expiry %q", kind, id, value)
		}
		return Entry{Kind: kind, ID: id, Value: exp}, nil
	case keyspace.KindCutOff:
		us, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return Entry{}, fmt.Errorf("entry u:%s: bad cut-off %q", id, value)
		}
		return Entry{Kind: kind, ID: id, Value: us}, nil
	case keyspace.KindBan:
		if value == "" {
			return Entry{Kind: kind, ID: id}, nil
		}
		b, err := ParseBan(value)
		if err != nil {
			return Entry{}, fmt.Errorf("entry b:%s: %w", id, err)
		}
		return Entry{Kind: kind, ID: id, Ban: &b}, nil
	}
	return Entry{}, fmt.Errorf("entry of unknown kind %q", kind)
}

// Apply applies one decoded entry. A cut-off only ever moves later; a ban
// without a value lifts the ban. An entry of unknown kind is ignored.
func (e *Entries) Apply(en Entry) {
	switch en.Kind {
	case keyspace.KindRevokedToken:
		e.tokens[en.ID] = en.Value
	case keyspace.KindEndedSession:
		e.sessions[en.ID] = en.Value
	case keyspace.KindCutOff:
		if en.Value > e.cutOffs[en.ID] {
			e.cutOffs[en.ID] = en.Value
		}
	case keyspace.KindBan:
		if en.Ban == nil {
			delete(e.bans, en.ID)
		} else {
			e.bans[en.ID] = *en.Ban
		}
	}
}

// Sweep drops the entries that can no longer refuse anything: tokens and
// sessions past their expiry, cut-offs older than hold (the longest any
// token lives, plus the leeway), bans past their end. Memory is bounded by
// the live revocations.
func (e *Entries) Sweep(now time.Time, hold time.Duration) {
	sec := now.Unix()
	for id, exp := range e.tokens {
		if exp < sec {
			delete(e.tokens, id)
		}
	}
	for id, exp := range e.sessions {
		if exp < sec {
			delete(e.sessions, id)
		}
	}
	oldest := now.Add(-hold).UnixMicro()
	for id, us := range e.cutOffs {
		if us < oldest {
			delete(e.cutOffs, id)
		}
	}
	for id, b := range e.bans {
		if !b.ActiveAt(now) {
			delete(e.bans, id)
		}
	}
}

// rangeOver calls f for every entry.
func (e *Entries) rangeOver(f func(Entry)) {
	for id, exp := range e.tokens {
		f(Entry{Kind: keyspace.KindRevokedToken, ID: id, Value: exp})
	}
	for id, exp := range e.sessions {
		f(Entry{Kind: keyspace.KindEndedSession, ID: id, Value: exp})
	}
	for id, us := range e.cutOffs {
		f(Entry{Kind: keyspace.KindCutOff, ID: id, Value: us})
	}
	for id, b := range e.bans {
		f(Entry{Kind: keyspace.KindBan, ID: id, Ban: &b})
	}
}
