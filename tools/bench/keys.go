package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
)

// secrets are the keys and client credentials of one benchmark run, made
// fresh each time and kept in its temporary directory.
type secrets struct {
	hs256Secret string // given to tokenguard in the environment
	es256File   string // PKCS#8 PEM
	appSecret   string
	adminSecret string
	feedSecret  string // of the client "feed", which may follow the revocation feed
}

func newSecrets(dir string) (secrets, error) {
	var s secrets
	var err error
	if s.hs256Secret, err = randomText(32); err != nil {
		return s, err
	}
	if s.appSecret, err = randomText(24); err != nil {
		return s, err
	}
	if s.adminSecret, err = randomText(24); err != nil {
		return s, err
	}
	if s.feedSecret, err = randomText(24); err != nil {
		return s, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return s, fmt.Errorf("generate ES256 key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return s, fmt.Errorf("encode ES256 key: %w", err)
	}
	s.es256File = filepath.Join(dir, "es256.pem")
	if err := os.WriteFile(s.es256File, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return s, err
	}
	return s, nil
}

// randomText returns n random bytes as base64url: a token id, a secret.
func randomText(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
