// Package auth issues and verifies short-lived JWT access tokens following
// the RFC 9068 profile (typ "at+jwt").
//
// Every key is pinned to one algorithm, and a token is verified only with the
// key its kid names and only if its alg is that key's algorithm. This rejects
// alg "none" and algorithm confusion (an HS256 token "signed" with an RSA
// public key as the HMAC secret) before any signature check. Revocation is
// not handled here: a token that Verify accepts is authentic and current,
// not necessarily still wanted.
//
// Verify also accepts the tokens of other identity providers configured as
// trusted issuers (see TrustedIssuer): it dispatches on the token's
// unverified iss to that provider's keys, pinned algorithms and audience.
// The unverified iss only chooses which checks run; every check then runs in
// full, so a token that lies about its issuer fails them.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenBytes is the longest token Verify accepts. Longer input is
// rejected as ErrMalformed before any decoding, which bounds the work an
// unauthenticated caller can cause.
const MaxTokenBytes = 8 << 10

// tokenType is the typ header of access tokens (RFC 9068 section 2.1).
const tokenType = "at+jwt"

// Config configures a Service.
type Config struct {
	// Issuer is the iss claim of issued tokens and the only issuer Verify
	// accepts. Required.
	Issuer string

	// Audience is the aud claim of issued tokens and the audience Verify
	// requires. Required.
	Audience string

	// AccessTTL is the lifetime of issued tokens. Required, positive.
	AccessTTL time.Duration

	// Leeway is the clock skew tolerated when checking exp, nbf and iat.
	// Must not be negative.
	Leeway time.Duration

	// Keys are the configured keys. Exactly one must be able to sign
	// (Key.CanSign); it signs every token. The others only verify, which
	// lets tokens signed by a retired key live out their TTL. Key IDs must
	// be unique.
	Keys []*Key

	// Clock returns the current time. Nil means time.Now; tests inject a
	// fixed clock.
	Clock func() time.Time

	// TrustedIssuers are other identity providers whose access tokens
	// Verify accepts. Their issuers must be distinct and differ from Issuer.
	TrustedIssuers []*TrustedIssuer

	// VerifiedCacheSize is how many of our own tokens Verify remembers
	// after checking their signature, so that a token presented again
	// skips the signature and claim decoding (time claims are checked on
	// every call). Zero turns the cache off.
	VerifiedCacheSize int
}

// Service issues and verifies access tokens. It is immutable after New and
// safe for concurrent use.
type Service struct {
	// walkers decode a token's JSON to hold it to its one spelling.
	walkers walkers

	issuer   string
	audience string
	ttl      time.Duration
	leeway   time.Duration
	clock    func() time.Time
	signer   *Key
	keys     map[string]*Key
	algs     []string
	parser   *jwt.Parser
	keyfunc  jwt.Keyfunc
	jwks     []JWK
	trusted  map[string]trusted
	cache    *verifiedCache // nil when off
}

// trusted is a trusted issuer with the parser that checks its tokens.
type trusted struct {
	*TrustedIssuer
	parser *jwt.Parser
	// logout checks the issuer's logout tokens (VerifyLogout).
	logout *jwt.Parser
}

// New validates cfg and returns a Service. Key problems (no signing key,
// more than one, a duplicate kid) wrap ErrKeyConfig; other problems wrap
// ErrConfig.
func New(cfg Config) (*Service, error) { return build(cfg, true) }

