// Package audit keeps tokenguard's audit trail in Redis: who logged out,
// which sessions an admin ended, bans and unbans, and replayed refresh
// tokens. Events are kept for a bounded time and listed newest first, for
// everyone or for one user.
//
// Each event goes to two Redis streams: one for all events, and one for its
// user, in the user's shard, so that listing one user's events never scans
// anyone else's. Every append trims entries older than the retention, and
// every stream expires when nothing was appended for that long.
package audit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/internal/keyspace"
)

var (
	// ErrBadCursor reports a before cursor that is not an event id.
	ErrBadCursor = errors.New("audit: before is not an event id")
	// ErrUnavailable reports that the trail could not be read or written.
	ErrUnavailable = errors.New("audit trail unavailable")
)

// Event types.
const (
	// TypeLogout: a user logged out; Reason is the scope (local, others,
	// global).
	TypeLogout = "logout"
	// TypeSessionEnded: a user ended one of their own sessions.
	TypeSessionEnded = "session_ended"
	// TypeAdminSessionEnded: an admin ended a session.
	TypeAdminSessionEnded = "admin_session_ended"
	// TypeAdminRevocation: an admin revoked one access token.
	TypeAdminRevocation = "admin_revocation"
	// TypeAdminLogout: an admin logged a user out everywhere.
	TypeAdminLogout = "admin_logout"
	// TypeBan and TypeUnban: an admin banned a user or lifted the ban.
	TypeBan   = "ban"
	TypeUnban = "unban"
	// TypeBackchannelLogout: a trusted issuer logged one of its users out
	// through OpenID Connect Back-Channel Logout. Actor is the issuer;
	// Subject the user (qualified by the issuer) when the logout token
	// named one; SessionID the issuer's sid when it named one, in which
	// case that session alone ended, else every token of the user was
	// cut off. Reason holds the logout token's jti.
	TypeBackchannelLogout = "backchannel_logout"
	// TypeClientLockedOut: a client id reached its limit of failed
	// authentications and is refused until the lockout ends. Actor is the
	// client id (a client is not a user, so it is never a Subject); Reason
	// says how many failures, from which address, for how long.
	TypeClientLockedOut = "client_locked_out"
	// TypeClientIPLockedOut: an address reached its limit of failed client
	// authentications and is refused until the lockout ends. Actor is the
	// client id of the failure that reached it; Reason names the address.
	TypeClientIPLockedOut = "client_ip_locked_out"
)

// Event is one entry of the trail.
type Event struct {
	// ID is the event's stream id, assigned on Record; it is the cursor for
	// listing what came before.
	ID   string
	Time time.Time
	Type string
	// Actor is the client id that acted (for a user's own action, the client
	// of the user's session).
	Actor     string
	Subject   string
	SessionID string
	Reason    string
}

// Config holds the settings of a Log.
type Config struct {
	// Prefix starts every key, e.g. "tg:".
	Prefix string
	// Retention is how long events are kept.
	Retention time.Duration
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

// Log reads and writes the audit trail.
type Log struct {
	rdb       redis.UniversalClient
	keys      keyspace.Keys
	retention time.Duration
	now       func() time.Time
}

// New returns a Log kept in rdb.
func New(rdb redis.UniversalClient, cfg Config) *Log {
	now := cfg.Clock
	if now == nil {
		now = time.Now
	}
	return &Log{rdb: rdb, keys: keyspace.New(cfg.Prefix), retention: cfg.Retention, now: now}
}

// Record appends an event. Its Time defaults to now; its ID is assigned.
func (l *Log) Record(ctx context.Context, e Event) error {
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	minID := strconv.FormatInt(l.now().Add(-l.retention).UnixMilli(), 10)
	values := []any{
		"at", e.Time.UnixMicro(),
		"type", e.Type,
		"actor", e.Actor,
		"sub", e.Subject,
		"sid", e.SessionID,
		"reason", e.Reason,
	}
	streams := []string{l.keys.Events()}
	if e.Subject != "" {
		streams = append(streams, l.keys.UserEvents(e.Subject))
	}
	// Two keys in different slots: a plain pipeline, not a transaction.
	_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, key := range streams {
			p.XAdd(ctx, &redis.XAddArgs{Stream: key, MinID: minID, Approx: true, Values: values})
			p.PExpire(ctx, key, l.retention)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// Query selects events to list.
type Query struct {
	// Subject, when not empty, selects one user's events.
	Subject string
	// Limit is the most events to return; it must be positive.
	Limit int
	// Before, when not empty, is the ID of an event: only older ones are
	// listed.
	Before string
}

// validID reports whether s is a stream id, two unsigned 64-bit numbers
// joined by a dash.
func validID(s string) bool {
	ms, seq, ok := strings.Cut(s, "-")
	if !ok {
		return false
	}
	// ParseUint in base 10 takes digits only: no sign, space or empty part.
	_, err1 := strconv.ParseUint(ms, 10, 64)
	_, err2 := strconv.ParseUint(seq, 10, 64)
	return err1 == nil && err2 == nil
}

// List returns events newest first. Events past the retention that the
// approximate trimming has left behind are not listed.
func (l *Log) List(ctx context.Context, q Query) ([]Event, error) {
	end := "+"
	if q.Before != "" {
		if !validID(q.Before) {
			return nil, ErrBadCursor
		}
		if ms, seq, _ := strings.Cut(q.Before, "-"); strings.Trim(ms, "0") == "" && strings.Trim(seq, "0") == "" {
			return nil, nil // nothing comes before the first possible id
		}
		end = "(" + q.Before
	}
	key := l.keys.Events()
	if q.Subject != "" {
		key = l.keys.UserEvents(q.Subject)
	}
	msgs, err := l.rdb.XRevRangeN(ctx, key, end, "-", int64(q.Limit)).Result()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	oldest := l.now().Add(-l.retention)
	out := make([]Event, 0, len(msgs))
	for _, m := range msgs {
		e := decode(m)
		if e.Time.Before(oldest) {
			break
		}
		out = append(out, e)
	}
	return out, nil
}

func decode(m redis.XMessage) Event {
	str := func(k string) string {
		s, _ := m.Values[k].(string)
		return s
	}
	at, _ := strconv.ParseInt(str("at"), 10, 64)
	return Event{
		ID:        m.ID,
		Time:      time.UnixMicro(at),
		Type:      str("type"),
		Actor:     str("actor"),
		Subject:   str("sub"),
		SessionID: str("sid"),
		Reason:    str("reason"),
	}
}
