// Package echoverifier is the Echo middleware of the embedded verifier: it
// lets through only requests whose bearer token the verifier accepts, and
// answers the others as tokenguard's /v1/verify does. It is a package of
// its own so that a service using net/http never compiles Echo in.
package echoverifier

import (
	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/verifier"
)

// ClaimsKey is the key under which Middleware stores the verified claims
// in the echo.Context (c.Get(ClaimsKey)); they are also in the request's
// context, for verifier.Claims.
const ClaimsKey = "tokenguard.claims"

// Middleware verifies each request's bearer token with v (verifier.Check)
// and refuses the request as verifier.Refuse says, or hands the claims on.
func Middleware(v *verifier.Verifier) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			claims, err := v.Check(c.Request())
			if err != nil {
				verifier.Refuse(err).Write(c.Response())
				return nil
			}
			c.Set(ClaimsKey, claims)
			c.SetRequest(c.Request().WithContext(verifier.WithClaims(c.Request().Context(), claims)))
			return next(c)
		}
	}
}

// Claims returns the claims Middleware stored in c.
func Claims(c echo.Context) (*auth.Claims, bool) {
	claims, ok := c.Get(ClaimsKey).(*auth.Claims)
	return claims, ok
}
