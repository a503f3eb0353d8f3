package handlers

import (
	"encoding/json"
	"net/http"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/sessions"
	"github.com/tokenguard/tokenguard/users"
)

// sessionRequest opens a session for a user whose credentials the calling
// app backend has already checked.
type sessionRequest struct {
	Subject string `json:"subject"`
	Scope   string `json:"scope"`
	// Claims are kept as the JSON the app sent, so that every token of the
	// session carries them exactly as given (an integer beyond float64's
	// precision included).
	Claims map[string]jsontext.Value `json:"claims"`
	Device *device                   `json:"device"`
}

// device describes where the user logged in from.
type device struct {
	Name      string `json:"name"`
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
}

// tokenResponse carries the tokens of a session just opened or refreshed
// (RFC 6749 §5.1).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	SessionID    string `json:"session_id"`
}

func (h *handler) tokens(is users.Issued) tokenResponse {
	return tokenResponse{
		AccessToken:  is.AccessToken,
		TokenType:    "Bearer",
		ExpiresIn:    h.users.AccessTTL(),
		RefreshToken: is.RefreshToken,
		SessionID:    is.Session.ID,
	}
}

// rawClaims hands claims on as raw JSON values, which the workflows sign
// and store as they are.
func rawClaims(claims map[string]jsontext.Value) map[string]any {
	if len(claims) == 0 {
		return nil
	}
	out := make(map[string]any, len(claims))
	for name, v := range claims {
		out[name] = json.RawMessage(v)
	}
	return out
}

// createSession opens a device session for a user the app backend has
// checked, and issues its first access token and refresh token. A banned
// user is refused with 403 user_banned.
func (h *handler) createSession(c echo.Context) error {
	var req sessionRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	open := users.Open{Subject: req.Subject, ClientID: caller(c).ID, Scope: req.Scope, Claims: rawClaims(req.Claims)}
	if d := req.Device; d != nil {
		open.Device = sessions.Device{Name: d.Name, IP: d.IP, UserAgent: d.UserAgent}
	}
	issued, err := h.users.OpenSession(c.Request().Context(), open)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, h.tokens(issued))
}
