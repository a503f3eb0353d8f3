package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/users"
)

// logout ends sessions of the caller's user, by ?scope= (local, the
// default; others; global): see users.Service.Logout.
func (h *handler) logout(c echo.Context) error {
	scope, err := users.ParseScope(c.QueryParam("scope"))
	if err != nil {
		return err
	}
	claims, err := h.bearerUser(c)
	if err != nil {
		return err
	}
	if err := h.users.Logout(c.Request().Context(), claims, scope); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
