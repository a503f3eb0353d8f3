package blacklist

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/internal/keyspace"
)

// mirror is this instance's in-memory copy of the whole revocation state, so
// that a check makes no network call. It is loaded from a snapshot of the
// keys, then kept current by following the shards' change logs; the
// instance's own writes are applied to it before they are acknowledged.
type mirror struct {
	parts [keyspace.Shards]part

	// confirmed is when the mirror last knew it held every change (unix
	// nanoseconds); zero until the first snapshot is in.
	confirmed atomic.Int64
	resyncs   atomic.Int64
}

// part is one shard's share of the mirror, under its own lock so that
// checks on different shards never contend.
type part struct {
	mu sync.RWMutex
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

// lookup reads the state of one token from memory.
func (m *mirror) lookup(t Token) state {
	var st state
	if t.ID != "" {
		p := &m.parts[keyspace.Shard(t.ID)]
		p.mu.RLock()
		_, st.tokenRevoked = p.tokens[t.ID]
		p.mu.RUnlock()
	}
	if t.SessionID != "" {
		p := &m.parts[keyspace.Shard(t.SessionID)]
		p.mu.RLock()
		_, st.sessionRevoked = p.sessions[t.SessionID]
		p.mu.RUnlock()
	}
	if t.Subject != "" {
		p := &m.parts[keyspace.Shard(t.Subject)]
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
	return st
}

// set applies one entry under its shard's lock.
func (m *mirror) set(kind byte, id, value string) error {
	p := &m.parts[keyspace.Shard(id)]
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.put(kind, id, value)
}

// replace swaps in a freshly loaded state, shard by shard.
func (m *mirror) replace(fresh *[keyspace.Shards]entries) {
	for i := range m.parts {
		p := &m.parts[i]
		p.mu.Lock()
		p.entries = fresh[i]
		p.mu.Unlock()
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

// size counts the entries, for metrics and tests.
func (m *mirror) size() int {
	n := 0
	for i := range m.parts {
		p := &m.parts[i]
		p.mu.RLock()
		n += len(p.tokens) + len(p.sessions) + len(p.cutOffs) + len(p.bans)
		p.mu.RUnlock()
	}
	return n
}

// errBehind ends a follow that may have missed changes the log no longer
// holds; the mirror resyncs from a snapshot.
var errBehind = errors.New("mirror fell behind the change log")

// Run keeps the mirror current until ctx ends: a snapshot, then the change
// logs from where the snapshot began, and a fresh snapshot after any error
// (an outage, a restarted Redis) or a pause longer than the logs are kept.
// It also sweeps expired entries. In strict mode it returns at once. Its
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
	defer wg.Wait()

	backoff := s.pollTimeout / 10
	for {
		start := s.now()
		pos, err := s.snapshot(ctx)
		if err == nil {
			s.log.Info("revocation mirror loaded", "entries", m.size(), "duration_ms", s.now().Sub(start).Milliseconds())
			err = s.follow(ctx, pos, start)
		}
		if ctx.Err() != nil {
			return nil
		}
		m.resyncs.Add(1)
		s.log.Warn("revocation mirror resyncing", "err", err)
		select {
		case <-ctx.Done():
			return nil
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
			s.mirror.sweep(s.now(), s.hold)
		}
	}
}

// snapshot loads every entry key into a fresh state and swaps it in. It
// returns, for each shard, the id of the last log entry that existed before
// the scan began: following from there replays every change that raced the
// scan, so none is missed.
func (s *Store) snapshot(ctx context.Context) ([keyspace.Shards]string, error) {
	var pos [keyspace.Shards]string
	started := s.now()
	last := make([]*redis.XMessageSliceCmd, keyspace.Shards)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range last {
			last[i] = p.XRevRangeN(ctx, s.keys.ChangeLog(i), "+", "-", 1)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return pos, err
	}
	for i, c := range last {
		pos[i] = "0-0"
		if msgs := c.Val(); len(msgs) > 0 {
			pos[i] = msgs[0].ID
		}
	}

	var fresh [keyspace.Shards]entries
	for i := range fresh {
		fresh[i] = newEntries()
	}
	var mu sync.Mutex // guards fresh when several masters are scanned at once
	scan := func(ctx context.Context, c redis.UniversalClient) error {
		return s.scanInto(ctx, c, &fresh, &mu)
	}
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, s.rdb)
	}
	if err != nil {
		return pos, err
	}
	s.mirror.replace(&fresh)
	s.mirror.confirm(started)
	return pos, nil
}

// snapshotBatch is how many keys one SCAN step asks for; their values come
// in one pipelined round trip. SCAN never blocks Redis the way KEYS does.
const snapshotBatch = 2000

func (s *Store) scanInto(ctx context.Context, c redis.UniversalClient, fresh *[keyspace.Shards]entries, mu *sync.Mutex) error {
	var cursor uint64
	pattern := s.keys.SnapshotPattern()
	for {
		keys, next, err := c.Scan(ctx, cursor, pattern, snapshotBatch).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := s.loadBatch(ctx, c, keys, fresh, mu); err != nil {
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
// others.
func (s *Store) loadBatch(ctx context.Context, c redis.UniversalClient, keys []string, fresh *[keyspace.Shards]entries, mu *sync.Mutex) error {
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
		if !ok {
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

// follow reads the change logs from pos until an error, a gap or the end of
// ctx. Shards are read together in one blocking XREAD where the store allows
// it, and one reader per shard on Cluster, whose slots differ.
func (s *Store) follow(ctx context.Context, pos [keyspace.Shards]string, since time.Time) error {
	var groups [][]int
	if _, ok := s.rdb.(*redis.ClusterClient); ok {
		for i := 0; i < keyspace.Shards; i++ {
			groups = append(groups, []int{i})
		}
	} else {
		all := make([]int, keyspace.Shards)
		for i := range all {
			all[i] = i
		}
		groups = [][]int{all}
	}
	confirmed := make([]atomic.Int64, len(groups))
	for i := range confirmed {
		confirmed[i].Store(since.UnixNano())
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for g, shardsOf := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cancel(s.followGroup(ctx, shardsOf, pos, func(t time.Time) {
				confirmed[g].Store(t.UnixNano())
				oldest := t.UnixNano()
				for i := range confirmed {
					oldest = min(oldest, confirmed[i].Load())
				}
				s.mirror.confirmed.Store(oldest)
			}))
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}

func (s *Store) followGroup(ctx context.Context, group []int, pos [keyspace.Shards]string, confirm func(time.Time)) error {
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
					}
				}
				streams[index[st.Stream]] = msg.ID
			}
		}
		// Everything written before this XREAD was issued is now in.
		last = issued
		confirm(issued)
	}
}

func (m *mirror) confirm(t time.Time) { m.confirmed.Store(t.UnixNano()) }

// fresh tells whether the mirror may answer at now: it must have been loaded
// and have confirmed it was current within maxStale.
func (m *mirror) fresh(now time.Time, maxStale time.Duration) error {
	c := m.confirmed.Load()
	if c == 0 {
		return fmt.Errorf("%w: the revocation mirror is not loaded yet", ErrUnavailable)
	}
	if age := now.Sub(time.Unix(0, c)); age > maxStale {
		return fmt.Errorf("%w: the revocation mirror is %v behind (limit %v)", ErrUnavailable, age.Round(time.Millisecond), maxStale)
	}
	return nil
}
