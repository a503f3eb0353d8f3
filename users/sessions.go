package users

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/sessions"
)

// Open describes a session to open for a user whose credentials the calling
// app backend has already checked.
type Open struct {
	// Subject is our user; foreign users cannot log in here.
	Subject string
	// ClientID is the client opening the session, which alone may refresh
	// it.
	ClientID string
	Scope    string
	// Claims are extra claims of every access token of the session.
	Claims map[string]any
	Device sessions.Device
}

// Issued is a session's new access token with its refresh token.
type Issued struct {
	AccessToken string
	Claims      *auth.Claims
	// RefreshToken replaces any refresh token presented.
	RefreshToken string
	Session      sessions.Session
	// Rotated is false when a refresh within the reuse window handed back
	// the current refresh token instead of a new one.
	Rotated bool
}

// OpenSession opens a device session and issues its first access token and
// refresh token. A banned user is refused with an error wrapping
// blacklist.ErrBanned; claims that cannot be issued with one wrapping
// ErrInvalid, claims too large for a token verification accepts
// (auth.MaxTokenBytes) included. The claims stored with the session are
// those of the token, so that limit bounds them too.
func (s *Service) OpenSession(ctx context.Context, o Open) (Issued, error) {
	if err := o.validate(); err != nil {
		return Issued{}, err
	}
	if err := s.refuseBanned(ctx, o.Subject); err != nil {
		return Issued{}, err
	}
	sid, err := sessions.NewID(o.Subject)
	if err != nil {
		return Issued{}, err
	}
	sess := sessions.Session{
		ID:       sid,
		Subject:  o.Subject,
		ClientID: o.ClientID,
		Scope:    o.Scope,
		Claims:   o.Claims,
		Device:   o.Device,
	}
	// The access token first: it validates the extra claims, and it never
	// leaves here if opening the session fails.
	token, claims, err := s.issue(sess, sess.Scope)
	if err != nil {
		return Issued{}, err
	}
	refresh, evicted, err := s.sessions.Open(ctx, sess)
	if err != nil {
		return Issued{}, err
	}
	s.metrics.SessionOpened()
	for _, e := range evicted {
		s.recordEnding(ctx, e, sessions.CauseEvicted, o.ClientID)
	}
	// A ban that raced this login has ended every session it could see;
	// this one may have been written just after. Look again, so that a
	// banned user never keeps a session that would revive on unban.
	if banErr := s.refuseBanned(ctx, o.Subject); banErr != nil {
		if err := s.endBanned(ctx, sid); err != nil {
			return Issued{}, err
		}
		return Issued{}, banErr
	}
	s.log.InfoContext(ctx, "session opened", "sub", claims.Subject, "sid", sid, "jti", claims.ID, "client_id", o.ClientID)
	return Issued{AccessToken: token, Claims: claims, RefreshToken: refresh, Session: sess, Rotated: true}, nil
}

// Refresh redeems a refresh token presented by client clientID for a new
// access token of scope (empty: the session's) and a rotated refresh
// token; see sessions.Store.Refresh for what happens to the token
// presented. A replayed token ends its session, which is recorded. A
// banned user's session is ended and refused with an error wrapping both
// sessions.ErrInvalidGrant and blacklist.ErrBanned.
func (s *Service) Refresh(ctx context.Context, raw, clientID, scope string) (is Issued, err error) {
	defer func() { s.metrics.Refreshed(refreshOutcome(is, err)) }()
	res, err := s.sessions.Refresh(ctx, raw, clientID, scope)
	var ended *sessions.EndedError
	if errors.As(err, &ended) {
		s.recordEnding(ctx, ended.Session, ended.Cause, clientID)
	}
	if err != nil {
		return Issued{}, err
	}
	sess := res.Session
	// A ban ends every session, but a refresh may have raced it: make sure
	// that a banned user's session stays dead.
	if err := s.refuseBanned(ctx, sess.Subject); err != nil {
		if !errors.Is(err, blacklist.ErrBanned) {
			return Issued{}, err
		}
		if err := s.endBanned(ctx, sess.ID); err != nil {
			return Issued{}, err
		}
		return Issued{}, fmt.Errorf("%w: %w: the user is banned", sessions.ErrInvalidGrant, blacklist.ErrBanned)
	}
	if scope == "" {
		scope = sess.Scope
	}
	// A session stored before its claims were bounded may not fit in a
	// token any more: refused, naming the limit, never issued unusable.
	token, claims, err := s.issue(sess, scope)
	if err != nil {
		return Issued{}, err
	}
	s.log.InfoContext(ctx, "session refreshed", "sub", sess.Subject, "sid", sess.ID, "jti", claims.ID, "client_id", clientID, "rotated", res.Rotated)
	return Issued{AccessToken: token, Claims: claims, RefreshToken: res.RefreshToken, Session: sess, Rotated: res.Rotated}, nil
}

