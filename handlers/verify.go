package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/users"
)

// VerifyConfig holds the settings of the forward-auth check.
type VerifyConfig struct {
	// Cookie names a cookie that carries the access token when the request
	// has no Authorization: Bearer header; empty means none.
	Cookie string
	// TrustedProxies are the addresses whose X-Forwarded-* and X-Original-*
	// headers are believed. From anyone else those headers are ignored.
	TrustedProxies []netip.Prefix
	// CacheMaxAge is how long a proxy may cache an allow, never past the
	// token's exp: the revocation delay the operator promises. Zero means
	// no-store.
	CacheMaxAge time.Duration
	// EmailClaim and GroupsClaim name the claims sent as
	// X-Auth-Request-Email and X-Auth-Request-Groups; empty turns a header
	// off.
	EmailClaim, GroupsClaim string
}

// The identity headers of an allow from /v1/verify: who the user is, for
// the app behind the gateway. A header is left out when the token has no
// value for it, so a gateway must set or clear every one of them on the
// request it forwards, or a client's own copy would reach the app next to
// the real user (README, "Use it as a sidecar"; the root tests check each
// documented configuration against IdentityHeaders).
const (
	headerUser    = "X-Auth-Request-User"
	headerEmail   = "X-Auth-Request-Email"
	headerGroups  = "X-Auth-Request-Groups"
	headerScope   = "X-Auth-Request-Scope"
	headerIssuer  = "X-Auth-Request-Issuer"
	headerSession = "X-Auth-Session"
	headerTokenID = "X-Auth-Token-Id"
)

// IdentityHeaders returns the name of every identity header /v1/verify can
// send on an allow.
func IdentityHeaders() []string {
	return []string{headerUser, headerEmail, headerGroups, headerScope, headerIssuer, headerSession, headerTokenID}
}

// bearerUser authenticates the user behind a request to a self-service
// endpoint by the bearer token in its Authorization header.
func (h *handler) bearerUser(c echo.Context) (*auth.Claims, error) {
	raw, err := bearerToken(c.Request())
	if err != nil {
		h.metrics.TokenMissing()
		return nil, err
	}
	return h.users.Authenticate(c.Request().Context(), raw)
}

// verify is the forward-auth check for nginx auth_request, Traefik
// ForwardAuth, Caddy forward_auth and Envoy ext_authz, on /v1/verify and
// below, any method, so that a proxy can forward the original request as it
// is. It speaks the subset all four understand: 200 with an empty body and
// identity headers to allow; 401 (missing, invalid, expired or revoked
// token) or 403 (banned user, missing scope) to deny. Envoy takes only 200 as
// an allow and nginx turns any status but 2xx, 401 and 403 into a 500, so a
// client can cause nothing else; 503 means the revocation state cannot be
// read, and the request is refused either way.
func (h *handler) verify(c echo.Context) error {
	r := c.Request()
	claims, err := h.verifyRequest(c)
	if h.log.Enabled(r.Context(), slog.LevelDebug) {
		h.logDecision(c, claims, err)
	}
	if err != nil {
		return err
	}
	hdr := identityHeaders{hdr: c.Response().Header(), values: make([]string, 0, allowHeaders)}
	hdr.set(headerUser, claims.Subject)
	hdr.set(headerIssuer, claims.Issuer)
	hdr.set(headerScope, claims.Scope)
	hdr.set(headerSession, claims.SessionID)
	hdr.set(headerTokenID, claims.ID)
	h.setIdentityClaims(&hdr, claims)
	hdr.set("Cache-Control", h.allowCacheControl(claims))
	return c.NoContent(http.StatusOK)
}

// allowHeaders is how many headers an allow of one of our own tokens sets:
// five identity headers and Cache-Control. A token that also has the email
// or groups claim grows the values once more.
const allowHeaders = 6

// identityHeaders sets the headers of an allow with one allocation for all
// their values, where http.Header.Set makes one for each: an allow is
// /v1/verify's hot path, and every allocation there is garbage collected
// at tens of thousands of requests per second (docs/performance.md, "The
// tail of /v1/verify").
type identityHeaders struct {
	hdr    http.Header
	values []string
}

// set sets a header from a token's claim, left out when empty, control
// characters dropped (headerSafe). The names given are canonical, so the
// map is written directly. Each value's slice is capped at its one
// element: appending to it (Header.Add) copies it rather than overwrite
// the next header's value.
func (s *identityHeaders) set(name, value string) {
	value = headerSafe(value)
	if value == "" {
		return
	}
	s.values = append(s.values, value)
	n := len(s.values)
	s.hdr[name] = s.values[n-1 : n : n]
}

// verifyRequest finds the request's token and accepts it through
// users.Service.Authorize with the scopes the proxy requires with ?scope=
// (repeated or space-separated). A token that lacks one, or a malformed
// requirement, is answered 403 insufficient_scope with the challenge of
// RFC 6750 §3.1.
func (h *handler) verifyRequest(c echo.Context) (*auth.Claims, error) {
	r := c.Request()
	raw, err := h.forwardedToken(r)
	if err != nil {
		h.metrics.TokenMissing()
		return nil, err
	}
	var required []string
	if r.URL.RawQuery != "" { // the common case: nothing required, nothing to parse
		required = c.QueryParams()["scope"]
	}
	claims, err := h.users.Authorize(r.Context(), raw, required)
	if err != nil {
		var lacking *users.ScopeError // declared here: it escapes, and an allow must not allocate it
		if errors.As(err, &lacking) {
			return nil, insufficientScope(c, lacking.Required, lacking.Error())
		}
		return nil, err
	}
	return claims, nil
}

