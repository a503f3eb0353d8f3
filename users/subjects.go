package users

import (
	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
)

// Subject is the one function that says under which name the revocation
// state and the session store know a user: our own users by their sub, a
// trusted issuer's users as "<issuer>#<sub>". Two providers can both have a
// user "42"; without the prefix, logging out or banning one would hit the
// other. issuer is a token's iss; empty means ours. A malformed sub or
// issuer is refused with ErrInvalid, an issuer that is neither ours nor
// trusted with ErrUnknownIssuer.
//
// The workflows that take a subject (Status, Ban, Unban, LogOutEverywhere,
// Sessions) take a name made here or by SubjectOf.
//
// Trusted issuers cannot contain '#' (config refuses it), so the prefix is
// unambiguous among them.
func (s *Service) Subject(issuer, sub string) (string, error) {
	if err := CheckSubject(sub); err != nil {
		return "", err
	}
	if err := CheckIssuer(issuer); err != nil {
		return "", err
	}
	if issuer != "" && issuer != s.tokens.Issuer() && !s.tokens.Trusts(issuer) {
		return "", ErrUnknownIssuer
	}
	return s.name(issuer, sub), nil
}

// name qualifies sub by issuer, which has been checked.
func (s *Service) name(issuer, sub string) string {
	if issuer == "" || issuer == s.tokens.Issuer() {
		return sub
	}
	return issuer + "#" + sub
}

// SubjectOf is the name a verified token's user is known by: what every
// cut-off, ban and session lookup made on behalf of a token must use
// instead of its bare sub.
func (s *Service) SubjectOf(c *auth.Claims) string {
	return s.name(c.Issuer, c.Subject)
}

// revocationToken is what the revocation decision needs of a verified
// token. jti and sid are used as they are: RFC 7519 §4.1.7 requires a jti to
// be unique across issuers, and ours and the big providers' are random (a
// trusted issuer's token without jti has an ID derived from the token, see
// auth.Claims.IDDerived).
func (s *Service) revocationToken(c *auth.Claims) blacklist.Token {
	return blacklist.Token{
		ID:        c.ID,
		SessionID: c.SessionID,
		Subject:   s.SubjectOf(c),
		IssuedAt:  c.IssuedAtPrecise(),
	}
}
