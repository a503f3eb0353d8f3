package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/golang-jwt/jwt/v5"
)

// Algorithm names as they appear in the JWS alg header.
const (
	algHS256 = "HS256"
	algRS256 = "RS256"
	algES256 = "ES256"
	algEdDSA = "EdDSA"
)

// algorithms are the algorithms a key of ours may be pinned to.
var algorithms = []string{algHS256, algRS256, algES256, algEdDSA}

const (
	// minRSABits follows NIST SP 800-57: RSA keys below 2048 bits are no
	// longer acceptable for signatures.
	minRSABits = 2048

	// minSecretBytes follows RFC 7518 section 3.2: an HS256 key must be at
	// least as long as the hash output (256 bits).
	minSecretBytes = 32
)

// KeyConfig describes one signing or verification key, typically one entry
// of the service configuration. LoadKey turns it into a Key.
type KeyConfig struct {
	// ID is the key ID (kid header). It is required and must be unique
	// within a Config.
	ID string

	// Alg pins the key to one algorithm: "HS256", "RS256", "ES256" or
	// "EdDSA". A token is only ever verified with the algorithm pinned to the
	// key its kid names, which is what defeats algorithm confusion.
	Alg string

	// PrivateKeyFile is the path of a PEM private key for an asymmetric
	// algorithm: PKCS#8 ("PRIVATE KEY"), PKCS#1 ("RSA PRIVATE KEY") or SEC1
	// ("EC PRIVATE KEY"). Encrypted PEM is not supported.
	PrivateKeyFile string

	// PublicKeyFile is the path of a PEM PKIX ("PUBLIC KEY") public key. On
	// its own it configures a verify-only key; alongside PrivateKeyFile it
	// must match the private key.
	PublicKeyFile string

	// Secret is the HS256 shared secret, at least 32 bytes. The caller
	// resolves it (from an environment variable, say); it is never read
	// from a file here and never appears in error messages.
	Secret []byte

	// SecretEnv names the environment variable the caller read Secret
	// from, if any. Errors name it, and a key that is not HS256 must not
	// have one, even when the variable is empty.
	SecretEnv string

	// VerifyOnly marks a key that verifies tokens but never signs them,
	// such as the previous key during a rotation.
	VerifyOnly bool
}

// Key is a loaded key pinned to a single algorithm. It holds the
// verification material and, unless it is verify-only, the signing
// material. A Key is immutable and safe for concurrent use.
type Key struct {
	id     string
	alg    string
	method jwt.SigningMethod
	sign   any              // []byte, *rsa.PrivateKey, *ecdsa.PrivateKey or ed25519.PrivateKey; nil if the key cannot sign
	verify any              // []byte, *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	public crypto.PublicKey // nil for HMAC keys, whose secret must never be published
}

// ID returns the key ID (the kid header of tokens it signs).
func (k *Key) ID() string { return k.id }

// Alg returns the algorithm the key is pinned to.
func (k *Key) Alg() string { return k.alg }

// CanSign reports whether the key holds signing material and is not
// verify-only.
func (k *Key) CanSign() bool { return k.sign != nil }

// Public returns the public key of an asymmetric key, or nil for an HMAC
// key.
func (k *Key) Public() crypto.PublicKey { return k.public }

// LoadKey validates cfg and loads its key material. It enforces the rules
// of Settings.Check, then RSA keys of at least 2048 bits, P-256 for ES256,
// Ed25519 for EdDSA, and a key type that matches Alg. Every failure wraps
// ErrKeyConfig and names the kid.
func LoadKey(cfg KeyConfig) (*Key, error) {
	what := "key"
	if cfg.ID != "" {
		what = fmt.Sprintf("kid %q", cfg.ID)
	}
	if err := firstProblem(cfg.problems); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKeyConfig, what, err)
	}
	k := &Key{id: cfg.ID, alg: cfg.Alg, method: signingMethod(cfg.Alg)}
	if cfg.Alg == algHS256 {
		k.loadSecret(cfg)
	} else if err := k.loadAsymmetric(cfg); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKeyConfig, what, err)
	}
	return k, nil
}

