package auth

import (
	"errors"
	"fmt"
)

// ErrInvalidToken is the umbrella error for every verification failure:
// whatever Verify rejects satisfies errors.Is(err, ErrInvalidToken), so a
// caller that only needs "reject with 401" checks this one sentinel.
var ErrInvalidToken = errors.New("invalid token")

// The specific verification failures below each wrap ErrInvalidToken.
var (
	// ErrMalformed reports a token that is not a compact JWS, is longer
	// than MaxTokenBytes, or is not encoded in the one canonical way:
	// unpadded base64url segments, UTF-8 JSON without a repeated member
	// name, claim names spelled exactly, numeric dates as numbers.
	ErrMalformed = fmt.Errorf("%w: malformed", ErrInvalidToken)

	// ErrUnknownKey reports a token whose kid header is missing or names no
	// configured key.
	ErrUnknownKey = fmt.Errorf("%w: unknown key", ErrInvalidToken)

	// ErrAlgorithm reports a token whose alg is not the one pinned to its key:
	// "none", an unsupported algorithm, or an algorithm-confusion attempt such
	// as HS256 presented with the kid of an RSA key.
	ErrAlgorithm = fmt.Errorf("%w: algorithm not allowed", ErrInvalidToken)

	// ErrSignature reports a signature that does not verify.
	ErrSignature = fmt.Errorf("%w: bad signature", ErrInvalidToken)

	// ErrExpired reports a token whose exp lies in the past beyond the leeway.
	ErrExpired = fmt.Errorf("%w: token expired", ErrInvalidToken)

	// ErrNotYetValid reports a token whose nbf or iat lies in the future
	// beyond the leeway.
	ErrNotYetValid = fmt.Errorf("%w: token not yet valid", ErrInvalidToken)

	// ErrClaims reports a wrong typ header, a wrong iss or aud, a missing
	// jti, exp, iat or sub, or a token that lives longer than its issuer's
	// tokens may (see Service.LatestExpiry).
	ErrClaims = fmt.Errorf("%w: invalid claims", ErrInvalidToken)
)

// ErrReservedClaim reports that IssueRequest.Extra uses a claim name that the
// service sets itself or that carries security meaning (RFC 9068, RFC 8693).
// It is a caller bug, not a verification failure, so it does not wrap
// ErrInvalidToken.
var ErrReservedClaim = errors.New("reserved claim name")

// ErrOversized reports that the token Issue would sign is longer than
// MaxTokenBytes, so that Verify would refuse it: its extra claims are too
// large. Like ErrReservedClaim it is a caller error and does not wrap
// ErrInvalidToken.
var ErrOversized = errors.New("access token too large")

// ErrConfig reports a Config that New cannot use. Key problems are reported
// with the more specific ErrKeyConfig, which wraps it.
var ErrConfig = errors.New("invalid auth config")

// ErrKeyConfig reports a key that LoadKey or New cannot use. The error text
// names the kid and the problem, never the key material.
var ErrKeyConfig = fmt.Errorf("%w: key", ErrConfig)

// Fixed rejection reasons. They are values rather than fresh errors so that a
// rejected token costs no allocation for the error, and so that no text an
// attacker controls (kid, alg, typ) ends up in logs.
var (
	errTooLarge      = fmt.Errorf("%w: token too large", ErrMalformed)
	errNoKID         = fmt.Errorf("%w: kid header missing", ErrUnknownKey)
	errKIDNotFound   = fmt.Errorf("%w: kid not configured", ErrUnknownKey)
	errAlgMismatch   = fmt.Errorf("%w: alg does not match the key", ErrAlgorithm)
	errAlgNotAllowed = fmt.Errorf("%w: alg not configured", ErrAlgorithm)
	errAlgMissing    = fmt.Errorf("%w: alg missing or unsupported", ErrAlgorithm)
	errType          = fmt.Errorf("%w: typ header is not at+jwt", ErrClaims)
	errCrit          = fmt.Errorf("%w: crit header not supported", ErrClaims)
	errIssuer        = fmt.Errorf("%w: wrong issuer", ErrClaims)
	errAudience      = fmt.Errorf("%w: wrong audience", ErrClaims)
	errMissingClaim  = fmt.Errorf("%w: required claim missing", ErrClaims)
	errNoJTI         = fmt.Errorf("%w: jti missing", ErrClaims)
	errNoSubject     = fmt.Errorf("%w: sub missing", ErrClaims)
	errNoIssuedAt    = fmt.Errorf("%w: iat missing", ErrClaims)
	errLifetime      = fmt.Errorf("%w: lives longer than its issuer's tokens may", ErrClaims)
	errIsLogoutToken = fmt.Errorf("%w: a logout token is no access token", ErrClaims)
	errNotCanonical  = fmt.Errorf("%w: not canonical base64url", ErrMalformed)
	errNotUTF8       = fmt.Errorf("%w: not UTF-8", ErrMalformed)
	errNotObject     = fmt.Errorf("%w: not a JSON object", ErrMalformed)
	errDuplicateName = fmt.Errorf("%w: a JSON member name is repeated", ErrMalformed)
	errDateNotNumber = fmt.Errorf("%w: exp, nbf and iat must be JSON numbers", ErrMalformed)
	errClaimCase     = fmt.Errorf("%w: a claim name differs from one tokenguard reads only in case", ErrMalformed)
)

// keyfuncError returns the rejection the keyfunc produced, if any. golang-jwt
// joins the keyfunc's error with its own sentinels; Verify hands back only
// ours.
func keyfuncError(err error) error {
	for _, e := range [...]error{errNoKID, errKIDNotFound, errAlgMismatch, errType, errCrit, errLogoutType} {
		if errors.Is(err, e) {
			return e
		}
	}
	return nil
}
