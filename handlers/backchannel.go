package handlers

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/sessions"
	"github.com/tokenguard/tokenguard/users"
)

// backchannelLogoutPath is where trusted issuers post logout tokens: the
// backchannel_logout_uri to register with them.
const backchannelLogoutPath = "/v1/backchannel-logout"

// maxLogoutFormBytes bounds the form of a back-channel logout: the longest
// token verification accepts, with room for the parameter's name and an
// issuer that percent-encodes what needs no encoding.
const maxLogoutFormBytes = 2 * auth.MaxTokenBytes

// backchannelLogout is the receiver of OpenID Connect Back-Channel Logout
// 1.0: a trusted issuer posts a logout token (§2.5) and we end that
// issuer's session or cut off its user (users.Service.BackchannelLogout).
// No client authentication: the issuer calls without one, and the token's
// signature by that issuer's key is what authenticates the request.
//
// The answer (§2.8) is 200 with no body once the logout is done, and 400
// with {"error","error_description"} otherwise: invalid_request for a
// request or token we refuse (a replay included), temporarily_unavailable
// when the logout could not be written, in which case the issuer may send
// the same token again. Every answer carries Cache-Control: no-store.
func (h *handler) backchannelLogout(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	token, err := logoutTokenOf(c.Request())
	if err != nil {
		return err
	}
	err = h.users.BackchannelLogout(c.Request().Context(), token)
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return c.NoContent(http.StatusOK)
	case errors.Is(err, users.ErrInvalid):
		return badRequest("%s", err.Error())
	case errors.Is(err, blacklist.ErrUnavailable), errors.Is(err, sessions.ErrUnavailable), errors.Is(err, audit.ErrUnavailable):
		// §2.8: a logout that failed is a 400 too; the cause is ours, so
		// it is logged as every 5xx is.
		h.log.ErrorContext(c.Request().Context(), "back-channel logout failed: store unavailable", "err", err)
		return &apiError{http.StatusBadRequest, "temporarily_unavailable", "the logout could not be recorded; send the logout token again shortly"}
	case errors.As(err, &tooLarge):
		return err
	}
	h.log.ErrorContext(c.Request().Context(), "back-channel logout failed", "err", err)
	return &apiError{http.StatusBadRequest, "server_error", "the logout could not be done"}
}

// logoutTokenOf reads the logout_token of a back-channel logout request
// (§2.5): a form body holding it exactly once. The form is read strictly:
// a malformed escape or a ';' separator is refused rather than guessed at,
// and so is any parameter given twice, since two readers could pick
// different ones. Other parameters are ignored, as OAuth 2.0 endpoints
// ignore what they do not know. A logout_token in the query string is
// refused: a token in a URL ends up in access logs.
func logoutTokenOf(r *http.Request) (string, error) {
	if err := requireForm(r); err != nil {
		return "", err
	}
	if r.URL.Query().Has("logout_token") {
		return "", badRequest("logout_token belongs in the form body, not in the URL")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxLogoutFormBytes+1))
	if err != nil {
		return "", err // the service-wide limit (413), or the client went away
	}
	if len(body) > maxLogoutFormBytes {
		return "", &http.MaxBytesError{Limit: maxLogoutFormBytes}
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return "", badRequest("the form body is malformed (bad escape or ';' separator)")
	}
	for name, values := range form {
		if len(values) > 1 {
			return "", badRequest("%s is given more than once", quotedName(name))
		}
	}
	token := form.Get("logout_token")
	if token == "" {
		return "", badRequest("logout_token is required")
	}
	return token, nil
}

// quotedName shows a client's parameter name in an error, bounded and
// quoted.
func quotedName(name string) string {
	if len(name) > 64 {
		name = name[:64] + "…"
	}
	return fmt.Sprintf("%q", name)
}
