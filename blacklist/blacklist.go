// Package blacklist holds tokenguard's revocation state in Redis: revoked
// token ids, ended sessions and per-user cut-offs. Every entry is a key whose
// TTL ends when no token it concerns could still be valid, and none lives
// longer than the longest-lived token tokenguard accepts (plus twice the
// leeway), so the state never outgrows the live tokens; only an indefinite
// ban has no TTL. The package knows nothing about HTTP or JWT parsing:
// callers hand it the few facts of a verified token it needs.
package blacklist

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/blacklist/state"
	"github.com/tokenguard/tokenguard/internal/keyspace"
	"github.com/tokenguard/tokenguard/redisconn"
)

// The errors of a check are package state's, where the decision is made,
// so that an embedded verifier answers with the very same values.
var (
	// ErrRevoked reports that a token is no longer good: the token itself,
	// its session or every token of its user issued before a cut-off was
	// revoked. The wrapping error says which: ErrTokenRevoked,
	// ErrSessionEnded or ErrCutOff.
	ErrRevoked = state.ErrRevoked
	// ErrTokenRevoked reports that the token itself was revoked. It wraps
	// ErrRevoked.
	ErrTokenRevoked = state.ErrTokenRevoked
	// ErrSessionEnded reports that the token's session has ended. It wraps
	// ErrRevoked.
	ErrSessionEnded = state.ErrSessionEnded
	// ErrCutOff reports that the token was issued before its user's
	// cut-off (a logout everywhere, or a ban). It wraps ErrRevoked.
	ErrCutOff = state.ErrCutOff
	// ErrBanned reports that the token's user is banned. It is told apart
	// from ErrRevoked so that gateways can answer 403 rather than 401.
	ErrBanned = state.ErrBanned
	// ErrUnavailable reports that the revocation state could not be read or
	// written. A check that returns it has not let the token through, and a
	// revocation that returns it has not been recorded.
	ErrUnavailable = state.ErrUnavailable
)

// Config holds the settings of a Store.
type Config struct {
	// Prefix starts every key the store writes, e.g. "tg:".
	Prefix string
	// Leeway is the clock skew verification tolerates past a token's exp;
	// a revocation must outlive the token by as much.
	Leeway time.Duration
	// MaxTokenLifetime is the longest our access tokens live. The entries
	// of our sessions (RevokeSession) are kept this long (plus Leeway),
	// after which every token they concern has expired on its own.
	MaxTokenLifetime time.Duration
	// LongestTokenLifetime is the longest any token tokenguard accepts
	// lives: ours, or a trusted issuer's (its max_token_lifetime); zero
	// means MaxTokenLifetime. No entry is kept longer than that plus the
	// leeway (twice the leeway for a revoked token, which must outlive by
	// a leeway a token that may expire a leeway from now).
	LongestTokenLifetime time.Duration
	// Clock returns the current time; nil means time.Now. Tests inject it.
	Clock func() time.Time
	// Logger receives what the store wants operators to know.
	Logger *slog.Logger
	// Writer runs the store's writes, and waits for replicas if it is told
	// to; nil writes through rdb and acknowledges once the master has them.
	Writer *redisconn.Writer

	// Mode says where checks read the state: ModeMirror (the default)
	// from a local in-memory mirror, ModeStrict from Redis every time.
	Mode Mode
	// MaxStaleness is how long the mirror may go without confirming it is
	// current before checks fail closed (default 5s).
	MaxStaleness time.Duration
	// FailOpen keeps answering when the state cannot be confirmed: from
	// the stale mirror, or, in strict mode, as if nothing were revoked.
	FailOpen bool
	// OnApplied, when not nil, is told of every change the mirror applies
	// from a change log: how long after Redis committed it (the log entry's
	// id is Redis's clock, in milliseconds) it reached this instance's
	// mirror, by the store's clock; never negative, so clock skew between
	// this host and Redis's shows as zero. It runs on the mirror's own
	// goroutines and must be quick.
	OnApplied func(delay time.Duration)
	// PollTimeout bounds each blocking read of the change logs, and so how
	// often an idle mirror confirms it is current (default 1s).
	PollTimeout time.Duration
	// SweepInterval is how often expired entries leave the mirror
	// (default 10s).
	SweepInterval time.Duration
	// FeedBacklog is how many of the latest changes the feed keeps for
	// subscribers that resume (default 4096); an older position gets a
	// fresh snapshot.
	FeedBacklog int
	// FeedBuffer is how many changes a subscriber may fall behind before
	// it is dropped (default 1024). The mirror applies changes in bursts
	// (one read of the change logs returns up to 1000 per shard when it
	// is behind), which a subscriber's buffer must absorb; it holds
	// pointers to events shared by every subscriber (8 KiB at 1024).
	FeedBuffer int
	// Feed keeps a mirror in strict mode too, for the revocation feed
	// alone: checks, readiness and StaleShards still go to Redis every
	// time, as strict mode promises; only Subscribe reads the mirror.
	// Mirror mode always keeps one and serves the feed from it.
	Feed bool
}

