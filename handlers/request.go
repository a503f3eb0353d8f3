package handlers

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/labstack/echo/v4"
)

// limitBody caps every request body. A declared length over the limit is
// refused before reading; a body that grows past it fails its read.
func limitBody(limit int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			// The forward-auth check never reads a body, and whatever
			// a proxy forwards must get 200, 401 or 403, never 413: its
			// body is left as it came, unwrapped.
			if isVerifyPath(r.URL.Path) {
				return next(c)
			}
			if r.ContentLength > limit {
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
// not depend on the method, so an unknown one is routed as GET. It must run
// before routing (see beforeRouting).
func anyMethodOnVerify(r *http.Request) {
	if !routableMethods[r.Method] && isVerifyPath(r.URL.Path) {
		r.Method = http.MethodGet
	}
}

// decodeJSON reads one JSON object into v exactly as written: the content
// type must be JSON; names match v's field names byte for byte (no case or
// Unicode folding, so "SUBJECT" and "ſubject" are unknown fields, not
// "subject"); no name appears twice in any object, at any depth; unknown
// fields, invalid UTF-8 and trailing data are refused; and every failure
// says what was wrong and where. An app's own validator and tokenguard can
// therefore never read one body two ways. encoding/json folds case and lets
// the last duplicate win, so the body is read with the encoding/json/v2
// prototype, whose defaults are these rules.
func decodeJSON(c echo.Context, v any) error {
	r := c.Request()
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return &apiError{http.StatusUnsupportedMediaType, "invalid_request", "the body must be application/json"}
		}
	}
	dec := jsontext.NewDecoder(r.Body) // refuses duplicate names by default
	switch dec.PeekKind() {
	case '{':
	case 0: // nothing readable: UnmarshalDecode says why
	default:
		return badRequest("the body must be a JSON object")
	}
	if err := json.UnmarshalDecode(dec, v, json.RejectUnknownMembers(true)); err != nil {
		return jsonError(err)
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return badRequest("the body must hold exactly one JSON object")
	}
	return nil
}

// jsonError describes why a body could not be read, naming the field
// concerned.
func jsonError(err error) error {
	var tooLarge *http.MaxBytesError
	var syntax *jsontext.SyntacticError
	var semantic *json.SemanticError
	switch {
	case errors.As(err, &tooLarge):
		return err
	case errors.Is(err, io.EOF):
		return badRequest("the body is empty; a JSON object is required")
	case errors.Is(err, jsontext.ErrDuplicateName) && errors.As(err, &syntax):
		return badRequest("duplicate field %q: a name may appear only once in an object", fieldPath(syntax.JSONPointer))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("the JSON body ends too early")
	case errors.As(err, &syntax):
		return badRequest("malformed JSON at byte %d: %v", syntax.ByteOffset, syntax.Err)
	case errors.Is(err, json.ErrUnknownName) && errors.As(err, &semantic):
		return badRequest("unknown field %q (field names are case-sensitive)", fieldPath(semantic.JSONPointer))
	case errors.As(err, &semantic) && semantic.JSONPointer == "":
		return badRequest("the body must be a JSON object")
	case errors.As(err, &semantic):
		return badRequest("field %q must be %s", fieldPath(semantic.JSONPointer), jsonKind(semantic.GoType))
	}
	return badRequest("the body is not valid JSON")
}

// fieldPath names the member a JSON pointer points at as a client wrote
// it: "device.name", "claims.org.id".
func fieldPath(p jsontext.Pointer) string {
	return strings.Join(slices.Collect(p.Tokens()), ".")
}

// jsonKind says in JSON terms what a Go type accepts.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "of another type"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return jsonKind(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "of another type"
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