// forwardedToken takes the token from Authorization: Bearer or, when the
// request has none, from the configured cookie (browsers behind a gateway
// send cookies, not headers). An explicit header wins over the cookie.
func (h *handler) forwardedToken(r *http.Request) (string, error) {
	tok, err := bearerToken(r)
	if err == nil || h.verifyCfg.Cookie == "" {
		return tok, err
	}
	if ck, cerr := r.Cookie(h.verifyCfg.Cookie); cerr == nil && ck.Value != "" {
		return ck.Value, nil
	}
	return "", err
}

// insufficientScope is the 403 of a token that lacks a scope the proxy
// requires; scope, the requirement, is left out of the challenge when it
// was malformed.
func insufficientScope(c echo.Context, scope, description string) error {
	challenge := fmt.Sprintf(`Bearer realm="tokenguard", error="insufficient_scope", error_description=%q`, description)
	if scope != "" {
		// users.Authorize has made sure scope holds no quote or backslash.
		challenge += fmt.Sprintf(`, scope="%s"`, scope)
	}
	c.Response().Header().Set("WWW-Authenticate", challenge)
	return &apiError{http.StatusForbidden, "insufficient_scope", description}
}

// setIdentityClaims sends the configured email and groups claims, when the
// token has them in a usable shape. They are decoded only here, not in
// Verify, and only when the token spells one of the names out.
func (h *handler) setIdentityClaims(hdr *identityHeaders, claims *auth.Claims) {
	if len(h.identityClaims) == 0 {
		return
	}
	extra, err := claims.Extra(h.identityClaims...)
	if err != nil || len(extra) == 0 {
		return
	}
	if raw, ok := extra[h.verifyCfg.EmailClaim]; ok {
		var email string
		if json.Unmarshal(raw, &email) == nil {
			hdr.set(headerEmail, email)
		}
	}
	if raw, ok := extra[h.verifyCfg.GroupsClaim]; ok {
		hdr.set(headerGroups, groups(raw))
	}
}

// groups renders a groups claim as oauth2-proxy does: a list of strings
// comma-separated, a single string as it is, anything else not at all.
func groups(raw json.RawMessage) string {
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return strings.Join(list, ",")
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one
	}
	return ""
}

// headerSafe drops the control characters of a claim's value: a claim must
// not be able to break the header it travels in.
func headerSafe(value string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, value)
}

// allowCacheControl lets a proxy cache an allow for the configured delay,
// never past the token's exp; with no delay configured, not at all.
func (h *handler) allowCacheControl(claims *auth.Claims) string {
	age := h.verifyCfg.CacheMaxAge
	if claims.ExpiresAt != nil {
		age = min(age, claims.ExpiresAt.Sub(h.now()))
	}
	if secs := int64(age / time.Second); secs > 0 {
		return "private, max-age=" + strconv.FormatInt(secs, 10)
	}
	return "no-store"
}

// logDecision logs a forward-auth decision at debug level, with the
// original request the proxy asked about when the proxy is trusted to say.
// Neither the token nor the query string is logged.
func (h *handler) logDecision(c echo.Context, claims *auth.Claims, err error) {
	method, path := h.originalRequest(c.Request())
	attrs := []any{"allowed", err == nil, "original_method", method, "original_path", path, "client_ip", c.RealIP()}
	if claims != nil {
		attrs = append(attrs, "iss", claims.Issuer, "sub", claims.Subject, "jti", claims.ID)
	}
	if err != nil {
		attrs = append(attrs, "reason", err.Error())
	}
	h.log.DebugContext(c.Request().Context(), "forward-auth decision", attrs...)
}

// fromTrustedProxy reports whether the request comes straight from one of
// the configured proxies.
func (h *handler) fromTrustedProxy(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap()
	for _, p := range h.verifyCfg.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// originalRequest returns the method and path (without query) of the
// request a proxy asks about: X-Forwarded-Method and X-Forwarded-Uri
// (Traefik, Caddy) or X-Original-Method and X-Original-URI (nginx) from a
// trusted proxy, and this request's own otherwise.
func (h *handler) originalRequest(r *http.Request) (method, path string) {
	method, path = r.Method, r.URL.Path
	if !h.fromTrustedProxy(r) {
		return method, path
	}
	for _, name := range []string{"X-Forwarded-Method", "X-Original-Method"} {
		if v := r.Header.Get(name); v != "" {
			method = v
			break
		}
	}
	for _, name := range []string{"X-Forwarded-Uri", "X-Original-URI"} {
		if v := r.Header.Get(name); v != "" {
			path, _, _ = strings.Cut(v, "?")
			break
		}
	}
	return method, path
}

// ipExtractor is how Echo finds the client's address (c.RealIP): the
// connection's peer, or, when that peer is a trusted proxy, the nearest
// untrusted address in its X-Forwarded-For. Echo trusts loopback and private
// networks by default; here only the configured proxies are.
func ipExtractor(proxies []netip.Prefix) echo.IPExtractor {
	if len(proxies) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range proxies {
		opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}
