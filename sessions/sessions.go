// Package sessions keeps tokenguard's device sessions in Redis: who logged
// in, with which client, from which device, and the state of the session's
// refresh token. The refresh token is the one stateful token: every use
// rotates it, a replayed one that was rotated away ends the whole session,
// and only hashes of it are ever stored.
//
// Every key of a session lives in the hash-tag shard of its user
// (keyspace.Shard), and a session id is drawn so that it falls in that
// shard too. A session id alone therefore locates all of the user's keys, and
// the scripts that touch several of them run on one Redis Cluster slot.
package sessions

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/internal/keyspace"
	"github.com/tokenguard/tokenguard/redisconn"
)

var (
	// ErrNotFound reports that there is no such session, or none that the
	// caller may see.
	ErrNotFound = errors.New("session not found")
	// ErrInvalidGrant reports a refresh token that cannot be redeemed: it is
	// malformed, unknown, expired, ended or was issued to another client.
	ErrInvalidGrant = errors.New("invalid refresh token")
	// ErrReused reports a refresh token that had already been rotated away
	// and was presented again. The session has been ended by the time it is
	// returned. It wraps ErrInvalidGrant.
	ErrReused = fmt.Errorf("%w: it was already used, the session has been ended", ErrInvalidGrant)
	// ErrScope reports a refresh asking for a scope beyond the session's.
	ErrScope = errors.New("the scope exceeds the session's")
	// ErrUnavailable reports that the session state could not be read or
	// written.
	ErrUnavailable = errors.New("session store unavailable")
	// ErrBadCursor reports a PageRequest.Before that is not the Next of a
	// page.
	ErrBadCursor = errors.New("sessions: before is not a cursor of a session list")
)

// Revoker makes every access token of a session fail at once; the
// blacklist store is one. RevokeSessions does the same for many sessions,
// in as few writes as it can.
type Revoker interface {
	RevokeSession(ctx context.Context, sessionID string) error
	RevokeSessions(ctx context.Context, sessionIDs []string) error
}

// Causes of the endings the store decides on its own authority, rather
// than because a caller asked for that session to end: they come back with
// the call that caused them (Open's evicted sessions, Refresh's EndedError,
// RevokeRefreshToken's session), for the caller to record.
const (
	// CauseReuse: a refresh token that had been rotated away was presented.
	CauseReuse = "refresh_reuse"
	// CauseRevoked: a live refresh token was revoked (RFC 7009).
	CauseRevoked = "refresh_revoked"
	// CauseEvicted: the user opened more than sessions.max_per_user.
	CauseEvicted = "session_evicted"
	// CauseExhausted: the session rotated its refresh token MaxGenerations
	// times.
	CauseExhausted = "refresh_exhausted"
)

// EndedError reports a refresh that ended its session instead: Cause says
// why (CauseReuse or CauseExhausted). It wraps ErrInvalidGrant (and, for a
// replay, ErrReused).
type EndedError struct {
	Session Session
	Cause   string
	err     error
}

func (e *EndedError) Error() string { return e.err.Error() }
func (e *EndedError) Unwrap() error { return e.err }

// Config holds the settings of a Store.
type Config struct {
	// Prefix starts every key, e.g. "tg:"; the same as the blacklist's.
	Prefix string
	// RefreshTTL is how long a session lives without being used; every
	// refresh restarts it.
	RefreshTTL time.Duration
	// MaxAge is the absolute limit of a session, however much it is used.
	MaxAge time.Duration
	// ReuseWindow is how long after a rotation the previous refresh token
	// still recovers the current one instead of ending the session; zero
	// makes refresh tokens strictly single-use.
	ReuseWindow time.Duration
	// MaxPerUser caps the live sessions of one user; opening one more ends
	// the oldest. Zero means no cap.
	MaxPerUser int
	// AccessTokenLife is the longest an access token lives, leeway
	// included. A session's state is kept this much longer than its refresh
	// token, so that ending it still reaches the access token it issued last.
	AccessTokenLife time.Duration
	// Revoker ends the access tokens of a session that ends. Required.
	Revoker Revoker
	// Clock returns the current time; nil means time.Now. Tests inject it.
	Clock  func() time.Time
	Logger *slog.Logger
	// Writer runs the store's writes, and waits for replicas if it is told
	// to; nil writes through rdb and acknowledges once the master has them.
	Writer *redisconn.Writer
}

