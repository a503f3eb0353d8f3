package handlers

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

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
	var jti string
	var exp time.Time
	switch {
	case req.Token != "" && (req.JTI != "" || req.Exp != 0):
		return badRequest("give either token, or jti and exp, not both")
	case req.Token != "":
		claims, err := h.auth.Verify(req.Token)
		if errors.Is(err, auth.ErrExpired) {
			return c.NoContent(http.StatusNoContent)
		}
		if err != nil {
			return badRequest("token: %v", err)
		}
		jti, exp = claims.ID, claims.ExpiresAt.Time
	default:
		if err := checkText("jti", req.JTI, 255, true); err != nil {
			return err
		}
		if req.Exp <= 0 {
			return badRequest("exp (unix seconds) is required with jti")
		}
		jti, exp = req.JTI, time.Unix(req.Exp, 0)
	}
	if err := h.rev.RevokeToken(c.Request().Context(), jti, exp); err != nil {
		return err
	}
	h.log.Info("token revoked", "jti", jti, "client_id", caller(c).ID)
	return c.NoContent(http.StatusNoContent)
}

// logoutUser ends every session of a user: every token issued up to now.
func (h *handler) logoutUser(c echo.Context) error {
	subject, err := pathParam(c, "subject")
	if err != nil {
		return err
	}
	if err := checkText("subject", subject, 255, true); err != nil {
		return err
	}
	if err := h.rev.CutOff(c.Request().Context(), subject, h.now()); err != nil {
		return err
	}
	h.log.Info("user logged out everywhere", "sub", subject, "client_id", caller(c).ID)
	return c.NoContent(http.StatusNoContent)
}
