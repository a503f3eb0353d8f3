package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// revocationRequest names one token to revoke: the token itself, or its jti
// and exp (unix seconds), with issuer for a trusted issuer's token (whose
// jti is only unique among that issuer's).
type revocationRequest struct {
	Token  string `json:"token"`
	JTI    string `json:"jti"`
	Exp    int64  `json:"exp"`
	Issuer string `json:"issuer"`
}

// revoke revokes one token. A token that has already expired needs nothing
// written and is answered like a fresh revocation.
func (h *handler) revoke(c echo.Context) error {
	var req revocationRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	ctx, actor := c.Request().Context(), caller(c).ID
	var err error
	switch {
	case req.Token != "" && (req.JTI != "" || req.Exp != 0 || req.Issuer != ""):
		return badRequest("give either token, or jti and exp (and issuer), not both")
	case req.Token != "":
		err = h.users.RevokeToken(ctx, actor, req.Token)
	default:
		err = h.users.RevokeID(ctx, actor, req.Issuer, req.JTI, time.Unix(req.Exp, 0))
	}
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// logoutUser ends every session of a user, refresh tokens included, and
// every access token issued up to now.
func (h *handler) logoutUser(c echo.Context) error {
	subject, err := h.adminSubject(c)
	if err != nil {
		return err
	}
	if err := h.users.LogOutEverywhere(c.Request().Context(), caller(c).ID, subject); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
