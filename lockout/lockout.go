// Package lockout limits failed authentications, per id (a client id) and
// per source address, across every instance: the counts and the lockouts
// live in Redis. Once an id or an address has failed its limit within the
// window, it is locked out for a whole window: every attempt is refused,
// with the right secret too, so that the answer tells a guesser nothing
// more. A lockout is recorded in the audit trail once, when it begins.
//
// The HTTP layer's client authentication asks it; a later sign-in of
// another kind (a console user) can use a Limiter of its own name.
//
// Decisions, and why:
//   - A success does not reset the count. A busy client authenticates many
//     times a second; if each success wiped the count, a guesser sharing
//     its id could interleave guesses with its traffic without limit.
//     Failures only age out of the window.
//   - The count is a sliding window (the times of the failures within it),
//     so no more than the limit ever fail within any window's length, not
//     twice the limit across a window's edge as with fixed windows.
//   - When Redis cannot be reached, Check and Fail return ErrUnavailable
//     and the caller refuses (503): a limit that cannot be read is not
//     enforced by letting guesses through. Nothing is locked by it either:
//     the refusals end with the outage.
package lockout

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/internal/keyspace"
)

var (
	// ErrLocked reports an id or an address that is locked out; the error is
	// a *LockedError, which says for how long.
	ErrLocked = errors.New("too many failed authentications")
	// ErrUnavailable reports that the counts could not be read or written.
	ErrUnavailable = errors.New("failed-authentication counts unavailable")
)

