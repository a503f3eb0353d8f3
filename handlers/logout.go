package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// Logout scopes.
const (
	scopeLocal  = "local"
	scopeGlobal = "global"
)

// logout ends the caller's session (scope=local, the default) or every
// session of the caller's user (scope=global). Either way the tokens it
// concerns fail verification from the moment this answers.
func (h *handler) logout(c echo.Context) error {
	scope := c.QueryParam("scope")
	if scope == "" {
		scope = scopeLocal
	}
	if scope != scopeLocal && scope != scopeGlobal {
		return badRequest("scope must be local or global")
	}
	raw, err := bearerToken(c.Request())
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	claims, err := h.authenticate(ctx, raw)
	if err != nil {
		return err
	}
	switch {
	case scope == scopeGlobal:
		err = h.rev.CutOff(ctx, claims.Subject, h.now())
	case claims.SessionID != "":
		err = h.rev.RevokeSession(ctx, claims.SessionID)
	default:
		err = h.rev.RevokeToken(ctx, claims.ID, claims.ExpiresAt.Time)
	}
	if err != nil {
		return err
	}
	h.log.Info("logout", "scope", scope, "sub", claims.Subject, "sid", claims.SessionID, "jti", claims.ID)
	return c.NoContent(http.StatusNoContent)
}
