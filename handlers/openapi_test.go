package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"
)

// This file holds the handler tests to the OpenAPI document they serve
// (openapi.json): the harness hands every exchange to apiDoc.check, and
// the tests below check that the document is valid and names exactly the
// routes New registers.
//
// kin-openapi validates OpenAPI 3.1 documents with a JSON Schema 2020-12
// validator (santhosh-tekuri/jsonschema), so const, type arrays with
// "null", oneOf, propertyNames, patterns and date-time are enforced on
// bodies, parameters and response headers. What it leaves out is made up
// for here or left as documentation: it validates no answer to HEAD (the
// status and headers are checked here, as GET's would be), checks no
// credentials (presentCredentials checks their scheme), hands path
// parameters over still escaped (unescaped here), keeps the first of a form
// parameter given twice, and treats the ipv4, ipv6 and uri formats as
// annotations unless defined package-wide.

// conformance says how much of an exchange the document must describe.
type conformance int

const (
	// conforming: the request and the answer are both as documented. Every
	// request is held to this unless its test says otherwise.
	conforming conformance = iota
	// malformedRequest: a test of bad input sends, on purpose, what the
	// document rules out (broken JSON, a wrong content type, missing
	// credentials, an unknown route or method). The request is not
	// checked; the answer must be one the matched operation documents or,
	// when no operation matches, the document's NotFound or
	// MethodNotAllowed (or, below /v1/admin/, where client authentication
	// runs first, InvalidClient, AccessDenied, TooManyRequests or
	// Unavailable).
	malformedRequest
	// testRoute: a route the test added to the real instance, which the
	// document cannot know; its answer must still be a documented Error.
	testRoute
)

// apiDoc is the OpenAPI document with the router that finds the operation
// of a request.
type apiDoc struct {
	doc    *openapi3.T
	router routers.Router
}

// loadAPIDoc loads and validates the embedded document once for the whole
// package: the harness is built hundreds of times and the document never
// changes under it. Both are only read afterwards.
var loadAPIDoc = sync.OnceValues(func() (*apiDoc, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapiDoc)
	if err != nil {
		return nil, fmt.Errorf("load openapi.json: %w", err)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableMultiError()); err != nil {
		return nil, fmt.Errorf("openapi.json is not a valid OpenAPI document: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route openapi.json: %w", err)
	}
	return &apiDoc{doc: doc, router: router}, nil
})

