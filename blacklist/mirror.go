package blacklist

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/internal/keyspace"
)

// mirror is this instance's in-memory copy of the whole revocation state, so
// that a check makes no network call. Each shard is loaded from a snapshot
// of its keys, then kept current by following its change log; the
// instance's own writes are applied to it before they are acknowledged.
//
// Shards are kept current, and judged, one by one: on Cluster they live on
// different masters, and losing one master must not stop the checks of the
// users whose shards live on the others.
type mirror struct {
	parts [keyspace.Shards]part
	// resyncsAfterError and resyncsFellBehind count the resyncs by cause.
	resyncsAfterError atomic.Int64
	resyncsFellBehind atomic.Int64
	// loaded counts the follower groups that have loaded once, so that the
	// first full load is logged once.
	loaded atomic.Int64
}

// part is one shard's share of the mirror, under its own lock so that
// checks on different shards never contend.
type part struct {
	// confirmed is when the shard last knew it held every change (unix
	// nanoseconds); zero until its first snapshot is in.
	confirmed atomic.Int64
	mu        sync.RWMutex
	entries
}

// entries is the revocation state of some shards, as plain maps.
type entries struct {
	tokens   map[string]int64 // jti → expiry, unix seconds
	sessions map[string]int64 // sid → expiry, unix seconds
	cutOffs  map[string]int64 // subject → cut-off, unix µs
	bans     map[string]Ban   // subject → ban
}

func newEntries() entries {
	return entries{
		tokens:   map[string]int64{},
		sessions: map[string]int64{},
		cutOffs:  map[string]int64{},
		bans:     map[string]Ban{},
	}
}

// put applies one entry as the keys and the change log spell it: the same
// (kind, id, value) whether it comes from a snapshot, the log or our own
// write. Applying it twice, or replaying older entries before newer ones,
// converges on the same state.
func (e *entries) put(kind byte, id, value string) error {
	switch kind {
	case keyspace.KindRevokedToken, keyspace.KindEndedSession:
		exp, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return fmt.Errorf("entry %c:%s: bad expiry %q", kind, id, value)
		}
		if kind == keyspace.KindRevokedToken {
			e.tokens[id] = exp
		} else {
			e.sessions[id] = exp
		}
	case keyspace.KindCutOff:
		us, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return fmt.Errorf("entry u:%s: bad cut-off %q", id, value)
		}
		if us > e.cutOffs[id] {
			e.cutOffs[id] = us
		}
	case keyspace.KindBan:
		if value == "" {
			delete(e.bans, id)
			return nil
		}
		b, err := parseBan(value)
		if err != nil {
			return fmt.Errorf("entry b:%s: %w", id, err)
		}
		e.bans[id] = b
	default:
		return fmt.Errorf("entry of unknown kind %q", kind)
	}
	return nil
}

