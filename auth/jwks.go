package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"math/big"
)

// JWK is a public JSON Web Key (RFC 7517, RFC 7518 section 6, RFC 8037).
// Binary members are base64url without padding.
type JWK struct {
	// Kty is the key type: "RSA", "EC" or "OKP".
	Kty string `json:"kty"`
	// Use is always "sig".
	Use string `json:"use"`
	// Kid is the key ID, matching the kid header of tokens.
	Kid string `json:"kid"`
	// Alg is the algorithm the key is pinned to.
	Alg string `json:"alg"`
	// Crv is the curve: "P-256" for EC, "Ed25519" for OKP.
	Crv string `json:"crv,omitempty"`
	// X is the x coordinate (EC, 32 bytes) or the public key (OKP).
	X string `json:"x,omitempty"`
	// Y is the y coordinate (EC, 32 bytes).
	Y string `json:"y,omitempty"`
	// N is the RSA modulus, big-endian.
	N string `json:"n,omitempty"`
	// E is the RSA public exponent, big-endian.
	E string `json:"e,omitempty"`
}

// JWKS is a JSON Web Key Set, as served at a jwks_uri. Keys is never nil
// when it comes from Service.JWKS, so an empty set marshals as [].
type JWKS struct {
	// Keys lists the public keys.
	Keys []JWK `json:"keys"`
}

// jwk returns the public JWK of k. It reports false for HMAC keys, whose
// secret must never be published.
func (k *Key) jwk() (JWK, bool, error) {
	j := JWK{Use: "sig", Kid: k.id, Alg: k.alg}
	b64 := base64.RawURLEncoding.EncodeToString
	switch pub := k.public.(type) {
	case *rsa.PublicKey:
		j.Kty = "RSA"
		j.N = b64(pub.N.Bytes())
		j.E = b64(big.NewInt(int64(pub.E)).Bytes())
	case *ecdsa.PublicKey:
		// Bytes returns the uncompressed point 0x04 || X || Y with both
		// coordinates left-padded to the field size (32 bytes for P-256).
		point, err := pub.Bytes()
		if err != nil {
			return JWK{}, false, fmt.Errorf("%w: kid %q: encode EC key: %w", ErrKeyConfig, k.id, err)
		}
		size := (len(point) - 1) / 2
		j.Kty = "EC"
		j.Crv = pub.Curve.Params().Name
		j.X = b64(point[1 : 1+size])
		j.Y = b64(point[1+size:])
	case ed25519.PublicKey:
		j.Kty = "OKP"
		j.Crv = "Ed25519"
		j.X = b64(pub)
	default:
		return JWK{}, false, nil
	}
	return j, true, nil
}
