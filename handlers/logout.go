package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/sessions"
)

// Logout scopes.
const (
	scopeLocal  = "local"
	scopeOthers = "others"
	scopeGlobal = "global"
)

// logout ends sessions of the caller's user, by scope: local (the default)
// the caller's own session, others every other session of the user, global
// all of them. Each ended session loses its refresh token, and its access
// tokens fail verification from the moment this answers; global also cuts
// off every access token of the user issued until now, sessions or not.
func (h *handler) logout(c echo.Context) error {
	scope := c.QueryParam("scope")
	if scope == "" {
		scope = scopeLocal
	}
	if scope != scopeLocal && scope != scopeOthers && scope != scopeGlobal {
		return badRequest("scope must be local, others or global")
	}
	claims, err := h.bearerUser(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	// From here on, several writes make one logout: a client that hangs up
	// must not leave it half done.
	ctx = context.WithoutCancel(ctx)
	subject := h.subjectOf(claims)
	switch scope {
	case scopeLocal:
		err = h.endCaller(ctx, subject, claims)
	case scopeOthers:
		_, err = h.sessions.EndAll(ctx, subject, claims.SessionID)
	case scopeGlobal:
		// The cut-off first: it kills every access token at once, those of
		// sessions whose state has already lapsed included.
		if err = h.rev.CutOff(ctx, subject, h.now()); err == nil {
			_, err = h.sessions.EndAll(ctx, subject, "")
		}
	}
	if err != nil {
		return err
	}
	h.log.Info("logout", "scope", scope, "sub", subject, "sid", claims.SessionID, "jti", claims.ID)
	h.record(ctx, audit.Event{Type: audit.TypeLogout, Actor: claims.ClientID, Subject: subject, SessionID: claims.SessionID, Reason: scope})
	return c.NoContent(http.StatusNoContent)
}

// endCaller ends the session of the caller's token, whose user the
// revocation state knows as subject, or, for a token without a session, the
// token itself.
func (h *handler) endCaller(ctx context.Context, subject string, claims *auth.Claims) error {
	if claims.SessionID == "" {
		return h.rev.RevokeToken(ctx, claims.ID, claims.ExpiresAt.Time)
	}
	_, err := h.sessions.EndOwned(ctx, subject, claims.SessionID)
	if errors.Is(err, sessions.ErrNotFound) {
		// No state left (it lapsed, or another request ended it): the
		// token's session still has to die.
		err = h.rev.RevokeSession(ctx, claims.SessionID)
	}
	return err
}

// record appends an event to the audit trail. The action it records has
// already happened and been acknowledged by Redis, so a failure here does
// not undo it or fail the request: it is logged, with the event. A client
// that hangs up does not stop the recording.
func (h *handler) record(ctx context.Context, e audit.Event) {
	if err := h.events.Record(context.WithoutCancel(ctx), e); err != nil {
		h.log.Error("audit event not recorded", "type", e.Type, "actor", e.Actor, "sub", e.Subject, "sid", e.SessionID, "reason", e.Reason, "err", err)
	}
}
