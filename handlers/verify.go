package handlers

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
)

// authenticate is the one path by which a request's token is accepted:
// signature and claims first, then the revocation decision. Every endpoint
// that takes a token goes through it.
func (h *handler) authenticate(ctx context.Context, raw string) (*auth.Claims, error) {
	claims, err := h.auth.Verify(raw)
	if err != nil {
		return nil, err
	}
	if err := h.rev.Check(ctx, revocationToken(claims)); err != nil {
		return nil, err
	}
	return claims, nil
}

func revocationToken(c *auth.Claims) blacklist.Token {
	return blacklist.Token{
		ID:        c.ID,
		SessionID: c.SessionID,
		Subject:   c.Subject,
		IssuedAt:  c.IssuedAtPrecise(),
	}
}

// verify is the forward-auth check for reverse proxies: 200 with identity
// headers when the token is good, 401 when it is missing, invalid, expired or
// revoked. It answers any method on /v1/verify and below, so a proxy can
// forward the original request as it is.
func (h *handler) verify(c echo.Context) error {
	raw, err := bearerToken(c.Request())
	if err != nil {
		return err
	}
	claims, err := h.authenticate(c.Request().Context(), raw)
	if err != nil {
		return err
	}
	hdr := c.Response().Header()
	hdr.Set("X-Auth-Request-User", claims.Subject)
	hdr.Set("X-Auth-Session", claims.SessionID)
	hdr.Set("X-Auth-Token-Id", claims.ID)
	hdr.Set("Cache-Control", "no-store")
	return c.NoContent(http.StatusOK)
}
