// Package state holds the revocation state in memory and makes the one
// revocation decision: is a verified token still good? It knows no Redis
// and no HTTP, so that the server's mirror (package blacklist) and an
// embedded verifier (package verifier) read and judge the very same state
// with the very same code.
//
// The state is split into keyspace.Shards parts, each under its own lock
// and each with its own confirmation time: the moment it last knew it held
// every change. A check is answered only from parts confirmed within the
// staleness bound.
package state

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

var (
	// ErrRevoked reports that a token is no longer good: the token itself,
	// its session or every token of its user issued before a cut-off was
	// revoked. The wrapping error says which: ErrTokenRevoked,
	// ErrSessionEnded or ErrCutOff.
	ErrRevoked = errors.New("token revoked")
	// ErrTokenRevoked reports that the token itself was revoked. It wraps
	// ErrRevoked.
	ErrTokenRevoked = fmt.Errorf("%w: the token was revoked", ErrRevoked)
	// ErrSessionEnded reports that the token's session has ended. It wraps
	// ErrRevoked.
	ErrSessionEnded = fmt.Errorf("%w: the session has ended", ErrRevoked)
	// ErrCutOff reports that the token was issued before its user's
	// cut-off (a logout everywhere, or a ban). It wraps ErrRevoked.
	ErrCutOff = fmt.Errorf("%w: the user was logged out everywhere", ErrRevoked)
	// ErrBanned reports that the token's user is banned. It is told apart
	// from ErrRevoked so that gateways can answer 403 rather than 401.
	ErrBanned = errors.New("user banned")
	// ErrUnavailable reports that the revocation state could not be read or
	// written. A check that returns it has not let the token through, and a
	// revocation that returns it has not been recorded.
	ErrUnavailable = errors.New("revocation store unavailable")

	// errUserBanned is Decide's answer for a banned user's token: a value,
	// so that refusing a token allocates no error.
	errUserBanned = fmt.Errorf("%w: the user is banned", ErrBanned)
)

// Token holds what a revocation check needs to know of a verified token.
// The ids are names the caller chose (users qualifies another issuer's by
// that issuer); the state compares them as they are.
type Token struct {
	// ID is the token's jti.
	ID string
	// SessionID is the token's sid; empty when it belongs to no session.
	SessionID string
	// Subject is the token's user.
	Subject string
	// IssuedAt is when the token was issued, as precisely as it says; the
	// zero time when it does not say.
	IssuedAt time.Time
}

// Facts is what the revocation state says about one token's id, session
// and subject. It is gathered from wherever the state lives (a Mirror, or
// Redis itself in strict mode) and judged by Decide.
type Facts struct {
	// TokenRevoked says the token's id is revoked.
	TokenRevoked bool
	// SessionRevoked says the token's session has ended.
	SessionRevoked bool
	// CutOff is the user's cut-off; zero when the user has none.
	CutOff time.Time
	// Ban is the user's ban; nil when the user is not banned.
	Ban *Ban
}

// Decide is the rule itself. A ban comes first, so that a banned user's
// tokens are answered as banned (403) rather than merely revoked. A user
// cut-off kills every token issued at or before it: a token that says its
// issue time only to the second is counted as issued at the start of that
// second, so one issued just before a cut-off in the same second is never
// let through. Our own tokens carry the issue time to the microsecond, which
// is what lets a session opened right after a cut-off, even within the same
// second, work.
func (f Facts) Decide(t Token, now time.Time) error {
	switch {
	case f.Ban != nil && f.Ban.ActiveAt(now):
		return errUserBanned
	case f.TokenRevoked:
		return ErrTokenRevoked
	case f.SessionRevoked:
		return ErrSessionEnded
	case !f.CutOff.IsZero() && !t.IssuedAt.After(f.CutOff):
		return ErrCutOff
	}
	return nil
}

// ParseCutOff reads a cut-off as the state spells it: unix microseconds.
func ParseCutOff(v string) (time.Time, error) {
	us, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		// A value we did not write: refuse rather than guess.
		return time.Time{}, fmt.Errorf("%w: malformed cut-off for a user", ErrUnavailable)
	}
	return time.UnixMicro(us), nil
}