// sweep drops the entries that can no longer refuse anything: tokens and
// sessions past their expiry, cut-offs older than any token can live, bans
// past their end. Memory is bounded by the live revocations.
func (e *entries) sweep(now time.Time, hold time.Duration) {
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

func newMirror() *mirror {
	m := &mirror{}
	for i := range m.parts {
		m.parts[i].entries = newEntries()
	}
	return m
}

// lookup reads the state of one token from memory. It also says whether
// every shard it read from had confirmed it was current within maxStale of
// now (unix nanoseconds): an error wrapping ErrUnavailable names the first
// that had not. The state is filled in either way, for failing open.
//
// A shard's confirmation is read before its entries: every change made
// before that confirmation was applied before it was stored, so the entries
// read hold them all.
func (m *mirror) lookup(t Token, now int64, maxStale time.Duration) (state, error) {
	var st state
	stale := -1
	if t.ID != "" {
		sh := keyspace.Shard(t.ID)
		p := &m.parts[sh]
		if !p.current(now, maxStale) {
			stale = sh
		}
		p.mu.RLock()
		_, st.tokenRevoked = p.tokens[t.ID]
		p.mu.RUnlock()
	}
	if t.SessionID != "" {
		sh := keyspace.Shard(t.SessionID)
		p := &m.parts[sh]
		if stale < 0 && !p.current(now, maxStale) {
			stale = sh
		}
		p.mu.RLock()
		_, st.sessionRevoked = p.sessions[t.SessionID]
		p.mu.RUnlock()
	}
	if t.Subject != "" {
		sh := keyspace.Shard(t.Subject)
		p := &m.parts[sh]
		if stale < 0 && !p.current(now, maxStale) {
			stale = sh
		}
		p.mu.RLock()
		if us, ok := p.cutOffs[t.Subject]; ok {
			st.cutOff = time.UnixMicro(us)
		}
		if b, ok := p.bans[t.Subject]; ok {
			banned := b // copied here, so only a banned user's check allocates
			st.ban = &banned
		}
		p.mu.RUnlock()
	}
	if stale >= 0 {
		return st, m.staleError(stale, now, maxStale)
	}
	return st, nil
}

// current reports whether the shard has confirmed it was current within
// maxStale of now (unix nanoseconds).
func (p *part) current(now int64, maxStale time.Duration) bool {
	c := p.confirmed.Load()
	return c != 0 && time.Duration(now-c) <= maxStale
}

// staleError explains why shard sh cannot answer.
func (m *mirror) staleError(sh int, now int64, maxStale time.Duration) error {
	c := m.parts[sh].confirmed.Load()
	if c == 0 {
		return fmt.Errorf("%w: revocation shard %d is not loaded yet", ErrUnavailable, sh)
	}
	return fmt.Errorf("%w: revocation shard %d is %v behind (limit %v)", ErrUnavailable, sh, time.Duration(now-c).Round(time.Millisecond), maxStale)
}

// stale lists the shards that have not confirmed they were current within
// maxStale of now, and counts those never loaded.
func (m *mirror) stale(now int64, maxStale time.Duration) (list []int, unloaded int) {
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

// set applies one entry under its shard's lock.
func (m *mirror) set(kind byte, id, value string) error {
	p := &m.parts[keyspace.Shard(id)]
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.put(kind, id, value)
}

// replace swaps in the freshly loaded state of some shards.
func (m *mirror) replace(fresh *[keyspace.Shards]entries, group []int) {
	for _, i := range group {
		p := &m.parts[i]
		p.mu.Lock()
		p.entries = fresh[i]
		p.mu.Unlock()
	}
}

// confirm records that the shards of group held every change made before t.
func (m *mirror) confirm(group []int, t time.Time) {
	for _, i := range group {
		m.parts[i].confirmed.Store(t.UnixNano())
	}
}

func (m *mirror) sweep(now time.Time, hold time.Duration) {
	for i := range m.parts {
		p := &m.parts[i]
		p.mu.Lock()
		p.sweep(now, hold)
		p.mu.Unlock()
	}
}

// size counts the entries, for the log.
func (m *mirror) size() int {
	tokens, sessions, cutOffs, bans := m.count()
	return tokens + sessions + cutOffs + bans
}

// count counts the entries of each kind, for metrics and tests.
func (m *mirror) count() (tokens, sessions, cutOffs, bans int) {
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

// errBehind ends a follow that may have missed changes the log no longer
// holds; the mirror resyncs from a snapshot.
var errBehind = errors.New("mirror fell behind the change log")

// Run keeps the mirror current until ctx ends: for each shard, a snapshot,
// then the change log from where the snapshot began, and a fresh snapshot
// after any error (an outage, a restarted Redis, a failover) or a pause
// longer than the logs are kept. Shards are followed together in one
// blocking XREAD where the store is one server, and one by one on Cluster,
// whose slots differ, so that a master's loss stalls only its own shards.
// It also sweeps expired entries. In strict mode it keeps the mirror of
// the feed, if the store has one, and else returns at once. Its
// caller owns the goroutine; it returns nil when ctx ends.
func (s *Store) Run(ctx context.Context) error {
	m := s.mirror
	if m == nil {
		return nil
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.sweepLoop(ctx)
	}()
	groups := s.groups()
	for _, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.keepCurrent(ctx, g, len(groups))
		}()
	}
	wg.Wait()
	return nil
}

// groups splits the shards into those followed together.
func (s *Store) groups() [][]int {
	if _, ok := s.rdb.(*redis.ClusterClient); ok {
		groups := make([][]int, keyspace.Shards)
		for i := range groups {
			groups[i] = []int{i}
		}
		return groups
	}
	all := make([]int, keyspace.Shards)
	for i := range all {
		all[i] = i
	}
	return [][]int{all}
}

// keepCurrent keeps one group of shards current until ctx ends. It logs the
// start and the end of each outage, not every attempt in between.
func (s *Store) keepCurrent(ctx context.Context, group []int, groups int) {
	m := s.mirror
	backoff := s.pollTimeout / 10
	var failingSince time.Time
	first := true
	for {
		start := s.now()
		pos, err := s.snapshot(ctx, group)
		if err == nil {
			switch {
			case first && m.loaded.Add(1) == int64(groups):
				s.log.Info("revocation mirror loaded", "entries", m.size(), "duration_ms", s.now().Sub(start).Milliseconds())
			case !failingSince.IsZero():
				s.log.Info("revocation mirror shards current again", "shards", group, "after_ms", s.now().Sub(failingSince).Milliseconds())
			}
			first, failingSince = false, time.Time{}
			err = s.follow(ctx, group, pos)
		}
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errBehind) {
			m.resyncsFellBehind.Add(1)
		} else {
			m.resyncsAfterError.Add(1)
		}
		if failingSince.IsZero() {
			failingSince = s.now()
			s.log.Warn("revocation mirror shards resyncing", "shards", group, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
	}
}

func (s *Store) sweepLoop(ctx context.Context) {
	t := time.NewTicker(s.sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.mirror.sweep(s.now(), s.longest+s.leeway)
		}
	}
}

// snapshot loads every entry key of the group's shards into a fresh state
// and swaps it in. It returns, for each shard, the id of the last log entry
// that existed before the scan began: following from there replays every
// change that raced the scan, so none is missed.
func (s *Store) snapshot(ctx context.Context, group []int) ([keyspace.Shards]string, error) {
	var pos [keyspace.Shards]string
	started := s.now()
	last := make([]*redis.XMessageSliceCmd, len(group))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, sh := range group {
			last[i] = p.XRevRangeN(ctx, s.keys.ChangeLog(sh), "+", "-", 1)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return pos, err
	}
	for i, c := range last {
		pos[group[i]] = "0-0"
		if msgs := c.Val(); len(msgs) > 0 {
			pos[group[i]] = msgs[0].ID
		}
	}

	var fresh [keyspace.Shards]entries
	var want [keyspace.Shards]bool
	for _, sh := range group {
		fresh[sh] = newEntries()
		want[sh] = true
	}
	var mu sync.Mutex // guards fresh when several masters are scanned at once
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		// On Cluster a group is one shard, whose keys share one slot: scan
		// the master that serves it, for that shard's keys alone.
		if len(group) != 1 {
			return pos, fmt.Errorf("blacklist: a Cluster group of %d shards", len(group))
		}
		node, err := cc.MasterForKey(ctx, s.keys.ChangeLog(group[0]))
		if err != nil {
			return pos, err
		}
		pattern := s.keys.ShardSnapshotPattern(group[0])
		err = s.scanInto(ctx, node, pattern, &fresh, &want, &mu)
		if err != nil {
			return pos, err
		}
	} else if err := s.scanInto(ctx, s.rdb, s.keys.SnapshotPattern(), &fresh, &want, &mu); err != nil {
		return pos, err
	}
	s.mirror.replace(&fresh, group)
	// The feed's subscribers cannot tell what changed across the reload:
	// they start again from a snapshot.
	s.feed.reset()
	s.mirror.confirm(group, started)
	return pos, nil
}

