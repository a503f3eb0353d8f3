package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
)

// revocationSubject is the one function that says under which name the
// revocation state knows a user: our own users by their sub, a trusted
// issuer's users as "<issuer>#<sub>". Two providers can both have a user
// "42"; without the prefix, logging out or banning one would hit the other.
// issuer is a token's iss; empty means ours. Every blacklist.Token, cut-off
// and ban is built through it.
//
// Trusted issuers cannot contain '#' (config refuses it), so the prefix is
// unambiguous among them; a local subject that itself starts with a trusted
// issuer and '#' would collide, which is why apps should not mint such
// subjects.
func (h *handler) revocationSubject(issuer, subject string) string {
	if issuer == "" || issuer == h.auth.Issuer() {
		return subject
	}
	return issuer + "#" + subject
}

// subjectOf is the name a verified token's user is known by in the
// revocation state and the session store: what every cut-off, ban and
// session lookup made on behalf of a token must use instead of its bare
// sub.
func (h *handler) subjectOf(c *auth.Claims) string {
	return h.revocationSubject(c.Issuer, c.Subject)
}

// revocationToken is what the revocation decision needs of a verified
// token. jti and sid are used as they are: RFC 7519 §4.1.7 requires a jti to
// be unique across issuers, and ours and the big providers' are random (a
// trusted issuer's token without jti has an ID derived from the token, see
// auth.Claims.IDDerived).
func (h *handler) revocationToken(c *auth.Claims) blacklist.Token {
	return blacklist.Token{
		ID:        c.ID,
		SessionID: c.SessionID,
		Subject:   h.subjectOf(c),
		IssuedAt:  c.IssuedAtPrecise(),
	}
}

// adminSubject reads the user an admin endpoint addresses: the {subject}
// path parameter, and with ?issuer= a trusted issuer's user of that sub. It
// returns the name the revocation state knows the user by (see
// revocationSubject).
func (h *handler) adminSubject(c echo.Context) (string, error) {
	subject, err := pathParam(c, "subject")
	if err != nil {
		return "", err
	}
	if err := checkText("subject", subject, 255, true); err != nil {
		return "", err
	}
	issuer := c.QueryParam("issuer")
	if err := checkText("issuer", issuer, 1024, false); err != nil {
		return "", err
	}
	if issuer != "" && issuer != h.auth.Issuer() && !h.auth.Trusts(issuer) {
		return "", badRequest("issuer is neither ours nor a trusted issuer")
	}
	return h.revocationSubject(issuer, subject), nil
}
