package auth_test

import (
	"crypto"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenguard/tokenguard/auth"
)

func TestLoadKeyRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	rsaKey := newRSAKey(t, 2048)
	rsa1024 := newRSAKey(t, 1024)
	ecKey := newECKey(t, elliptic.P256())
	p384 := newECKey(t, elliptic.P384())
	edKey := newEdKey(t)

	rsaPriv := writePEM(t, dir, "rsa.pem", "PRIVATE KEY", marshalPKCS8(t, rsaKey))
	rsaPKCS1Pub := writePEM(t, dir, "rsa-pkcs1-pub.pem", "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey))
	rsa1024Priv := writePEM(t, dir, "rsa1024.pem", "PRIVATE KEY", marshalPKCS8(t, rsa1024))
	rsa1024Pub := writePEM(t, dir, "rsa1024-pub.pem", "PUBLIC KEY", marshalPKIX(t, &rsa1024.PublicKey))
	ecPriv := writePEM(t, dir, "ec.pem", "PRIVATE KEY", marshalPKCS8(t, ecKey))
	p384Priv := writePEM(t, dir, "p384.pem", "PRIVATE KEY", marshalPKCS8(t, p384))
	p384Pub := writePEM(t, dir, "p384-pub.pem", "PUBLIC KEY", marshalPKIX(t, &p384.PublicKey))
	otherECPub := writePEM(t, dir, "other-ec-pub.pem", "PUBLIC KEY", marshalPKIX(t, &newECKey(t, elliptic.P256()).PublicKey))
	edPriv := writePEM(t, dir, "ed.pem", "PRIVATE KEY", marshalPKCS8(t, edKey))
	edPub := writePEM(t, dir, "ed-pub.pem", "PUBLIC KEY", marshalPKIX(t, edKey.Public()))
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name string
		cfg  auth.KeyConfig
		also error // a further error the result must wrap, if any
	}{
		{name: "an empty kid is rejected", cfg: auth.KeyConfig{Alg: "EdDSA", PrivateKeyFile: edPriv}},
		{name: "an empty alg is rejected", cfg: auth.KeyConfig{ID: "k", PrivateKeyFile: edPriv}},
		{name: "an unknown alg is rejected", cfg: auth.KeyConfig{ID: "k", Alg: "HS512", Secret: newSecret(t)}},
		{name: "alg none is rejected", cfg: auth.KeyConfig{ID: "k", Alg: "none", Secret: newSecret(t)}},
		{name: "an Ed25519 key configured for RS256 is rejected", cfg: auth.KeyConfig{ID: "k", Alg: "RS256", PrivateKeyFile: edPriv}},
		{name: "an RSA key configured for ES256 is rejected", cfg: auth.KeyConfig{ID: "k", Alg: "ES256", PrivateKeyFile: rsaPriv}},
		{name: "an ECDSA key configured for EdDSA is rejected", cfg: auth.KeyConfig{ID: "k", Alg: "EdDSA", PrivateKeyFile: ecPriv}},
		{name: "an Ed25519 public key configured for ES256 is rejected", cfg: auth.KeyConfig{ID: "k", Alg: "ES256", PublicKeyFile: edPub, VerifyOnly: true}},
		{name: "a 1024-bit RSA private key is rejected", cfg: auth.KeyConfig{ID: "k", Alg: "RS256", PrivateKeyFile: rsa1024Priv}},
		{name: "a 1024-bit RSA public key is rejected", cfg: auth.KeyConfig{ID: "k", Alg: "RS256", PublicKeyFile: rsa1024Pub, VerifyOnly: true}},
		{name: "a P-384 private key for ES256 is rejected", cfg: auth.KeyConfig{ID: "k", Alg: "ES256", PrivateKeyFile: p384Priv}},
		{name: "a P-384 public key for ES256 is rejected", cfg: auth.KeyConfig{ID: "k", Alg: "ES256", PublicKeyFile: p384Pub, VerifyOnly: true}},
		{name: "an empty HMAC secret is rejected", cfg: auth.KeyConfig{ID: "k", Alg: "HS256"}},
		{name: "an HMAC secret shorter than 32 bytes is rejected", cfg: auth.KeyConfig{ID: "k", Alg: "HS256", Secret: []byte(strings.Repeat("x", 31))}},
		{name: "key files on an HMAC key are rejected", cfg: auth.KeyConfig{ID: "k", Alg: "HS256", Secret: newSecret(t), PrivateKeyFile: edPriv}},
		{name: "a secret on an asymmetric key is rejected", cfg: auth.KeyConfig{ID: "k", Alg: "EdDSA", PrivateKeyFile: edPriv, Secret: newSecret(t)}},
		{name: "an asymmetric key without files is rejected", cfg: auth.KeyConfig{ID: "k", Alg: "ES256", VerifyOnly: true}},
		{name: "a missing private key file is rejected", cfg: auth.KeyConfig{ID: "k", Alg: "ES256", PrivateKeyFile: missing}, also: fs.ErrNotExist},
		{name: "a missing public key file is rejected", cfg: auth.KeyConfig{ID: "k", Alg: "ES256", PublicKeyFile: missing, VerifyOnly: true}, also: fs.ErrNotExist},
		{name: "a file without PEM is rejected", cfg: auth.KeyConfig{ID: "k", Alg: "ES256", PrivateKeyFile: notPEM}},
		{name: "a PKCS#1 public key is rejected because only PKIX is supported", cfg: auth.KeyConfig{ID: "k", Alg: "RS256", PublicKeyFile: rsaPKCS1Pub, VerifyOnly: true}},
		{name: "a public key file given as the private key is rejected", cfg: auth.KeyConfig{ID: "k", Alg: "EdDSA", PrivateKeyFile: edPub}},
		{name: "a public key alone for a signing key is rejected", cfg: auth.KeyConfig{ID: "k", Alg: "EdDSA", PublicKeyFile: edPub}},
		{name: "a public key that does not match the private key is rejected", cfg: auth.KeyConfig{ID: "k", Alg: "ES256", PrivateKeyFile: ecPriv, PublicKeyFile: otherECPub}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := auth.LoadKey(tt.cfg)
			if !errors.Is(err, auth.ErrKeyConfig) {
				t.Fatalf("LoadKey = %v, %v; want error wrapping ErrKeyConfig", key, err)
			}
			if tt.also != nil && !errors.Is(err, tt.also) {
				t.Errorf("LoadKey error = %v; want it to wrap %v too", err, tt.also)
			}
			if tt.cfg.ID != "" && !strings.Contains(err.Error(), `"`+tt.cfg.ID+`"`) {
				t.Errorf("LoadKey error = %q; want it to name kid %q", err, tt.cfg.ID)
			}
		})
	}
}

