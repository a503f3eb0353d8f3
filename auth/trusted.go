package auth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// ForeignAlgorithms lists the algorithms a trusted issuer's tokens may be
// pinned to. HMAC is absent on purpose: a secret shared with another
// identity provider would let either side mint the other's tokens, and a
// JWKS never carries one legitimately.
var ForeignAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Defaults for fetching a trusted issuer's JWKS.
const (
	// DefaultJWKSRefresh is how often a JWKS is fetched in the background.
	DefaultJWKSRefresh = 15 * time.Minute
	// DefaultUnknownKIDInterval is the least time between two fetches caused
	// by tokens naming a kid the cached set lacks, so that tokens with random
	// kids cannot make tokenguard hammer the issuer.
	DefaultUnknownKIDInterval = time.Minute
	// DefaultJWKSFetchTimeout bounds one fetch.
	DefaultJWKSFetchTimeout = 5 * time.Second
	// maxJWKSBytes bounds the JWKS document read from an issuer.
	maxJWKSBytes = 1 << 20
	// DefaultMaxTokenLifetime is a trusted issuer's MaxTokenLifetime when
	// none is set: providers' access tokens live minutes to a day.
	DefaultMaxTokenLifetime = 24 * time.Hour
)

// TrustedIssuerConfig describes another identity provider (Auth0, Keycloak,
// Supabase…) whose access tokens Verify accepts, verified with that
// provider's keys and then subject to the same revocation decision as ours.
type TrustedIssuerConfig struct {
	// Issuer is the iss the provider puts in its tokens, compared exactly
	// (a trailing slash matters). Required; it must differ from
	// Config.Issuer.
	Issuer string

	// Audience is the aud the provider's tokens must carry to be accepted
	// here. Required.
	Audience string

	// Algorithms pins the algorithms the provider's tokens may use, a subset
	// of ForeignAlgorithms. Required.
	Algorithms []string

	// JWKSURL is where the provider publishes its JSON Web Key Set
	// (RFC 7517). Exactly one of JWKSURL and PublicKeyFile is set.
	JWKSURL string

	// PublicKeyFile is the path of a PEM PKIX public key that verifies every
	// token of the provider, whatever its kid.
	PublicKeyFile string

	// RefreshInterval is how often the JWKS is fetched in the background;
	// zero means DefaultJWKSRefresh.
	RefreshInterval time.Duration

	// UnknownKIDInterval is the least time between two fetches caused by a
	// token whose kid the cached set lacks; zero means
	// DefaultUnknownKIDInterval.
	UnknownKIDInterval time.Duration

	// FetchTimeout bounds one fetch; zero means DefaultJWKSFetchTimeout.
	FetchTimeout time.Duration

	// MaxTokenLifetime is the longest the provider's tokens live: a token
	// whose exp lies further ahead (beyond the leeway), or further after
	// its iat, is refused. Revocations of the provider's tokens and users
	// are kept that long and no longer. Zero means DefaultMaxTokenLifetime.
	MaxTokenLifetime time.Duration

	// Logger receives failed fetches; nil discards them.
	Logger *slog.Logger
}

// TrustedIssuer is a loaded trusted issuer: its identity and where its keys
// come from. Pass it to New through Config.TrustedIssuers. It is safe for
// concurrent use.
type TrustedIssuer struct {
	issuer   string
	audience string
	algs     []string
	maxLife  time.Duration
	static   crypto.PublicKey // set for PublicKeyFile
	keys     jwkset.Storage   // set for JWKSURL
}

// NewTrustedIssuer validates cfg by the rules of Settings.Check and loads
// the issuer's key. For a JWKS it fetches the set once before returning; if
// that fails the issuer starts with an empty set, logs the failure and
// tries again on the first token with an unknown kid (rate limited) and in
// the background every RefreshInterval. A failed fetch never empties the cached set, so tokens
// keep verifying while the issuer is unreachable. The background refresh
// stops when ctx is done. Errors wrap ErrConfig.
func NewTrustedIssuer(ctx context.Context, cfg TrustedIssuerConfig) (*TrustedIssuer, error) {
	what := fmt.Sprintf("trusted issuer %q", cfg.Issuer)
	if err := firstProblem(cfg.problems); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConfig, what, err)
	}
	ti := &TrustedIssuer{
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
		algs:     slices.Clone(cfg.Algorithms),
		maxLife:  orDefault(cfg.MaxTokenLifetime, DefaultMaxTokenLifetime),
	}
	if cfg.PublicKeyFile != "" {
		pub, err := readPublicKey(cfg.PublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrConfig, what, err)
		}
		usable := false
		for _, alg := range ti.algs {
			usable = usable || checkForeignKey(alg, pub) == nil
		}
		if !usable {
			return nil, fmt.Errorf("%w: %s: the %s public key fits none of the algorithms %v", ErrConfig, what, keyTypeName(pub), ti.algs)
		}
		ti.static = pub
		return ti, nil
	}
	keys, err := fetchJWKS(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConfig, what, err)
	}
	ti.keys = keys
	return ti, nil
}

