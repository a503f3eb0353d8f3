package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/sessions"
)

// sessionView is one session as a device list shows it.
type sessionView struct {
	ID         string    `json:"id"`
	ClientID   string    `json:"client_id"`
	CreatedAt  timestamp `json:"created_at"`
	LastUsedAt timestamp `json:"last_used_at"`
	ExpiresAt  timestamp `json:"expires_at"`
	// The device fields are left out when the session was opened without
	// them, rather than shown empty.
	IP         string `json:"ip,omitempty"`
	UserAgent  string `json:"user_agent,omitempty"`
	DeviceName string `json:"device_name,omitempty"`
	// Current marks the session of the token the list was asked with; it
	// is left out of admin lists.
	Current *bool `json:"current,omitempty"`
}

// sessionList is a page of a device list. NextBefore, when present, is the
// before= of the next page, as in the audit trail's list.
type sessionList struct {
	Sessions   []sessionView `json:"sessions"`
	NextBefore string        `json:"next_before,omitempty"`
}

// Page sizes of the lists (sessions and audit events): ?limit= from 1 to
// maxListLimit, defaultListLimit when absent.
const (
	defaultListLimit = 50
	maxListLimit     = 500
)

// listLimit reads ?limit=.
func listLimit(c echo.Context) (int, error) {
	s := c.QueryParam("limit")
	if s == "" {
		return defaultListLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxListLimit {
		return 0, badRequest("limit must be a number from 1 to %d", maxListLimit)
	}
	return n, nil
}

// sessionPage reads the page a session list asks for: ?limit= and ?before=
// (the next_before of the previous page).
func sessionPage(c echo.Context) (sessions.PageRequest, error) {
	n, err := listLimit(c)
	if err != nil {
		return sessions.PageRequest{}, err
	}
	return sessions.PageRequest{Limit: n, Before: c.QueryParam("before")}, nil
}

// viewSessions renders a page of sessions. self marks a user's own list,
// whose entries say whether they are current, the caller's session (id
// current).
func viewSessions(page sessions.Page, current string, self bool) sessionList {
	list := page.Sessions
	out := sessionList{Sessions: make([]sessionView, 0, len(list)), NextBefore: page.Next}
	for _, s := range list {
		v := sessionView{
			ID:         s.ID,
			ClientID:   s.ClientID,
			CreatedAt:  stamp(s.CreatedAt),
			LastUsedAt: stamp(s.LastUsedAt),
			ExpiresAt:  stamp(s.ExpiresAt),
			IP:         s.Device.IP,
			UserAgent:  s.Device.UserAgent,
			DeviceName: s.Device.Name,
		}
		if self {
			cur := s.ID == current
			v.Current = &cur
		}
		out.Sessions = append(out.Sessions, v)
	}
	return out
}

// listOwnSessions lists the live sessions of the caller's user, newest
// first, a page at a time (?limit=, ?before=), marking the caller's own as
// current.
func (h *handler) listOwnSessions(c echo.Context) error {
	claims, err := h.bearerUser(c)
	if err != nil {
		return err
	}
	page, err := sessionPage(c)
	if err != nil {
		return err
	}
	list, err := h.users.Sessions(c.Request().Context(), h.users.SubjectOf(claims), page)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, viewSessions(list, claims.SessionID, true))
}

// errNoSession answers a session id that does not exist or is not the
// caller's to see: the two are indistinguishable.
var errNoSession = &apiError{http.StatusNotFound, "not_found", "no such session"}

// endOwnSession ends one of the caller's user's sessions, the caller's own
// included. Another user's session id is answered exactly like one that
// does not exist.
func (h *handler) endOwnSession(c echo.Context) error {
	claims, err := h.bearerUser(c)
	if err != nil {
		return err
	}
	id, err := pathParam(c, "id")
	if err != nil {
		return errNoSession
	}
	err = h.users.EndOwnSession(c.Request().Context(), claims, id)
	if errors.Is(err, sessions.ErrNotFound) {
		return errNoSession
	}
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
