package handlers

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// limitBody caps every request body. A declared length over the limit is
// refused before reading; a body that grows past it fails its read.
func limitBody(limit int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			// The forward-auth check never reads a body, and whatever
			// a proxy forwards must get 200, 401 or 403, never 413.
			if r.ContentLength > limit && !isVerifyPath(r.URL.Path) {
				return &http.MaxBytesError{Limit: limit}
			}
			r.Body = http.MaxBytesReader(c.Response(), r.Body, limit)
			return next(c)
		}
	}
}

// isVerifyPath reports whether path is the forward-auth check.
func isVerifyPath(path string) bool {
	return path == "/v1/verify" || strings.HasPrefix(path, "/v1/verify/")
}

// routableMethods are the methods Echo's Any routes.
var routableMethods = map[string]bool{
	http.MethodConnect: true, http.MethodDelete: true, http.MethodGet: true, http.MethodHead: true,
	http.MethodOptions: true, http.MethodPatch: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodTrace: true, echo.PROPFIND: true, echo.REPORT: true,
}

// anyMethodOnVerify lets the forward-auth check answer every method a proxy
// may forward (PURGE, LOCK, MKCOL…): Echo routes only the methods it knows,
// and its 405 would reach the client through nginx as a 500. The check does
// not depend on the method, so an unknown one is routed as GET.
func anyMethodOnVerify(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if r := c.Request(); !routableMethods[r.Method] && isVerifyPath(r.URL.Path) {
			r.Method = http.MethodGet
		}
		return next(c)
	}
}

// decodeJSON reads one JSON object into v strictly: the content type must be
// JSON, unknown fields and trailing data are refused, and every failure says
// what was wrong.
func decodeJSON(c echo.Context, v any) error {
	r := c.Request()
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return &apiError{http.StatusUnsupportedMediaType, "invalid_request", "the body must be application/json"}
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return badRequest("the body must hold exactly one JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return err
	case errors.Is(err, io.EOF):
		return badRequest("the body is empty; a JSON object is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("the JSON body ends too early")
	case errors.As(err, &syntax):
		return badRequest("malformed JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return badRequest("the body must be a JSON object")
		}
		return badRequest("field %q must be %s", typ.Field, typ.Type.String())
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return badRequest("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return badRequest("invalid JSON: %s", err.Error())
}

// bearerToken takes the access token from "Authorization: Bearer ...".
func bearerToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", errNoToken
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", &apiError{http.StatusUnauthorized, "invalid_token", "the Authorization header must use the Bearer scheme"}
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", errNoToken
	}
	return token, nil
}

// pathParam returns a path parameter decoded once. Echo routes on the raw
// path when the URL holds escapes that change its meaning (like %2F), and
// then hands the parameter over still escaped.
func pathParam(c echo.Context, name string) (string, error) {
	v := c.Param(name)
	if c.Request().URL.RawPath == "" {
		return v, nil
	}
	u, err := url.PathUnescape(v)
	if err != nil {
		return "", badRequest("path parameter %s is not validly escaped", name)
	}
	return u, nil
}