// fetchJWKS builds the cached, refreshing key set of a JWKS URL with keyfunc
// and jwkset rather than by hand: they handle the background refresh, the
// rate-limited refresh on an unknown kid, and keeping the last good set when
// a fetch fails.
func fetchJWKS(ctx context.Context, cfg TrustedIssuerConfig) (jwkset.Storage, error) {
	refresh := orDefault(cfg.RefreshInterval, DefaultJWKSRefresh)
	unknownKID := orDefault(cfg.UnknownKIDInterval, DefaultUnknownKIDInterval)
	timeout := orDefault(cfg.FetchTimeout, DefaultJWKSFetchTimeout)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
		Client: &http.Client{
			Timeout:   timeout,
			Transport: limitedTransport{base: http.DefaultTransport, limit: maxJWKSBytes},
		},
		HTTPTimeout: timeout,
		// Bounds both the wait for the rate limiter and the fetch it allows:
		// a token with an unknown kid never blocks a request for longer.
		RateLimitWaitMax: timeout,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				log.WarnContext(ctx, "trusted issuer: JWKS fetch failed; verifying with the cached keys", "issuer", cfg.Issuer, "jwks_url", u, "err", err)
			}
		},
		RefreshInterval:   refresh,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(unknownKID), 1),
	})
	if err != nil {
		return nil, err
	}
	return kf.Storage(), nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// limitedTransport caps the response bodies it hands back, so that a
// misbehaving issuer cannot make tokenguard read an endless JWKS.
type limitedTransport struct {
	base  http.RoundTripper
	limit int64
}

func (t limitedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, t.limit), resp.Body}
	return resp, nil
}

// Issuer returns the issuer identifier.
func (ti *TrustedIssuer) Issuer() string { return ti.issuer }

// MaxTokenLifetime returns the longest the issuer's tokens may live, the
// default applied.
func (ti *TrustedIssuer) MaxTokenLifetime() time.Duration { return ti.maxLife }

// foreignTypes are the typ headers accepted from a trusted issuer. Most
// providers send "JWT" rather than RFC 9068's "at+jwt", so neither can be
// required; a typ naming another kind of JWT (a logout token, a DPoP proof, a
// security event) is refused so that it can never pass for an access token
// (RFC 8725 section 3.11).
var foreignTypes = []string{"", "jwt", "application/jwt", tokenType, "application/" + tokenType}

// key is the jwt.Keyfunc of a trusted issuer. Like lookupKey it runs on the
// unverified header and returns only a key that fits the token's alg.
func (ti *TrustedIssuer) key(ctx context.Context, t *jwt.Token) (any, error) {
	typ, _ := t.Header["typ"].(string)
	if !slices.Contains(foreignTypes, strings.ToLower(typ)) {
		return nil, errType
	}
	return ti.verificationKey(ctx, t)
}

// verificationKey returns the issuer's key that verifies t, whatever kind
// of token t is: the key its kid names (or the static key), only if it
// fits the token's alg.
func (ti *TrustedIssuer) verificationKey(ctx context.Context, t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, errCrit
	}
	alg := t.Method.Alg()
	if ti.static != nil {
		if checkForeignKey(alg, ti.static) != nil {
			return nil, errAlgMismatch
		}
		return ti.static, nil
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, errNoKID
	}
	// A kid the cached set lacks makes jwkset fetch the set again, at most
	// once per UnknownKIDInterval: that is how the issuer's key rotation
	// reaches us between background refreshes.
	jwk, err := ti.keys.KeyRead(ctx, kid)
	if err != nil {
		return nil, errKIDNotFound
	}
	m := jwk.Marshal()
	if m.USE != "" && m.USE != jwkset.UseSig {
		// RFC 7517 section 4.2: an encryption key must not verify a
		// signature.
		return nil, errKIDNotFound
	}
	if m.ALG != "" && m.ALG.String() != alg {
		return nil, errAlgMismatch
	}
	pub := jwk.Key()
	if p, ok := pub.(interface{ Public() crypto.PublicKey }); ok {
		pub = p.Public()
	}
	if checkForeignKey(alg, pub) != nil {
		return nil, errAlgMismatch
	}
	return pub, nil
}

