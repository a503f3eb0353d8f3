package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
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

	// GrantType is the gty claim, set only on tokens issued to a client for
	// itself (GrantClientCredentials); see ClientToken.
	GrantType string `json:"gty,omitempty"`

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

	// payload is the token's payload as JSON, decoded once when the token
	// was verified (and kept with it in the verified-token cache), so that
	// Extra can find other claims when, and only when, a caller asks.
	payload []byte
	// idDerived marks an ID derived from a trusted issuer's token that
	// carried no jti.
	idDerived bool
}

// GrantClientCredentials is the gty of a token that a client obtained for
// itself with the client_credentials grant (RFC 6749 §4.4), the value
// Auth0 uses for the same purpose.
const GrantClientCredentials = "client-credentials"

// ClientToken reports whether the token was issued to a client for itself
// (its sub is the client id, RFC 9068 §2.2) rather than to a user. Only our
// own tokens can say so: a trusted issuer's gty is never read.
func (c *Claims) ClientToken() bool { return c.GrantType == GrantClientCredentials }

// IDDerived reports whether ID is not the token's jti but was derived from
// the token, because a trusted issuer sent it without one. Such an ID still
// names exactly this token for revocation; it is just not a claim of the
// token.
func (c *Claims) IDDerived() bool { return c.idDerived }

// Extra returns the named claims of a token from Verify or Issue as raw
// JSON, leaving out names the token lacks. Verify does not decode them: a
// caller pays for other claims only when it asks for them, and a token that
// holds none of the names costs a byte search.
func (c *Claims) Extra(names ...string) (map[string]json.RawMessage, error) {
	if len(c.payload) == 0 || len(names) == 0 {
		return nil, nil
	}
	raw := c.payload
	// A claim name can only match if it is spelled out in the payload or
	// if the payload uses JSON escapes (which could spell it otherwise).
	present := bytes.IndexByte(raw, '\\') >= 0
	for _, n := range names {
		present = present || bytes.Contains(raw, []byte(n))
	}
	if !present {
		return nil, nil
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		return nil, ErrMalformed
	}
	out := make(map[string]json.RawMessage, len(names))
	for _, n := range names {
		if v, ok := all[n]; ok {
			out[n] = v
		}
	}
	return out, nil
}

// decodePayload returns the JSON of a compact JWS's payload segment; nil
// when it cannot be decoded (never for a token that was just verified).
func decodePayload(token string) []byte {
	_, rest, _ := strings.Cut(token, ".")
	segment, _, _ := strings.Cut(rest, ".")
	raw, err := base64.RawURLEncoding.DecodeString(segment)
	if err != nil {
		return nil
	}
	return raw
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
