package main

import (
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/tokenguard/tokenguard/auth"
)

// The guards of /app (-protect).
const (
	protectSignatures = "signatures"
	protectEmbedded   = "embedded"
	protectNone       = "none"
)

// guard is what protects the side-by-side run's handler: a net/http
// middleware that lets through only requests with an acceptable token, and
// how the handler then learns whose request it is.
type guard struct {
	middleware func(http.Handler) http.Handler
	subject    func(*http.Request) string
}

// appHandler is the protected handler of the side-by-side run: the same
// few bytes for every variant, naming the user the guard let in. A request
// that reaches it with no user is a guard's bug, answered 500 so that the
// benchmark fails the round.
func appHandler(subject func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := subject(r)
		if user == "" {
			http.Error(w, "no user: the guard let an anonymous request through", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = io.WriteString(w, "hello "+user+"\n")
	})
}

// claimsKey carries the verified claims from signaturesGuard's middleware
// to the handler.
type claimsKey struct{}

// signaturesGuard is variant (a): the bearer token's signature and claims
// checked with tokenguard's auth package, no revocation check.
func signaturesGuard(svc *auth.Service) guard {
	return guard{
		middleware: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				scheme, raw, ok := strings.Cut(r.Header.Get("Authorization"), " ")
				if !ok || !strings.EqualFold(scheme, "Bearer") {
					unauthorized(w)
					return
				}
				claims, err := svc.Verify(r.Context(), strings.TrimSpace(raw))
				if err != nil {
					unauthorized(w)
					return
				}
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, claims)))
			})
		},
		subject: func(r *http.Request) string {
			if c, ok := r.Context().Value(claimsKey{}).(*auth.Claims); ok {
				return c.Subject
			}
			return ""
		},
	}
}

// forwardedGuard is the app behind variant (c): nginx lets a request in
// only after tokenguard's /v1/verify allowed it, and names the user in
// X-Auth-Request-User, replacing any copy the client sent. The app trusts
// that header because only nginx can reach it.
func forwardedGuard() guard {
	return guard{
		middleware: func(next http.Handler) http.Handler { return next },
		subject:    func(r *http.Request) string { return r.Header.Get("X-Auth-Request-User") },
	}
}

// unauthorized refuses a request without an acceptable token.
func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="tokenguard", error="invalid_token"`)
	http.Error(w, "invalid token", http.StatusUnauthorized)
}
