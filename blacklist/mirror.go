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

	"github.com/tokenguard/tokenguard/blacklist/state"
	"github.com/tokenguard/tokenguard/internal/keyspace"
)

// mirror is this instance's in-memory copy of the whole revocation state, so
// that a check makes no network call. Each shard is loaded from a snapshot
// of its keys, then kept current by following its change log; the
// instance's own writes are applied to it before they are acknowledged.
//
// The state and the lookup are package state's, free of Redis, so that an
// embedded verifier keeps and reads the very same state; what is here is
// how this store keeps it current.
type mirror struct {
	*state.Mirror
	// resyncsAfterError and resyncsFellBehind count the resyncs by cause.
	resyncsAfterError atomic.Int64
	resyncsFellBehind atomic.Int64
	// loaded counts the follower groups that have loaded once, so that the
	// first full load is logged once.
	loaded atomic.Int64
}

func newMirror() *mirror { return &mirror{Mirror: state.NewMirror()} }

// size counts the entries, for the log.
func (m *mirror) size() int {
	tokens, sessions, cutOffs, bans := m.Count()
	return tokens + sessions + cutOffs + bans
}

// errBehind ends a follow that may have missed changes the log no longer
// holds; the mirror resyncs from a snapshot.
var errBehind = errors.New("mirror fell behind the change log")

// logPos is where a mirror stands in one shard's change log: the id of the
// last entry it read, and the number (n) the next entry must carry; zero
// when it cannot tell, after an entry that carries no number (one written
// by an older tokenguard).
type logPos struct {
	id   string
	next int64
}