func openAPI(t testing.TB) *apiDoc {
	t.Helper()
	d, err := loadAPIDoc()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// sent is a request as it was before it was served (the handlers read its
// body and may rewrite its method), to be checked with its answer.
type sent struct {
	method, target string
	req            *http.Request
	conformance    conformance
}

// capture copies r, body included, and leaves r ready to be served.
func (a *apiDoc) capture(t testing.TB, r *http.Request, c conformance) sent {
	t.Helper()
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			t.Errorf("openapi: read the body of %s %s: %v", r.Method, r.URL, err)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	v := r.Clone(context.Background())
	v.Body = io.NopCloser(bytes.NewReader(body))
	v.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return sent{method: r.Method, target: r.URL.RequestURI(), req: v, conformance: c}
}

// openAPIMethods are the methods an OpenAPI 3.1 path item can name.
var openAPIMethods = []string{
	http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete,
	http.MethodOptions, http.MethodHead, http.MethodPatch, http.MethodTrace,
}

// routable rewrites the two things about /v1/verify that OpenAPI cannot
// say, as its path items explain: Echo's /v1/verify/* takes any rest,
// slashes included, where a path parameter is one segment, so the rest is
// looked up escaped into one; and a method OpenAPI cannot name (CONNECT,
// PROPFIND, PURGE…) is answered exactly as GET, so it is looked up as GET.
func routable(r *http.Request) *http.Request {
	if !isVerifyPath(r.URL.Path) {
		return r
	}
	v := r.Clone(r.Context())
	if !slices.Contains(openAPIMethods, v.Method) {
		v.Method = http.MethodGet
	}
	if rest, ok := strings.CutPrefix(v.URL.Path, "/v1/verify/"); ok && strings.Contains(rest, "/") {
		v.URL.RawPath = "/v1/verify/" + url.PathEscape(rest)
	}
	return v
}

// check holds one exchange to the document and fails t, naming the
// request and the operation, where they differ.
func (a *apiDoc) check(t testing.TB, s sent, got reply) {
	t.Helper()
	ctx := context.Background()
	req := routable(s.req)
	route, params, err := a.router.FindRoute(req)
	if err != nil {
		a.checkUnrouted(t, s, req, err, got)
		return
	}
	// The router matches the escaped path and hands its parameters over
	// still escaped; the document describes their values.
	for k, v := range params {
		if u, err := url.PathUnescape(v); err == nil {
			params[k] = u
		}
	}
	opts := &openapi3filter.Options{
		MultiError:                        true,
		AuthenticationFunc:                presentCredentials,
		RejectWhenRequestBodyNotSpecified: true,
	}
	opts.WithCustomSchemaErrorFunc(schemaReason)
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	name := route.Operation.OperationID
	switch s.conformance {
	case conforming:
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			t.Errorf("openapi: %s %s (operation %s): the request is not as documented: %s", s.method, s.target, name, brief(err))
		}
	case testRoute:
		t.Errorf("openapi: %s %s is marked as a test's own route, but operation %s documents it", s.method, s.target, name)
	}
	a.checkAnswer(t, s, in, route.Operation, got)
}

// checkUnrouted checks a request the document has no operation for: only a
// test of bad input or a test's own route may send one, and the answer must
// be a documented refusal.
func (a *apiDoc) checkUnrouted(t testing.TB, s sent, req *http.Request, routeErr error, got reply) {
	t.Helper()
	responses := a.doc.Components.Responses
	op := &openapi3.Operation{OperationID: "(no route)", Responses: openapi3.NewResponses()}
	switch s.conformance {
	case conforming:
		t.Errorf("openapi: %s %s: no operation in openapi.json (%v); document it, or send it as malformedRequest if the test is about a request no route serves", s.method, s.target, routeErr)
		return
	case malformedRequest:
		op.Responses.Set("404", responses["NotFound"])
		op.Responses.Set("405", responses["MethodNotAllowed"])
		if strings.HasPrefix(req.URL.Path, "/v1/admin/") {
			op.Responses.Set("401", responses["InvalidClient"])
			op.Responses.Set("403", responses["AccessDenied"])
			op.Responses.Set("429", responses["TooManyRequests"])
			op.Responses.Set("503", responses["Unavailable"])
		}
	case testRoute:
		op.OperationID = "(test route)"
		op.Responses.Set("default", &openapi3.ResponseRef{Value: openapi3.NewResponse().
			WithDescription("any answer of a test's route").
			WithJSONSchemaRef(a.doc.Components.Schemas["Error"])})
	}
	in := &openapi3filter.RequestValidationInput{
		Request: req,
		Route:   &routers.Route{Spec: a.doc, Path: req.URL.Path, Method: req.Method, Operation: op},
	}
	a.checkAnswer(t, s, in, op, got)
}

