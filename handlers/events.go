package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/users"
)

// eventView is one audit event.
type eventView struct {
	ID      string    `json:"id"`
	Time    timestamp `json:"time"`
	Type    string    `json:"type"`
	Actor   string    `json:"actor"`
	Subject string    `json:"subject,omitempty"`
	// Issuer is the trusted issuer of a user of another identity
	// provider; absent for our own users.
	Issuer    string `json:"issuer,omitempty"`
	SessionID string `json:"session_id,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// eventList is a page of the audit trail. NextBefore, when present, is the
// before= of the next page.
type eventList struct {
	Events     []eventView `json:"events"`
	NextBefore string      `json:"next_before,omitempty"`
}

// listEvents pages through the audit trail, newest first:
// ?subject= one user's events (with ?issuer=, a trusted issuer's user, as
// on the user endpoints), ?limit= 1 to 500 (default 50), ?before= the id of
// the last event of the previous page.
func (h *handler) listEvents(c echo.Context) error {
	q := audit.Query{Before: c.QueryParam("before")}
	sub, issuer := c.QueryParam("subject"), c.QueryParam("issuer")
	switch {
	case sub != "":
		name, err := h.users.Subject(issuer, sub)
		if err != nil {
			return err
		}
		q.Subject = name
	case issuer != "":
		return badRequest("issuer selects the user named by subject; give both")
	}
	n, err := listLimit(c)
	if err != nil {
		return err
	}
	q.Limit = n
	events, err := h.users.Events(c.Request().Context(), q)
	if errors.Is(err, audit.ErrBadCursor) {
		return badRequest("before must be the id of an event, as listed")
	}
	if err != nil {
		return err
	}
	out := eventList{Events: make([]eventView, 0, len(events))}
	for _, e := range events {
		v := eventView{ID: e.ID, Time: stamp(e.Time), Type: e.Type, Actor: e.Actor, SessionID: e.SessionID, Reason: e.Reason}
		v.Issuer, v.Subject = users.SplitSubject(e.Subject)
		out.Events = append(out.Events, v)
	}
	if len(events) == q.Limit {
		out.NextBefore = events[len(events)-1].ID
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}
