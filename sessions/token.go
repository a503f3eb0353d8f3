package sessions

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// A refresh token is "<session id>.<generation>.<secret>": the session it
// belongs to, how many rotations preceded it, and 256 bits in base64url.
// The first token's secret is drawn from crypto/rand. Each later one is
// HMAC-SHA-256 keyed with the secret it replaces, over 256 fresh random bits
// (the salt) and its place in the chain:
//
//	secret(g+1) = HMAC-SHA-256(secret(g), "tokenguard refresh" | sid | g+1 | salt)
//
// Only the SHA-256 of a token is stored, never the token. Deriving rather
// than drawing the next secret is what lets the reuse window hand back the
// same new token to a second request with the previous one, without storing
// the new token: whoever holds the previous token and the salt can compute
// it. The salt is kept only for the window (its key expires with it), so that
// a copy of Redis taken later, together with an old token, yields nothing.

const (
	secretBytes = 32
	// MaxGenerations is how many times one session's refresh token can be
	// rotated. It bounds the fingerprint history at 8 bytes a rotation
	// (512 KiB); a client that reaches it has to log in again.
	MaxGenerations = 1 << 16
	// maxTokenLen bounds what parseToken looks at.
	maxTokenLen = 128
)

type refreshToken struct {
	sid    string
	gen    int64
	secret []byte
}

// firstToken draws the first refresh token of a session.
func firstToken(sid string) (refreshToken, error) {
	t := refreshToken{sid: sid, secret: make([]byte, secretBytes)}
	if _, err := rand.Read(t.secret); err != nil {
		return refreshToken{}, fmt.Errorf("generate refresh token: %w", err)
	}
	return t, nil
}

// newSalt draws the salt of one rotation.
func newSalt() ([]byte, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("generate refresh token: %w", err)
	}
	return b, nil
}

// next derives the token that replaces t under salt.
func (t refreshToken) next(salt []byte) refreshToken {
	gen := t.gen + 1
	m := hmac.New(sha256.New, t.secret)
	m.Write([]byte("tokenguard refresh\x00"))
	m.Write([]byte(t.sid))
	m.Write([]byte{0})
	m.Write([]byte(strconv.FormatInt(gen, 10)))
	m.Write([]byte{0})
	m.Write(salt)
	return refreshToken{sid: t.sid, gen: gen, secret: m.Sum(nil)}
}

// String is the token as the client sees it.
func (t refreshToken) String() string {
	return t.sid + "." + strconv.FormatInt(t.gen, 10) + "." + base64.RawURLEncoding.EncodeToString(t.secret)
}

// digest is the SHA-256 of the token as the client sees it.
func (t refreshToken) digest() [sha256.Size]byte {
	return sha256.Sum256([]byte(t.String()))
}

// hash is the stored form of a live token: its SHA-256 in hex.
func (t refreshToken) hash() string {
	d := t.digest()
	return hex.EncodeToString(d[:])
}

// fingerprint is the stored form of a token that has been rotated away: the
// first 8 bytes of its SHA-256. It is enough to tell a token we issued from a
// made-up one (a forger needs about 2^63 tries per hit), and such a token is
// only ever used to end its session, never to obtain one.
func (t refreshToken) fingerprint() string {
	d := t.digest()
	return string(d[:8])
}

// parseToken splits a refresh token, or reports that it cannot be one.
func parseToken(raw string) (refreshToken, bool) {
	if len(raw) > maxTokenLen {
		return refreshToken{}, false
	}
	sid, rest, ok := strings.Cut(raw, ".")
	if !ok || !validID(sid) {
		return refreshToken{}, false
	}
	g, sec, ok := strings.Cut(rest, ".")
	if !ok || !canonicalNumber(g) {
		return refreshToken{}, false
	}
	gen, err := strconv.ParseInt(g, 10, 64)
	if err != nil || gen > MaxGenerations {
		return refreshToken{}, false
	}
	secret, ok := decodeCanonical(sec, secretBytes)
	if !ok {
		return refreshToken{}, false
	}
	return refreshToken{sid: sid, gen: gen, secret: secret}, true
}

// decodeCanonical decodes s, n bytes in unpadded base64url, if s is their
// one spelling. Go's base64 decoders, even Strict, skip '\r' and '\n':
// without the comparison a token with a line break spliced in would pass
// for the token.
func decodeCanonical(s string, n int) ([]byte, bool) {
	if len(s) != base64.RawURLEncoding.EncodedLen(n) {
		return nil, false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != n || base64.RawURLEncoding.EncodeToString(b) != s {
		return nil, false
	}
	return b, true
}

// canonicalNumber reports whether s is a decimal number of at most six
// digits as strconv.FormatInt writes it: no sign, no leading zero.
func canonicalNumber(s string) bool {
	if s == "" || len(s) > 6 || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