// checkAnswer checks the status, headers and body of the answer against
// op's documented responses. Every status must be documented: there is no
// default response to fall back on.
func (a *apiDoc) checkAnswer(t testing.TB, s sent, in *openapi3filter.RequestValidationInput, op *openapi3.Operation, got reply) {
	t.Helper()
	if op.Responses.Status(got.status) == nil && op.Responses.Default() == nil {
		t.Errorf("openapi: %s %s (operation %s): status %d is not documented; documented: %v", s.method, s.target, op.OperationID, got.status, statuses(op))
		return
	}
	opts := &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true}
	opts.WithCustomSchemaErrorFunc(schemaReason)
	if in.Request.Method == http.MethodHead {
		// kin-openapi checks nothing of an answer to HEAD. Its headers are
		// checked here against the HEAD operation as a GET's would be; it
		// has no body to check (the recorder keeps what the handler wrote,
		// which net/http drops on the wire).
		get := *in
		get.Request = in.Request.Clone(context.Background())
		get.Request.Method = http.MethodGet
		in = &get
		opts.ExcludeResponseBody = true
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 got.status,
		Header:                 got.header,
		Options:                opts,
	}
	out.SetBodyBytes([]byte(got.body))
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("openapi: %s %s (operation %s): the %d answer is not as documented: %s\nbody: %s", s.method, s.target, op.OperationID, got.status, brief(err), cut(got.body))
	}
}

// presentCredentials is the security check of request validation: a
// request meets an HTTP security scheme when its Authorization header uses
// that scheme with something after it. Whether the credentials are good is
// the handlers' business, answered 401 as documented.
func presentCredentials(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	scheme := in.SecurityScheme
	if scheme.Type != "http" {
		return fmt.Errorf("security scheme %s of type %q: the harness only checks http schemes", in.SecuritySchemeName, scheme.Type)
	}
	name, cred, _ := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
	if !strings.EqualFold(name, scheme.Scheme) || strings.TrimSpace(cred) == "" {
		return fmt.Errorf("no %s credentials in the Authorization header", scheme.Scheme)
	}
	return nil
}

// schemaReason words a schema error as its reason and where, without the
// schema and the value (which may be a token) that kin-openapi adds.
func schemaReason(err *openapi3.SchemaError) string {
	if p := err.JSONPointer(); len(p) > 0 && !strings.HasPrefix(err.Reason, "at '") {
		return "at /" + strings.Join(p, "/") + ": " + err.Reason
	}
	return err.Reason
}

func statuses(op *openapi3.Operation) []string {
	var out []string
	for code := range op.Responses.Map() {
		out = append(out, code)
	}
	slices.Sort(out)
	return out
}

// brief keeps a validation error readable: the 2020-12 validator quotes
// values, and a test may send a megabyte.
func brief(err error) string {
	var me openapi3.MultiError
	if errors.As(err, &me) {
		parts := make([]string, 0, len(me))
		for _, e := range me {
			parts = append(parts, cut(e.Error()))
		}
		return strings.Join(parts, "; ")
	}
	return cut(err.Error())
}

func cut(s string) string {
	const max = 1500
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// The document itself.

func TestTheOpenAPIDocumentIsAValidOpenAPI31Document(t *testing.T) {
	t.Parallel()
	d := openAPI(t) // loads and validates
	if !d.doc.IsOpenAPI31OrLater() || d.doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", d.doc.OpenAPI)
	}
	var raw map[string]any
	if err := json.Unmarshal(openapiDoc, &raw); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	// Every error answer is the shared Error shape.
	for name, resp := range d.doc.Components.Responses {
		mt := resp.Value.Content.Get("application/json")
		if mt == nil {
			continue // the allow of /v1/verify has no body
		}
		if !refersTo(mt.Schema, "#/components/schemas/Error") && name != "VerifyAllowed" {
			t.Errorf("components.responses.%s: the body is not the shared Error schema", name)
		}
	}
}

// refersTo reports whether s is the schema at ref, directly or as one of
// its allOf.
func refersTo(s *openapi3.SchemaRef, ref string) bool {
	if s == nil {
		return false
	}
	if s.Ref == ref {
		return true
	}
	return slices.ContainsFunc(s.Value.AllOf, func(a *openapi3.SchemaRef) bool { return a.Ref == ref })
}