// Store keeps sessions in Redis.
type Store struct {
	rdb     redis.UniversalClient
	writer  *redisconn.Writer
	keys    keyspace.Keys
	idle    time.Duration
	maxAge  time.Duration
	window  time.Duration
	maxUser int
	tail    time.Duration
	revoker Revoker
	now     func() time.Time
	log     *slog.Logger
}

// New returns a Store that keeps its state in rdb.
func New(rdb redis.UniversalClient, cfg Config) *Store {
	s := &Store{
		rdb:     rdb,
		keys:    keyspace.New(cfg.Prefix),
		idle:    cfg.RefreshTTL,
		maxAge:  cfg.MaxAge,
		window:  cfg.ReuseWindow,
		maxUser: cfg.MaxPerUser,
		tail:    cfg.AccessTokenLife,
		revoker: cfg.Revoker,
		writer:  cfg.Writer,
		now:     cfg.Clock,
		log:     cfg.Logger,
	}
	if s.writer == nil {
		s.writer = redisconn.NewWriter(rdb, 0, 0)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Device says where a session was opened from, as the app reported it.
type Device struct {
	Name      string
	IP        string
	UserAgent string
}

// Session is one login of one user on one device.
type Session struct {
	ID       string
	Subject  string
	ClientID string
	// Scope is the scope of the session's access tokens.
	Scope string
	// Claims are the extra claims of the session's access tokens. Read back
	// from the store, their values are json.RawMessage, so that they are
	// issued again exactly as they were given.
	Claims     map[string]any
	CreatedAt  time.Time
	LastUsedAt time.Time
	// ExpiresAt is when the session ends unless it is used before: the
	// earlier of LastUsedAt + RefreshTTL and CreatedAt + MaxAge.
	ExpiresAt time.Time
	Device    Device
	// generation is how many times the refresh token was rotated, and
	// rotatedAt when it was last (zero before the first rotation).
	generation int64
	rotatedAt  time.Time
}

// idBytes is the size of a session id: 128 random bits.
const idBytes = 16

// maxIDDraws bounds the search for an id in the user's shard. Each draw
// lands there with probability 1/16; a thousand misses in a row do not
// happen.
const maxIDDraws = 1000

// NewID returns a random session id (128 bits, base64url) that falls in the
// same shard as subject, so that the id alone locates the user's keys.
func NewID(subject string) (string, error) {
	want := keyspace.Shard(subject)
	var b [idBytes]byte
	for range maxIDDraws {
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("generate session id: %w", err)
		}
		id := base64.RawURLEncoding.EncodeToString(b[:])
		if keyspace.Shard(id) == want {
			return id, nil
		}
	}
	return "", errors.New("generate session id: no id in the user's shard")
}

// validID reports whether id has the shape of a session id, spelled the
// one way NewID spells it.
func validID(id string) bool {
	_, ok := decodeCanonical(id, idBytes)
	return ok
}

// Open stores a new session, whose ID comes from NewID(sess.Subject), and
// returns its first refresh token. When the user now has more sessions than
// MaxPerUser, the oldest are ended (CauseEvicted) and returned.
func (s *Store) Open(ctx context.Context, sess Session) (token string, evicted []Session, err error) {
	if sess.Subject == "" || !validID(sess.ID) || keyspace.Shard(sess.ID) != keyspace.Shard(sess.Subject) {
		return "", nil, errors.New("sessions: a session needs a subject and an id from NewID(subject)")
	}
	claims := []byte("{}")
	if len(sess.Claims) > 0 {
		if claims, err = json.Marshal(sess.Claims); err != nil {
			return "", nil, fmt.Errorf("sessions: claims: %w", err)
		}
	}
	tok, err := firstToken(sess.ID)
	if err != nil {
		return "", nil, err
	}
	now := s.now()
	nowMS := now.UnixMilli()
	end := now.Add(s.maxAge).UnixMilli()
	ttl := min(s.idle, s.maxAge) + s.tail
	// Not idempotent, but safe to retry: a retry opens another session,
	// and one whose answer was lost never had its refresh token handed
	// out; it lapses by itself, or the cap evicts it first.
	_, err = s.writer.Run(ctx, openScript,
		[]string{s.keys.Session(sess.ID), s.keys.RefreshHistory(sess.ID), s.keys.UserSessions(sess.Subject)},
		ttl.Milliseconds(), (s.maxAge + s.tail).Milliseconds(), nowMS, sess.ID, tok.fingerprint(),
		"sub", sess.Subject,
		"cid", sess.ClientID,
		"scope", sess.Scope,
		"claims", string(claims),
		"created", nowMS,
		"used", nowMS,
		"end", end,
		"ip", sess.Device.IP,
		"ua", sess.Device.UserAgent,
		"name", sess.Device.Name,
		"gen", 0,
		"cur", tok.hash(),
		"prev", "",
		"rot", 0,
	)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if s.maxUser > 0 {
		if evicted, err = s.evict(ctx, sess.Subject, sess.ID); err != nil {
			// The session is open; the cap is enforced again at the next
			// login.
			s.log.ErrorContext(ctx, "evict sessions over the cap", "sub", sess.Subject, "err", err)
		}
	}
	return tok.String(), evicted, nil
}

// openScript stores a session, the fingerprint of its first refresh token
// and its place in the user's index, which lives as long as the youngest
// session could.
//
// KEYS: session, history, user index. ARGV: session TTL (ms), index TTL
// (ms), created (ms), session id, first fingerprint, then the session's
// fields as name, value pairs.
var openScript = redis.NewScript(`
local fields = {}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[3], ARGV[2])
end
return 1
`)

// evict ends the user's oldest sessions beyond the cap, never keep, and
// returns those it ended.
func (s *Store) evict(ctx context.Context, subject, keep string) ([]Session, error) {
	// The index holds every session with state, the live ones among them:
	// within the cap, there is nothing to read.
	n, err := s.rdb.ZCard(ctx, s.keys.UserSessions(subject)).Result()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if n <= int64(s.maxUser) {
		return nil, nil
	}
	var live []Session
	now := s.now()
	err = s.walk(ctx, subject, cursor{}, func(batch []Session, _ []cursor) (bool, error) {
		for _, sess := range batch {
			if sess.live(now) {
				live = append(live, sess)
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	var ended []Session
	excess := len(live) - s.maxUser
	// walk is newest first: the oldest are at the end.
	for i := len(live) - 1; i >= 0 && excess > 0; i-- {
		if live[i].ID == keep {
			continue
		}
		sess, err := s.End(ctx, live[i].ID)
		if errors.Is(err, ErrNotFound) {
			excess--
			continue
		}
		if err != nil {
			return ended, err
		}
		excess--
		ended = append(ended, sess)
	}
	return ended, nil
}

// Get returns a session that has state, live or within its last access
// token's lifetime; ErrNotFound otherwise.
func (s *Store) Get(ctx context.Context, id string) (Session, error) {
	if !validID(id) {
		return Session{}, ErrNotFound
	}
	m, err := s.rdb.HGetAll(ctx, s.keys.Session(id)).Result()
	if err != nil {
		return Session{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if len(m) == 0 {
		return Session{}, ErrNotFound
	}
	return s.decode(id, m)
}

// decode builds a Session from its hash fields.
func (s *Store) decode(id string, m map[string]string) (Session, error) {
	num := func(k string) int64 {
		n, _ := strconv.ParseInt(m[k], 10, 64)
		return n
	}
	sess := Session{
		ID:         id,
		Subject:    m["sub"],
		ClientID:   m["cid"],
		Scope:      m["scope"],
		CreatedAt:  time.UnixMilli(num("created")),
		LastUsedAt: time.UnixMilli(num("used")),
		Device:     Device{Name: m["name"], IP: m["ip"], UserAgent: m["ua"]},
		generation: num("gen"),
	}
	if rot := num("rot"); rot > 0 {
		sess.rotatedAt = time.UnixMilli(rot)
	}
	if sess.Subject == "" {
		// A hash we did not write: refuse rather than guess.
		return Session{}, fmt.Errorf("%w: malformed session", ErrUnavailable)
	}
	sess.ExpiresAt = minTime(sess.LastUsedAt.Add(s.idle), time.UnixMilli(num("end")))
	if c := m["claims"]; c != "" && c != "{}" {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(c), &raw); err != nil {
			return Session{}, fmt.Errorf("%w: malformed session claims", ErrUnavailable)
		}
		sess.Claims = make(map[string]any, len(raw))
		for k, v := range raw {
			sess.Claims[k] = v
		}
	}
	return sess, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// live reports whether a session can still be refreshed at now.
func (sess Session) live(now time.Time) bool { return now.Before(sess.ExpiresAt) }

// PageRequest selects a page of a user's live sessions, newest first.
type PageRequest struct {
	// Limit is the most sessions to return; it must be positive.
	Limit int
	// Before, when not empty, is the Next of the previous page: only the
	// sessions after it (older ones) are listed.
	Before string
}

// Page is one page of a user's live sessions, newest first.
type Page struct {
	Sessions []Session
	// Next is the Before of the following page; empty on the last page.
	Next string
}

// List returns one page of the user's live sessions, newest first. The
// order is that of the user's index (creation time, then id), so a session
// opened while a client pages through the list lands before its first page
// and never shifts the pages that follow. Index entries whose session has
// gone are dropped on the way.
func (s *Store) List(ctx context.Context, subject string, req PageRequest) (Page, error) {
	if req.Limit <= 0 {
		return Page{}, errors.New("sessions: a page needs a positive limit")
	}
	from := cursor{}
	if req.Before != "" {
		var ok bool
		if from, ok = parseCursor(req.Before); !ok {
			return Page{}, ErrBadCursor
		}
	}
	now := s.now()
	var page Page
	var last cursor
	// One session more than asked says whether another page follows.
	err := s.walk(ctx, subject, from, func(batch []Session, at []cursor) (bool, error) {
		for i, sess := range batch {
			if !sess.live(now) {
				continue
			}
			if len(page.Sessions) == req.Limit {
				page.Next = last.String()
				return false, nil
			}
			page.Sessions = append(page.Sessions, sess)
			last = at[i]
		}
		return true, nil
	})
	if err != nil {
		return Page{}, err
	}
	return page, nil
}

// Count returns how many live sessions the user has.
func (s *Store) Count(ctx context.Context, subject string) (int, error) {
	n := 0
	now := s.now()
	err := s.walk(ctx, subject, cursor{}, func(batch []Session, _ []cursor) (bool, error) {
		for _, sess := range batch {
			if sess.live(now) {
				n++
			}
		}
		return true, nil
	})
	return n, err
}

// cursor is a place in a user's index: the creation time (the score, in
// ms) and the id of a session. The index lists sessions by score, newest
// first, and sessions of one millisecond by id, highest first; a cursor
// stands between the session it names and the next one.
type cursor struct {
	score int64
	id    string
}

// String is the cursor as a client holds it: opaque to them, "<ms>.<id>".
func (c cursor) String() string { return strconv.FormatInt(c.score, 10) + "." + c.id }

// parseCursor reads a cursor that String wrote.
func parseCursor(v string) (cursor, bool) {
	ms, id, ok := strings.Cut(v, ".")
	if !ok || ms == "" || len(ms) > 19 || strings.TrimLeft(ms, "0123456789") != "" || !validID(id) {
		return cursor{}, false
	}
	score, err := strconv.ParseInt(ms, 10, 64)
	return cursor{score: score, id: id}, err == nil
}

// after reports whether an index entry comes after c, newest first; the
// zero cursor is before every entry.
func (c cursor) after(score int64, id string) bool {
	return c.id == "" || score < c.score || (score == c.score && id < c.id)
}

// walkBatch is how many index entries walk reads at a time.
const walkBatch = 256

// walk calls fn with the user's sessions that still have state, newest
// first, those past their refresh lifetime whose last access token may
// still live included, a batch at a time, starting after from, each with
// its place in the index; it stops when fn says so or the index ends.
// Index entries whose session has gone are dropped on the way.
//
// Each batch is read from the index where the previous one stopped, by
// score, so that sessions opened meanwhile (newer) or ended meanwhile do
// not make it skip or repeat any.
func (s *Store) walk(ctx context.Context, subject string, from cursor, fn func([]Session, []cursor) (bool, error)) error {
	idx := s.keys.UserSessions(subject)
	at := from
	for {
		max := "+inf"
		if at.id != "" {
			max = strconv.FormatInt(at.score, 10)
		}
		// Entries of at's own millisecond that come before it are read
		// again and skipped; offset moves past them when a whole batch is
		// of that millisecond.
		var entries []redis.Z
		for offset := int64(0); ; offset += walkBatch {
			got, err := s.rdb.ZRevRangeByScoreWithScores(ctx, idx, &redis.ZRangeBy{Max: max, Min: "-inf", Offset: offset, Count: walkBatch}).Result()
			if err != nil {
				return fmt.Errorf("%w: %v", ErrUnavailable, err)
			}
			for _, z := range got {
				id, _ := z.Member.(string)
				if at.after(int64(z.Score), id) {
					entries = append(entries, redis.Z{Score: z.Score, Member: id})
				}
			}
			if len(entries) > 0 || len(got) < walkBatch {
				break
			}
		}
		if len(entries) == 0 {
			return nil
		}
		batch, places, err := s.load(ctx, subject, entries)
		if err != nil {
			return err
		}
		last := entries[len(entries)-1]
		at = cursor{score: int64(last.Score), id: last.Member.(string)}
		if more, err := fn(batch, places); err != nil || !more {
			return err
		}
	}
}

// load reads the sessions of index entries, in their order, with their
// places; entries whose session has gone are dropped from the index.
func (s *Store) load(ctx context.Context, subject string, entries []redis.Z) ([]Session, []cursor, error) {
	cmds := make([]*redis.MapStringStringCmd, len(entries))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, z := range entries {
			cmds[i] = p.HGetAll(ctx, s.keys.Session(z.Member.(string)))
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	out := make([]Session, 0, len(entries))
	places := make([]cursor, 0, len(entries))
	var gone []any
	for i, z := range entries {
		id := z.Member.(string)
		m := cmds[i].Val()
		if len(m) == 0 {
			gone = append(gone, id)
			continue
		}
		sess, err := s.decode(id, m)
		if err != nil {
			return nil, nil, err
		}
		if sess.Subject != subject {
			continue
		}
		out = append(out, sess)
		places = append(places, cursor{score: int64(z.Score), id: id})
	}
	if len(gone) > 0 {
		// Best effort: an entry left behind is dropped next time.
		if err := s.rdb.ZRem(ctx, s.keys.UserSessions(subject), gone...).Err(); err != nil {
			s.log.WarnContext(ctx, "prune session index", "sub", subject, "err", err)
		}
	}
	return out, places, nil
}

// End ends a session: its access tokens fail from now on and its refresh
// token is gone. It returns the session as it was, or ErrNotFound (and
// changes nothing) when it has no state. The access tokens are revoked
// before the state is deleted, so that a failure leaves something to retry.
func (s *Store) End(ctx context.Context, id string) (Session, error) {
	sess, err := s.Get(ctx, id)
	if err != nil {
		return Session{}, err
	}
	if err := s.revoker.RevokeSession(ctx, id); err != nil {
		return Session{}, err
	}
	if err := s.drop(ctx, sess.Subject, sess); err != nil {
		return Session{}, err
	}
	return sess, nil
}

// EndOwned ends one of subject's sessions. Another user's session is
// answered ErrNotFound, exactly like one that does not exist.
func (s *Store) EndOwned(ctx context.Context, subject, id string) (Session, error) {
	sess, err := s.Get(ctx, id)
	if err != nil {
		return Session{}, err
	}
	if sess.Subject != subject {
		return Session{}, ErrNotFound
	}
	return s.End(ctx, id)
}

// EndAll ends every session of the user except the one with id except
// (none when empty) and returns those it ended. It goes through the user's
// index a batch at a time: the batch's access tokens are revoked in a few
// writes, then its state is dropped in one, so that a user with thousands
// of sessions is logged out in a few dozen round trips. Sessions opened
// while it runs are newer than where it started and stay. On an error, the
// sessions it returns are ended and the others untouched or revoked with
// their state kept, so the call can be repeated.
func (s *Store) EndAll(ctx context.Context, subject, except string) ([]Session, error) {
	var ended []Session
	err := s.walk(ctx, subject, cursor{}, func(batch []Session, _ []cursor) (bool, error) {
		batch = slices.DeleteFunc(batch, func(sess Session) bool { return sess.ID == except })
		if len(batch) == 0 {
			return true, nil
		}
		ids := make([]string, len(batch))
		for i, sess := range batch {
			ids[i] = sess.ID
		}
		if err := s.revoker.RevokeSessions(ctx, ids); err != nil {
			return false, err
		}
		if err := s.drop(ctx, subject, batch...); err != nil {
			return false, err
		}
		ended = append(ended, batch...)
		return true, nil
	})
	return ended, err
}

// drop deletes the state of sessions of subject and their index entries in
// one atomic step; their keys share one slot. Deleting what is gone does
// nothing, so a client told "unavailable" may retry.
func (s *Store) drop(ctx context.Context, subject string, list ...Session) error {
	keys := make([]string, 0, 3*len(list)+1)
	ids := make([]any, 0, len(list))
	for _, sess := range list {
		keys = append(keys, s.keys.Session(sess.ID), s.keys.RefreshHistory(sess.ID), s.keys.RefreshGrace(sess.ID))
		ids = append(ids, sess.ID)
	}
	keys = append(keys, s.keys.UserSessions(subject))
	_, err := s.writer.Run(ctx, dropScript, keys, ids...)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// dropScript deletes sessions. KEYS: each session's hash, history and
// grace, then the user's index. ARGV: the session ids.
var dropScript = redis.NewScript(`
redis.call('DEL', unpack(KEYS, 1, #KEYS - 1))
redis.call('ZREM', KEYS[#KEYS], unpack(ARGV))
return #ARGV
`)