// Run keeps the mirror current until ctx ends: for each shard, a snapshot,
// then the change log from where the snapshot began, and a fresh snapshot
// after any error (an outage, a restarted Redis, a failover) or a gap in a
// log (entries trimmed before this mirror read them). Shards are followed
// together in one blocking XREAD where the store is one server, and one by
// one on Cluster, whose slots differ, so that a master's loss stalls only
// its own shards. It also sweeps expired entries. In strict mode it keeps
// the mirror of the feed, if the store has one, and else returns at once.
// Its caller owns the goroutine; it returns nil when ctx ends.
func (s *Store) Run(ctx context.Context) error {
	m := s.mirror
	if m == nil {
		return nil
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.SweepEvery(ctx, s.sweepInterval, s.now, s.longest+s.leeway)
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

// snapshot loads every entry key of the group's shards into a fresh state
// and swaps it in. It returns, for each shard, the last log entry that
// existed before the scan began: following from there replays every change
// that raced the scan, so none is missed, as long as the log still holds
// them when the follow begins (ChangeLogWindow); if it does not, the follow
// sees the gap and the mirror loads again.
func (s *Store) snapshot(ctx context.Context, group []int) ([keyspace.Shards]logPos, error) {
	var pos [keyspace.Shards]logPos
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
		// An empty log's first entry will be number 1.
		pos[group[i]] = logPos{id: "0-0", next: 1}
		if msgs := c.Val(); len(msgs) > 0 {
			pos[group[i]] = logPos{id: msgs[0].ID, next: following(entryNumber(msgs[0].Values))}
		}
	}

	var fresh [keyspace.Shards]state.Entries
	var want [keyspace.Shards]bool
	for _, sh := range group {
		fresh[sh] = state.NewEntries()
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
	if took := s.now().Sub(started); took > s.logWindow()/2 {
		s.log.Warn("revocation mirror snapshot took more than half the change log's window: a larger state could never catch up",
			"shards", group, "duration_ms", took.Milliseconds(), "window", s.logWindow())
	}
	s.mirror.Replace(&fresh, group)
	// The feed's subscribers cannot tell what changed across the reload:
	// they start again from a snapshot.
	s.feed.reset()
	s.mirror.Confirm(group, started)
	return pos, nil
}

// snapshotBatch is how many keys one SCAN step asks for; their values come
// in one pipelined round trip. SCAN never blocks Redis the way KEYS does.
const snapshotBatch = 2000

func (s *Store) scanInto(ctx context.Context, c redis.UniversalClient, pattern string, fresh *[keyspace.Shards]state.Entries, want *[keyspace.Shards]bool, mu *sync.Mutex) error {
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
func (s *Store) loadBatch(ctx context.Context, c redis.UniversalClient, keys []string, fresh *[keyspace.Shards]state.Entries, want *[keyspace.Shards]bool, mu *sync.Mutex) error {
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
		if err := fresh[keyspace.Shard(id)].Put(kind, id, v); err != nil {
			s.log.Warn("revocation mirror skips a malformed entry", "err", err)
		}
	}
	return nil
}

// follow reads the change logs of the group's shards from pos until an
// error, a gap or the end of ctx, confirming the shards after every read.
//
// A gap shows as an entry whose number does not follow the last one read:
// the entries between were trimmed before this mirror read them (it paused
// longer than ChangeLogWindow, or its snapshot took longer), or Redis lost
// them (a restart, a failover to a replica that lacked them). Either way the
// state may hold changes the mirror never saw, so it loads again (see gap:
// a log that expired while idle starts again at 1 without one). Entries
// without a number (written by an older tokenguard) cannot show a gap: for
// them, not having read for longer than the window counts as one.
func (s *Store) follow(ctx context.Context, group []int, pos [keyspace.Shards]logPos) error {
	streams := make([]string, 2*len(group))
	index := map[string]int{}
	next := make([]int64, len(group)) // by the stream's index in streams
	for i, sh := range group {
		streams[i] = s.keys.ChangeLog(sh)
		streams[len(group)+i] = pos[sh].id
		next[i] = pos[sh].next
		index[streams[i]] = i
	}
	last := s.now()
	for {
		issued := s.now()
		if issued.Sub(last) > s.logWindow() {
			return fmt.Errorf("%w: no read for %v", errBehind, issued.Sub(last))
		}
		res, err := s.rdb.XRead(ctx, &redis.XReadArgs{Streams: streams, Count: 1000, Block: s.pollTimeout}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		for _, st := range res {
			i := index[st.Stream]
			for _, msg := range st.Messages {
				n := entryNumber(msg.Values)
				if s.gap(streams[len(group)+i], next[i], msg.ID, n) {
					return fmt.Errorf("%w: %s: entry %s is number %d, want %d", errBehind, st.Stream, msg.ID, n, next[i])
				}
				next[i] = following(n)
				kind, _ := msg.Values["t"].(string)
				id, _ := msg.Values["id"].(string)
				value, _ := msg.Values["v"].(string)
				if len(kind) == 1 {
					if en, err := state.Decode(kind[0], id, value); err != nil {
						s.log.Warn("revocation mirror skips a malformed log entry", "stream", st.Stream, "err", err)
					} else {
						s.mirror.Apply(en)
						s.publish(en)
						if s.onApplied != nil {
							s.onApplied(s.sinceCommit(msg.ID))
						}
					}
				}
				streams[len(group)+i] = msg.ID
			}
		}
		// Everything written before this XREAD was issued is now in.
		last = issued
		s.mirror.Confirm(group, issued)
	}
}

// entryNumber reads the number (n) of a change-log entry; zero when it has
// none.
func entryNumber(values map[string]any) int64 {
	v, _ := values["n"].(string)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// gap reports whether the entry with id id and number n leaves out entries
// after prev, the last entry read, after which number next was due. An
// entry numbered 1 starts a new log, and leaves nothing out if the old log
// expired while idle, which it does only after its TTL (the hold) without a
// write; otherwise the log was lost (a restart, a failover) with entries
// this mirror may not have read.
func (s *Store) gap(prev string, next int64, id string, n int64) bool {
	switch {
	case next == 0 || n == 0 || n == next:
		return false
	case n == 1:
		from, ok1 := idMillis(prev)
		to, ok2 := idMillis(id)
		return !ok1 || !ok2 || to-from < s.hold.Milliseconds()
	}
	return true
}

// following is the number the entry after number n must carry; zero (any)
// after an entry without a number.
func following(n int64) int64 {
	if n == 0 {
		return 0
	}
	return n + 1
}

// sinceCommit is how long ago, by the store's clock, Redis committed the
// change-log entry with stream id id: the id's first part is Redis's clock
// in milliseconds when it appended the entry, in the same atomic step as the
// change. Zero when the id cannot be read or lies in the future (clock skew).
func (s *Store) sinceCommit(id string) time.Duration {
	ms, ok := idMillis(id)
	if !ok {
		return 0
	}
	return max(s.now().Sub(time.UnixMilli(ms)), 0)
}

// idMillis reads Redis's clock, in milliseconds, from a stream entry id.
func idMillis(id string) (int64, bool) {
	msPart, _, _ := strings.Cut(id, "-")
	ms, err := strconv.ParseInt(msPart, 10, 64)
	return ms, err == nil
}