// TestEveryOperationDocumentsTheAnswersItsKindCanGive checks what each
// operation says against what the middleware and the error handler can
// answer it, whatever its handler does: client routes 401, 429 and, behind
// requireClient, 403; bearer routes 401; JSON bodies 400, 413 and 415; form
// bodies 400 and 413; every operation but the forward-auth check's 413 too
// (limitBody refuses a declared body over the limit before any handler or
// client authentication runs); and every operation 500.
func TestEveryOperationDocumentsTheAnswersItsKindCanGive(t *testing.T) {
	t.Parallel()
	d := openAPI(t)
	for path, item := range d.doc.Paths.Map() {
		for method, op := range item.Operations() {
			want := []string{"500"}
			if !isVerifyPath(path) {
				want = append(want, "413")
			}
			var schemes []string
			if op.Security != nil {
				for _, req := range *op.Security {
					for name := range req {
						schemes = append(schemes, name)
					}
				}
			}
			optional := op.Security != nil && slices.ContainsFunc(*op.Security, func(r openapi3.SecurityRequirement) bool { return len(r) == 0 })
			if slices.Contains(schemes, "clientBasic") {
				want = append(want, "401", "429")
				if !optional {
					want = append(want, "403")
				}
			}
			if slices.Contains(schemes, "userBearer") {
				want = append(want, "401")
			}
			if rb := op.RequestBody; rb != nil && rb.Value.Required {
				switch {
				case rb.Value.Content.Get("application/json") != nil:
					want = append(want, "400", "413", "415")
				case rb.Value.Content.Get("application/x-www-form-urlencoded") != nil:
					want = append(want, "400", "413")
				}
			}
			for _, code := range want {
				if op.Responses.Value(code) == nil {
					t.Errorf("%s %s (%s) does not document %s", method, path, op.OperationID, code)
				}
			}
			if op.Responses.Default() != nil {
				t.Errorf("%s %s (%s) has a default response: every status must be named", method, path, op.OperationID)
			}
		}
	}
}

// TestTheOpenAPIDocumentNamesExactlyTheRoutesServed compares the routes of
// the real Echo instance with the document's operations, both ways.
// Echo's :param is {param}, and its /v1/verify/* is /v1/verify/{path}.
// Echo's Any also routes CONNECT, PROPFIND and REPORT, which OpenAPI 3.1
// cannot name: the path item lists them in x-tokenguard-other-methods.
// Echo's catch-all of the /v1/admin group (its way to run the group's
// middleware on unknown paths) is no route.
func TestTheOpenAPIDocumentNamesExactlyTheRoutesServed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	var served []string
	for _, r := range h.e.Routes() {
		if r.Method == echo.RouteNotFound {
			continue
		}
		served = append(served, r.Method+" "+openAPIPath(r.Path))
	}
	var documented []string
	for path, item := range openAPI(t).doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
		if other, ok := item.Extensions["x-tokenguard-other-methods"].(map[string]any); ok {
			methods, _ := other["methods"].([]any)
			for _, m := range methods {
				documented = append(documented, fmt.Sprint(m)+" "+path)
			}
		}
	}
	slices.Sort(served)
	slices.Sort(documented)
	if diff := cmp.Diff(documented, served); diff != "" {
		t.Errorf("routes (-documented in openapi.json +served by New):\n%s", diff)
	}
}

// openAPIPath writes an Echo route path as an OpenAPI path.
func openAPIPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		switch {
		case strings.HasPrefix(s, ":"):
			segs[i] = "{" + s[1:] + "}"
		case s == "*":
			segs[i] = "{path}"
		}
	}
	return strings.Join(segs, "/")
}