// Mode says where checks read the revocation state.
type Mode string

// The modes. There is no mode without a check: every build of tokenguard
// checks revocations (the load benchmark's reference that skips the check
// is a separate server in tools/bench).
const (
	ModeMirror Mode = "mirror"
	ModeStrict Mode = "strict"
)

// ParseMode reads a mode from configuration.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeMirror, ModeStrict:
		return m, nil
	}
	return "", fmt.Errorf("unknown revocation mode %q (want mirror or strict)", s)
}

// Store reads and writes the revocation state in Redis, and in mirror mode
// answers checks from a local copy of it (see Run).
type Store struct {
	rdb    redis.UniversalClient
	writer *redisconn.Writer
	keys   keyspace.Keys
	leeway time.Duration
	hold   time.Duration // how long entries of our sessions live, and an idle change log
	// longest is the longest any accepted token lives: no entry is kept
	// longer (plus the leeway).
	longest time.Duration
	now     func() time.Time
	log     *slog.Logger

	mode Mode
	// mirror is nil in strict mode unless it keeps one for the feed; only
	// in mirror mode do checks read it.
	mirror        *mirror
	maxStale      time.Duration
	failOpen      bool
	pollTimeout   time.Duration
	sweepInterval time.Duration
	lastOpenWarn  atomic.Int64
	onApplied     func(delay time.Duration)
	feed          *feed // nil when there is no mirror
}

