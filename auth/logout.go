package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// LogoutEvent is the member of a logout token's events claim that makes it
// one (OpenID Connect Back-Channel Logout 1.0 §2.4).
const LogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// MaxLogoutTokenAge is how long after its iat a logout token is accepted
// (plus the leeway). The specification leaves the window to the receiver
// (§2.6: iat is validated as in an ID Token, whose acceptable range "is
// Client specific"); it recommends that tokens expire within two minutes
// (§4), and this allows for an issuer that retries a delivery for a while.
// It also bounds how long a received token's jti is remembered to refuse
// replays, since no token older than this is accepted anyway.
const MaxLogoutTokenAge = 10 * time.Minute

// logoutTypes are the typ headers a logout token may carry: absent, or
// logout+jwt (§2.4), compared without case as media types are (RFC 7515
// §4.1.9). Any other typ says the JWT is something else, an access token
// or an ID token typed "JWT" included, and is refused (RFC 8725 §3.11).
var logoutTypes = []string{"logout+jwt", "application/logout+jwt"}

// Rejections of a logout token; each wraps ErrClaims or ErrMalformed, and
// so ErrInvalidToken.
var (
	errUntrusted    = fmt.Errorf("%w: iss is not a trusted issuer", ErrClaims)
	errLogoutType   = fmt.Errorf("%w: typ header is not logout+jwt", ErrClaims)
	errNoEvent      = fmt.Errorf("%w: events claim lacks the back-channel logout event with an object value", ErrClaims)
	errNonce        = fmt.Errorf("%w: a logout token must not contain nonce", ErrClaims)
	errNoSubOrSID   = fmt.Errorf("%w: a logout token needs sub, sid or both", ErrClaims)
	errSIDNotString = fmt.Errorf("%w: sid must be a string", ErrMalformed)
	errLogoutAge    = fmt.Errorf("%w: iat is older than a logout token may be", ErrClaims)
)

// LogoutClaims is what a verified logout token says.
type LogoutClaims struct {
	// Issuer is the trusted issuer that sent it.
	Issuer string
	// Subject is the issuer's user, SessionID the issuer's session; at
	// least one is set.
	Subject   string
	SessionID string
	// JTI is the token's id, unique among the issuer's logout tokens.
	JTI string
	// IssuedAt is the token's iat: when the issuer logged the user out, by
	// the issuer's clock, which also stamps its access tokens.
	IssuedAt time.Time
	// Until is the last moment VerifyLogout would accept the token: a
	// record of its jti kept until then refuses every replay.
	Until time.Time
}

// VerifyLogout checks a logout token of OpenID Connect Back-Channel Logout
// 1.0 (§2.6) and returns what it says. The token's unverified iss picks
// the trusted issuer; then, in full: the signature by a key of that
// issuer with an algorithm it is pinned to (never none, never HMAC); typ
// absent or logout+jwt; iss; aud holding the issuer's audience; iat
// present, no later than now plus the leeway and no older than
// MaxLogoutTokenAge; exp and nbf when present; jti present; the events
// claim an object holding LogoutEvent with an object value; sub, sid or
// both (sid a string); no nonce; and the token's one canonical spelling
// (see ErrMalformed). Claims it does not understand are ignored. Every
// error wraps ErrInvalidToken.
//
// Our own issuer is not accepted: tokenguard sends itself no logout tokens.
func (s *Service) VerifyLogout(ctx context.Context, token string) (*LogoutClaims, error) {
	if len(token) > MaxTokenBytes {
		return nil, errTooLarge
	}
	if !canonicalSegments(token) {
		return nil, errNotCanonical
	}
	var peek jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &peek); err != nil {
		return nil, ErrMalformed
	}
	tr, ok := s.trusted[peek.Issuer]
	if !ok {
		return nil, errUntrusted
	}
	rc := new(jwt.RegisteredClaims)
	t, err := tr.logout.ParseWithClaims(token, rc, func(t *jwt.Token) (any, error) { return tr.logoutKey(ctx, t) })
	if err != nil {
		return nil, rejection(t, err, tr.algs)
	}
	payload, err := s.walkers.checkJSON(token)
	if err != nil {
		return nil, err
	}
	// The claims only logout tokens have are read from the payload by
	// their exact names: encoding/json would match a struct field
	// without case ("NONCE", "Events").
	var all map[string]json.RawMessage
	if err := json.Unmarshal(payload, &all); err != nil {
		return nil, ErrMalformed
	}
	now := s.clock()
	switch {
	case rc.IssuedAt == nil:
		return nil, errNoIssuedAt
	case rc.ID == "":
		return nil, errNoJTI
	case !hasLogoutEvent(all["events"]):
		return nil, errNoEvent
	case all["nonce"] != nil:
		return nil, errNonce
	case rc.IssuedAt.Before(now.Add(-MaxLogoutTokenAge - s.leeway)):
		return nil, errLogoutAge
	}
	var sid string
	if raw, ok := all["sid"]; ok {
		if !isJSONString(raw) {
			return nil, errSIDNotString
		}
		if err := json.Unmarshal(raw, &sid); err != nil {
			return nil, errSIDNotString
		}
	}
	if rc.Subject == "" && sid == "" {
		return nil, errNoSubOrSID
	}
	until := rc.IssuedAt.Add(MaxLogoutTokenAge + s.leeway)
	if rc.ExpiresAt != nil {
		if exp := rc.ExpiresAt.Add(s.leeway); exp.Before(until) {
			until = exp
		}
	}
	return &LogoutClaims{
		Issuer:    tr.issuer,
		Subject:   rc.Subject,
		SessionID: sid,
		JTI:       rc.ID,
		IssuedAt:  rc.IssuedAt.Time,
		Until:     until,
	}, nil
}

// hasLogoutEvent reports whether events, the raw events claim, is an object
// holding LogoutEvent whose value is an object (§2.4).
func hasLogoutEvent(events json.RawMessage) bool {
	if !isJSONObject(events) {
		return false
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(events, &members); err != nil {
		return false
	}
	return isJSONObject(members[LogoutEvent])
}

func isJSONObject(raw json.RawMessage) bool {
	b := bytes.TrimLeft(raw, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

func isJSONString(raw json.RawMessage) bool {
	b := bytes.TrimLeft(raw, " \t\r\n")
	return len(b) > 0 && b[0] == '"'
}

// logoutKey is the jwt.Keyfunc of a trusted issuer's logout tokens: the
// same keys and pins as its access tokens, another typ.
func (ti *TrustedIssuer) logoutKey(ctx context.Context, t *jwt.Token) (any, error) {
	if v, ok := t.Header["typ"]; ok {
		typ, isString := v.(string)
		if !isString || !slices.Contains(logoutTypes, strings.ToLower(typ)) {
			return nil, errLogoutType
		}
	}
	return ti.verificationKey(ctx, t)
}

// newLogoutParser builds the parser of an issuer's logout tokens: what
// parserOptions checks (pinned algorithms, iss, aud, iat, the leeway) but,
// unlike an access token, exp not required (§2.4 made it required only in
// 2023; older issuers send none).
func (s *Service) newLogoutParser(algs []string, issuer, audience string) *jwt.Parser {
	return jwt.NewParser(s.parserOptions(algs, issuer, audience)...)
}
