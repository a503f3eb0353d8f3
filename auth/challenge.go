package auth

import (
	"fmt"
	"strings"
)

// Challenge returns the RFC 6750 WWW-Authenticate value of a request whose
// bearer token is refused with a 401: without an error attribute when the
// request sent no token (noToken), error="invalid_token" with description
// otherwise. /v1/verify and the embedded verifier's middlewares answer with
// it alike.
func Challenge(noToken bool, description string) string {
	if noToken {
		return `Bearer realm="tokenguard"`
	}
	return fmt.Sprintf(`Bearer realm="tokenguard", error="invalid_token", error_description=%q`, quotable(description))
}

// quotable keeps only characters allowed in an RFC 6750 quoted attribute.
func quotable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}