// issue signs an access token of a session, for scope. Claims it cannot
// issue, or too large for a token, are refused with ErrInvalid.
func (s *Service) issue(sess sessions.Session, scope string) (string, *auth.Claims, error) {
	token, claims, err := s.tokens.Issue(auth.IssueRequest{
		Subject:   sess.Subject,
		SessionID: sess.ID,
		ClientID:  sess.ClientID,
		Scope:     scope,
		Extra:     sess.Claims,
	})
	if errors.Is(err, auth.ErrReservedClaim) || errors.Is(err, auth.ErrClaims) || errors.Is(err, auth.ErrOversized) {
		return "", nil, invalid("claims: %v", err)
	}
	return token, claims, err
}

// AccessTTL is how long the access tokens issued here live.
func (s *Service) AccessTTL() int64 { return int64(s.tokens.AccessTTL().Seconds()) }

// refuseBanned returns an error wrapping blacklist.ErrBanned when subject
// is banned now.
func (s *Service) refuseBanned(ctx context.Context, subject string) error {
	b, err := s.activeBan(ctx, subject)
	if err != nil {
		return err
	}
	if b != nil {
		return fmt.Errorf("%w: %s", blacklist.ErrBanned, "new sessions are refused")
	}
	return nil
}

// endBanned ends session sid, which a ban raced (see OpenSession and
// Refresh), even if the caller goes away. A session already gone, the
// ban's own EndAll having ended it, is no error.
func (s *Service) endBanned(ctx context.Context, sid string) error {
	_, err := s.sessions.End(context.WithoutCancel(ctx), sid)
	if err == nil {
		s.ended(CauseBan, 1)
	}
	if errors.Is(err, sessions.ErrNotFound) {
		return nil
	}
	return err
}

// Scope says which sessions a logout ends.
type Scope string

// Logout scopes.
const (
	// ScopeLocal ends the caller's own session (the default).
	ScopeLocal Scope = "local"
	// ScopeOthers ends every other session of the user.
	ScopeOthers Scope = "others"
	// ScopeGlobal ends every session and cuts off every access token of
	// the user issued until now.
	ScopeGlobal Scope = "global"
)

// ParseScope reads a logout scope; empty is ScopeLocal.
func ParseScope(v string) (Scope, error) {
	switch sc := Scope(v); sc {
	case "":
		return ScopeLocal, nil
	case ScopeLocal, ScopeOthers, ScopeGlobal:
		return sc, nil
	}
	return "", invalid("scope must be local, others or global")
}

// Logout ends sessions of the user of a token that Authenticate accepted,
// by scope. Each ended session loses its refresh token, and its access
// tokens fail verification once this returns; global also cuts off every
// access token of the user issued until now, sessions or not.
func (s *Service) Logout(ctx context.Context, claims *auth.Claims, scope Scope) error {
	ctx = context.WithoutCancel(ctx)
	subject := s.SubjectOf(claims)
	var err error
	var ended []sessions.Session
	switch scope {
	case ScopeLocal:
		err = s.endCaller(ctx, subject, claims)
	case ScopeOthers:
		ended, err = s.sessions.EndAll(ctx, subject, s.qualify(claims.Issuer, claims.SessionID))
		s.ended(CauseLogoutOthers, len(ended))
	case ScopeGlobal:
		ended, err = s.logOutEverywhere(ctx, subject, s.now(), CauseLogoutGlobal)
	default:
		return invalid("scope must be local, others or global")
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "logout", "scope", string(scope), "sub", subject, "sid", claims.SessionID, "jti", claims.ID)
	s.record(ctx, audit.Event{Type: audit.TypeLogout, Actor: claims.ClientID, Subject: subject, SessionID: claims.SessionID, Reason: string(scope)}, ended...)
	return nil
}