// checkForeignKey reports whether pub is an acceptable public key for alg.
// golang-jwt would refuse most mismatches itself; checking here also refuses
// short RSA keys and anything that is not a public key (an HMAC secret in a
// JWKS, say).
func checkForeignKey(alg string, pub crypto.PublicKey) error {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		p, ok := pub.(*rsa.PublicKey)
		if !ok || p.N.BitLen() < minRSABits {
			return errAlgMismatch
		}
	case "ES256", "ES384", "ES512":
		curve := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
		if p, ok := pub.(*ecdsa.PublicKey); !ok || p.Curve != curve {
			return errAlgMismatch
		}
	case "EdDSA":
		if _, ok := pub.(ed25519.PublicKey); !ok {
			return errAlgMismatch
		}
	default:
		return errAlgMismatch
	}
	return nil
}

// foreignClaims reads another provider's access token. Providers name a few
// claims differently; each pair below is read in order of preference, the
// first being RFC 9068's name:
//
//	sid       then session_id (Supabase)
//	client_id then azp (Keycloak, OpenID Connect)
//	scope     then scp (Okta, Azure AD), as a string or a list
//
// iat_us is not read: it is tokenguard's own claim, and another provider's
// token carrying it must not move its issue time.
type foreignClaims struct {
	jwt.RegisteredClaims
	SID       string     `json:"sid"`
	SessionID string     `json:"session_id"`
	ClientID  string     `json:"client_id"`
	AZP       string     `json:"azp"`
	Scope     scopeClaim `json:"scope"`
	SCP       scopeClaim `json:"scp"`
}

// scopeClaim is a scope given either as one space-separated string or as a
// list of strings.
type scopeClaim string

func (s *scopeClaim) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = scopeClaim(one)
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("scope is neither a string nor a list of strings")
	}
	*s = scopeClaim(strings.Join(list, " "))
	return nil
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// derivedIDPrefix starts the ID of a trusted issuer's token that carries no
// jti.
const derivedIDPrefix = "sha256:"

// verifyForeign verifies a token of a trusted issuer with its own parser.
func (s *Service) verifyForeign(ctx context.Context, tr trusted, token string) (*Claims, error) {
	fc := new(foreignClaims)
	t, err := tr.parser.ParseWithClaims(token, fc, func(t *jwt.Token) (any, error) { return tr.key(ctx, t) })
	if err != nil {
		return nil, rejection(t, err, tr.algs)
	}
	if fc.Subject == "" {
		return nil, errNoSubject
	}
	if err := s.checkLifetime(fc.ExpiresAt, fc.IssuedAt, tr.maxLife); err != nil {
		return nil, err
	}
	payload, err := s.walkers.checkJSON(token)
	if err != nil {
		return nil, err
	}
	if bytes.Contains(payload, []byte("events")) || bytes.IndexByte(payload, '\\') >= 0 {
		// A logout token without typ that also has exp and sub would
		// otherwise pass for an access token (§4.1 of Back-Channel
		// Logout: cross-JWT confusion).
		var ev struct {
			Events json.RawMessage `json:"events"`
		}
		if json.Unmarshal(payload, &ev) == nil && hasLogoutEvent(ev.Events) {
			return nil, errIsLogoutToken
		}
	}
	c := &Claims{
		RegisteredClaims: fc.RegisteredClaims,
		SessionID:        first(fc.SID, fc.SessionID),
		ClientID:         first(fc.ClientID, fc.AZP),
		Scope:            first(string(fc.Scope), string(fc.SCP)),
		payload:          payload,
	}
	if c.ID == "" {
		// Many providers send no jti. The token is still revocable on its
		// own through an ID derived from what its signature covers (header
		// and payload), which every copy of the token shares and which a
		// re-encoded signature (ECDSA's s and n-s) cannot change.
		sum := sha256.Sum256([]byte(token[:strings.LastIndexByte(token, '.')]))
		c.ID = derivedIDPrefix + base64.RawURLEncoding.EncodeToString(sum[:16])
		c.idDerived = true
	}
	return c, nil
}
