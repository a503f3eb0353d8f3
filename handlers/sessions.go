package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/sessions"
)

// sessionRequest opens a session for a user whose credentials the calling
// app backend has already checked.
type sessionRequest struct {
	Subject string         `json:"subject"`
	Scope   string         `json:"scope"`
	Claims  map[string]any `json:"claims"`
	Device  *device        `json:"device"`
}

// device describes where the user logged in from.
type device struct {
	Name      string `json:"name"`
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
}

// tokenResponse carries the tokens of a session just opened.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	SessionID    string `json:"session_id"`
}

const maxExtraClaims = 32

func (r *sessionRequest) validate() error {
	if err := checkText("subject", r.Subject, 255, true); err != nil {
		return err
	}
	if err := checkScope(r.Scope); err != nil {
		return err
	}
	if len(r.Claims) > maxExtraClaims {
		return badRequest("claims: at most %d extra claims", maxExtraClaims)
	}
	for name := range r.Claims {
		if err := checkText("claims: a claim name", name, 64, true); err != nil {
			return err
		}
	}
	if d := r.Device; d != nil {
		if err := checkText("device.name", d.Name, 128, false); err != nil {
			return err
		}
		if err := checkText("device.user_agent", d.UserAgent, 512, false); err != nil {
			return err
		}
		if d.IP != "" {
			if _, err := netip.ParseAddr(d.IP); err != nil {
				return badRequest("device.ip is not an IP address")
			}
		}
	}
	return nil
}

// checkScope enforces RFC 6749 §3.3: space-separated tokens of printable
// ASCII without '"' or '\'.
func checkScope(scope string) error {
	if scope == "" {
		return nil
	}
	if len(scope) > 1024 {
		return badRequest("scope is longer than 1024 bytes")
	}
	for _, tok := range strings.Split(scope, " ") {
		if tok == "" {
			return badRequest("scope: tokens are separated by single spaces")
		}
		for i := 0; i < len(tok); i++ {
			if b := tok[i]; b < 0x21 || b > 0x7e || b == '"' || b == '\\' {
				return badRequest("scope: invalid character in %q", tok)
			}
		}
	}
	return nil
}

// createSession opens a device session for a user the app backend has
// checked, and issues its first access token and refresh token. A banned
// user is refused with 403 user_banned.
func (h *handler) createSession(c echo.Context) error {
	var req sessionRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := h.refuseBanned(ctx, req.Subject); err != nil {
		return err
	}
	sid, err := sessions.NewID(req.Subject)
	if err != nil {
		return err
	}
	client := caller(c)
	sess := sessions.Session{
		ID:       sid,
		Subject:  req.Subject,
		ClientID: client.ID,
		Scope:    req.Scope,
		Claims:   req.Claims,
	}
	if d := req.Device; d != nil {
		sess.Device = sessions.Device{Name: d.Name, IP: d.IP, UserAgent: d.UserAgent}
	}
	// The access token first: it validates the extra claims, and it never
	// leaves this handler if opening the session fails.
	token, claims, err := h.issue(sess, sess.Scope)
	if errors.Is(err, auth.ErrReservedClaim) || errors.Is(err, auth.ErrClaims) {
		return badRequest("claims: %v", err)
	}
	if err != nil {
		return err
	}
	refresh, err := h.sessions.Open(ctx, sess)
	if err != nil {
		return err
	}
	// A ban that raced this login has ended every session it could see;
	// this one may have been written just after. Look again, so that a
	// banned user never keeps a session that would revive on unban.
	if banErr := h.refuseBanned(ctx, req.Subject); banErr != nil {
		if _, err := h.sessions.End(ctx, sid); err != nil && !errors.Is(err, sessions.ErrNotFound) {
			return err
		}
		return banErr
	}
	h.log.Info("session opened", "sub", claims.Subject, "sid", sid, "jti", claims.ID, "client_id", client.ID)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, tokenResponse{
		AccessToken:  token,
		TokenType:    "Bearer",
		ExpiresIn:    int64(h.auth.AccessTTL().Seconds()),
		RefreshToken: refresh,
		SessionID:    sid,
	})
}

// issue signs an access token of a session, for scope.
func (h *handler) issue(sess sessions.Session, scope string) (string, *auth.Claims, error) {
	return h.auth.Issue(auth.IssueRequest{
		Subject:   sess.Subject,
		SessionID: sess.ID,
		ClientID:  sess.ClientID,
		Scope:     scope,
		Extra:     sess.Claims,
	})
}

// refuseBanned returns an error wrapping blacklist.ErrBanned (403
// user_banned) when subject is banned now.
func (h *handler) refuseBanned(ctx context.Context, subject string) error {
	b, ok, err := h.bans.BanOf(ctx, subject)
	if err != nil {
		return err
	}
	if ok && b.ActiveAt(h.now()) {
		return fmt.Errorf("%w: %s", blacklist.ErrBanned, "new sessions are refused")
	}
	return nil
}