// snapshotBatch is how many keys one SCAN step asks for; their values come
// in one pipelined round trip. SCAN never blocks Redis the way KEYS does.
const snapshotBatch = 2000

func (s *Store) scanInto(ctx context.Context, c redis.UniversalClient, pattern string, fresh *[keyspace.Shards]entries, want *[keyspace.Shards]bool, mu *sync.Mutex) error {
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, pattern, snapshotBatch).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := s.loadBatch(ctx, c, keys, fresh, want, mu); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// loadBatch reads the values of one SCAN batch in one round trip: the TTL of
// a revoked token or session (its key holds only "1"), the value of the
// others. Entries of shards outside want are left out.
func (s *Store) loadBatch(ctx context.Context, c redis.UniversalClient, keys []string, fresh *[keyspace.Shards]entries, want *[keyspace.Shards]bool, mu *sync.Mutex) error {
	now := s.now()
	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			if kind, _, _ := s.keys.ParseEntry(k); kind == keyspace.KindRevokedToken || kind == keyspace.KindEndedSession {
				p.PTTL(ctx, k)
			} else {
				p.Get(ctx, k)
			}
		}
		return nil
	})
	// A reply error for one key (WRONGTYPE for some other key that happens
	// to match the pattern, nil for one that just expired) skips that key;
	// only a failure to talk to Redis fails the snapshot.
	var replyErr redis.Error
	if err != nil && !errors.Is(err, redis.Nil) && !errors.As(err, &replyErr) {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	for i, cmd := range cmds {
		kind, id, ok := s.keys.ParseEntry(keys[i])
		if !ok || !want[keyspace.Shard(id)] {
			continue
		}
		var v string
		switch cmd := cmd.(type) {
		case *redis.DurationCmd:
			ttl := cmd.Val()
			if cmd.Err() != nil || ttl <= 0 {
				continue // expired between SCAN and PTTL
			}
			v = unixSeconds(now.Add(ttl))
		case *redis.StringCmd:
			if cmd.Err() != nil {
				continue
			}
			v = cmd.Val()
		}
		if err := fresh[keyspace.Shard(id)].put(kind, id, v); err != nil {
			s.log.Warn("revocation mirror skips a malformed entry", "err", err)
		}
	}
	return nil
}