// GenerateEdDSAKey returns a fresh Ed25519 signing key with the given kid.
// It is meant for development: tokens it signs stop verifying when the
// process restarts.
func GenerateEdDSAKey(id string) (*Key, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: kid is required", ErrKeyConfig)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ed25519 key %q: %w", id, err)
	}
	return &Key{
		id:     id,
		alg:    algEdDSA,
		method: jwt.SigningMethodEdDSA,
		sign:   priv,
		verify: pub,
		public: pub,
	}, nil
}

// signingMethod maps an algorithm of algorithms to its golang-jwt method.
func signingMethod(alg string) jwt.SigningMethod {
	switch alg {
	case algHS256:
		return jwt.SigningMethodHS256
	case algRS256:
		return jwt.SigningMethodRS256
	case algES256:
		return jwt.SigningMethodES256
	case algEdDSA:
		return jwt.SigningMethodEdDSA
	}
	return nil
}

func (k *Key) loadSecret(cfg KeyConfig) {
	// Copy so that the caller cannot change the key after validation.
	secret := append([]byte(nil), cfg.Secret...)
	k.verify = secret
	if !cfg.VerifyOnly {
		k.sign = secret
	}
}

func (k *Key) loadAsymmetric(cfg KeyConfig) error {
	var priv crypto.Signer
	var pub crypto.PublicKey
	if cfg.PrivateKeyFile != "" {
		p, err := readPrivateKey(cfg.PrivateKeyFile)
		if err != nil {
			return err
		}
		if err := checkKeyType(cfg.Alg, p.Public()); err != nil {
			return fmt.Errorf("private key: %w", err)
		}
		priv = p
		pub = p.Public()
	}
	if cfg.PublicKeyFile != "" {
		p, err := readPublicKey(cfg.PublicKeyFile)
		if err != nil {
			return err
		}
		if err := checkKeyType(cfg.Alg, p); err != nil {
			return fmt.Errorf("public key: %w", err)
		}
		if pub != nil && !samePublicKey(pub, p) {
			return errors.New("public key does not match private key")
		}
		pub = p
	}

	k.public = pub
	k.verify = pub
	if !cfg.VerifyOnly {
		k.sign = priv
	}
	return nil
}

// checkKeyType reports whether pub is an acceptable key for alg.
func checkKeyType(alg string, pub crypto.PublicKey) error {
	switch alg {
	case algRS256:
		p, ok := pub.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("%s needs an RSA key, got %s", alg, keyTypeName(pub))
		}
		if bits := p.N.BitLen(); bits < minRSABits {
			return fmt.Errorf("RSA key is %d bits, need at least %d", bits, minRSABits)
		}
	case algES256:
		p, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return fmt.Errorf("%s needs an ECDSA P-256 key, got %s", alg, keyTypeName(pub))
		}
		if p.Curve != elliptic.P256() {
			return fmt.Errorf("%s needs curve P-256, got %s", alg, p.Curve.Params().Name)
		}
	case algEdDSA:
		if _, ok := pub.(ed25519.PublicKey); !ok {
			return fmt.Errorf("%s needs an Ed25519 key, got %s", alg, keyTypeName(pub))
		}
	default:
		return fmt.Errorf("unsupported alg %q", alg)
	}
	return nil
}

// samePublicKey reports whether a and b are the same key. All standard
// library public key types implement Equal.
func samePublicKey(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

func keyTypeName(pub crypto.PublicKey) string {
	switch pub.(type) {
	case *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PublicKey:
		return "ECDSA"
	case ed25519.PublicKey:
		return "Ed25519"
	default:
		return fmt.Sprintf("%T", pub)
	}
}

// readPEM reads path and returns its first PEM block.
func readPEM(path string) (*pem.Block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block found", path)
	}
	if len(block.Headers) != 0 {
		// Legacy "Proc-Type: 4,ENCRYPTED" blocks carry headers.
		return nil, fmt.Errorf("%s: encrypted PEM is not supported", path)
	}
	return block, nil
}

func readPrivateKey(path string) (crypto.Signer, error) {
	block, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%s: unsupported PEM type %q for a private key", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: parse private key: %w", path, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: %T cannot sign", path, key)
	}
	return signer, nil
}

func readPublicKey(path string) (crypto.PublicKey, error) {
	block, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	if block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("%s: unsupported PEM type %q for a public key (want PKIX \"PUBLIC KEY\")", path, block.Type)
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: parse public key: %w", path, err)
	}
	return key, nil
}
