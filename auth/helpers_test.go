package auth_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokenguard/tokenguard/auth"
)

const (
	testIssuer   = "https://tokenguard.test"
	testAudience = "api.tokenguard.test"
	testTTL      = 5 * time.Minute
	testLeeway   = 30 * time.Second
)

// testNow is the fixed time of every test clock. The sub-second part is
// deliberate: it exercises iat truncation and iat_us.
var testNow = time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)

// fixedClock returns a clock that always reads now.
func fixedClock(now time.Time) func() time.Time {
	return func() time.Time { return now }
}

// testKey is a loaded key together with the raw material tests need to
// forge tokens and to compare against.
type testKey struct {
	key    *auth.Key
	signer any               // what golang-jwt signs with
	public crypto.PublicKey  // nil for HMAC
	pubPEM []byte            // PKIX PEM of public, nil for HMAC
	dir    string            // where the PEM files live
	method jwt.SigningMethod // the alg the key is pinned to
}

// writePEM writes one PEM block to dir/name and returns the path.
func writePEM(t testing.TB, dir, name, blockType string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	data := pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return path
}

func marshalPKCS8(t testing.TB, priv any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatalf("marshal PKCS#8: %v", err)
	}
	return der
}

func marshalPKIX(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatalf("marshal PKIX: %v", err)
	}
	return der
}

func newRSAKey(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatalf("generate RSA-%d key: %v", bits, err)
	}
	return priv
}

func newECKey(t testing.TB, curve elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatalf("generate EC key: %v", err)
	}
	return priv
}

func newEdKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("generate Ed25519 key: %v", err)
	}
	return priv
}

func newSecret(t testing.TB) []byte {
	t.Helper()
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatalf("generate secret: %v", err)
	}
	return secret
}

// loadTestKey generates a key for alg, writes it as PKCS#8 and PKIX PEM
// files in a temporary directory and loads it through LoadKey, the way the
// service loads its keys in production.
func loadTestKey(t testing.TB, id, alg string, verifyOnly bool) testKey {
	t.Helper()
	tk := testKey{dir: t.TempDir()}
	var priv crypto.Signer
	switch alg {
	case "HS256":
		secret := newSecret(t)
		key, err := auth.LoadKey(auth.KeyConfig{ID: id, Alg: alg, Secret: secret, VerifyOnly: verifyOnly})
		if err != nil {
			t.Fatalf("LoadKey(%s) = %v, want no error", id, err)
		}
		tk.key, tk.signer, tk.method = key, secret, jwt.SigningMethodHS256
		return tk
	case "RS256":
		priv, tk.method = newRSAKey(t, 2048), jwt.SigningMethodRS256
	case "ES256":
		priv, tk.method = newECKey(t, elliptic.P256()), jwt.SigningMethodES256
	case "EdDSA":
		priv, tk.method = newEdKey(t), jwt.SigningMethodEdDSA
	default:
		t.Fatalf("loadTestKey: unsupported alg %q", alg)
	}
	tk.signer, tk.public = priv, priv.Public()
	pubDER := marshalPKIX(t, tk.public)
	tk.pubPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	cfg := auth.KeyConfig{
		ID:             id,
		Alg:            alg,
		PrivateKeyFile: writePEM(t, tk.dir, "private.pem", "PRIVATE KEY", marshalPKCS8(t, priv)),
		PublicKeyFile:  writePEM(t, tk.dir, "public.pem", "PUBLIC KEY", pubDER),
		VerifyOnly:     verifyOnly,
	}
	key, err := auth.LoadKey(cfg)
	if err != nil {
		t.Fatalf("LoadKey(%s) = %v, want no error", id, err)
	}
	tk.key = key
	return tk
}

// newTestService returns a Service with the test issuer, audience, TTL and
// leeway, the given clock and keys.
func newTestService(t testing.TB, clock func() time.Time, keys ...*auth.Key) *auth.Service {
	t.Helper()
	s, err := auth.New(auth.Config{
		Issuer:    testIssuer,
		Audience:  testAudience,
		AccessTTL: testTTL,
		Leeway:    testLeeway,
		Keys:      keys,
		Clock:     clock,
	})
	if err != nil {
		t.Fatalf("New = %v, want no error", err)
	}
	return s
}

// forge builds a compact JWS from an arbitrary header and payload and signs
// it with method and key, bypassing every check the service makes. A nil
// method leaves the signature empty.
func forge(t testing.TB, header map[string]any, claims map[string]any, method jwt.SigningMethod, key any) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatalf("marshal header: %v", err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatalf("marshal claims: %v", err)
	}
	signingString := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	if method == nil {
		return signingString + "."
	}
	sig, err := method.Sign(signingString, key)
	if err != nil {
		t.Fatalf("sign forged token: %v", err)
	}
	return signingString + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// validClaims returns the claims of a token the test service accepts at
// now.
func validClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss": testIssuer,
		"sub": "user-1",
		"aud": []string{testAudience},
		"exp": now.Add(testTTL).Unix(),
		"iat": now.Unix(),
		"jti": "jti-1",
	}
}

// validHeader returns the header of a token signed by tk.
func validHeader(tk testKey) map[string]any {
	return map[string]any{"alg": tk.method.Alg(), "kid": tk.key.ID(), "typ": "at+jwt"}
}

// decodeSegment decodes part i (0 header, 1 payload) of a compact JWS into
// a map.
func decodeSegment(t testing.TB, token string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments, want 3", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatalf("decode segment %d: %v", i, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("unmarshal segment %d: %v", i, err)
	}
	return m
}
