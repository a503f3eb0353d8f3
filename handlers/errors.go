package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/lockout"
	"github.com/tokenguard/tokenguard/sessions"
	"github.com/tokenguard/tokenguard/users"
)

// apiError is an error the client is meant to see, with its status and the
// OAuth-style code and description of the JSON body.
type apiError struct {
	status      int
	code        string
	description string
}

func (e *apiError) Error() string { return e.code + ": " + e.description }

func badRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, "invalid_request", fmt.Sprintf(format, args...)}
}

// errNoToken is a request to a protected endpoint that carries no token at
// all: RFC 6750 §3.1 says to answer without an error attribute.
var errNoToken = &apiError{http.StatusUnauthorized, "invalid_token", "no bearer token in the request"}

// errorBody is the JSON of every error response.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// handleError is the one place that turns errors into responses. Client
// mistakes get a 4xx with a clear description; a 5xx is logged with its cause
// and the client sees a generic message.
func (h *handler) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	resp := h.classify(err, c)
	hdr := c.Response().Header()
	hdr.Set("Cache-Control", "no-store")
	if resp.status == http.StatusUnauthorized && resp.code == "invalid_token" {
		hdr.Set("WWW-Authenticate", bearerChallenge(err, resp.description))
	}
	if errors.Is(err, errInvalidClient) {
		hdr.Set("WWW-Authenticate", `Basic realm="tokenguard"`)
	}
	if resp.status == http.StatusServiceUnavailable {
		hdr.Set("Retry-After", "1")
	}
	var locked *lockout.LockedError
	if errors.As(err, &locked) {
		hdr.Set("Retry-After", strconv.FormatInt(locked.Seconds(), 10))
	}
	body := errorBody{Error: resp.code, Description: resp.description}
	var werr error
	if c.Request().Method == http.MethodHead {
		// The headers a GET would get, without the body.
		hdr.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		werr = c.NoContent(resp.status)
	} else {
		werr = c.JSON(resp.status, body)
	}
	if werr != nil {
		h.log.WarnContext(c.Request().Context(), "write error response", "err", werr)
	}
}

func (h *handler) classify(err error, c echo.Context) *apiError {
	var api *apiError
	var he *echo.HTTPError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &api):
		return api
	case errors.Is(err, users.ErrInvalid):
		return &apiError{http.StatusBadRequest, "invalid_request", err.Error()}
	case errors.Is(err, auth.ErrInvalidToken):
		return &apiError{http.StatusUnauthorized, "invalid_token", err.Error()}
	case errors.Is(err, blacklist.ErrBanned):
		return &apiError{http.StatusForbidden, "user_banned", "the user is banned"}
	case errors.Is(err, blacklist.ErrRevoked):
		return &apiError{http.StatusUnauthorized, "invalid_token", err.Error()}
	case errors.Is(err, blacklist.ErrUnavailable):
		h.log.ErrorContext(c.Request().Context(), "revocation store unavailable", "method", c.Request().Method, "path", c.Path(), "err", err)
		return &apiError{http.StatusServiceUnavailable, "temporarily_unavailable", "the revocation state cannot be reached; retry shortly"}
	case errors.Is(err, lockout.ErrLocked):
		return &apiError{http.StatusTooManyRequests, "too_many_requests", "too many failed client authentications; retry after the time in Retry-After"}
	case errors.Is(err, lockout.ErrUnavailable):
		h.log.ErrorContext(c.Request().Context(), "failed-authentication counts unavailable", "method", c.Request().Method, "path", c.Path(), "err", err)
		return &apiError{http.StatusServiceUnavailable, "temporarily_unavailable", "client authentication cannot be checked now; retry shortly"}
	case errors.Is(err, sessions.ErrUnavailable), errors.Is(err, audit.ErrUnavailable):
		h.log.ErrorContext(c.Request().Context(), "session store unavailable", "method", c.Request().Method, "path", c.Path(), "err", err)
		return &apiError{http.StatusServiceUnavailable, "temporarily_unavailable", "the session state cannot be reached; retry shortly"}
	case errors.As(err, &tooLarge):
		return &apiError{http.StatusRequestEntityTooLarge, "invalid_request", fmt.Sprintf("request body larger than %d bytes", tooLarge.Limit)}
	case errors.As(err, &he):
		return fromEchoError(he)
	}
	h.log.ErrorContext(c.Request().Context(), "internal error", "method", c.Request().Method, "path", c.Path(), "err", err)
	return &apiError{http.StatusInternalServerError, "server_error", "internal error"}
}

// fromEchoError maps Echo's own errors (unknown route, wrong method) to our
// body shape.
func fromEchoError(he *echo.HTTPError) *apiError {
	code := "invalid_request"
	switch {
	case he.Code == http.StatusNotFound:
		code = "not_found"
	case he.Code == http.StatusMethodNotAllowed:
		code = "method_not_allowed"
	case he.Code >= 500:
		code = "server_error"
	}
	return &apiError{he.Code, code, strings.ToLower(http.StatusText(he.Code))}
}

// bearerChallenge builds the RFC 6750 WWW-Authenticate value: no error
// attribute when no token was sent, error="invalid_token" otherwise.
func bearerChallenge(err error, description string) string {
	return auth.Challenge(errors.Is(err, errNoToken), description)
}

// recoverPanics turns a panic into a logged 500 instead of a dropped
// connection; it is a bug, never a client mistake.
func (h *handler) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return next(c)
	}
}