// follow reads the change logs of the group's shards from pos until an
// error, a gap or the end of ctx, confirming the shards after every read.
func (s *Store) follow(ctx context.Context, group []int, pos [keyspace.Shards]string) error {
	streams := make([]string, 2*len(group))
	index := map[string]int{}
	for i, sh := range group {
		streams[i] = s.keys.ChangeLog(sh)
		streams[len(group)+i] = pos[sh]
		index[streams[i]] = len(group) + i
	}
	last := s.now()
	for {
		issued := s.now()
		if issued.Sub(last) > s.hold {
			return fmt.Errorf("%w: no read for %v", errBehind, issued.Sub(last))
		}
		res, err := s.rdb.XRead(ctx, &redis.XReadArgs{Streams: streams, Count: 1000, Block: s.pollTimeout}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		for _, st := range res {
			for _, msg := range st.Messages {
				kind, _ := msg.Values["t"].(string)
				id, _ := msg.Values["id"].(string)
				value, _ := msg.Values["v"].(string)
				if len(kind) == 1 {
					if err := s.mirror.set(kind[0], id, value); err != nil {
						s.log.Warn("revocation mirror skips a malformed log entry", "stream", st.Stream, "err", err)
					} else {
						s.publish(kind[0], id, value)
						if s.onApplied != nil {
							s.onApplied(s.sinceCommit(msg.ID))
						}
					}
				}
				streams[index[st.Stream]] = msg.ID
			}
		}
		// Everything written before this XREAD was issued is now in.
		last = issued
		s.mirror.confirm(group, issued)
	}
}

// sinceCommit is how long ago, by the store's clock, Redis committed the
// change-log entry with stream id id: the id's first part is Redis's clock
// in milliseconds when it appended the entry, in the same atomic step as the
// change. Zero when the id cannot be read or lies in the future (clock skew).
func (s *Store) sinceCommit(id string) time.Duration {
	msPart, _, _ := strings.Cut(id, "-")
	ms, err := strconv.ParseInt(msPart, 10, 64)
	if err != nil {
		return 0
	}
	return max(s.now().Sub(time.UnixMilli(ms)), 0)
}
