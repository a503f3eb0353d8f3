package users

import (
	"context"

	"github.com/tokenguard/tokenguard/audit"
)

// ErrReplayed reports a logout token whose jti its issuer already sent
// while the token is still accepted. It wraps ErrInvalid: OpenID Connect
// Back-Channel Logout answers it like any other invalid token (§2.6, §2.8).
var ErrReplayed = &invalidError{"logout_token: a logout token with this jti was received before"}

// maxSIDBytes bounds a trusted issuer's sid, as maxJTIBytes its jti.
const maxSIDBytes = 255

// logoutTokenError is a logout token refused by auth: its text says why,
// and it wraps both ErrInvalid and auth's reason.
type logoutTokenError struct{ err error }

func (e *logoutTokenError) Error() string        { return "logout_token: " + e.err.Error() }
func (e *logoutTokenError) Is(target error) bool { return target == ErrInvalid }
func (e *logoutTokenError) Unwrap() error        { return e.err }

// BackchannelLogout is a trusted issuer telling us that it logged one of
// its users out: OpenID Connect Back-Channel Logout 1.0, raw being the
// logout token it posted. The token is checked as the specification says
// (auth.Service.VerifyLogout), then its jti, qualified by the issuer, is
// recorded until the token would no longer be accepted, so that a replay
// is refused with ErrReplayed. Then (§2.7):
//
//   - with a sid (with or without sub), that session of the issuer ends:
//     every token carrying the sid is refused, as when its user logs out
//     locally with one of them;
//   - with a sub only, every token of the issuer's user issued up to the
//     logout is cut off, as when an admin logs the user out everywhere.
//     The cut-off is the logout token's iat rather than our clock: the
//     issuer stamps its access tokens with the same clock, so a token it
//     issued after the logout (the user logging in again) is not cut off
//     if the logout arrives late.
//
// A refused token is an error wrapping ErrInvalid whose text says why; a
// store that cannot be reached fails the logout and forgets the jti, so the
// issuer may send the token again. The event is recorded on the audit
// trail once, with the issuer as actor.
func (s *Service) BackchannelLogout(ctx context.Context, raw string) (err error) {
	ctx = context.WithoutCancel(ctx)
	outcome := BackchannelFailed
	defer func() { s.metrics.BackchannelLogout(outcome) }()

	lt, err := s.tokens.VerifyLogout(ctx, raw)
	if err == nil {
		err = checkLogoutIDs(lt.Subject, lt.SessionID, lt.JTI)
	}
	if err != nil {
		outcome = BackchannelInvalid
		s.log.InfoContext(ctx, "back-channel logout refused", "err", err)
		return &logoutTokenError{err}
	}
	mark := s.qualify(lt.Issuer, lt.JTI)
	first, err := s.rev.MarkSeen(ctx, mark, lt.Until)
	if err != nil {
		return err
	}
	if !first {
		outcome = BackchannelReplayed
		s.log.InfoContext(ctx, "back-channel logout replayed", "iss", lt.Issuer, "jti", lt.JTI)
		return ErrReplayed
	}

	subject := s.qualify(lt.Issuer, lt.Subject)
	if lt.SessionID != "" {
		err = s.endForeignSession(ctx, lt.Issuer, lt.SessionID, CauseBackchannel)
		outcome = BackchannelSession
	} else {
		_, err = s.logOutEverywhere(ctx, subject, lt.IssuedAt, CauseBackchannel)
		outcome = BackchannelUser
	}
	if err != nil {
		outcome = BackchannelFailed
		if uerr := s.rev.UnmarkSeen(ctx, mark); uerr != nil {
			s.log.WarnContext(ctx, "back-channel logout failed and its jti stays marked: the issuer's retry will be refused as a replay", "iss", lt.Issuer, "jti", lt.JTI, "err", uerr)
		}
		return err
	}
	s.log.InfoContext(ctx, "back-channel logout", "iss", lt.Issuer, "sub", lt.Subject, "sid", lt.SessionID, "jti", lt.JTI)
	s.record(ctx, audit.Event{Type: audit.TypeBackchannelLogout, Actor: lt.Issuer, Subject: subject, SessionID: lt.SessionID, Reason: "jti " + lt.JTI})
	return nil
}

// checkLogoutIDs refuses identifiers of a logout token that no workflow
// takes: too long, or holding a control character (the separator of
// qualified names among them).
func checkLogoutIDs(sub, sid, jti string) error {
	if err := checkText("sub", sub, maxSubjectBytes, false); err != nil {
		return err
	}
	if err := checkText("sid", sid, maxSIDBytes, false); err != nil {
		return err
	}
	return checkText("jti", jti, maxJTIBytes, true)
}
