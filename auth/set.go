package auth

import (
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// SETType is the typ header of a Security Event Token (RFC 8417 §2.3).
const SETType = "secevent+jwt"

// SignSET signs a Security Event Token (RFC 8417) whose claims the caller
// built, with the signing key: header typ secevent+jwt and the key's kid,
// so that receivers verify it against the JWKS. The token is never one of
// our access tokens: Verify refuses any typ but at+jwt.
func (s *Service) SignSET(claims jwt.MapClaims) (string, error) {
	t := jwt.NewWithClaims(s.signer.method, claims)
	t.Header["kid"] = s.signer.id
	t.Header["typ"] = SETType
	token, err := t.SignedString(s.signer.sign)
	if err != nil {
		return "", fmt.Errorf("sign security event token: %w", err)
	}
	return token, nil
}

// SignsPublicly reports whether the signing key is published in the JWKS,
// so that others can verify what it signs (an HMAC key is not).
func (s *Service) SignsPublicly() bool {
	for _, j := range s.jwks {
		if j.Kid == s.signer.id {
			return true
		}
	}
	return false
}