// build is New; a Service that only verifies (NewRemote) has no keys of its
// own, so signs false skips the rule that exactly one key signs.
func build(cfg Config, signs bool) (*Service, error) {
	if err := firstProblem(func(bad report) { checkIdentity(cfg.Issuer, cfg.Audience, bad) }); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	switch {
	case cfg.AccessTTL <= 0:
		return nil, fmt.Errorf("%w: access TTL must be positive, got %s", ErrConfig, cfg.AccessTTL)
	case cfg.Leeway < 0:
		return nil, fmt.Errorf("%w: leeway must not be negative, got %s", ErrConfig, cfg.Leeway)
	}

	s := &Service{
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
		ttl:      cfg.AccessTTL,
		leeway:   cfg.Leeway,
		clock:    cfg.Clock,
		keys:     make(map[string]*Key, len(cfg.Keys)),
		jwks:     make([]JWK, 0, len(cfg.Keys)),
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if cfg.VerifiedCacheSize < 0 {
		return nil, fmt.Errorf("%w: verified cache size must not be negative, got %d", ErrConfig, cfg.VerifiedCacheSize)
	}
	cache, err := newVerifiedCache(cfg.VerifiedCacheSize, cfg.Leeway)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	s.cache = cache

	ids := make([]keyID, len(cfg.Keys))
	for i, k := range cfg.Keys {
		if k == nil || k.id == "" || k.method == nil || k.verify == nil {
			return nil, fmt.Errorf("%w: keys[%d] is not a loaded key (use LoadKey)", ErrKeyConfig, i)
		}
		ids[i] = keyID{kid: k.id, signs: k.CanSign()}
	}
	if err := firstProblem(func(bad report) { checkKeySet(ids, bad.ofItem) }); signs && err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyConfig, err)
	}
	for _, k := range cfg.Keys {
		s.keys[k.id] = k
		if k.CanSign() {
			s.signer = k
		}
		if !slices.Contains(s.algs, k.alg) {
			s.algs = append(s.algs, k.alg)
		}
		j, ok, err := k.jwk()
		if err != nil {
			return nil, err
		}
		if ok {
			s.jwks = append(s.jwks, j)
		}
	}

	s.keyfunc = s.lookupKey
	s.parser = s.newParser(s.algs, s.issuer, s.audience)

	issuers := make([]string, len(cfg.TrustedIssuers))
	for i, ti := range cfg.TrustedIssuers {
		if ti == nil || ti.issuer == "" {
			return nil, fmt.Errorf("%w: trusted issuers[%d] is not loaded (use NewTrustedIssuer)", ErrConfig, i)
		}
		issuers[i] = ti.issuer
	}
	if err := firstProblem(func(bad report) { checkTrustedSet(s.issuer, issuers, bad.ofItem) }); err != nil {
		return nil, fmt.Errorf("%w: trusted issuer: %w", ErrConfig, err)
	}
	for _, ti := range cfg.TrustedIssuers {
		if s.trusted == nil {
			s.trusted = make(map[string]trusted, len(cfg.TrustedIssuers))
		}
		s.trusted[ti.issuer] = trusted{
			TrustedIssuer: ti,
			parser:        s.newParser(ti.algs, ti.issuer, ti.audience),
			logout:        s.newLogoutParser(ti.algs, ti.issuer, ti.audience),
		}
	}
	return s, nil
}

// newParser builds the one parser of an issuer's access tokens: exp
// required, on top of what parserOptions checks.
func (s *Service) newParser(algs []string, issuer, audience string) *jwt.Parser {
	return jwt.NewParser(append(s.parserOptions(algs, issuer, audience), jwt.WithExpirationRequired())...)
}

// parserOptions are what every parser of an issuer's tokens checks: a
// fixed list of algorithms, iss and aud, iat, the leeway on every time
// claim.
func (s *Service) parserOptions(algs []string, issuer, audience string) []jwt.ParserOption {
	return []jwt.ParserOption{
		jwt.WithValidMethods(algs),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithLeeway(s.leeway),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(s.clock),
		// Reject non-canonical base64 so a signature has one encoding only.
		jwt.WithStrictDecoding(),
	}
}

// Issuer returns the iss of the tokens the service issues.
func (s *Service) Issuer() string { return s.issuer }

// Trusts reports whether issuer is one of the trusted issuers (never our
// own).
func (s *Service) Trusts(issuer string) bool {
	_, ok := s.trusted[issuer]
	return ok
}

// TrustedIssuers lists the trusted issuers, sorted.
func (s *Service) TrustedIssuers() []string {
	out := make([]string, 0, len(s.trusted))
	for iss := range s.trusted {
		out = append(out, iss)
	}
	slices.Sort(out)
	return out
}

// AccessTTL returns the lifetime of issued tokens.
func (s *Service) AccessTTL() time.Duration { return s.ttl }

