package auth

import (
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are the claims of an access token (RFC 9068). The embedded
// RegisteredClaims carry iss, sub, aud, exp, nbf, iat and jti.
type Claims struct {
	jwt.RegisteredClaims

	// SessionID is the sid claim: the device session the token belongs to.
	SessionID string `json:"sid,omitempty"`

	// ClientID is the client_id claim: the OAuth client the token was
	// issued to.
	ClientID string `json:"client_id,omitempty"`

	// Scope is the scope claim, a space-separated list of scopes.
	Scope string `json:"scope,omitempty"`

	// IssuedAtUS is the private iat_us claim: the issue time in microseconds
	// since the Unix epoch.
	//
	// The standard iat claim only has whole seconds. The revocation layer
	// needs more: "log out all devices" records a cut-off time C and rejects
	// every token issued before C. With second precision, a session opened a
	// few microseconds after C, within the same second, would carry an iat
	// equal to C's second and could not be told apart from a token issued
	// just before C; either the fresh session dies or an old token survives.
	// iat_us is signed along with the other claims, so it is as trustworthy
	// as iat; use IssuedAtPrecise to read it.
	IssuedAtUS int64 `json:"iat_us,omitempty"`
}

// IssuedAtPrecise returns the issue time with microsecond precision. It
// returns the time from iat_us when that claim is present and falls within
// the same second as iat, and otherwise the time from iat (the zero time if
// there is no iat). Requiring agreement with iat means iat_us can never move
// the issue time outside the second that every other JWT consumer sees.
func (c *Claims) IssuedAtPrecise() time.Time {
	if c.IssuedAt == nil {
		return time.Time{}
	}
	if c.IssuedAtUS != 0 {
		precise := time.UnixMicro(c.IssuedAtUS)
		if precise.Unix() == c.IssuedAt.Unix() {
			return precise
		}
	}
	return c.IssuedAt.Time
}