func TestLoadKeyLoadsSupportedFormats(t *testing.T) {
	dir := t.TempDir()
	rsaKey := newRSAKey(t, 2048)
	ecKey := newECKey(t, elliptic.P256())
	edKey := newEdKey(t)
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}

	rsaPKCS8 := writePEM(t, dir, "rsa-pkcs8.pem", "PRIVATE KEY", marshalPKCS8(t, rsaKey))
	rsaPKCS1 := writePEM(t, dir, "rsa-pkcs1.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))
	rsaPub := writePEM(t, dir, "rsa-pub.pem", "PUBLIC KEY", marshalPKIX(t, &rsaKey.PublicKey))
	ecPKCS8 := writePEM(t, dir, "ec-pkcs8.pem", "PRIVATE KEY", marshalPKCS8(t, ecKey))
	ecSEC1 := writePEM(t, dir, "ec-sec1.pem", "EC PRIVATE KEY", sec1)
	ecPub := writePEM(t, dir, "ec-pub.pem", "PUBLIC KEY", marshalPKIX(t, &ecKey.PublicKey))
	edPKCS8 := writePEM(t, dir, "ed-pkcs8.pem", "PRIVATE KEY", marshalPKCS8(t, edKey))
	edPub := writePEM(t, dir, "ed-pub.pem", "PUBLIC KEY", marshalPKIX(t, edKey.Public()))

	tests := []struct {
		name       string
		cfg        auth.KeyConfig
		wantSign   bool
		wantPublic crypto.PublicKey
	}{
		{name: "an RSA PKCS#8 private key loads as a signing key", cfg: auth.KeyConfig{Alg: "RS256", PrivateKeyFile: rsaPKCS8}, wantSign: true, wantPublic: &rsaKey.PublicKey},
		{name: "an RSA PKCS#1 private key loads as a signing key", cfg: auth.KeyConfig{Alg: "RS256", PrivateKeyFile: rsaPKCS1}, wantSign: true, wantPublic: &rsaKey.PublicKey},
		{name: "an RSA private key with its matching public key loads", cfg: auth.KeyConfig{Alg: "RS256", PrivateKeyFile: rsaPKCS1, PublicKeyFile: rsaPub}, wantSign: true, wantPublic: &rsaKey.PublicKey},
		{name: "an RSA PKIX public key alone loads as verify-only", cfg: auth.KeyConfig{Alg: "RS256", PublicKeyFile: rsaPub, VerifyOnly: true}, wantPublic: &rsaKey.PublicKey},
		{name: "an EC PKCS#8 private key loads as a signing key", cfg: auth.KeyConfig{Alg: "ES256", PrivateKeyFile: ecPKCS8}, wantSign: true, wantPublic: &ecKey.PublicKey},
		{name: "an EC SEC1 private key loads as a signing key", cfg: auth.KeyConfig{Alg: "ES256", PrivateKeyFile: ecSEC1}, wantSign: true, wantPublic: &ecKey.PublicKey},
		{name: "an EC PKIX public key alone loads as verify-only", cfg: auth.KeyConfig{Alg: "ES256", PublicKeyFile: ecPub, VerifyOnly: true}, wantPublic: &ecKey.PublicKey},
		{name: "an Ed25519 PKCS#8 private key loads as a signing key", cfg: auth.KeyConfig{Alg: "EdDSA", PrivateKeyFile: edPKCS8, PublicKeyFile: edPub}, wantSign: true, wantPublic: edKey.Public()},
		{name: "an Ed25519 PKIX public key alone loads as verify-only", cfg: auth.KeyConfig{Alg: "EdDSA", PublicKeyFile: edPub, VerifyOnly: true}, wantPublic: edKey.Public()},
		{name: "a private key marked verify-only cannot sign", cfg: auth.KeyConfig{Alg: "EdDSA", PrivateKeyFile: edPKCS8, VerifyOnly: true}, wantPublic: edKey.Public()},
		{name: "an HMAC secret loads as a signing key without a public key", cfg: auth.KeyConfig{Alg: "HS256", Secret: newSecret(t)}, wantSign: true},
		{name: "an HMAC secret marked verify-only cannot sign", cfg: auth.KeyConfig{Alg: "HS256", Secret: newSecret(t), VerifyOnly: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.ID = "kid-1"
			key, err := auth.LoadKey(tt.cfg)
			if err != nil {
				t.Fatalf("LoadKey = %v, want no error", err)
			}
			if got := key.ID(); got != "kid-1" {
				t.Errorf("ID() = %q, want %q", got, "kid-1")
			}
			if got := key.Alg(); got != tt.cfg.Alg {
				t.Errorf("Alg() = %q, want %q", got, tt.cfg.Alg)
			}
			if got := key.CanSign(); got != tt.wantSign {
				t.Errorf("CanSign() = %v, want %v", got, tt.wantSign)
			}
			got := key.Public()
			if tt.wantPublic == nil {
				if got != nil {
					t.Errorf("Public() = %T, want nil", got)
				}
				return
			}
			eq, ok := got.(interface{ Equal(crypto.PublicKey) bool })
			if !ok || !eq.Equal(tt.wantPublic) {
				t.Errorf("Public() = %T that does not equal the generated public key", got)
			}
		})
	}
}