func TestTheOpenAPIDocumentIsServedAsItIsAndCacheable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	r := h.do(http.MethodGet, "/openapi.json", "", "", "")
	if r.status != http.StatusOK || r.body != string(openapiDoc) {
		t.Fatalf("GET /openapi.json = %d with %d bytes, want 200 with the %d bytes of openapi.json", r.status, len(r.body), len(openapiDoc))
	}
	if got := r.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	if got := r.header.Get("Cache-Control"); got != "public, max-age=300" {
		t.Errorf("Cache-Control = %q, want public, max-age=300", got)
	}
	etag := r.header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || len(etag) < 10 {
		t.Fatalf("ETag = %q, want a strong entity tag", etag)
	}
	for _, ifNoneMatch := range []string{etag, `"other", W/` + etag, "*"} {
		req := h.newRequest(http.MethodGet, "/openapi.json", "", "", "")
		req.Header.Set("If-None-Match", ifNoneMatch)
		if got := h.serve(req); got.status != http.StatusNotModified || got.body != "" {
			t.Errorf("If-None-Match: %s = %d %q, want 304 with no body", ifNoneMatch, got.status, got.body)
		}
	}
	req := h.newRequest(http.MethodGet, "/openapi.json", "", "", "")
	req.Header.Set("If-None-Match", `"an-old-version"`)
	if got := h.serve(req); got.status != http.StatusOK {
		t.Errorf("If-None-Match of another version = %d, want 200", got.status)
	}
}

// failures records what a check reports instead of failing the test, so
// that the checks themselves can be tested.
type failures struct {
	testing.TB
	got []string
}

func (f *failures) Helper() {}
func (f *failures) Errorf(format string, args ...any) {
	f.got = append(f.got, fmt.Sprintf(format, args...))
}

