package sessions

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/redisconn"
)

// graceSlack is how much longer than the reuse window its salt is kept, for
// clock differences between tokenguard instances. Whether a request falls in
// the window is decided by the clock, not by the key.
const graceSlack = time.Second

// Refreshed is the outcome of a successful refresh.
type Refreshed struct {
	// Session is the session after the refresh.
	Session Session
	// RefreshToken replaces the token that was presented.
	RefreshToken string
	// Rotated is false when the previous token was presented within the
	// reuse window and the current token was handed back instead of a new
	// one.
	Rotated bool
}

// Refresh redeems a refresh token presented by client clientID, for
// access tokens of the given scope, which must lie within the session's
// (empty means the session's own; ErrScope otherwise, and nothing changes).
// The token and its outcome, decided in one atomic script so that concurrent
// refreshes cannot race:
//
//   - The current token: it is rotated. The new token becomes current, the
//     presented one becomes the previous one, and the session's idle
//     lifetime starts again.
//   - The previous token, within ReuseWindow of its rotation: the current
//     token is handed back (the same one the rotation returned; see the
//     token format) and nothing rotates. Any number of requests with the
//     previous token inside the window, in any order with the rotation,
//     all receive the same current token, which stays valid.
//   - The previous token after the window, or any older token of the
//     session: the session ends at once, refresh state and access tokens
//     alike, and ErrReused is returned.
//   - Anything else (malformed, unknown, made up for a real session, an
//     ended or expired session, or another client's token): ErrInvalidGrant,
//     and nothing changes.
//
// A session past its refresh lifetime answers ErrInvalidGrant even for an
// old token: it is over anyway.
func (s *Store) Refresh(ctx context.Context, raw, clientID, scope string) (Refreshed, error) {
	t, ok := parseToken(raw)
	if !ok {
		return Refreshed{}, fmt.Errorf("%w: malformed", ErrInvalidGrant)
	}
	salt, err := newSalt()
	if err != nil {
		return Refreshed{}, err
	}
	next := t.next(salt)
	now := s.now()
	reply, err := s.writer.Run(ctx, refreshScript,
		[]string{s.keys.Session(t.sid), s.keys.RefreshHistory(t.sid), s.keys.RefreshGrace(t.sid)},
		now.UnixMilli(), t.gen, t.hash(), t.fingerprint(), clientID,
		next.hash(), next.fingerprint(), string(salt),
		s.idle.Milliseconds(), s.tail.Milliseconds(), s.window.Milliseconds(), (s.window + graceSlack).Milliseconds(),
		MaxGenerations, scope,
	)
	// Replicas that fall short matter only for the outcomes that hand out a
	// token: the others wrote nothing, or end the session, which the
	// revocation below confirms on its own.
	unconfirmed := err
	if err != nil && !errors.Is(err, redisconn.ErrNotReplicated) {
		return Refreshed{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	res, _ := reply.([]any)
	if len(res) == 0 {
		return Refreshed{}, fmt.Errorf("%w: unexpected reply from the refresh script", ErrUnavailable)
	}
	outcome, _ := res[0].(string)
	switch outcome {
	case "unknown":
		return Refreshed{}, fmt.Errorf("%w: unknown, or its session has ended", ErrInvalidGrant)
	case "client":
		return Refreshed{}, fmt.Errorf("%w: it was issued to another client", ErrInvalidGrant)
	case "expired":
		return Refreshed{}, fmt.Errorf("%w: the session has expired", ErrInvalidGrant)
	case "scope":
		return Refreshed{}, ErrScope
	}
	if len(res) != 3 {
		return Refreshed{}, fmt.Errorf("%w: unexpected reply from the refresh script", ErrUnavailable)
	}
	fields := pairs(res[2])
	sess, err := s.decode(t.sid, fields)
	if err != nil {
		return Refreshed{}, err
	}
	if unconfirmed != nil && (outcome == "rotated" || outcome == "grace") {
		// The rotation is on the master but a failover could lose it, so
		// its token is not handed out. A retry with the same refresh token
		// within the reuse window is answered with the token of this very
		// rotation (the grace outcome), or rotates afresh if the rotation
		// was lost: safe either way. (With a zero reuse window the retry
		// counts as a replay and ends the session.)
		return Refreshed{}, fmt.Errorf("%w: %v", ErrUnavailable, unconfirmed)
	}
	switch outcome {
	case "rotated":
		return Refreshed{Session: sess, RefreshToken: next.String(), Rotated: true}, nil
	case "grace":
		salt, _ := res[1].(string)
		cur := t.next([]byte(salt))
		if subtle.ConstantTimeCompare([]byte(cur.hash()), []byte(fields["cur"])) != 1 {
			// Cannot happen unless the state was written by someone else.
			s.log.ErrorContext(ctx, "refresh: the reuse window does not lead to the current token", "sid", t.sid)
			return Refreshed{}, fmt.Errorf("%w: inconsistent refresh state", ErrInvalidGrant)
		}
		return Refreshed{Session: sess, RefreshToken: cur.String()}, nil
	case "reused", "exhausted":
		// The script has deleted the refresh state; now the access tokens.
		// This must finish even if the client goes away meanwhile.
		ctx := context.WithoutCancel(ctx)
		cause, ret := CauseReuse, ErrReused
		if outcome == "exhausted" {
			cause, ret = CauseExhausted, fmt.Errorf("%w: the session has rotated its refresh token too often; log in again", ErrInvalidGrant)
		}
		if err := s.revoker.RevokeSession(ctx, sess.ID); err != nil {
			s.log.ErrorContext(ctx, "refresh token replayed: session state deleted but its access tokens could not be revoked", "sid", sess.ID, "sub", sess.Subject, "err", err)
			return Refreshed{}, err
		}
		if err := s.rdb.ZRem(ctx, s.keys.UserSessions(sess.Subject), sess.ID).Err(); err != nil {
			s.log.WarnContext(ctx, "prune session index", "sub", sess.Subject, "err", err)
		}
		return Refreshed{}, &EndedError{Session: sess, Cause: cause, err: ret}
	}
	return Refreshed{}, fmt.Errorf("%w: unexpected outcome %q from the refresh script", ErrUnavailable, outcome)
}

// refreshScript decides a refresh atomically; see Refresh for the rules.
//
// KEYS: session, history, grace. ARGV: now (ms), presented generation,
// presented hash, presented fingerprint, client id, next hash, next
// fingerprint, next salt, idle lifetime (ms), access-token tail (ms), reuse
// window (ms), salt lifetime (ms), generation limit, requested scope.
//
// Returns {outcome} for unknown, client, expired and scope, else {outcome, the
// salt (grace) or an empty string, the session's fields after the update or
// before the deletion}.
//
// Comparisons here are of SHA-256 digests, never of tokens: what a timing
// difference could reveal is a prefix of a digest, which does not help to
// find a token that hashes to it.
var refreshScript = redis.NewScript(`
local s, hist, grace = KEYS[1], KEYS[2], KEYS[3]
local f = redis.call('HMGET', s, 'cid', 'gen', 'cur', 'prev', 'rot', 'used', 'end', 'scope')
if not f[2] then return {'unknown'} end
local now, k, gen = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(f[2])
local which
if k == gen and ARGV[3] == f[3] then
  which = 'cur'
elseif k == gen - 1 and ARGV[3] == f[4] then
  which = 'prev'
elseif k < gen - 1 and redis.call('GETRANGE', hist, k * 8, k * 8 + 7) == ARGV[4] then
  which = 'old'
else
  return {'unknown'}
end
if f[1] ~= ARGV[5] then return {'client'} end
local idle, last = tonumber(ARGV[9]), tonumber(f[7])
if now >= math.min(tonumber(f[6]) + idle, last) then return {'expired'} end

-- scopeOK: the requested scope, if any, lies within the session's.
local function scopeOK()
  local have = {}
  for tok in string.gmatch(f[8], '%S+') do have[tok] = true end
  for tok in string.gmatch(ARGV[14], '%S+') do
    if not have[tok] then return false end
  end
  return true
end
local function slide()
  local ttl = math.min(now + idle, last) - now + tonumber(ARGV[10])
  redis.call('HSET', s, 'used', ARGV[1])
  redis.call('PEXPIRE', s, ttl)
  redis.call('PEXPIRE', hist, ttl)
end
local function ended(outcome)
  local all = redis.call('HGETALL', s)
  redis.call('DEL', s, hist, grace)
  return {outcome, '', all}
end

if which == 'cur' then
  if not scopeOK() then return {'scope'} end
  if gen + 1 > tonumber(ARGV[13]) then return ended('exhausted') end
  redis.call('HSET', s, 'gen', gen + 1, 'cur', ARGV[6], 'prev', f[3], 'rot', ARGV[1])
  redis.call('SETRANGE', hist, (gen + 1) * 8, ARGV[7])
  slide()
  if tonumber(ARGV[11]) > 0 then
    redis.call('SET', grace, ARGV[8], 'PX', ARGV[12])
  else
    redis.call('DEL', grace)
  end
  return {'rotated', '', redis.call('HGETALL', s)}
end
if which == 'prev' and now - tonumber(f[5]) < tonumber(ARGV[11]) then
  local salt = redis.call('GET', grace)
  if salt then
    if not scopeOK() then return {'scope'} end
    slide()
    return {'grace', salt, redis.call('HGETALL', s)}
  end
end
return ended('reused')
`)

// pairs turns a flat HGETALL reply into a map.
func pairs(v any) map[string]string {
	list, _ := v.([]any)
	m := make(map[string]string, len(list)/2)
	for i := 0; i+1 < len(list); i += 2 {
		k, _ := list[i].(string)
		val, _ := list[i+1].(string)
		m[k] = val
	}
	return m
}

// Info is what Introspect tells about a live refresh token.
type Info struct {
	SessionID string
	Subject   string
	ClientID  string
	Scope     string
	// CreatedAt is when the session was opened.
	CreatedAt time.Time
	// IssuedAt is when this token was issued: the session's last rotation,
	// or its opening for the first token.
	IssuedAt time.Time
	// ExpiresAt is when the token stops working unless used before.
	ExpiresAt time.Time
}

// Introspect tells whether a refresh token is the current token of a live
// session (RFC 7662 "active"), and about its session. ok is false for a
// malformed, unknown, rotated-away or expired token, and for the previous
// token within the reuse window, which only recovers the current token.
func (s *Store) Introspect(ctx context.Context, raw string) (Info, bool, error) {
	sess, st, err := s.lookup(ctx, raw)
	if err != nil || st != standingCurrent {
		return Info{}, false, err
	}
	issued := sess.CreatedAt
	if !sess.rotatedAt.IsZero() {
		issued = sess.rotatedAt
	}
	return Info{
		SessionID: sess.ID,
		Subject:   sess.Subject,
		ClientID:  sess.ClientID,
		Scope:     sess.Scope,
		CreatedAt: sess.CreatedAt,
		IssuedAt:  issued,
		ExpiresAt: sess.ExpiresAt,
	}, true, nil
}

// RevokeRefreshToken ends the whole session of a refresh token that can
// still yield tokens (the current one, or the previous one within the reuse
// window) and returns it (its ending's cause is CauseRevoked). Anything
// else, garbage included, reports false and changes nothing.
func (s *Store) RevokeRefreshToken(ctx context.Context, raw string) (Session, bool, error) {
	sess, st, err := s.lookup(ctx, raw)
	if err != nil || st == standingNone {
		return Session{}, false, err
	}
	ended, err := s.End(ctx, sess.ID)
	if errors.Is(err, ErrNotFound) {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, err
	}
	return ended, true, nil
}

// standing is what a refresh token is to its live session, read without
// changing anything.
type standing int

const (
	// standingNone: malformed, unknown, expired, or long rotated away.
	standingNone standing = iota
	// standingCurrent: the token a refresh would rotate.
	standingCurrent
	// standingPrevious: the token rotated away last, still within the reuse
	// window.
	standingPrevious
)

// lookup finds a refresh token's live session and the token's standing in
// it. It reads only; Refresh decides atomically.
func (s *Store) lookup(ctx context.Context, raw string) (Session, standing, error) {
	t, ok := parseToken(raw)
	if !ok {
		return Session{}, standingNone, nil
	}
	m, err := s.rdb.HGetAll(ctx, s.keys.Session(t.sid)).Result()
	if err != nil {
		return Session{}, standingNone, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if len(m) == 0 {
		return Session{}, standingNone, nil
	}
	sess, err := s.decode(t.sid, m)
	if err != nil {
		return Session{}, standingNone, err
	}
	now := s.now()
	if !sess.live(now) {
		return Session{}, standingNone, nil
	}
	h := []byte(t.hash())
	switch {
	case t.gen == sess.generation && subtle.ConstantTimeCompare(h, []byte(m["cur"])) == 1:
		return sess, standingCurrent, nil
	case t.gen == sess.generation-1 && subtle.ConstantTimeCompare(h, []byte(m["prev"])) == 1:
		if now.Sub(sess.rotatedAt) < s.window {
			return sess, standingPrevious, nil
		}
	}
	return Session{}, standingNone, nil
}
