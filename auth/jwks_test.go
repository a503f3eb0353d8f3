package auth_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/tokenguard/tokenguard/auth"
)

func TestJWKSListsAsymmetricKeysOnly(t *testing.T) {
	rs := loadTestKey(t, "rs", "RS256", true)
	es := loadTestKey(t, "es", "ES256", true)
	ed := loadTestKey(t, "ed", "EdDSA", false)
	hs := loadTestKey(t, "hs", "HS256", true)
	s := newTestService(t, fixedClock(testNow), rs.key, hs.key, es.key, ed.key)

	rsaPub := rs.public.(*rsa.PublicKey)
	ecPub := es.public.(*ecdsa.PublicKey)
	point, err := ecPub.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	want := auth.JWKS{Keys: []auth.JWK{
		{Kty: "RSA", Use: "sig", Kid: "rs", Alg: "RS256", N: enc(rsaPub.N.Bytes()), E: "AQAB"},
		{Kty: "EC", Use: "sig", Kid: "es", Alg: "ES256", Crv: "P-256", X: enc(point[1:33]), Y: enc(point[33:])},
		{Kty: "OKP", Use: "sig", Kid: "ed", Alg: "EdDSA", Crv: "Ed25519", X: enc(ed.public.(ed25519.PublicKey))},
	}}
	got := s.JWKS()
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("JWKS() mismatch (-got +want):\n%s", diff)
	}
	for _, k := range got.Keys {
		if k.Kid == "hs" {
			t.Errorf("JWKS() publishes HMAC key %q", k.Kid)
		}
	}
	for _, k := range got.Keys {
		if k.Kty != "EC" {
			continue
		}
		for name, v := range map[string]string{"x": k.X, "y": k.Y} {
			raw, err := base64.RawURLEncoding.DecodeString(v)
			if err != nil || len(raw) != 32 {
				t.Errorf("EC %s decodes to %d bytes (err %v), want 32", name, len(raw), err)
			}
		}
	}

	got.Keys[0].Kid = "changed"
	if again := s.JWKS(); again.Keys[0].Kid != "rs" {
		t.Errorf("JWKS() after the caller changed its copy has kid %q, want %q", again.Keys[0].Kid, "rs")
	}
}

func TestJWKSMarshalsAsRFC7517(t *testing.T) {
	tests := []struct {
		name string
		// setup returns the service's keys and the JSON its JWKS must
		// marshal to.
		setup func(t *testing.T) ([]*auth.Key, string)
	}{
		{
			name: "a service with only an HMAC key publishes an empty list",
			setup: func(t *testing.T) ([]*auth.Key, string) {
				return []*auth.Key{loadTestKey(t, "hs", "HS256", false).key}, `{"keys":[]}`
			},
		},
		{
			name: "an Ed25519 key has kty, use, kid, alg, crv and x only",
			setup: func(t *testing.T) ([]*auth.Key, string) {
				ed := loadTestKey(t, "ed", "EdDSA", false)
				x := base64.RawURLEncoding.EncodeToString(ed.public.(ed25519.PublicKey))
				return []*auth.Key{ed.key}, `{"keys":[{"kty":"OKP","use":"sig","kid":"ed","alg":"EdDSA","crv":"Ed25519","x":"` + x + `"}]}`
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, want := tt.setup(t)
			got, err := json.Marshal(newTestService(t, fixedClock(testNow), keys...).JWKS())
			if err != nil {
				t.Fatalf("marshal JWKS = %v, want no error", err)
			}
			if string(got) != want {
				t.Errorf("JWKS JSON = %s, want %s", got, want)
			}
		})
	}
}

// TestJWKSRoundTrip plays a relying party: it rebuilds each public key from
// the published JWK alone and verifies a token with it.
func TestJWKSRoundTrip(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		t.Run("a "+alg+" token verifies with the key rebuilt from its JWK", func(t *testing.T) {
			s := newTestService(t, fixedClock(testNow), loadTestKey(t, "kid-"+alg, alg, false).key)
			token, _, err := s.Issue(auth.IssueRequest{Subject: "user-1"})
			if err != nil {
				t.Fatalf("Issue = %v, want no error", err)
			}
			set := s.JWKS()
			if len(set.Keys) != 1 {
				t.Fatalf("JWKS() has %d keys, want 1", len(set.Keys))
			}
			pub := publicKeyFromJWK(t, set.Keys[0])
			parsed, err := jwt.Parse(token, func(tok *jwt.Token) (any, error) { return pub, nil },
				jwt.WithValidMethods([]string{set.Keys[0].Alg}),
				jwt.WithTimeFunc(fixedClock(testNow)))
			if err != nil {
				t.Fatalf("jwt.Parse with JWK key = %v, want no error", err)
			}
			if got := parsed.Header["kid"]; got != set.Keys[0].Kid {
				t.Errorf("token kid = %v, want JWK kid %q", got, set.Keys[0].Kid)
			}
		})
	}
}

// publicKeyFromJWK rebuilds a public key from the JWK members alone.
func publicKeyFromJWK(t *testing.T, k auth.JWK) crypto.PublicKey {
	t.Helper()
	if k.Use != "sig" {
		t.Errorf("JWK use = %q, want %q", k.Use, "sig")
	}
	decode := func(name, v string) []byte {
		t.Helper()
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil {
			t.Fatalf("JWK %s is not base64url without padding: %v", name, err)
		}
		return b
	}
	switch k.Kty {
	case "RSA":
		return &rsa.PublicKey{
			N: new(big.Int).SetBytes(decode("n", k.N)),
			E: int(new(big.Int).SetBytes(decode("e", k.E)).Int64()),
		}
	case "EC":
		if k.Crv != "P-256" {
			t.Fatalf("JWK crv = %q, want P-256", k.Crv)
		}
		point := append([]byte{4}, decode("x", k.X)...)
		point = append(point, decode("y", k.Y)...)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		if err != nil {
			t.Fatalf("rebuild EC key from JWK: %v", err)
		}
		return pub
	case "OKP":
		if k.Crv != "Ed25519" {
			t.Fatalf("JWK crv = %q, want Ed25519", k.Crv)
		}
		return ed25519.PublicKey(decode("x", k.X))
	default:
		t.Fatalf("JWK kty = %q, want RSA, EC or OKP", k.Kty)
		return nil
	}
}