// TestTheHarnessFailsExchangesTheDocumentDoesNotDescribe shows that the
// check is not a formality: each exchange below differs from the document
// in one way, and each must be reported with its operation and why.
func TestTheHarnessFailsExchangesTheDocumentDoesNotDescribe(t *testing.T) {
	t.Parallel()
	d := openAPI(t)
	h := newHarness(t, harnessOptions{})
	jsonHeader := http.Header{"X-Request-Id": {"r1"}, "Content-Type": {"application/json"}, "Cache-Control": {"no-store"}}
	cases := []struct {
		name        string
		req         *http.Request
		conformance conformance
		answer      reply
		want        []string
	}{
		{"a body field the document does not know", h.newRequest("POST", "/v1/sessions", "app", "application/json", `{"subject":"a","admin":true}`), conforming,
			reply{201, jsonHeader, `{"access_token":"a","token_type":"Bearer","expires_in":600,"refresh_token":"r","session_id":"s"}`},
			[]string{"operation createSession", "request is not as documented", "admin"}},
		{"an answer with a member the document does not know", h.newRequest("GET", "/healthz", "", "", ""), conforming,
			reply{200, http.Header{"X-Request-Id": {"r1"}, "Content-Type": {"application/json"}}, `{"status":"ok","version":"1"}`},
			[]string{"operation healthz", "200 answer is not as documented", "version"}},
		{"an answer without its request id", h.newRequest("GET", "/healthz", "", "", ""), conforming,
			reply{200, http.Header{"Content-Type": {"application/json"}}, `{"status":"ok"}`},
			[]string{"operation healthz", "200 answer is not as documented", "X-Request-Id"}},
		{"an error without its request id", h.newRequest("DELETE", "/v1/sessions/x", "Bearer t", "", ""), conforming,
			reply{404, http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}}, `{"error":"not_found","error_description":"x"}`},
			[]string{"operation endOwnSession", "404 answer is not as documented", "X-Request-Id"}},
		{"an undocumented status", h.newRequest("GET", "/healthz", "", "", ""), conforming,
			reply{418, jsonHeader, `{"error":"teapot","error_description":"short and stout"}`},
			[]string{"operation healthz", "status 418 is not documented"}},
		{"an error without its description", h.newRequest("DELETE", "/v1/sessions/x", "Bearer t", "", ""), conforming,
			reply{404, jsonHeader, `{"error":"not_found"}`},
			[]string{"operation endOwnSession", "404 answer is not as documented", "error_description"}},
		{"an error code the status does not document", h.newRequest("DELETE", "/v1/sessions/x", "Bearer t", "", ""), conforming,
			reply{404, jsonHeader, `{"error":"gone","error_description":"x"}`},
			[]string{"operation endOwnSession", "404 answer is not as documented"}},
		{"a refusal that caches may keep", h.newRequest("DELETE", "/v1/sessions/x", "Bearer t", "", ""), conforming,
			reply{404, http.Header{"X-Request-Id": {"r1"}, "Content-Type": {"application/json"}, "Cache-Control": {"public"}}, `{"error":"not_found","error_description":"x"}`},
			[]string{"operation endOwnSession", "404 answer is not as documented", "no-store"}},
		{"a timestamp that is not RFC 3339", h.newRequest("GET", "/v1/sessions", "Bearer t", "", ""), conforming,
			reply{200, jsonHeader, `{"sessions":[{"id":"a","client_id":"app","created_at":"yesterday","last_used_at":"2030-01-02T03:04:05.000Z","expires_at":"2030-01-02T03:04:05.000Z"}]}`},
			[]string{"operation listOwnSessions", "200 answer is not as documented", "created_at"}},
		{"a subject the path parameter does not allow, once unescaped", h.newRequest("GET", "/v1/admin/users/a%01b", "admin", "", ""), conforming,
			reply{400, jsonHeader, `{"error":"invalid_request","error_description":"x"}`},
			[]string{"operation adminUser", "request is not as documented", "subject"}},
		{"a 401 without its challenge", h.newRequest("GET", "/v1/sessions", "", "", ""), malformedRequest,
			reply{401, jsonHeader, `{"error":"invalid_token","error_description":"no bearer token in the request"}`},
			[]string{"operation listOwnSessions", "401 answer is not as documented", "WWW-Authenticate"}},
		{"a forward-auth allow without its user header", h.newRequest("GET", "/v1/verify/some/where", "Bearer t", "", ""), conforming,
			reply{200, http.Header{"Cache-Control": {"no-store"}}, ``},
			[]string{"operation verifyPathGet", "200 answer is not as documented", "X-Auth-Request-User"}},
		{"a request without the credentials the operation needs", h.newRequest("GET", "/v1/admin/events", "", "", ""), conforming,
			reply{401, http.Header{"X-Request-Id": {"r1"}, "Content-Type": {"application/json"}, "Cache-Control": {"no-store"}, "Www-Authenticate": {`Basic realm="tokenguard"`}}, `{"error":"invalid_client","error_description":"client authentication failed"}`},
			[]string{"operation adminEvents", "request is not as documented", "Authorization"}},
		{"a route the document lacks", h.newRequest("GET", "/v1/nothing-here", "", "", ""), conforming,
			reply{404, jsonHeader, `{"error":"not_found","error_description":"not found"}`},
			[]string{"GET /v1/nothing-here", "no operation in openapi.json"}},
		{"a malformed request answered with an undocumented status", h.newRequest("POST", "/v1/sessions", "app", "text/plain", "x"), malformedRequest,
			reply{422, jsonHeader, `{"error":"invalid_request","error_description":"x"}`},
			[]string{"operation createSession", "status 422 is not documented"}},
		{"an unknown route answered with something else than NotFound", h.newRequest("GET", "/v1/nothing-here", "", "", ""), malformedRequest,
			reply{404, http.Header{"X-Request-Id": {"r1"}, "Content-Type": {"text/plain"}, "Cache-Control": {"no-store"}}, `404 page not found`},
			[]string{"operation (no route)", "404 answer is not as documented"}},
		{"a HEAD answer without the headers GET's carries", h.newRequest("HEAD", "/v1/sessions", "Bearer t", "", ""), conforming,
			reply{200, http.Header{"X-Request-Id": {"r1"}, "Content-Type": {"application/json"}}, ``},
			[]string{"operation listOwnSessionsHead", "200 answer is not as documented", "Cache-Control"}},
		{"a HEAD answer with an undocumented status", h.newRequest("HEAD", "/healthz", "", "", ""), conforming,
			reply{503, jsonHeader, ``},
			[]string{"operation healthzHead", "status 503 is not documented"}},
		{"a lockout without Retry-After", h.newRequest("POST", "/v1/sessions", "app", "application/json", `{"subject":"a"}`), conforming,
			reply{429, jsonHeader, `{"error":"too_many_requests","error_description":"x"}`},
			[]string{"operation createSession", "429 answer is not as documented", "Retry-After"}},
		{"a lockout answered with another error code", h.newRequest("POST", "/v1/sessions", "app", "application/json", `{"subject":"a"}`), conforming,
			reply{429, http.Header{"X-Request-Id": {"r1"}, "Content-Type": {"application/json"}, "Cache-Control": {"no-store"}, "Retry-After": {"60"}}, `{"error":"invalid_client","error_description":"x"}`},
			[]string{"operation createSession", "429 answer is not as documented"}},
		{"a degraded readiness without a stale shard", h.newRequest("GET", "/readyz", "", "", ""), conforming,
			reply{200, http.Header{"X-Request-Id": {"r1"}, "Content-Type": {"application/json"}}, `{"status":"degraded","stale_shards":[]}`},
			[]string{"operation readyz", "200 answer is not as documented"}},
		{"an unavailable readiness answered 200", h.newRequest("GET", "/readyz", "", "", ""), conforming,
			reply{200, http.Header{"X-Request-Id": {"r1"}, "Content-Type": {"application/json"}}, `{"status":"unavailable","stale_shards":[1],"error":"temporarily_unavailable","error_description":"x"}`},
			[]string{"operation readyz", "200 answer is not as documented"}},
		{"a page size the document does not allow", h.newRequest("GET", "/v1/sessions?limit=501", "Bearer t", "", ""), conforming,
			reply{400, jsonHeader, `{"error":"invalid_request","error_description":"x"}`},
			[]string{"operation listOwnSessions", "request is not as documented", "limit"}},
		{"a documented route marked as a test's own", h.newRequest("GET", "/healthz", "", "", ""), testRoute,
			reply{200, http.Header{"X-Request-Id": {"r1"}, "Content-Type": {"application/json"}}, `{"status":"ok"}`},
			[]string{"marked as a test's own route"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := &failures{TB: t}
			d.check(f, d.capture(t, c.req, c.conformance), c.answer)
			if len(f.got) == 0 {
				t.Fatalf("the check passed; want a failure mentioning %q", c.want)
			}
			msg := strings.Join(f.got, "\n")
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("the failure %q does not mention %q", msg, w)
				}
			}
		})
	}
	// And the same exchanges, as the handlers really answer them, pass.
	f := &failures{TB: t}
	req := h.newRequest("GET", "/healthz", "", "", "")
	d.check(f, d.capture(t, req, conforming), reply{200, http.Header{"X-Request-Id": {"r1"}, "Content-Type": {"application/json"}}, `{"status":"ok"}`})
	if len(f.got) != 0 {
		t.Errorf("a documented exchange failed the check: %v", f.got)
	}
}

// TestEveryDocumentedAnswerCarriesTheRequestID: every response tokenguard
// writes echoes X-Request-Id, so every response the document describes,
// inline or shared, must declare it; a new operation that forgets it fails
// here rather than in production logs that cannot be correlated.
func TestEveryDocumentedAnswerCarriesTheRequestID(t *testing.T) {
	t.Parallel()
	d := openAPI(t)
	for name, resp := range d.doc.Components.Responses {
		if resp.Value.Headers["X-Request-Id"] == nil {
			t.Errorf("components.responses.%s does not declare X-Request-Id", name)
		}
	}
	for path, item := range d.doc.Paths.Map() {
		for method, op := range item.Operations() {
			for code, resp := range op.Responses.Map() {
				if resp.Value == nil || resp.Value.Headers["X-Request-Id"] == nil {
					t.Errorf("%s %s answer %s does not declare X-Request-Id", method, path, code)
				}
			}
		}
	}
}
