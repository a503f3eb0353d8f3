package handlers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/sessions"
)

// BanState is what the handlers need of bans and cut-offs; the blacklist
// store is one.
type BanState interface {
	Ban(ctx context.Context, subject string, b blacklist.Ban) error
	Unban(ctx context.Context, subject string) error
	BanOf(ctx context.Context, subject string) (blacklist.Ban, bool, error)
	CutOffOf(ctx context.Context, subject string) (time.Time, bool, error)
}

// userView is what an admin sees of a user. Banned is decided here, so
// that clients never compare clocks; Ban is null when Banned is false.
type userView struct {
	Subject  string   `json:"subject"`
	Banned   bool     `json:"banned"`
	Ban      *banView `json:"ban"`
	Sessions int      `json:"sessions"`
	// RevokedBefore is the user's cut-off: every token issued at or before
	// it is refused. Null when there is none in force.
	RevokedBefore *time.Time `json:"revoked_before"`
}

// banView is a ban in force.
type banView struct {
	At time.Time `json:"at"`
	// Until is null for a ban without end.
	Until  *time.Time `json:"until"`
	Reason string     `json:"reason"`
	By     string     `json:"by"`
}

// banRequest bans a user: for Duration (a Go duration such as "24h"), or
// until lifted when Duration is empty.
type banRequest struct {
	Duration string `json:"duration"`
	Reason   string `json:"reason"`
}

const (
	minBanDuration = time.Second
	// maxBanDuration is ten years; longer is "until lifted".
	maxBanDuration = 10 * 365 * 24 * time.Hour
	maxReasonBytes = 512
)

func (r banRequest) validate() (time.Duration, error) {
	if err := checkText("reason", r.Reason, maxReasonBytes, false); err != nil {
		return 0, err
	}
	if r.Duration == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(r.Duration)
	if err != nil {
		return 0, badRequest("duration must be a Go duration such as 30m or 24h, or omitted for a ban until lifted")
	}
	if d < minBanDuration || d > maxBanDuration {
		return 0, badRequest("duration must be from %v to %v; omit it for a ban until lifted", minBanDuration, maxBanDuration)
	}
	return d, nil
}

// userStatus gathers what an admin sees of a user.
func (h *handler) userStatus(ctx context.Context, subject string) (userView, error) {
	v := userView{Subject: subject}
	b, ok, err := h.bans.BanOf(ctx, subject)
	if err != nil {
		return userView{}, err
	}
	if ok && b.ActiveAt(h.now()) {
		v.Banned = true
		v.Ban = &banView{At: b.At.UTC(), Reason: b.Reason, By: b.By}
		if !b.Until.IsZero() {
			until := b.Until.UTC()
			v.Ban.Until = &until
		}
	}
	cut, ok, err := h.bans.CutOffOf(ctx, subject)
	if err != nil {
		return userView{}, err
	}
	if ok {
		cut = cut.UTC()
		v.RevokedBefore = &cut
	}
	if v.Sessions, err = h.sessions.Count(ctx, subject); err != nil {
		return userView{}, err
	}
	return v, nil
}

// adminUser shows a user's ban, live sessions and cut-off.
func (h *handler) adminUser(c echo.Context) error {
	subject, err := h.adminSubject(c)
	if err != nil {
		return err
	}
	v, err := h.userStatus(c.Request().Context(), subject)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, v)
}

// adminUserSessions lists a user's live sessions, newest first.
func (h *handler) adminUserSessions(c echo.Context) error {
	subject, err := h.adminSubject(c)
	if err != nil {
		return err
	}
	list, err := h.sessions.List(c.Request().Context(), subject)
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
	ctx := c.Request().Context()
	ended, err := h.sessions.End(ctx, id)
	if errors.Is(err, sessions.ErrNotFound) {
		return errNoSession
	}
	if err != nil {
		return err
	}
	h.log.Info("session ended by an admin", "sub", ended.Subject, "sid", ended.ID, "client_id", caller(c).ID)
	h.record(ctx, audit.Event{Type: audit.TypeAdminSessionEnded, Actor: caller(c).ID, Subject: ended.Subject, SessionID: ended.ID})
	return c.NoContent(http.StatusNoContent)
}

// ban bans a user in one step: the ban and a cut-off of every token issued
// until now are written together (the user's tokens answer 403 at
// /v1/verify from then on), then every session ends, refresh tokens
// included. New sessions and refreshes are refused until the ban lapses or
// is lifted; what it revoked stays revoked. A second ban replaces the first.
func (h *handler) ban(c echo.Context) error {
	subject, err := h.adminSubject(c)
	if err != nil {
		return err
	}
	var req banRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	d, err := req.validate()
	if err != nil {
		return err
	}
	// The ban and the end of every session make one step: a client that
	// hangs up must not leave sessions that would revive on unban.
	ctx := context.WithoutCancel(c.Request().Context())
	by := caller(c).ID
	b := blacklist.Ban{At: h.now(), Reason: req.Reason, By: by}
	reason := req.Reason
	if d > 0 {
		b.Until = b.At.Add(d)
		reason = "for " + d.String() + ": " + req.Reason
	}
	if err := h.bans.Ban(ctx, subject, b); err != nil {
		return err
	}
	ended, err := h.sessions.EndAll(ctx, subject, "")
	if err != nil {
		return err
	}
	h.log.Info("user banned", "sub", subject, "client_id", by, "until", b.Until, "sessions", len(ended))
	h.record(ctx, audit.Event{Type: audit.TypeBan, Actor: by, Subject: subject, Reason: reason})
	v, err := h.userStatus(ctx, subject)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, v)
}

// unban lifts a user's ban, if any. Tokens and sessions the ban revoked
// stay revoked; new sessions work at once.
func (h *handler) unban(c echo.Context) error {
	subject, err := h.adminSubject(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := h.bans.Unban(ctx, subject); err != nil {
		return err
	}
	h.log.Info("user unbanned", "sub", subject, "client_id", caller(c).ID)
	h.record(ctx, audit.Event{Type: audit.TypeUnban, Actor: caller(c).ID, Subject: subject})
	return c.NoContent(http.StatusNoContent)
}
