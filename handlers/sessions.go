package handlers

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/netip"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/auth"
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

// tokenResponse carries freshly issued tokens.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	SessionID   string `json:"session_id"`
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

// createSession opens a session and issues its first access token.
func (h *handler) createSession(c echo.Context) error {
	var req sessionRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	sid, err := newSessionID()
	if err != nil {
		return err
	}
	client := caller(c)
	token, claims, err := h.auth.Issue(auth.IssueRequest{
		Subject:   req.Subject,
		SessionID: sid,
		ClientID:  client.ID,
		Scope:     req.Scope,
		Extra:     req.Claims,
	})
	if errors.Is(err, auth.ErrReservedClaim) || errors.Is(err, auth.ErrClaims) {
		return badRequest("claims: %v", err)
	}
	if err != nil {
		return err
	}
	h.log.Info("session opened", "sub", claims.Subject, "sid", sid, "jti", claims.ID, "client_id", client.ID)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, tokenResponse{
		AccessToken: token,
		TokenType:   "Bearer",
		ExpiresIn:   int64(h.auth.AccessTTL().Seconds()),
		SessionID:   sid,
	})
}

// newSessionID returns 128 random bits, base64url.
func newSessionID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
