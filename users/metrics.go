package users

import (
	"errors"

	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/sessions"
)

// Metrics is told what the workflows decide, for operators: each decision
// on a presented token, each revocation written, each session opened or
// ended and each refresh. Every value it is given comes from the small
// enumerations below, never a subject, session id or token, so whatever
// counts them keeps a bounded set of labels. Its methods must be safe for
// concurrent use, and Decision cheap: it runs on every token check.
type Metrics interface {
	// Decision counts one decision on a presented access token.
	Decision(Outcome)
	// Revoked counts n revocation entries of one kind written for cause.
	Revoked(kind Revocation, cause Cause, n int)
	// SessionOpened counts a session opened.
	SessionOpened()
	// SessionsEnded counts n sessions ended for cause.
	SessionsEnded(cause Cause, n int)
	// Refreshed counts the outcome of a refresh.
	Refreshed(RefreshOutcome)
	// BackchannelLogout counts the outcome of a received back-channel
	// logout.
	BackchannelLogout(BackchannelOutcome)
}

// noMetrics counts nothing: a Service without Config.Metrics, as in tests
// and embedded use.
type noMetrics struct{}

func (noMetrics) Decision(Outcome)                     {}
func (noMetrics) Revoked(Revocation, Cause, int)       {}
func (noMetrics) SessionOpened()                       {}
func (noMetrics) SessionsEnded(Cause, int)             {}
func (noMetrics) Refreshed(RefreshOutcome)             {}
func (noMetrics) BackchannelLogout(BackchannelOutcome) {}

// Outcome is a decision on a presented access token: allowed, or why it
// was refused.
type Outcome uint8

// The outcomes. Missing is decided by the adapter that looks for the token
// in a request; every other one by Authenticate and Authorize.
const (
	OutcomeAllowed Outcome = iota
	// OutcomeMissing: the request carried no bearer token.
	OutcomeMissing
	// OutcomeInvalid: the token does not verify (malformed, unknown key,
	// bad signature, wrong claims, not yet valid).
	OutcomeInvalid
	// OutcomeExpired: the token is past its exp and the leeway.
	OutcomeExpired
	// OutcomeRevokedToken: the token itself was revoked.
	OutcomeRevokedToken
	// OutcomeSessionEnded: the token's session has ended.
	OutcomeSessionEnded
	// OutcomeCutOff: the token was issued before its user's cut-off.
	OutcomeCutOff
	// OutcomeBanned: the token's user is banned.
	OutcomeBanned
	// OutcomeScope: the token lacks a scope the request requires.
	OutcomeScope
	// OutcomeUnavailable: the revocation state could not be confirmed, so
	// the token was refused.
	OutcomeUnavailable
	// OutcomeError: anything else went wrong; the token was refused.
	OutcomeError
	outcomes
)

var outcomeNames = [outcomes]string{"allowed", "missing", "invalid", "expired", "revoked_token", "session_ended", "cut_off", "banned", "scope", "unavailable", "error"}

// String is the outcome's label value.
func (o Outcome) String() string { return name(outcomeNames[:], o) }

// Outcomes lists every outcome.
func Outcomes() []Outcome { return all[Outcome](outcomes) }

// decision classifies what Authenticate or Authorize returned.
func decision(err error) Outcome {
	switch {
	case err == nil:
		return OutcomeAllowed
	case errors.Is(err, auth.ErrExpired):
		return OutcomeExpired
	case errors.Is(err, auth.ErrInvalidToken):
		return OutcomeInvalid
	case errors.Is(err, blacklist.ErrBanned):
		return OutcomeBanned
	case errors.Is(err, blacklist.ErrTokenRevoked):
		return OutcomeRevokedToken
	case errors.Is(err, blacklist.ErrSessionEnded):
		return OutcomeSessionEnded
	case errors.Is(err, blacklist.ErrCutOff):
		return OutcomeCutOff
	case errors.Is(err, ErrScope):
		return OutcomeScope
	case errors.Is(err, blacklist.ErrUnavailable):
		return OutcomeUnavailable
	}
	return OutcomeError
}

// Revocation is a kind of revocation entry.
type Revocation uint8

// The kinds of revocation entries.
const (
	// RevocationToken: one access token (its jti).
	RevocationToken Revocation = iota
	// RevocationSession: a session, and every access token of it.
	RevocationSession
	// RevocationUser: a user's cut-off, every token issued until then.
	RevocationUser
	// RevocationBan: a ban.
	RevocationBan
	revocations
)

var revocationNames = [revocations]string{"token", "session", "user", "ban"}

// String is the kind's label value.
func (r Revocation) String() string { return name(revocationNames[:], r) }

// Revocations lists every kind of revocation entry.
func Revocations() []Revocation { return all[Revocation](revocations) }

// Cause says why a revocation was written or a session ended.
type Cause uint8