// Lifetime returns the longest a token of issuer lives: AccessTTL for ours
// (issuer empty or Issuer()), MaxTokenLifetime for a trusted issuer. ok is
// false for any other issuer.
func (s *Service) Lifetime(issuer string) (life time.Duration, ok bool) {
	if issuer == "" || issuer == s.issuer {
		return s.ttl, true
	}
	tr, ok := s.trusted[issuer]
	if !ok {
		return 0, false
	}
	return tr.maxLife, true
}

// LongestLifetime returns the longest any token Verify accepts lives: the
// longest of AccessTTL and every trusted issuer's MaxTokenLifetime. No
// revocation needs to outlive it (plus twice the leeway).
func (s *Service) LongestLifetime() time.Duration {
	longest := s.ttl
	for _, tr := range s.trusted {
		longest = max(longest, tr.maxLife)
	}
	return longest
}

// LatestExpiry returns the latest exp a token of issuer may carry for
// Verify to accept it now: now + Lifetime(issuer) + Leeway. Verify refuses
// a token that expires later (or whose exp lies more than the lifetime
// after its iat), so a revocation kept until then outlives every token it
// can concern. ok is false for an issuer neither ours nor trusted.
func (s *Service) LatestExpiry(issuer string) (latest time.Time, ok bool) {
	life, ok := s.Lifetime(issuer)
	if !ok {
		return time.Time{}, false
	}
	return s.clock().Add(life + s.leeway), true
}

// checkLifetime refuses a token that lives longer than life: its exp later
// than LatestExpiry, or more than life (in whole seconds, as NumericDates
// are) after its iat. The second rule matters for cut-offs and ended
// sessions, which are kept life + leeway after they were made: a token
// issued before them must have expired by then.
func (s *Service) checkLifetime(exp, iat *jwt.NumericDate, life time.Duration) error {
	if exp.After(s.clock().Add(life + s.leeway)) {
		return errLifetime
	}
	if iat != nil && exp.Unix()-iat.Unix() > int64((life+time.Second-1)/time.Second) {
		return errLifetime
	}
	return nil
}

// Leeway returns the clock skew tolerated by Verify.
func (s *Service) Leeway() time.Duration { return s.leeway }

// JWKS returns the public keys of all asymmetric keys, signing and
// verify-only, for publication at a jwks_uri. HMAC keys never appear. The
// result is a copy the caller may modify.
func (s *Service) JWKS() JWKS {
	return JWKS{Keys: slices.Clone(s.jwks)}
}

// IssueRequest describes the access token to issue.
type IssueRequest struct {
	// Subject is the sub claim, the user. Required.
	Subject string

	// SessionID is the sid claim; omitted when empty.
	SessionID string

	// ClientID is the client_id claim; omitted when empty.
	ClientID string

	// Scope is the scope claim, space-separated; omitted when empty.
	Scope string

	// Client marks a token issued to the client ClientID for itself (the
	// client_credentials grant): Subject must be ClientID, and SessionID
	// empty. See Claims.ClientToken.
	Client bool

	// Extra holds additional claims merged into the payload. Its values must
	// marshal to JSON. A reserved name (any claim the service sets, or typ,
	// cnf, auth_time, act, may_act; compared case-insensitively) is rejected
	// with ErrReservedClaim.
	Extra map[string]any
}