func TestLoadKeyCopiesTheSecret(t *testing.T) {
	secret := newSecret(t)
	key, err := auth.LoadKey(auth.KeyConfig{ID: "hs", Alg: "HS256", Secret: secret})
	if err != nil {
		t.Fatalf("LoadKey = %v, want no error", err)
	}
	s := newTestService(t, fixedClock(testNow), key)
	token, _, err := s.Issue(auth.IssueRequest{Subject: "user-1"})
	if err != nil {
		t.Fatalf("Issue = %v, want no error", err)
	}
	clear(secret)
	if _, err := s.Verify(t.Context(), token); err != nil {
		t.Errorf("Verify after the caller cleared its secret = %v, want no error", err)
	}
}

func TestGenerateEdDSAKey(t *testing.T) {
	key, err := auth.GenerateEdDSAKey("dev")
	if err != nil {
		t.Fatalf("GenerateEdDSAKey = %v, want no error", err)
	}
	if key.ID() != "dev" || key.Alg() != "EdDSA" || !key.CanSign() || key.Public() == nil {
		t.Errorf("GenerateEdDSAKey = {ID %q, Alg %q, CanSign %v, Public %T}, want {dev, EdDSA, true, ed25519.PublicKey}",
			key.ID(), key.Alg(), key.CanSign(), key.Public())
	}
	if _, err := auth.GenerateEdDSAKey(""); !errors.Is(err, auth.ErrKeyConfig) {
		t.Errorf("GenerateEdDSAKey(\"\") = %v, want error wrapping ErrKeyConfig", err)
	}
}
