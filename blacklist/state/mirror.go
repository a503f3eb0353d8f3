package state

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenguard/tokenguard/internal/keyspace"
)

// Mirror is an in-memory copy of the whole revocation state, so that a
// check makes no network call. Whoever keeps it current (the server's
// follower of the Redis change logs, or an embedded verifier's feed
// client) applies every change with Set or Apply, swaps in snapshots with
// Replace, and records with Confirm when each shard last knew it held
// every change.
//
// Shards are kept current, and judged, one by one: on Cluster they live on
// different masters, and losing one master must not stop the checks of the
// users whose shards live on the others. It is safe for concurrent use.
type Mirror struct {
	parts [keyspace.Shards]part
}

// part is one shard's share of the mirror, under its own lock so that
// checks on different shards never contend.
type part struct {
	// confirmed is when the shard last knew it held every change (unix
	// nanoseconds); zero until its first snapshot is in.
	confirmed atomic.Int64
	mu        sync.RWMutex
	Entries
}

// NewMirror returns an empty mirror whose shards have not loaded yet.
func NewMirror() *Mirror {
	m := &Mirror{}
	for i := range m.parts {
		m.parts[i].Entries = NewEntries()
	}
	return m
}

// Lookup reads the facts of one token from memory. It also says whether
// every shard it read from had confirmed it was current within maxStale of
// now (unix nanoseconds): an error wrapping ErrUnavailable names the first
// that had not. The facts are filled in either way, for failing open.
//
// A shard's confirmation is read before its entries: every change made
// before that confirmation was applied before it was stored, so the entries
// read hold them all.
func (m *Mirror) Lookup(t Token, now int64, maxStale time.Duration) (Facts, error) {
	var st Facts
	stale := -1
	if t.ID != "" {
		p := m.consult(t.ID, now, maxStale, &stale)
		p.mu.RLock()
		_, st.TokenRevoked = p.tokens[t.ID]
		p.mu.RUnlock()
	}
	if t.SessionID != "" {
		p := m.consult(t.SessionID, now, maxStale, &stale)
		p.mu.RLock()
		_, st.SessionRevoked = p.sessions[t.SessionID]
		p.mu.RUnlock()
	}
	if t.Subject != "" {
		p := m.consult(t.Subject, now, maxStale, &stale)
		p.mu.RLock()
		if us, ok := p.cutOffs[t.Subject]; ok {
			st.CutOff = time.UnixMicro(us)
		}
		if b, ok := p.bans[t.Subject]; ok {
			banned := b // copied here, so only a banned user's check allocates
			st.Ban = &banned
		}
		p.mu.RUnlock()
	}
	if stale >= 0 {
		return st, m.staleError(stale, now, maxStale)
	}
	return st, nil
}

// consult returns the shard of id for Lookup to read, after its
// confirmation has been read: when the shard had not confirmed it was
// current and *stale names no shard yet (-1), it names this one.
func (m *Mirror) consult(id string, now int64, maxStale time.Duration, stale *int) *part {
	sh := keyspace.Shard(id)
	p := &m.parts[sh]
	if *stale < 0 && !p.current(now, maxStale) {
		*stale = sh
	}
	return p
}

// current reports whether the shard has confirmed it was current within
// maxStale of now (unix nanoseconds).
func (p *part) current(now int64, maxStale time.Duration) bool {
	c := p.confirmed.Load()
	return c != 0 && time.Duration(now-c) <= maxStale
}

// staleError explains why shard sh cannot answer.
func (m *Mirror) staleError(sh int, now int64, maxStale time.Duration) error {
	c := m.parts[sh].confirmed.Load()
	if c == 0 {
		return fmt.Errorf("%w: revocation shard %d is not loaded yet", ErrUnavailable, sh)
	}
	return fmt.Errorf("%w: revocation shard %d is %v behind (limit %v)", ErrUnavailable, sh, time.Duration(now-c).Round(time.Millisecond), maxStale)
}

// Stale lists the shards that have not confirmed they were current within
// maxStale of now (unix nanoseconds), and counts those never loaded.
func (m *Mirror) Stale(now int64, maxStale time.Duration) (list []int, unloaded int) {
	for i := range m.parts {
		p := &m.parts[i]
		if p.confirmed.Load() == 0 {
			unloaded++
		}
		if !p.current(now, maxStale) {
			list = append(list, i)
		}
	}
	return list, unloaded
}

// Set applies one entry, as Entries.Put takes it, under its shard's lock.
func (m *Mirror) Set(kind byte, id, value string) error {
	p := &m.parts[keyspace.Shard(id)]
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.Put(kind, id, value)
}

// Apply applies one decoded entry under its shard's lock.
func (m *Mirror) Apply(en Entry) {
	p := &m.parts[keyspace.Shard(en.ID)]
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Entries.Apply(en)
}

// Replace swaps in the freshly loaded state of the shards in group; fresh
// is indexed by shard, and every entry of fresh[i] must belong to shard i.
func (m *Mirror) Replace(fresh *[keyspace.Shards]Entries, group []int) {
	for _, i := range group {
		p := &m.parts[i]
		p.mu.Lock()
		p.Entries = fresh[i]
		p.mu.Unlock()
	}
}

// Confirm records that the shards of group held every change made before t.
func (m *Mirror) Confirm(group []int, t time.Time) {
	for _, i := range group {
		m.parts[i].confirmed.Store(t.UnixNano())
	}
}

// Confirmed returns when shard sh last confirmed it was current; the zero
// time until it has loaded.
func (m *Mirror) Confirmed(sh int) time.Time {
	c := m.parts[sh].confirmed.Load()
	if c == 0 {
		return time.Time{}
	}
	return time.Unix(0, c)
}

// Sweep drops the entries that can no longer refuse anything (see
// Entries.Sweep).
func (m *Mirror) Sweep(now time.Time, hold time.Duration) {
	for i := range m.parts {
		p := &m.parts[i]
		p.mu.Lock()
		p.Entries.Sweep(now, hold)
		p.mu.Unlock()
	}
}

// SweepEvery sweeps the entries that can no longer refuse anything every
// interval, at now(), until ctx ends; hold is as for Sweep. Its caller owns
// the goroutine.
func (m *Mirror) SweepEvery(ctx context.Context, interval time.Duration, now func() time.Time, hold time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.Sweep(now(), hold)
		}
	}
}

// Count counts the entries of each kind, for metrics and tests.
func (m *Mirror) Count() (tokens, sessions, cutOffs, bans int) {
	for i := range m.parts {
		p := &m.parts[i]
		p.mu.RLock()
		tokens += len(p.tokens)
		sessions += len(p.sessions)
		cutOffs += len(p.cutOffs)
		bans += len(p.bans)
		p.mu.RUnlock()
	}
	return tokens, sessions, cutOffs, bans
}

// Range calls f for every entry, shard by shard, under each shard's read
// lock: f must not call back into the mirror.
func (m *Mirror) Range(f func(Entry)) {
	for i := range m.parts {
		p := &m.parts[i]
		p.mu.RLock()
		p.rangeOver(f)
		p.mu.RUnlock()
	}
}
