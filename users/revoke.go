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
	return s.adminRevoke(ctx, actor, claims.Issuer, claims.ID, claims.ExpiresAt.Time, s.SubjectOf(claims), claims.SessionID)
}

// RevokeID is an admin (actor) revoking the token with id jti, which
// expires at exp, without the token at hand: one of ours, or with issuer a
// trusted issuer's (whose jti is only unique among its own tokens). An exp
// later than a token of that issuer can carry (auth.Service.LatestExpiry)
// is refused with ErrInvalid: no such token is accepted, and the entry
// would outlive every token.
func (s *Service) RevokeID(ctx context.Context, actor, issuer, jti string, exp time.Time) error {
	if err := checkText("jti", jti, maxJTIBytes, true); err != nil {
		return err
	}
	if err := checkIssuer(issuer); err != nil {
		return err
	}
	latest, ok := s.tokens.LatestExpiry(issuer)
	if !ok {
		return ErrUnknownIssuer
	}
	if exp.Unix() <= 0 {
		return invalid("exp (unix seconds) is required with jti")
	}
	if exp.After(latest) {
		life, _ := s.tokens.Lifetime(issuer)
		limit := "access_ttl"
		if !s.ours(issuer) {
			limit = "the issuer's max_token_lifetime"
		}
		return invalid("exp lies beyond %d, the latest a token accepted now can expire (%s + leeway: %v from now)", latest.Unix(), limit, life+s.tokens.Leeway())
	}
	return s.adminRevoke(ctx, actor, issuer, jti, exp, "", "")
}

// adminRevoke revokes a token of issuer by its jti, and records it;
// subject (a name from Subject) and sid, when known, go on the record.
func (s *Service) adminRevoke(ctx context.Context, actor, issuer, jti string, exp time.Time, subject, sid string) error {
	if err := s.rev.RevokeToken(ctx, s.qualify(issuer, jti), exp); err != nil {
		return err
	}
	reason := "token " + jti
	if !s.ours(issuer) && subject == "" {
		reason += " of " + issuer
	}
	s.metrics.Revoked(RevocationToken, CauseAdmin, 1)
	s.log.InfoContext(ctx, "token revoked", "iss", issuer, "jti", jti, "client_id", actor)
	s.record(ctx, audit.Event{Type: audit.TypeAdminRevocation, Actor: actor, Subject: subject, SessionID: sid, Reason: reason})
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
	// Verify refused any token living longer than its issuer's tokens
	// may, and the store keeps no entry beyond that either.
	if err := s.rev.RevokeToken(ctx, s.qualify(claims.Issuer, claims.ID), claims.ExpiresAt.Time); err != nil {
		return false, err
	}
	s.metrics.Revoked(RevocationToken, CauseRFC7009, 1)
	s.log.InfoContext(ctx, "token revoked", "via", "oauth2/revoke", "iss", claims.Issuer, "sub", claims.Subject, "jti", claims.ID, "client_id", clientID)
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
	s.log.InfoContext(ctx, "session ended", "via", "oauth2/revoke", "sub", info.Subject, "sid", info.SessionID, "client_id", clientID)
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
		Subject:   info.Subject, // a refresh token is always ours
		IssuedAt:  info.IssuedAt,
	})
	if Inactive(err) {
		return sessions.Info{}, false, nil
	}
	return info, err == nil, err
}