// LockedError reports a lockout in force. It wraps ErrLocked.
type LockedError struct {
	// RetryAfter is how long until the lockout ends.
	RetryAfter time.Duration
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("%v: locked out for %v", ErrLocked, e.RetryAfter.Round(time.Second))
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// Seconds is RetryAfter in whole seconds, rounded up, at least 1: the value
// of a Retry-After header.
func (e *LockedError) Seconds() int64 {
	return max(1, int64((e.RetryAfter+time.Second-1)/time.Second))
}

// Config holds the settings of a Limiter.
type Config struct {
	// Name is what the ids are: "client". It keeps the counts of different
	// kinds apart (a client and a console user of the same name), and logs
	// name the id <Name>_id.
	Name string
	// Prefix starts every key, e.g. "tg:".
	Prefix string
	// MaxPerID is how many failures one id may have within Window; the one
	// that reaches it locks the id out for Window. Required.
	MaxPerID int
	// MaxPerIP is the same for one source address, whatever the ids.
	// Required.
	MaxPerIP int
	// Window is how far back failures count, and how long a lockout lasts.
	// Required.
	Window time.Duration
	// Audit records each lockout when it begins. Required.
	Audit *audit.Log
	// IDEvent and IPEvent are the audit event types of a lockout of an id
	// and of an address, such as audit.TypeClientLockedOut. Required.
	IDEvent, IPEvent string
	Logger           *slog.Logger
	// Clock returns the current time; nil means time.Now. Tests inject it.
	Clock func() time.Time
}

// Limiter counts failed authentications and refuses what is locked out. It
// is safe for concurrent use.
type Limiter struct {
	rdb    redis.UniversalClient
	keys   keyspace.Keys
	name   string
	idKey  string
	perID  int
	perIP  int
	window time.Duration
	audit  *audit.Log
	events [2]string // of an id, of an address
	log    *slog.Logger
	now    func() time.Time

	failures, refusals, lockouts atomic.Uint64
}

// New returns a Limiter that keeps its counts in rdb, or an error naming a
// missing or bad setting.
func New(rdb redis.UniversalClient, cfg Config) (*Limiter, error) {
	switch {
	case rdb == nil:
		return nil, errors.New("lockout: a Redis client is required")
	case cfg.Name == "" || strings.ContainsAny(cfg.Name, ": "):
		return nil, errors.New("lockout: Name is required, without colons or spaces")
	case cfg.MaxPerID < 1 || cfg.MaxPerIP < 1 || cfg.Window < time.Millisecond:
		return nil, errors.New("lockout: MaxPerID, MaxPerIP and Window must be positive")
	case cfg.Audit == nil || cfg.IDEvent == "" || cfg.IPEvent == "":
		return nil, errors.New("lockout: Audit, IDEvent and IPEvent are required")
	}
	l := &Limiter{
		rdb:    rdb,
		keys:   keyspace.New(cfg.Prefix),
		name:   cfg.Name,
		idKey:  cfg.Name + "_id",
		perID:  cfg.MaxPerID,
		perIP:  cfg.MaxPerIP,
		window: cfg.Window,
		audit:  cfg.Audit,
		events: [2]string{cfg.IDEvent, cfg.IPEvent},
		log:    cfg.Logger,
		now:    cfg.Clock,
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l, nil
}

// Counts are what a Limiter has seen since it started, for metrics: failed
// authentications counted, attempts refused because of a lockout, and
// lockouts begun (of an id or an address).
type Counts struct {
	Failures, Refusals, Lockouts uint64
}

// Counts returns the counts so far.
func (l *Limiter) Counts() Counts {
	return Counts{Failures: l.failures.Load(), Refusals: l.refusals.Load(), Lockouts: l.lockouts.Load()}
}

// limit is one of the two limits an attempt is under.
type limit struct {
	scope string // "ip" or "id"
	who   string // what the keys are named after
	max   int
	event string
}

func (l *Limiter) limits(id, ip string) (byIP, byID limit) {
	return limit{scope: "ip", who: l.name + "-ip:" + ip, max: l.perIP, event: l.events[1]},
		limit{scope: "id", who: l.name + ":" + id, max: l.perID, event: l.events[0]}
}

// Check returns a *LockedError when id or ip is locked out, nil when
// neither is, and counts nothing. Call it before looking at the secret, so
// that a locked-out attempt is refused alike whether its secret is right or
// wrong, and as fast.
func (l *Limiter) Check(ctx context.Context, id, ip string) error {
	byIP, byID := l.limits(id, ip)
	var ttls [2]*redis.DurationCmd
	_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		ttls[0] = p.PTTL(ctx, l.keys.AuthLockout(byIP.who))
		ttls[1] = p.PTTL(ctx, l.keys.AuthLockout(byID.who))
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	left := max(ttls[0].Val(), ttls[1].Val())
	if left <= 0 {
		return nil
	}
	l.refused(ctx, id, ip, left)
	return &LockedError{RetryAfter: left}
}

// Fail counts a failed authentication of id from ip, against the address
// first and then the id. It returns nil once the failure is counted, even
// when it reached a limit (the lockout begins with it, logged and recorded
// in the audit trail, and refuses the attempts that follow), and a
// *LockedError, counting nothing more, when the address or the id was
// locked out already (by an attempt on another instance since Check).
func (l *Limiter) Fail(ctx context.Context, id, ip string) error {
	byIP, byID := l.limits(id, ip)
	for _, lim := range []limit{byIP, byID} {
		n, left, began, err := l.count(ctx, lim)
		if err != nil {
			return err
		}
		if n == 0 {
			l.refused(ctx, id, ip, left)
			return &LockedError{RetryAfter: left}
		}
		if lim.scope == "ip" {
			l.failures.Add(1)
			l.log.WarnContext(ctx, "authentication failed", l.idKey, clip(id), "ip", clip(ip), "failures_from_ip", n, "limit_per_ip", l.perIP)
		}
		if began {
			l.lockedOut(ctx, lim, id, ip, n, left)
		}
	}
	return nil
}

// count runs failScript for one limit: n is the failures within the window,
// this one included, or 0 when a lockout was in force (for left more);
// began says that this failure started one.
func (l *Limiter) count(ctx context.Context, lim limit) (n int64, left time.Duration, began bool, err error) {
	keys := []string{l.keys.AuthFailures(lim.who), l.keys.AuthLockout(lim.who)}
	reply, err := failScript.Run(ctx, l.rdb, keys, l.now().UnixMilli(), l.window.Milliseconds(), lim.max, rand.Text()).Int64Slice()
	if err != nil || len(reply) != 3 {
		return 0, 0, false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return reply[0], time.Duration(reply[1]) * time.Millisecond, reply[2] == 1, nil
}

// failScript counts one failure under one limit, unless a lockout is in
// force. The failures are a sorted set of their times, trimmed to the
// window; the one that reaches the limit replaces them with a lockout that
// lasts the window. Both keys share a slot.
//
// KEYS: failures, lockout. ARGV: now (ms), window (ms), limit, a unique
// member. Returns {failures (0 when locked out), lockout left (ms), 1 when
// this failure began the lockout}.
var failScript = redis.NewScript(`
local left = redis.call('PTTL', KEYS[2])
if left > 0 then
  return {0, left, 0}
end
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[4])
local n = redis.call('ZCARD', KEYS[1])
if n >= limit then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], n, 'PX', window)
  return {n, window, 1}
end
redis.call('PEXPIRE', KEYS[1], window)
return {n, 0, 0}
`)

// lockedOut logs and records a lockout that begins.
func (l *Limiter) lockedOut(ctx context.Context, lim limit, id, ip string, n int64, left time.Duration) {
	l.lockouts.Add(1)
	until := l.now().Add(left).UTC()
	reason := fmt.Sprintf("%d failed authentications within %v, the last from %s; refused until %s", n, l.window, clip(ip), until.Format(time.RFC3339))
	if lim.scope == "ip" {
		reason = fmt.Sprintf("%d failed authentications from %s within %v; refused until %s", n, clip(ip), l.window, until.Format(time.RFC3339))
	}
	l.log.WarnContext(ctx, "locked out", "scope", lim.scope, l.idKey, clip(id), "ip", clip(ip), "failures", n, "until", until)
	// The lockout is in force already; a lost event must not undo it.
	ev := audit.Event{Type: lim.event, Actor: clip(id), Reason: reason}
	if err := l.audit.Record(context.WithoutCancel(ctx), ev); err != nil {
		l.log.ErrorContext(ctx, "record a lockout in the audit trail", "type", lim.event, l.idKey, clip(id), "err", err)
	}
}

// refused counts and logs an attempt refused by a lockout.
func (l *Limiter) refused(ctx context.Context, id, ip string, left time.Duration) {
	l.refusals.Add(1)
	l.log.Log(ctx, slog.LevelInfo, "authentication refused: locked out", l.idKey, clip(id), "ip", clip(ip), "retry_after_s", (&LockedError{RetryAfter: left}).Seconds())
}

// maxLabel bounds an id or address as it appears in logs and events: they
// come from the network, and a guesser chooses them.
const maxLabel = 64

func clip(s string) string {
	if len(s) <= maxLabel {
		return s
	}
	return strings.ToValidUTF8(s[:maxLabel], "") + "…"
}
