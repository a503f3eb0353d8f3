package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/tokenguard/tokenguard/auth"
)

// ErrNoToken reports a request that carries no bearer token.
var ErrNoToken = errors.New("no bearer token in the request")

// errNotBearer reports an Authorization header of another scheme.
var errNotBearer = errors.New("the Authorization header must use the Bearer scheme")

// Token takes the access token from the request's "Authorization: Bearer"
// header, as tokenguard's /v1/verify does. Its errors wrap ErrNoToken when
// there is none, ErrInvalidToken for another scheme.
func Token(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", ErrNoToken
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", errors.Join(ErrInvalidToken, errNotBearer)
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", ErrNoToken
	}
	return token, nil
}

// Refusal is how a request whose token is refused is answered, with the
// semantics of tokenguard's /v1/verify: 401 and an RFC 6750 challenge for a
// missing, invalid, expired or revoked token; 403 for a banned user; 503
// (retry after a second) while the revocation state is not known.
type Refusal struct {
	// Status is the HTTP status.
	Status int
	// Code and Description are the error and error_description of the
	// JSON body.
	Code, Description string
	// Challenge is the WWW-Authenticate value; empty for none.
	Challenge string
}

// Refuse says how to answer a request Verify (or Token) refused with err.
func Refuse(err error) Refusal {
	switch {
	case errors.Is(err, ErrNoToken):
		return Refusal{http.StatusUnauthorized, "invalid_token", ErrNoToken.Error(), auth.Challenge(true, "")}
	case errors.Is(err, ErrInvalidToken), errors.Is(err, ErrRevoked):
		return Refusal{http.StatusUnauthorized, "invalid_token", describe(err), auth.Challenge(false, describe(err))}
	case errors.Is(err, ErrBanned):
		return Refusal{http.StatusForbidden, "user_banned", "the user is banned", ""}
	case errors.Is(err, ErrUnavailable):
		return Refusal{http.StatusServiceUnavailable, "temporarily_unavailable", "the revocation state cannot be reached; retry shortly", ""}
	}
	return Refusal{http.StatusInternalServerError, "server_error", "internal error", ""}
}

// describe is the description of a refused token: an error of Token names
// the scheme alone.
func describe(err error) string {
	if errors.Is(err, errNotBearer) {
		return errNotBearer.Error()
	}
	return err.Error()
}

// Write writes the refusal: its headers and its JSON body.
func (rf Refusal) Write(w http.ResponseWriter) {
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Type", "application/json")
	if rf.Challenge != "" {
		hdr.Set("WWW-Authenticate", rf.Challenge)
	}
	if rf.Status == http.StatusServiceUnavailable {
		hdr.Set("Retry-After", "1")
	}
	w.WriteHeader(rf.Status)
	// A failed write means the client left; there is no one to tell.
	_ = json.NewEncoder(w).Encode(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{rf.Code, rf.Description})
}

// claimsKey is the context key of the verified claims.
type claimsKey struct{}

// WithClaims returns ctx carrying claims, as Middleware hands them on.
func WithClaims(ctx context.Context, claims *auth.Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, claims)
}

// Claims returns the verified claims Middleware put in ctx; ok is false
// outside a request it let through.
func Claims(ctx context.Context) (claims *auth.Claims, ok bool) {
	claims, ok = ctx.Value(claimsKey{}).(*auth.Claims)
	return claims, ok
}

// Middleware lets through only requests with a bearer token Verify
// accepts, with its claims in the request's context (see Claims), and
// answers the others as Refuse says.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, err := v.Check(r)
		if err != nil {
			Refuse(err).Write(w)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), claims)))
	})
}

// Check verifies the bearer token of r (Token, then Verify).
func (v *Verifier) Check(r *http.Request) (*auth.Claims, error) {
	raw, err := Token(r)
	if err != nil {
		return nil, err
	}
	return v.Verify(r.Context(), raw)
}
