package handlers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/auth"
)

// revocationRequest names one token to revoke: the token itself, or its jti
// and exp (unix seconds).
type revocationRequest struct {
	Token string `json:"token"`
	JTI   string `json:"jti"`
	Exp   int64  `json:"exp"`
}

// revoke revokes one token. A token that has already expired needs nothing
// written and is answered like a fresh revocation.
func (h *handler) revoke(c echo.Context) error {
	var req revocationRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	var jti, sub, sid string
	var exp time.Time
	switch {
	case req.Token != "" && (req.JTI != "" || req.Exp != 0):
		return badRequest("give either token, or jti and exp, not both")
	case req.Token != "":
		claims, err := h.auth.Verify(ctx, req.Token)
		if errors.Is(err, auth.ErrExpired) {
			return c.NoContent(http.StatusNoContent)
		}
		if errors.Is(err, auth.ErrInvalidToken) {
			return badRequest("token: %v", err)
		}
		if err != nil {
			return err
		}
		jti, exp, sub, sid = claims.ID, claims.ExpiresAt.Time, h.subjectOf(claims), claims.SessionID
	default:
		if err := checkText("jti", req.JTI, 255, true); err != nil {
			return err
		}
		if req.Exp <= 0 {
			return badRequest("exp (unix seconds) is required with jti")
		}
		jti, exp = req.JTI, time.Unix(req.Exp, 0)
	}
	if err := h.rev.RevokeToken(ctx, jti, exp); err != nil {
		return err
	}
	h.log.Info("token revoked", "jti", jti, "client_id", caller(c).ID)
	h.record(ctx, audit.Event{Type: audit.TypeAdminRevocation, Actor: caller(c).ID, Subject: sub, SessionID: sid, Reason: "token " + jti})
	return c.NoContent(http.StatusNoContent)
}

// logoutUser ends every session of a user, refresh tokens included, and
// every access token issued up to now.
func (h *handler) logoutUser(c echo.Context) error {
	subject, err := h.adminSubject(c)
	if err != nil {
		return err
	}
	// Two writes make one logout: a client that hangs up must not leave it
	// half done.
	ctx := context.WithoutCancel(c.Request().Context())
	if err := h.rev.CutOff(ctx, subject, h.now()); err != nil {
		return err
	}
	ended, err := h.sessions.EndAll(ctx, subject, "")
	if err != nil {
		return err
	}
	h.log.Info("user logged out everywhere", "sub", subject, "client_id", caller(c).ID, "sessions", len(ended))
	h.record(ctx, audit.Event{Type: audit.TypeAdminLogout, Actor: caller(c).ID, Subject: subject})
	return c.NoContent(http.StatusNoContent)
}
