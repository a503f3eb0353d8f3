package auth

import (
	"context"
	"crypto"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// RemoteAlgorithms are the algorithms a key of ours published in our JWKS
// may be pinned to: every algorithm of ours but HMAC, whose secret is never
// published.
var RemoteAlgorithms = []string{algRS256, algES256, algEdDSA}

// RemoteConfig configures NewRemote: what a service that verifies
// tokenguard's access tokens offline must know of the tokenguard that
// issues them. Issuer, Audience, AccessTTL and Leeway must be tokenguard's
// own (issuer, audience, tokens.access_ttl, tokens.leeway).
type RemoteConfig struct {
	// Issuer is tokenguard's issuer, the only iss accepted. Required.
	Issuer string
	// Audience is the aud tokens must carry. Required.
	Audience string
	// AccessTTL is tokenguard's tokens.access_ttl: a token living longer
	// is refused. Required, positive.
	AccessTTL time.Duration
	// Leeway is the clock skew tolerated on exp, nbf and iat.
	Leeway time.Duration
	// JWKSURL is tokenguard's /.well-known/jwks.json. Required.
	JWKSURL string
	// Algorithms pins the algorithms accepted, a subset of
	// RemoteAlgorithms; empty means all of them. Each key is further
	// pinned to the alg the JWKS gives it.
	Algorithms []string
	// RefreshInterval, UnknownKIDInterval and FetchTimeout are as for a
	// trusted issuer (TrustedIssuerConfig): zero means the defaults.
	RefreshInterval, UnknownKIDInterval, FetchTimeout time.Duration
	// VerifiedCacheSize is as Config.VerifiedCacheSize. A cached token
	// stays accepted until its exp even if its key leaves the JWKS, as a
	// retired key's tokens live out their lifetime at tokenguard.
	VerifiedCacheSize int
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// Logger receives failed JWKS fetches; nil discards them.
	Logger *slog.Logger
}

// NewRemote returns a Service that verifies tokenguard's own access tokens
// by the very rules Verify applies at tokenguard (typ at+jwt, each key
// pinned to its algorithm, iss, aud, exp/nbf/iat with the leeway, jti, sub
// and iat required, the lifetime bound, canonical spelling), with the
// public keys of tokenguard's JWKS instead of configured keys. It fetches
// the JWKS once before returning (a failure is logged, and the set fetched
// again on the first unknown kid), again on a token whose kid it lacks (at
// most once per UnknownKIDInterval) and every RefreshInterval until ctx
// ends. The Service cannot Issue. Errors wrap ErrConfig.
func NewRemote(ctx context.Context, cfg RemoteConfig) (*Service, error) {
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = RemoteAlgorithms
	}
	for _, a := range algs {
		if !slices.Contains(RemoteAlgorithms, a) {
			return nil, fmt.Errorf("%w: algorithm %q is not one of %v", ErrConfig, a, RemoteAlgorithms)
		}
	}
	if cfg.JWKSURL == "" {
		return nil, fmt.Errorf("%w: a JWKS URL is required", ErrConfig)
	}
	s, err := build(Config{
		Issuer:            cfg.Issuer,
		Audience:          cfg.Audience,
		AccessTTL:         cfg.AccessTTL,
		Leeway:            cfg.Leeway,
		Clock:             cfg.Clock,
		VerifiedCacheSize: cfg.VerifiedCacheSize,
	}, false)
	if err != nil {
		return nil, err
	}
	keys, err := fetchJWKS(ctx, TrustedIssuerConfig{
		Issuer:             cfg.Issuer,
		JWKSURL:            cfg.JWKSURL,
		RefreshInterval:    cfg.RefreshInterval,
		UnknownKIDInterval: cfg.UnknownKIDInterval,
		FetchTimeout:       cfg.FetchTimeout,
		Logger:             cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: jwks %s: %w", ErrConfig, cfg.JWKSURL, err)
	}
	s.algs = slices.Clone(algs)
	s.keyfunc = remoteKey(keys)
	s.parser = s.newParser(s.algs, s.issuer, s.audience)
	return s, nil
}

// remoteKey is the jwt.Keyfunc of a remote Service: lookupKey's rules, with
// the key read from the JWKS. Our JWKS pins every key to an alg, so a key
// without one is not ours and is refused. An unknown kid may make jwkset
// fetch the set again, rate limited and bounded by the fetch timeout.
func remoteKey(keys jwkset.Storage) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errNoKID
		}
		jwk, err := keys.KeyRead(context.Background(), kid)
		if err != nil {
			return nil, errKIDNotFound
		}
		m := jwk.Marshal()
		if m.USE != "" && m.USE != jwkset.UseSig {
			return nil, errKIDNotFound
		}
		alg := t.Method.Alg()
		if m.ALG.String() != alg {
			return nil, errAlgMismatch
		}
		if err := checkOwnHeader(t); err != nil {
			return nil, err
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
}
