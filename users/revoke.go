package users

import (
	"context"
	"errors"
	"time"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/sessions"
)

// RevokeToken is an admin (actor, a client id) revoking one access token,
// ours or a trusted issuer's, until it expires. A token that has already
// expired needs nothing written and is no error; one that does not verify
// is refused with ErrInvalid.
func (s *Service) RevokeToken(ctx context.Context, actor, raw string) error {
	claims, err := s.tokens.Verify(ctx, raw)
	if errors.Is(err, auth.ErrExpired) {
		return nil
	}
	if errors.Is(err, auth.ErrInvalidToken) {
		return invalid("token: %v", err)
	}
	if err != nil {
		return err
	}
	return s.adminRevoke(ctx, actor, claims.ID, claims.ExpiresAt.Time, s.SubjectOf(claims), claims.SessionID)
}

// RevokeID is an admin (actor) revoking the token with id jti, which
// expires at exp, without the token at hand.
func (s *Service) RevokeID(ctx context.Context, actor, jti string, exp time.Time) error {
	if err := CheckText("jti", jti, maxJTIBytes, true); err != nil {
		return err
	}
	if exp.Unix() <= 0 {
		return invalid("exp (unix seconds) is required with jti")
	}
	return s.adminRevoke(ctx, actor, jti, exp, "", "")
}

func (s *Service) adminRevoke(ctx context.Context, actor, jti string, exp time.Time, subject, sid string) error {
	if err := s.rev.RevokeToken(ctx, jti, exp); err != nil {
		return err
	}
	s.metrics.Revoked(RevocationToken, CauseAdmin, 1)
	s.log.Info("token revoked", "jti", jti, "client_id", actor)
	s.record(ctx, audit.Event{Type: audit.TypeAdminRevocation, Actor: actor, Subject: subject, SessionID: sid, Reason: "token " + jti})
	return nil
}

// RevokeAccess is RFC 7009 revocation of an access token by client
// clientID: a verifiable token (ours or a trusted issuer's, revoked or not)
// has its jti revoked until it expires. done is false when raw is no
// access token, so that the caller may try it as a refresh token; an
// expired one is done with, since nothing needs writing.
func (s *Service) RevokeAccess(ctx context.Context, clientID, raw string) (done bool, err error) {
	claims, err := s.tokens.Verify(ctx, raw)
	if errors.Is(err, auth.ErrExpired) {
		return true, nil
	}
	if err != nil {
		return false, nil
	}
	if err := s.rev.RevokeToken(ctx, claims.ID, claims.ExpiresAt.Time); err != nil {
		return false, err
	}
	s.metrics.Revoked(RevocationToken, CauseRFC7009, 1)
	s.log.Info("token revoked", "via", "oauth2/revoke", "iss", claims.Issuer, "sub", claims.Subject, "jti", claims.ID, "client_id", clientID)
	return true, nil
}

// RevokeRefresh is RFC 7009 revocation of a refresh token by client
// clientID: its whole session ends, access tokens included. done is false
// when raw is no live refresh token. A refresh token is the client's own
// credential (RFC 6749 §10.4): another client's is refused with
// ErrOtherClient.
func (s *Service) RevokeRefresh(ctx context.Context, clientID, raw string) (done bool, err error) {
	info, ok, err := s.sessions.Introspect(ctx, raw)
	if err != nil || !ok {
		return false, err
	}
	if info.ClientID != clientID {
		return false, ErrOtherClient
	}
	ended, ok, err := s.sessions.RevokeRefreshToken(context.WithoutCancel(ctx), raw)
	if err != nil {
		return false, err
	}
	if ok {
		s.recordEnding(ctx, ended, sessions.CauseRevoked, clientID)
	}
	s.log.Info("session ended", "via", "oauth2/revoke", "sub", info.Subject, "sid", info.SessionID, "client_id", clientID)
	return true, nil
}

// RefreshToken describes a live refresh token. It goes through the same
// revocation decision as access tokens: a refresh token whose session has
// ended, whose user was cut off after it was issued, or whose user is
// banned is not live, whatever the session store says. ok is false for
// anything that is not a live refresh token.
func (s *Service) RefreshToken(ctx context.Context, raw string) (info sessions.Info, ok bool, err error) {
	info, ok, err = s.sessions.Introspect(ctx, raw)
	if err != nil || !ok || !info.ExpiresAt.After(s.now()) {
		return sessions.Info{}, false, err
	}
	err = s.rev.Check(ctx, blacklist.Token{
		SessionID: info.SessionID,
		Subject:   s.name("", info.Subject),
		IssuedAt:  info.IssuedAt,
	})
	if Inactive(err) {
		return sessions.Info{}, false, nil
	}
	return info, err == nil, err
}
