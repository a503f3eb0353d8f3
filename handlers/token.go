package handlers

import (
	"errors"
	"mime"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/sessions"
)

// refreshResponse is the token endpoint's answer (RFC 6749 §5.1).
type refreshResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	SessionID    string `json:"session_id"`
}

// oauthError is an error of the token endpoint in the RFC 6749 §5.2 shape.
func oauthError(code, description string) error {
	return &apiError{http.StatusBadRequest, code, description}
}

// token is the OAuth 2.0 token endpoint. It serves one grant, refresh_token
// (RFC 6749 §6): the client that the session was opened by redeems the
// session's refresh token for a new access token and a rotated refresh
// token. See sessions.Store.Refresh for what happens to the token presented.
func (h *handler) token(c echo.Context) error {
	r := c.Request()
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return oauthError("invalid_request", "the body must be application/x-www-form-urlencoded")
	}
	client, err := h.oauthClient(c)
	if err != nil {
		return err
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return oauthError("invalid_request", k+" is given more than once")
		}
	}
	grant := r.PostForm.Get("grant_type")
	switch {
	case grant == "":
		return oauthError("invalid_request", "grant_type is required")
	case grant != "refresh_token":
		return oauthError("unsupported_grant_type", "only grant_type=refresh_token is served here")
	}
	raw := r.PostForm.Get("refresh_token")
	if raw == "" {
		return oauthError("invalid_request", "refresh_token is required")
	}
	if !slices.Contains(client.Permissions, permSessions) {
		return oauthError("unauthorized_client", "the client lacks the permission "+permSessions)
	}
	scope := r.PostForm.Get("scope")
	if err := checkScope(scope); err != nil {
		return oauthError("invalid_scope", "scope is malformed")
	}

	ctx := r.Context()
	res, err := h.sessions.Refresh(ctx, raw, client.ID, scope)
	if errors.Is(err, sessions.ErrInvalidGrant) {
		return oauthError("invalid_grant", err.Error())
	}
	if errors.Is(err, sessions.ErrScope) {
		return oauthError("invalid_scope", "scope exceeds the scope of the session")
	}
	if err != nil {
		return err
	}
	sess := res.Session
	// A ban ends every session, but a refresh may have raced it: make sure
	// that a banned user's session stays dead.
	if err := h.refuseBanned(ctx, sess.Subject); err != nil {
		if !errors.Is(err, blacklist.ErrBanned) {
			return err
		}
		if _, err := h.sessions.End(ctx, sess.ID); err != nil && !errors.Is(err, sessions.ErrNotFound) {
			return err
		}
		return oauthError("invalid_grant", "the user is banned")
	}
	if scope == "" {
		scope = sess.Scope
	}
	token, claims, err := h.issue(sess, scope)
	if err != nil {
		return err
	}
	h.log.Info("session refreshed", "sub", sess.Subject, "sid", sess.ID, "jti", claims.ID, "client_id", client.ID, "rotated", res.Rotated)
	hdr := c.Response().Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Pragma", "no-cache")
	return c.JSON(http.StatusOK, refreshResponse{
		AccessToken:  token,
		TokenType:    "Bearer",
		ExpiresIn:    int64(h.auth.AccessTTL().Seconds()),
		RefreshToken: res.RefreshToken,
		SessionID:    sess.ID,
	})
}
