package handlers

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/sessions"
)

// sessionView is one session as a device list shows it.
type sessionView struct {
	ID         string    `json:"id"`
	ClientID   string    `json:"client_id"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	DeviceName string    `json:"device_name"`
	// Current marks the session of the token the list was asked with; it
	// is left out of admin lists.
	Current *bool `json:"current,omitempty"`
}

// sessionList is the body of a device list.
type sessionList struct {
	Sessions []sessionView `json:"sessions"`
}

// viewSessions renders sessions. self marks a user's own list, whose
// entries say whether they are current, the caller's session (id current).
func viewSessions(list []sessions.Session, current string, self bool) sessionList {
	out := sessionList{Sessions: make([]sessionView, 0, len(list))}
	for _, s := range list {
		v := sessionView{
			ID:         s.ID,
			ClientID:   s.ClientID,
			CreatedAt:  s.CreatedAt.UTC(),
			LastUsedAt: s.LastUsedAt.UTC(),
			ExpiresAt:  s.ExpiresAt.UTC(),
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
// first, marking the caller's own as current.
func (h *handler) listOwnSessions(c echo.Context) error {
	claims, err := h.bearerUser(c)
	if err != nil {
		return err
	}
	list, err := h.users.Sessions(c.Request().Context(), h.users.SubjectOf(claims))
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