// The causes.
const (
	// CauseLogoutLocal, CauseLogoutOthers, CauseLogoutGlobal: a user
	// logged out, in that scope.
	CauseLogoutLocal Cause = iota
	CauseLogoutOthers
	CauseLogoutGlobal
	// CauseOwnSession: a user ended one of their sessions from the list.
	CauseOwnSession
	// CauseAdmin: an admin client revoked a token, ended a session or
	// logged a user out everywhere.
	CauseAdmin
	// CauseRFC7009: a client revoked a token at the RFC 7009 endpoint.
	CauseRFC7009
	// CauseRefreshReuse: a replayed refresh token ended its session.
	CauseRefreshReuse
	// CauseRefreshExhausted: a session rotated its refresh token too often.
	CauseRefreshExhausted
	// CauseEvicted: the user opened more than sessions.max_per_user.
	CauseEvicted
	// CauseBan: a user was banned.
	CauseBan
	// CauseBackchannel: a trusted issuer sent a back-channel logout.
	CauseBackchannel
	causes
)

var causeNames = [causes]string{"logout_local", "logout_others", "logout_global", "own_session", "admin", "rfc7009", "refresh_reuse", "refresh_exhausted", "evicted", "ban", "backchannel_logout"}

// String is the cause's label value.
func (c Cause) String() string { return name(causeNames[:], c) }

// Causes lists every cause.
func Causes() []Cause { return all[Cause](causes) }

// endingCause is the cause of an ending the session store decided on its
// own authority (see sessions.CauseReuse and the others).
func endingCause(cause string) Cause {
	switch cause {
	case sessions.CauseReuse:
		return CauseRefreshReuse
	case sessions.CauseExhausted:
		return CauseRefreshExhausted
	case sessions.CauseEvicted:
		return CauseEvicted
	}
	return CauseRFC7009 // sessions.CauseRevoked
}

// RefreshOutcome is the outcome of a refresh.
type RefreshOutcome uint8

// The refresh outcomes.
const (
	// RefreshRotated: the current refresh token was rotated.
	RefreshRotated RefreshOutcome = iota
	// RefreshReuseWindow: the previous token, within the reuse window,
	// recovered the current one.
	RefreshReuseWindow
	// RefreshReuseDetected: a replayed token ended its session.
	RefreshReuseDetected
	// RefreshRefused: invalid_grant or invalid_scope (unknown, expired,
	// another client's, exhausted, a banned user, a wider scope).
	RefreshRefused
	// RefreshFailed: the refresh could not be decided (a store
	// unavailable).
	RefreshFailed
	refreshOutcomes
)

var refreshNames = [refreshOutcomes]string{"rotated", "reuse_window", "reuse_detected", "refused", "failed"}

// String is the outcome's label value.
func (r RefreshOutcome) String() string { return name(refreshNames[:], r) }

// RefreshOutcomes lists every refresh outcome.
func RefreshOutcomes() []RefreshOutcome { return all[RefreshOutcome](refreshOutcomes) }

// refreshOutcome classifies what Refresh returned.
func refreshOutcome(is Issued, err error) RefreshOutcome {
	switch {
	case err == nil && is.Rotated:
		return RefreshRotated
	case err == nil:
		return RefreshReuseWindow
	case errors.Is(err, sessions.ErrReused):
		return RefreshReuseDetected
	case errors.Is(err, sessions.ErrInvalidGrant), errors.Is(err, sessions.ErrScope), errors.Is(err, blacklist.ErrBanned):
		return RefreshRefused
	}
	return RefreshFailed
}

// BackchannelOutcome is the outcome of a received back-channel logout.
type BackchannelOutcome uint8

// The back-channel logout outcomes.
const (
	// BackchannelSession: a logout token with sid ended that session.
	BackchannelSession BackchannelOutcome = iota
	// BackchannelUser: a logout token with sub only cut off every token
	// of the user.
	BackchannelUser
	// BackchannelInvalid: the logout token was refused (it does not
	// verify, or a claim is malformed).
	BackchannelInvalid
	// BackchannelReplayed: the logout token's jti was seen before.
	BackchannelReplayed
	// BackchannelFailed: the logout could not be done (a store
	// unavailable).
	BackchannelFailed
	backchannelOutcomes
)

var backchannelNames = [backchannelOutcomes]string{"session_ended", "user_logged_out", "invalid", "replayed", "failed"}

// String is the outcome's label value.
func (b BackchannelOutcome) String() string { return name(backchannelNames[:], b) }

// BackchannelOutcomes lists every back-channel logout outcome.
func BackchannelOutcomes() []BackchannelOutcome { return all[BackchannelOutcome](backchannelOutcomes) }

func name[E ~uint8](names []string, e E) string {
	if int(e) < len(names) {
		return names[e]
	}
	return "unknown"
}

func all[E ~uint8](n E) []E {
	out := make([]E, n)
	for i := range out {
		out[i] = E(i)
	}
	return out
}
