package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/clients"
	"github.com/tokenguard/tokenguard/lockout"
)

// Client is the machine caller a client route admitted.
type Client = clients.Client

// clientAuth reads client credentials off a request and has the registry
// check them, under the failed-authentication limits; how a secret is
// checked is the clients package's business, how failures are limited the
// lockout package's.
type clientAuth struct {
	registry *clients.Registry
	limiter  *lockout.Limiter
}

// errInvalidClient is a client authentication that failed. The error
// handler answers it with the WWW-Authenticate: Basic challenge RFC 6749
// §5.2 requires with a 401.
var errInvalidClient = &apiError{http.StatusUnauthorized, "invalid_client", "client authentication failed"}

// verify checks a client's id and secret, sent from ip. A locked-out id or
// address is refused (lockout.ErrLocked) before the secret is looked at, so
// that the right secret and a wrong one get the same answer as fast; a
// wrong secret counts against both limits. When the counts cannot be read,
// the error wraps lockout.ErrUnavailable: refused, never let through
// unlimited.
func (a clientAuth) verify(ctx context.Context, ip, id, secret string) (Client, error) {
	if err := a.limiter.Check(ctx, id, ip); err != nil {
		return Client{}, err
	}
	if c, ok := a.registry.Check(id, secret); ok {
		return c, nil
	}
	return Client{}, a.failed(ctx, ip, id)
}

// failed counts a failed authentication of id from ip and returns what to
// answer: invalid_client, or the lockout it ran into.
func (a clientAuth) failed(ctx context.Context, ip, id string) error {
	if err := a.limiter.Fail(ctx, id, ip); err != nil {
		return err
	}
	return errInvalidClient
}

// authenticate checks HTTP Basic credentials. A request without any is
// invalid_client and counts as no failure: it guessed nothing.
func (a clientAuth) authenticate(c echo.Context) (Client, error) {
	id, secret, ok := c.Request().BasicAuth()
	if !ok {
		return Client{}, errInvalidClient
	}
	return a.verify(c.Request().Context(), c.RealIP(), id, secret)
}

// authenticateOAuth authenticates the client of an OAuth endpoint
// (/oauth2/token, /oauth2/introspect, /oauth2/revoke) as RFC 6749 §2.3.1
// says: HTTP Basic, whose client id and secret are
// application/x-www-form-urlencoded before base64 (so "a+b%25" is the
// secret "a b%"), or client_id and client_secret in the form body
// (client_secret_post), never both. It parses the form body itself (see
// http.Request.ParseForm; parameters in the URL query are not credentials).
// Credentials are checked by verify, under the same limits as HTTP Basic on
// the other client routes.
//
// Errors are apiErrors in the RFC 6749 §5.2 shape: invalid_request (400) for
// two methods at once or a repeated parameter, invalid_client (401) for
// missing or wrong credentials (the error handler adds the WWW-Authenticate:
// Basic challenge). A body over the limit comes
// back as the *http.MaxBytesError that the error handler answers 413.
func (a clientAuth) authenticateOAuth(c echo.Context) (Client, error) {
	r := c.Request()
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return Client{}, err
		}
		return Client{}, &apiError{http.StatusBadRequest, "invalid_request", "the form body cannot be parsed"}
	}
	for _, k := range []string{"client_id", "client_secret"} {
		if len(r.PostForm[k]) > 1 {
			return Client{}, &apiError{http.StatusBadRequest, "invalid_request", k + " is given more than once"}
		}
	}
	ctx, ip := r.Context(), c.RealIP()
	formID, formSecret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if r.Header.Get("Authorization") != "" {
		if formSecret != "" {
			return Client{}, &apiError{http.StatusBadRequest, "invalid_request", "use one client authentication method, not both HTTP Basic and client_secret"}
		}
		rawID, rawSecret, ok := r.BasicAuth()
		if !ok {
			return Client{}, errInvalidClient
		}
		id, err1 := url.QueryUnescape(rawID)
		secret, err2 := url.QueryUnescape(rawSecret)
		if err1 != nil || err2 != nil {
			// A secret that cannot be decoded is a wrong one.
			if err := a.limiter.Check(ctx, rawID, ip); err != nil {
				return Client{}, err
			}
			return Client{}, a.failed(ctx, ip, rawID)
		}
		if formID != "" && formID != id {
			return Client{}, &apiError{http.StatusBadRequest, "invalid_request", "client_id differs from the authenticated client"}
		}
		return a.verify(ctx, ip, id, secret)
	}
	if formID == "" || formSecret == "" {
		return Client{}, errInvalidClient
	}
	return a.verify(ctx, ip, formID, formSecret)
}

// oauthClient authenticates the client of an OAuth endpoint with
// authenticateOAuth, counting the outcome.
func (h *handler) oauthClient(c echo.Context) (Client, error) {
	cl, err := h.clients.authenticateOAuth(c)
	h.countClientAuth(err)
	return cl, err
}

// countClientAuth counts what a client authentication came to: a failure
// (invalid_client), or a request refused by a lockout.
func (h *handler) countClientAuth(err error) {
	switch {
	case errors.Is(err, errInvalidClient):
		h.metrics.ClientAuthFailed()
	case errors.Is(err, lockout.ErrLocked):
		h.metrics.RateLimited("client_auth")
	}
}

const clientKey = "tokenguard.client"

// requireClient admits only clients that authenticate and hold perm.
func (h *handler) requireClient(perm string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			cl, err := h.clients.authenticate(c)
			h.countClientAuth(err)
			if err != nil {
				return err
			}
			if !slices.Contains(cl.Permissions, perm) {
				return &apiError{http.StatusForbidden, "access_denied", "client lacks the permission " + perm}
			}
			c.Set(clientKey, cl)
			return next(c)
		}
	}
}

// caller returns the client that requireClient admitted.
func caller(c echo.Context) Client {
	cl, _ := c.Get(clientKey).(Client)
	return cl
}
