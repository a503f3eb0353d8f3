package handlers

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/users"
)

// eventView is one audit event.
type eventView struct {
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	Type      string    `json:"type"`
	Actor     string    `json:"actor"`
	Subject   string    `json:"subject,omitempty"`
	SessionID string    `json:"session_id,omitempty"`
	Reason    string    `json:"reason,omitempty"`
}

// eventList is a page of the audit trail. NextBefore, when present, is the
// before= of the next page.
type eventList struct {
	Events     []eventView `json:"events"`
	NextBefore string      `json:"next_before,omitempty"`
}

// listEvents pages through the audit trail, newest first:
// ?subject= one user's events, ?limit= 1 to 500 (default 50), ?before= the
// id of the last event of the previous page.
func (h *handler) listEvents(c echo.Context) error {
	q := audit.Query{Subject: c.QueryParam("subject"), Before: c.QueryParam("before")}
	if q.Subject != "" {
		if err := users.CheckSubject(q.Subject); err != nil {
			return err
		}
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
		out.Events = append(out.Events, eventView{
			ID: e.ID, Time: e.Time.UTC(), Type: e.Type, Actor: e.Actor,
			Subject: e.Subject, SessionID: e.SessionID, Reason: e.Reason,
		})
	}
	if len(events) == q.Limit {
		out.NextBefore = events[len(events)-1].ID
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}