// New returns a Store that keeps its state in rdb.
func New(rdb redis.UniversalClient, cfg Config) *Store {
	now := cfg.Clock
	if now == nil {
		now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	writer := cfg.Writer
	if writer == nil {
		writer = redisconn.NewWriter(rdb, 0, 0)
	}
	s := &Store{
		rdb:           rdb,
		writer:        writer,
		keys:          keyspace.New(cfg.Prefix),
		leeway:        cfg.Leeway,
		hold:          cfg.MaxTokenLifetime + cfg.Leeway,
		longest:       max(cfg.MaxTokenLifetime, cfg.LongestTokenLifetime),
		now:           now,
		log:           log,
		mode:          cfg.Mode,
		maxStale:      cmp.Or(cfg.MaxStaleness, 5*time.Second),
		failOpen:      cfg.FailOpen,
		pollTimeout:   cmp.Or(cfg.PollTimeout, time.Second),
		sweepInterval: cmp.Or(cfg.SweepInterval, 10*time.Second),
		onApplied:     cfg.OnApplied,
	}
	if s.mode == "" {
		s.mode = ModeMirror
	}
	if s.mode == ModeMirror || cfg.Feed {
		s.mirror = newMirror()
		s.feed = newFeed(cmp.Or(cfg.FeedBacklog, 4096), cmp.Or(cfg.FeedBuffer, 1024))
	}
	return s
}

// Token holds what a revocation check needs to know of a verified token
// (see state.Token).
type Token = state.Token

// Check reports whether a verified token is still good: nil when it is, an
// error wrapping ErrBanned when its user is banned, one wrapping ErrRevoked
// when it, its session or its user was revoked, and one wrapping
// ErrUnavailable when the state cannot be known, in which case the token must
// be refused. It is the one decision every path that accepts a token goes
// through.
func (s *Store) Check(ctx context.Context, t Token) error {
	now := s.now()
	st, err := s.lookup(ctx, t, now)
	if err != nil {
		return err
	}
	return st.Decide(t, now)
}

// lookup gathers the state of one token from wherever this store keeps it.
func (s *Store) lookup(ctx context.Context, t Token, now time.Time) (state.Facts, error) {
	if s.mode == ModeMirror {
		st, err := s.mirror.Lookup(t, now.UnixNano(), s.maxStale)
		if err != nil && !s.openOn(err) {
			return state.Facts{}, err
		}
		return st, nil
	}
	st, err := s.lookupRedis(ctx, t)
	if err != nil && s.openOn(err) {
		return state.Facts{}, nil
	}
	return st, err
}

// openOn reports whether a check that could not know the state answers
// anyway (on_store_failure: open), warning at most once a second.
func (s *Store) openOn(err error) bool {
	if !s.failOpen || !errors.Is(err, ErrUnavailable) {
		return false
	}
	if now := s.now().UnixNano(); now-s.lastOpenWarn.Load() > int64(time.Second) {
		s.lastOpenWarn.Store(now)
		s.log.Warn("FAILING OPEN: answering without a current revocation state", "err", err)
	}
	return true
}

// lookupRedis reads the state of one token from Redis in one round trip.
func (s *Store) lookupRedis(ctx context.Context, t Token) (state.Facts, error) {
	var tok, sess *redis.IntCmd
	var cut, ban *redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if t.ID != "" {
			tok = p.Exists(ctx, s.keys.Entry(keyspace.KindRevokedToken, t.ID))
		}
		if t.SessionID != "" {
			sess = p.Exists(ctx, s.keys.Entry(keyspace.KindEndedSession, t.SessionID))
		}
		if t.Subject != "" {
			cut = p.Get(ctx, s.keys.Entry(keyspace.KindCutOff, t.Subject))
			ban = p.Get(ctx, s.keys.Entry(keyspace.KindBan, t.Subject))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return state.Facts{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	st := state.Facts{
		TokenRevoked:   tok != nil && tok.Val() > 0,
		SessionRevoked: sess != nil && sess.Val() > 0,
	}
	if cut != nil && cut.Err() == nil {
		if st.CutOff, err = state.ParseCutOff(cut.Val()); err != nil {
			return state.Facts{}, err
		}
	}
	if ban != nil && ban.Err() == nil {
		b, err := state.ParseBan(ban.Val())
		if err != nil {
			return state.Facts{}, err
		}
		st.Ban = &b
	}
	return st, nil
}

// RevokeToken revokes one token until it expires. A token already past its
// exp (and the leeway) is not written: it can no longer be used anyway, and a
// non-positive TTL would store the key with no expiry. An exp later than any
// accepted token can have (now + the longest lifetime + the leeway) is
// taken as that: verification refuses such a token anyway, and no entry
// outlives the tokens.
func (s *Store) RevokeToken(ctx context.Context, id string, exp time.Time) error {
	if id == "" {
		return errors.New("blacklist: a token without an id cannot be revoked by id")
	}
	now := s.now()
	if latest := now.Add(s.longest + s.leeway); exp.After(latest) {
		exp = latest
	}
	until := exp.Add(s.leeway)
	ttl := until.Sub(now)
	if ttl < time.Millisecond {
		return nil
	}
	return s.apply(ctx, change{kind: keyspace.KindRevokedToken, id: id, value: unixSeconds(until), ttl: ttl})
}

// RevokeSession ends one of our sessions: every token carrying its id is
// refused from now on. The entry lives as long as a token of that session
// can.
func (s *Store) RevokeSession(ctx context.Context, sessionID string) error {
	return s.endSession(ctx, sessionID, s.hold)
}

// RevokeSessions ends many sessions, as RevokeSession ends each, in as few
// writes as their shards allow: one user's sessions share a shard, so ending
// all of them (a global logout, a ban) takes one write per
// maxChangesPerWrite sessions instead of one each. On an error, some of the
// sessions may be ended already; repeating the call does no harm.
func (s *Store) RevokeSessions(ctx context.Context, ids []string) error {
	byShard := make(map[int][]change)
	var order []int
	for _, id := range ids {
		sh := keyspace.Shard(id)
		if _, seen := byShard[sh]; !seen {
			order = append(order, sh)
		}
		byShard[sh] = append(byShard[sh], change{kind: keyspace.KindEndedSession, id: id, value: unixSeconds(s.now().Add(s.hold)), ttl: s.hold})
	}
	for _, sh := range order {
		for batch := range slices.Chunk(byShard[sh], maxChangesPerWrite) {
			if err := s.apply(ctx, batch...); err != nil {
				return err
			}
		}
	}
	return nil
}

// maxChangesPerWrite bounds the entries one script call writes, which keeps
// each call short: Redis runs nothing else meanwhile.
const maxChangesPerWrite = 256

// EndSession ends a session whose tokens live at most life (a trusted
// issuer's session: its max_token_lifetime). The entry lives life plus the
// leeway, the longest a token of the session can still be accepted.
func (s *Store) EndSession(ctx context.Context, sessionID string, life time.Duration) error {
	hold, err := s.holdFor(life)
	if err != nil {
		return err
	}
	return s.endSession(ctx, sessionID, hold)
}

func (s *Store) endSession(ctx context.Context, sessionID string, hold time.Duration) error {
	return s.apply(ctx, change{kind: keyspace.KindEndedSession, id: sessionID, value: unixSeconds(s.now().Add(hold)), ttl: hold})
}

// CutOff refuses every token of subject issued at or before at. life is
// the longest a token of the user lives (our access TTL, or their issuer's
// max_token_lifetime): the cut-off is kept that long plus the leeway, after
// which every token it concerns has expired on its own. A later cut-off
// replaces an earlier one, never the other way round.
func (s *Store) CutOff(ctx context.Context, subject string, at time.Time, life time.Duration) error {
	c, err := s.cutOffChange(subject, at, life)
	if err != nil {
		return err
	}
	return s.apply(ctx, c)
}

func (s *Store) cutOffChange(subject string, at time.Time, life time.Duration) (change, error) {
	hold, err := s.holdFor(life)
	if err != nil {
		return change{}, err
	}
	return change{kind: keyspace.KindCutOff, id: subject, value: strconv.FormatInt(at.UnixMicro(), 10), ttl: hold, keepMax: true}, nil
}

// holdFor is how long an entry about tokens that live at most life is
// kept: life plus the leeway, and never longer than the longest-lived
// token lasts.
func (s *Store) holdFor(life time.Duration) (time.Duration, error) {
	if life <= 0 {
		return 0, fmt.Errorf("blacklist: a token lifetime is required, got %v", life)
	}
	return min(life, s.longest) + s.leeway, nil
}

// CutOffOf returns the user's cut-off, if one is in force.
func (s *Store) CutOffOf(ctx context.Context, subject string) (time.Time, bool, error) {
	v, err := s.rdb.Get(ctx, s.keys.Entry(keyspace.KindCutOff, subject)).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	at, err := state.ParseCutOff(v)
	return at, err == nil, err
}

// Ready reports whether the store can answer checks. In mirror mode: not
// before every shard has loaded once, and not when every shard is stale and
// failing closed. Some stale shards do not make the store unready: it still
// answers every user whose shards are current, and the other instances share
// its Redis, so routing elsewhere would not help (StaleShards names them).
// In strict mode: while Redis answers, whatever the state of a mirror kept
// for the feed (Subscribe says whether that one is loaded).
func (s *Store) Ready(ctx context.Context) error {
	if s.mode == ModeMirror {
		stale, unloaded := s.mirror.Stale(s.now().UnixNano(), s.maxStale)
		switch {
		case unloaded > 0:
			return fmt.Errorf("%w: the revocation mirror has not loaded %d of %d shards yet", ErrUnavailable, unloaded, keyspace.Shards)
		case len(stale) == keyspace.Shards && !s.failOpen:
			return fmt.Errorf("%w: every revocation shard is stale (limit %v)", ErrUnavailable, s.maxStale)
		}
		return nil
	}
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// StaleShards lists the shards (see keyspace.Shard) whose part of the mirror has not
// confirmed it was current within the staleness bound: checks of tokens
// whose id, session or user falls in one get on_store_failure's answer. It
// is empty in strict mode, where checks never read the mirror.
func (s *Store) StaleShards() []int {
	if s.mode != ModeMirror {
		return nil
	}
	stale, _ := s.mirror.Stale(s.now().UnixNano(), s.maxStale)
	return stale
}

// Stats describes the mirror, for metrics and tests. It holds plain
// numbers, so that any caller (the metrics of the service, an embedded
// verifier) can report them its own way.
type Stats struct {
	// Mirror is false when the store keeps no mirror (strict mode without
	// the feed), and every other field is then zero. In strict mode with
	// the feed the figures describe the mirror the feed is served from.
	Mirror bool
	// Entries is the number of revocation entries held in memory: the sum
	// of the four counts that follow.
	Entries int
	// Tokens, Sessions, CutOffs and Bans count the entries of each kind:
	// revoked tokens, ended sessions, user cut-offs and bans.
	Tokens, Sessions, CutOffs, Bans int
	// Resyncs counts the times a group of shards had to be loaded again:
	// ResyncsAfterError (Redis could not be read, or a follow failed) plus
	// ResyncsFellBehind (a change log had a gap: entries trimmed before
	// the mirror read them, because it paused longer than the logs keep
	// their entries, ChangeLogWindow).
	Resyncs, ResyncsAfterError, ResyncsFellBehind int64
	// Confirmed is the oldest of the shards' confirmations that they were
	// current; zero until every shard has loaded.
	Confirmed time.Time
	// Shards holds, for each shard (see keyspace.Shard), when it last
	// confirmed it was current; zero until it has loaded.
	Shards [keyspace.Shards]time.Time
	// At is when the stats were taken, on the store's clock: At minus a
	// shard's confirmation is how far behind that shard may be.
	At time.Time
	// FeedSubscribers is the number of subscriptions to the feed.
	FeedSubscribers int
}

// Stats reports on the mirror; zero when there is none.
func (s *Store) Stats() Stats {
	if s.mirror == nil {
		return Stats{}
	}
	st := Stats{Mirror: true, At: s.now()}
	m := s.mirror
	st.Tokens, st.Sessions, st.CutOffs, st.Bans = m.Count()
	st.Entries = st.Tokens + st.Sessions + st.CutOffs + st.Bans
	st.ResyncsAfterError = m.resyncsAfterError.Load()
	st.ResyncsFellBehind = m.resyncsFellBehind.Load()
	st.Resyncs = st.ResyncsAfterError + st.ResyncsFellBehind
	st.FeedSubscribers = s.feed.subscribers()
	oldest := int64(0)
	loaded := true
	for i := range keyspace.Shards {
		c := m.Confirmed(i)
		if c.IsZero() {
			loaded = false
			continue
		}
		st.Shards[i] = c
		if oldest == 0 || c.UnixNano() < oldest {
			oldest = c.UnixNano()
		}
	}
	if loaded {
		st.Confirmed = time.Unix(0, oldest)
	}
	return st
}

func unixSeconds(t time.Time) string {
	// Rounded up, so that the entry never ends before the token does.
	return strconv.FormatInt((t.UnixMilli()+999)/1000, 10)
}
