package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/clients"
)

// Permissions the routes require.
const (
	permSessions   = clients.PermSessions
	permAdmin      = clients.PermAdmin
	permIntrospect = clients.PermIntrospect
	permRevoke     = clients.PermRevoke
)

// Client is the machine caller a client route admitted.
type Client = clients.Client

// clientAuth reads client credentials off a request and has the registry
// check them; how a secret is checked is the clients package's business.
type clientAuth struct {
	registry *clients.Registry
}

var errInvalidClient = &apiError{http.StatusUnauthorized, "invalid_client", "client authentication failed"}

// authenticate checks HTTP Basic credentials.
func (a clientAuth) authenticate(r *http.Request) (Client, bool) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		return Client{}, false
	}
	return a.registry.Check(id, secret)
}

// authenticateOAuth authenticates the client of an OAuth endpoint
// (/oauth2/token, /oauth2/introspect, /oauth2/revoke) as RFC 6749 §2.3.1
// says: HTTP Basic, whose client id and secret are
// application/x-www-form-urlencoded before base64 (so "a+b%25" is the
// secret "a b%"), or client_id and client_secret in the form body
// (client_secret_post), never both. It parses the form body itself (see
// http.Request.ParseForm; parameters in the URL query are not credentials).
//
// Errors are apiErrors in the RFC 6749 §5.2 shape: invalid_request (400) for
// two methods at once or a repeated parameter, invalid_client (401) for
// missing or wrong credentials. An invalid_client answer must carry
// WWW-Authenticate: Basic; oauthClient adds it. A body over the limit comes
// back as the *http.MaxBytesError that the error handler answers 413.
func (a clientAuth) authenticateOAuth(r *http.Request) (Client, error) {
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
			return Client{}, errInvalidClient
		}
		if formID != "" && formID != id {
			return Client{}, &apiError{http.StatusBadRequest, "invalid_request", "client_id differs from the authenticated client"}
		}
		c, ok := a.registry.Check(id, secret)
		if !ok {
			return Client{}, errInvalidClient
		}
		return c, nil
	}
	if formID == "" || formSecret == "" {
		return Client{}, errInvalidClient
	}
	c, ok := a.registry.Check(formID, formSecret)
	if !ok {
		return Client{}, errInvalidClient
	}
	return c, nil
}

// oauthClient authenticates the client of an OAuth endpoint with
// authenticateOAuth and, when that fails for want of credentials, adds the
// WWW-Authenticate: Basic challenge RFC 6749 §5.2 requires with a 401.
func (h *handler) oauthClient(c echo.Context) (Client, error) {
	cl, err := h.clients.authenticateOAuth(c.Request())
	if errors.Is(err, errInvalidClient) {
		h.metrics.ClientAuthFailed()
		c.Response().Header().Set("WWW-Authenticate", `Basic realm="tokenguard"`)
	}
	return cl, err
}

const clientKey = "tokenguard.client"

// requireClient admits only clients that authenticate and hold perm.
func (h *handler) requireClient(perm string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			cl, ok := h.clients.authenticate(c.Request())
			if !ok {
				h.metrics.ClientAuthFailed()
				c.Response().Header().Set("WWW-Authenticate", `Basic realm="tokenguard"`)
				return errInvalidClient
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
