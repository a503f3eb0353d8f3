package users

import (
	"strings"
	"time"

	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
)

// sep joins a trusted issuer and one of its identifiers in a qualified
// name. It is a control character: checkText refuses those in every local
// subject and jti (and session ids are base64url), and auth refuses them in
// a trusted issuer, so no local name is ever spelled like a qualified one,
// and a qualified name's issuer ends at its first sep.
const sep = '\x1f'

// clientMark starts the name under which the shared state knows a client
// that holds a token of its own (the client_credentials grant). It is a
// control character too, other than sep, so a client's name never equals a
// local user's (the client "app" and the user "app" never share a cut-off,
// a ban or a session) nor a trusted issuer's user's.
const clientMark = '\x1e'

// qualify is the one function that says under which name the shared state
// (revocations, cut-offs, bans, sessions, the audit trail) knows an
// identifier that comes from a token of issuer, its sub, sid or jti: ours
// as it is, byte for byte, so that the hot path allocates nothing and the
// state of our users written before keeps working; another issuer's as
// issuer + "\x1f" + id, so that nothing a local user or another issuer can
// choose ever lands on it. issuer has been checked (a verified token's, or
// through Subject); an empty id stays empty.
func (s *Service) qualify(issuer, id string) string {
	if id == "" || s.ours(issuer) {
		return id
	}
	return issuer + string(sep) + id
}

// ours reports whether issuer is our own (empty meaning ours).
func (s *Service) ours(issuer string) bool {
	return issuer == "" || issuer == s.tokens.Issuer()
}

// Subject is the name under which the revocation state, the session store
// and the audit trail know a user: our own users by their sub, a trusted
// issuer's users by a name qualified by the issuer (see qualify), so that
// two providers' users "42" and ours never share a cut-off, a ban or a
// session, whatever bytes a local subject holds. issuer is a token's iss;
// empty means ours. A malformed sub or issuer is refused with ErrInvalid,
// an issuer that is neither ours nor trusted with ErrUnknownIssuer.
//
// The workflows that take a subject (Status, Ban, Unban, LogOutEverywhere,
// Sessions, the audit trail's Query) take a name made here or by SubjectOf;
// SplitSubject takes it apart again for display.
func (s *Service) Subject(issuer, sub string) (string, error) {
	if err := checkSubject(sub); err != nil {
		return "", err
	}
	if err := checkIssuer(issuer); err != nil {
		return "", err
	}
	if !s.ours(issuer) && !s.tokens.Trusts(issuer) {
		return "", ErrUnknownIssuer
	}
	return s.qualify(issuer, sub), nil
}

// SubjectOf is the name a verified token's user is known by: what every
// cut-off, ban and session lookup made on behalf of a token must use
// instead of its bare sub.
func (s *Service) SubjectOf(c *auth.Claims) string {
	if s.ours(c.Issuer) && c.ClientToken() {
		return string(clientMark) + c.Subject
	}
	return s.qualify(c.Issuer, c.Subject)
}

// ClientOf returns the client id of a subject name made by SubjectOf for a
// client's own token; ok is false for a user's name.
func ClientOf(name string) (id string, ok bool) {
	if len(name) > 0 && name[0] == clientMark {
		return name[1:], true
	}
	return "", false
}

// SplitSubject takes a name made by Subject or SubjectOf apart: the issuer
// (empty for our users) and the sub, for showing a user to people.
func SplitSubject(name string) (issuer, sub string) {
	if i := strings.IndexByte(name, sep); i >= 0 {
		return name[:i], name[i+1:]
	}
	return "", name
}

// lifetime is the longest a token of the user known as name lives, which
// is how long the user's cut-offs must be kept.
func (s *Service) lifetime(name string) time.Duration {
	issuer, _ := SplitSubject(name)
	if life, ok := s.tokens.Lifetime(issuer); ok {
		return life
	}
	// An issuer no longer configured: its tokens no longer verify, but
	// keep the entry as long as any token could live.
	return s.tokens.LongestLifetime()
}

// revocationToken is what the revocation decision needs of a verified
// token, every identifier qualified by its issuer: a trusted issuer chooses
// its own jti and sid, and they must never land on ours (our session ids
// are no secret: they appear in X-Auth-Session and in refresh tokens).
func (s *Service) revocationToken(c *auth.Claims) blacklist.Token {
	return blacklist.Token{
		ID:        s.qualify(c.Issuer, c.ID),
		SessionID: s.qualify(c.Issuer, c.SessionID),
		Subject:   s.SubjectOf(c),
		IssuedAt:  c.IssuedAtPrecise(),
	}
}