// endCaller ends the session of the caller's token, whose user is known as
// subject, or, for a token without a session, the token itself.
func (s *Service) endCaller(ctx context.Context, subject string, claims *auth.Claims) error {
	if claims.SessionID == "" {
		err := s.rev.RevokeToken(ctx, s.qualify(claims.Issuer, claims.ID), claims.ExpiresAt.Time)
		if err == nil {
			s.metrics.Revoked(RevocationToken, CauseLogoutLocal, 1)
		}
		return err
	}
	if !s.ours(claims.Issuer) {
		return s.endForeignSession(ctx, claims.Issuer, claims.SessionID, CauseLogoutLocal)
	}
	_, err := s.sessions.EndOwned(ctx, subject, claims.SessionID)
	if err == nil {
		s.ended(CauseLogoutLocal, 1)
	}
	if errors.Is(err, sessions.ErrNotFound) {
		// No state left (it lapsed, or another request ended it): the
		// token's session still has to die.
		if err = s.rev.RevokeSession(ctx, claims.SessionID); err == nil {
			s.metrics.Revoked(RevocationSession, CauseLogoutLocal, 1)
		}
	}
	return err
}

// endForeignSession ends sid, a session of issuer, another issuer. We keep
// none of its state, and its sid never reaches our session store (which
// knows sessions by id alone): the entry, under the sid qualified by its
// issuer, refuses every token of that session for as long as the issuer's
// tokens live.
func (s *Service) endForeignSession(ctx context.Context, issuer, sid string, cause Cause) error {
	life, _ := s.tokens.Lifetime(issuer)
	err := s.rev.EndSession(ctx, s.qualify(issuer, sid), life)
	if err == nil {
		s.metrics.Revoked(RevocationSession, cause, 1)
	}
	return err
}

// logOutEverywhere cuts off every access token of the user issued up to
// at (now, but for a logout another issuer tells of: see
// BackchannelLogout), then ends every session, refresh tokens included.
// The cut-off comes first: it kills every access token at once, those of
// sessions whose state has already lapsed included.
func (s *Service) logOutEverywhere(ctx context.Context, subject string, at time.Time, cause Cause) ([]sessions.Session, error) {
	if err := s.rev.CutOff(ctx, subject, at, s.lifetime(subject)); err != nil {
		return nil, err
	}
	s.metrics.Revoked(RevocationUser, cause, 1)
	ended, err := s.sessions.EndAll(ctx, subject, "")
	s.ended(cause, len(ended))
	return ended, err
}

// LogOutEverywhere is an admin (actor, a client id) logging a user out of
// every session, and every access token issued up to now.
func (s *Service) LogOutEverywhere(ctx context.Context, actor, subject string) error {
	ctx = context.WithoutCancel(ctx)
	ended, err := s.logOutEverywhere(ctx, subject, s.now(), CauseAdmin)
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "user logged out everywhere", "sub", subject, "client_id", actor, "sessions", len(ended))
	s.record(ctx, audit.Event{Type: audit.TypeAdminLogout, Actor: actor, Subject: subject}, ended...)
	return nil
}

// Sessions lists one page of the user's live sessions, newest first. A
// Before that is not the Next of a page is refused with an error wrapping
// ErrInvalid.
func (s *Service) Sessions(ctx context.Context, subject string, page sessions.PageRequest) (sessions.Page, error) {
	p, err := s.sessions.List(ctx, subject, page)
	if errors.Is(err, sessions.ErrBadCursor) {
		return sessions.Page{}, invalid("before must be the next_before of a page of this list")
	}
	return p, err
}

// EndOwnSession ends one of the sessions of the user of a token that
// Authenticate accepted, the caller's own included. Another user's session
// is answered sessions.ErrNotFound, exactly like one that does not exist.
func (s *Service) EndOwnSession(ctx context.Context, claims *auth.Claims, id string) error {
	ctx = context.WithoutCancel(ctx)
	ended, err := s.sessions.EndOwned(ctx, s.SubjectOf(claims), id)
	if err != nil {
		return err
	}
	s.ended(CauseOwnSession, 1)
	s.log.InfoContext(ctx, "session ended by its user", "sub", ended.Subject, "sid", ended.ID, "by_sid", claims.SessionID)
	s.record(ctx, audit.Event{Type: audit.TypeSessionEnded, Actor: claims.ClientID, Subject: ended.Subject, SessionID: ended.ID, Reason: "ended from session " + claims.SessionID})
	return nil
}

// EndSession is an admin (actor, a client id) ending any session by its
// id; sessions.ErrNotFound when there is none.
func (s *Service) EndSession(ctx context.Context, actor, id string) error {
	ctx = context.WithoutCancel(ctx)
	ended, err := s.sessions.End(ctx, id)
	if err != nil {
		return err
	}
	s.ended(CauseAdmin, 1)
	s.log.InfoContext(ctx, "session ended by an admin", "sub", ended.Subject, "sid", ended.ID, "client_id", actor)
	s.record(ctx, audit.Event{Type: audit.TypeAdminSessionEnded, Actor: actor, Subject: ended.Subject, SessionID: ended.ID})
	return nil
}