// Issue signs a new access token for req with the signing key and returns
// it with the claims that were signed (Extra excepted). The token expires
// AccessTTL from now and carries a fresh random jti.
func (s *Service) Issue(req IssueRequest) (token string, claims *Claims, err error) {
	if s.signer == nil {
		return "", nil, fmt.Errorf("%w: this service only verifies (NewRemote)", ErrConfig)
	}
	if req.Subject == "" {
		return "", nil, fmt.Errorf("%w: subject is required", ErrClaims)
	}
	if err := checkExtra(req.Extra); err != nil {
		return "", nil, err
	}
	if req.Client && (req.Subject != req.ClientID || req.SessionID != "") {
		return "", nil, fmt.Errorf("%w: a client's own token has the client id as subject and no session", ErrClaims)
	}
	jti, err := newJTI()
	if err != nil {
		return "", nil, err
	}

	now := s.clock()
	claims = &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:   s.issuer,
			Subject:  req.Subject,
			Audience: jwt.ClaimStrings{s.audience},
			// Whole seconds, set explicitly rather than through
			// jwt.NewNumericDate, which truncates to the package-level
			// jwt.TimePrecision.
			ExpiresAt: &jwt.NumericDate{Time: now.Add(s.ttl).Truncate(time.Second)},
			IssuedAt:  &jwt.NumericDate{Time: now.Truncate(time.Second)},
			ID:        jti,
		},
		SessionID:  req.SessionID,
		ClientID:   req.ClientID,
		Scope:      req.Scope,
		IssuedAtUS: now.UnixMicro(),
	}
	if req.Client {
		claims.GrantType = GrantClientCredentials
	}

	var payload jwt.Claims = claims
	if len(req.Extra) > 0 {
		payload = claimsWithExtra{Claims: claims, extra: req.Extra}
	}
	t := jwt.NewWithClaims(s.signer.method, payload)
	t.Header["kid"] = s.signer.id
	t.Header["typ"] = tokenType
	token, err = t.SignedString(s.signer.sign)
	if err != nil {
		return "", nil, fmt.Errorf("sign access token: %w", err)
	}
	if len(token) > MaxTokenBytes {
		// Verify would refuse it: never hand out a token that cannot be
		// used.
		return "", nil, fmt.Errorf("%w: it would be %d bytes, over the limit of %d bytes that verification enforces", ErrOversized, len(token), MaxTokenBytes)
	}
	claims.payload = decodePayload(token)
	return token, claims, nil
}

