package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/sessions"
	"github.com/tokenguard/tokenguard/users"
)

// userView is what an admin sees of a user. Banned is decided by the
// users package, so that clients never compare clocks; Ban is null when
// Banned is false.
type userView struct {
	Subject string `json:"subject"`
	// Issuer is the trusted issuer of a user of another identity
	// provider; absent for our own users.
	Issuer   string   `json:"issuer,omitempty"`
	Banned   bool     `json:"banned"`
	Ban      *banView `json:"ban"`
	Sessions int      `json:"sessions"`
	// RevokedBefore is the user's cut-off: every token issued at or before
	// it is refused. Null when there is none in force.
	RevokedBefore *timestamp `json:"revoked_before"`
}

// banView is a ban in force.
type banView struct {
	At timestamp `json:"at"`
	// Until is null for a ban without end.
	Until  *timestamp `json:"until"`
	Reason string     `json:"reason"`
	By     string     `json:"by"`
}

func viewUser(st users.Status) userView {
	v := userView{Sessions: st.Sessions}
	v.Issuer, v.Subject = users.SplitSubject(st.Subject)
	if b := st.Ban; b != nil {
		v.Banned = true
		v.Ban = &banView{At: stamp(b.At), Until: stampOrNil(b.Until), Reason: b.Reason, By: b.By}
	}
	v.RevokedBefore = stampOrNil(st.CutOff)
	return v
}

// banRequest bans a user: for Duration (a Go duration such as "24h"), or
// until lifted when Duration is empty.
type banRequest struct {
	Duration string `json:"duration"`
	Reason   string `json:"reason"`
}

// adminUser shows a user's ban, live sessions and cut-off.
func (h *handler) adminUser(c echo.Context) error {
	subject, err := h.adminSubject(c)
	if err != nil {
		return err
	}
	st, err := h.users.Status(c.Request().Context(), subject)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, viewUser(st))
}

// adminUserSessions lists a user's live sessions, newest first, a page at a
// time (?limit=, ?before=).
func (h *handler) adminUserSessions(c echo.Context) error {
	subject, err := h.adminSubject(c)
	if err != nil {
		return err
	}
	page, err := sessionPage(c)
	if err != nil {
		return err
	}
	list, err := h.users.Sessions(c.Request().Context(), subject, page)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, viewSessions(list, "", false))
}

// adminEndSession ends any session by its id.
func (h *handler) adminEndSession(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return errNoSession
	}
	err = h.users.EndSession(c.Request().Context(), caller(c).ID, id)
	if errors.Is(err, sessions.ErrNotFound) {
		return errNoSession
	}
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// ban bans a user (see users.Service.Ban) and answers the user's status.
func (h *handler) ban(c echo.Context) error {
	subject, err := h.adminSubject(c)
	if err != nil {
		return err
	}
	var req banRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	d, err := users.ParseBanDuration(req.Duration)
	if err != nil {
		return err
	}
	st, err := h.users.Ban(c.Request().Context(), caller(c).ID, subject, d, req.Reason)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, viewUser(st))
}

// unban lifts a user's ban, if any. Tokens and sessions the ban revoked
// stay revoked; new sessions work at once.
func (h *handler) unban(c echo.Context) error {
	subject, err := h.adminSubject(c)
	if err != nil {
		return err
	}
	if err := h.users.Unban(c.Request().Context(), caller(c).ID, subject); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// adminSubject reads the user an admin endpoint addresses: the {subject}
// path parameter, and with ?issuer= a trusted issuer's user of that sub. It
// returns the name the revocation state knows the user by (see
// users.Service.Subject).
func (h *handler) adminSubject(c echo.Context) (string, error) {
	subject, err := pathParam(c, "subject")
	if err != nil {
		return "", err
	}
	return h.users.Subject(c.QueryParam("issuer"), subject)
}