// checkExtra rejects reserved claim names in extra, naming all of them.
func checkExtra(extra map[string]any) error {
	var bad []string
	for name := range extra {
		if isReserved(name) {
			bad = append(bad, name)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	slices.Sort(bad)
	return fmt.Errorf("%w: %q", ErrReservedClaim, bad)
}

// isReserved reports whether name may not appear in IssueRequest.Extra: the
// claims the service sets itself, plus claims with security meaning in
// RFC 9068, RFC 7800 (cnf) and RFC 8693 (act, may_act) that a caller must
// not smuggle in. Matching folds case because encoding/json matches struct
// fields case-insensitively: an extra "SID" would otherwise be read back by
// Verify as the sid claim.
func isReserved(name string) bool {
	for _, r := range [...]string{
		"iss", "sub", "aud", "exp", "nbf", "iat", "jti",
		"sid", "client_id", "scope", "iat_us", "gty",
		"typ", "cnf", "auth_time", "act", "may_act",
	} {
		if strings.EqualFold(name, r) {
			return true
		}
	}
	return false
}

// newJTI returns 128 random bits, base64url without padding.
func newJTI() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate jti: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// claimsWithExtra marshals Claims followed by caller-supplied claims.
// checkExtra has made sure the names cannot collide.
type claimsWithExtra struct {
	*Claims
	extra map[string]any
}

// MarshalJSON splices the two JSON objects together.
func (c claimsWithExtra) MarshalJSON() ([]byte, error) {
	base, err := json.Marshal(c.Claims)
	if err != nil {
		return nil, err
	}
	extra, err := json.Marshal(c.extra)
	if err != nil {
		return nil, fmt.Errorf("marshal extra claims: %w", err)
	}
	// base is a non-empty object ("iss" is always set) and extra a
	// non-empty one, so "{...}" + "{...}" becomes "{...,...}".
	out := make([]byte, 0, len(base)+len(extra))
	out = append(out, base[:len(base)-1]...)
	out = append(out, ',')
	return append(out, extra[1:]...), nil
}

// Verify checks token and returns its claims. It accepts only a token that
// is at most MaxTokenBytes long, has typ at+jwt, names a configured kid, uses
// the algorithm pinned to that key, carries a valid signature, has the
// configured iss and aud, has exp, iat, jti and sub, is within its validity
// window (allowing Leeway), lives no longer than AccessTTL (see
// LatestExpiry) and is spelled canonically (see ErrMalformed). Every error
// wraps ErrInvalidToken and one of the more specific sentinels.
//
// A token whose iss names a trusted issuer is checked against that issuer
// instead: its keys (fetched from its JWKS when needed, hence ctx), its
// pinned algorithms and its audience, and it may live up to that issuer's
// MaxTokenLifetime. Such a token needs exp and sub but not typ at+jwt, iat
// or jti; without a jti its ID is derived from the token (see
// Claims.IDDerived), and without an iat any user cut-off refuses it.
func (s *Service) Verify(ctx context.Context, token string) (*Claims, error) {
	if len(token) > MaxTokenBytes {
		return nil, errTooLarge
	}
	if s.cache != nil {
		if c, ok := s.cache.get(token, s.clock()); ok {
			return c, nil
		}
	}
	// After the cache: a hit is the very bytes of a token that passed.
	if !canonicalSegments(token) {
		return nil, errNotCanonical
	}
	claims := new(Claims)
	t, err := s.parser.ParseWithClaims(token, claims, s.keyfunc)
	if err != nil {
		// Our own tokens, the hot path, cost nothing extra: a token is
		// looked at as another issuer's only once our checks have failed,
		// and golang-jwt has decoded its claims by then.
		if tr, ok := s.trusted[claims.Issuer]; ok {
			return s.verifyForeign(ctx, tr, token)
		}
		return nil, rejection(t, err, s.algs)
	}
	switch {
	case claims.ID == "":
		return nil, errNoJTI
	case claims.Subject == "":
		return nil, errNoSubject
	case claims.IssuedAt == nil:
		// RFC 9068 requires iat, and the revocation layer compares it with
		// user cut-offs.
		return nil, errNoIssuedAt
	}
	if err := s.checkLifetime(claims.ExpiresAt, claims.IssuedAt, s.ttl); err != nil {
		return nil, err
	}
	if claims.payload, err = s.walkers.checkJSON(token); err != nil {
		return nil, err
	}
	if s.cache != nil {
		s.cache.add(token, claims)
	}
	return claims, nil
}

// lookupKey is the jwt.Keyfunc. It runs before the signature check, on the
// unverified header, and returns only the key the kid names, and only if
// the token's alg is the one pinned to that key.
func (s *Service) lookupKey(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, errNoKID
	}
	k, ok := s.keys[kid]
	if !ok {
		return nil, errKIDNotFound
	}
	if t.Method.Alg() != k.alg {
		return nil, errAlgMismatch
	}
	if err := checkOwnHeader(t); err != nil {
		return nil, err
	}
	return k.verify, nil
}

// checkOwnHeader holds the header of one of our tokens to its rules: typ
// at+jwt, and no crit.
func checkOwnHeader(t *jwt.Token) error {
	typ, _ := t.Header["typ"].(string)
	if !strings.EqualFold(typ, tokenType) && !strings.EqualFold(typ, "application/"+tokenType) {
		return errType
	}
	// We understand no JWS extensions, so RFC 7515 section 4.1.11 requires
	// rejecting any crit header (b64=false in particular would change what
	// the signature covers).
	if _, ok := t.Header["crit"]; ok {
		return errCrit
	}
	return nil
}

// rejection maps a golang-jwt error to our sentinels, so that no library
// error (whose text may quote decoded input) leaves the package. algs are
// the algorithms the parser allowed.
func rejection(t *jwt.Token, err error, algs []string) error {
	if e := keyfuncError(err); e != nil {
		return e
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ErrMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		// WithValidMethods reports an alg outside the configured set (such
		// as "none") as an invalid signature; report it as what it is.
		if t != nil && t.Method != nil && !slices.Contains(algs, t.Method.Alg()) {
			return errAlgNotAllowed
		}
		return ErrSignature
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return errAlgMissing
	// Claim errors arrive joined; iss and aud come first because telling a
	// client "expired" about a token meant for someone else would mislead.
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return errIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return errAudience
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return errMissingClaim
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ErrNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		return ErrClaims
	default:
		return ErrInvalidToken
	}
}
