package auth

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// A token has one spelling. Two parsers must never read one token
// differently, so Verify accepts only what every careful JWT library reads
// the same way:
//
//   - Each segment is unpadded base64url and nothing else. Go's base64
//     decoders, even Strict, skip '\r' and '\n', so without this check a
//     line feed spliced into a signature would still verify.
//   - Header and payload are UTF-8 JSON without a repeated member name in
//     any object (RFC 7519 §4 lets a recipient refuse them; encoding/json
//     keeps the last, other parsers the first).
//   - No claim name differs only in case from one tokenguard reads:
//     encoding/json matches struct fields case-insensitively, with Unicode
//     folding ("SUB" and "ſub" are both read as sub), where every other
//     parser reads names exactly.
//   - exp, nbf and iat are JSON numbers (RFC 7519 NumericDate); golang-jwt
//     would also read a string holding a number.

// canonicalSegments reports whether token is three segments of the
// base64url alphabet joined by two dots: no padding, no whitespace, no
// other byte.
func canonicalSegments(token string) bool {
	dots := 0
	for i := 0; i < len(token); i++ {
		switch c := token[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		case c == '.':
			dots++
		default:
			return false
		}
	}
	return dots == 2
}

// maxStackHeader is the longest decoded header checked without allocating.
const maxStackHeader = 512

// checkJSON applies the rules above to the header and payload of a token
// that the parser has accepted (so both are valid JSON objects), and
// returns the payload, decoded.
func (ws *walkers) checkJSON(token string) ([]byte, error) {
	enc := base64.RawURLEncoding.Strict()
	h, rest, _ := strings.Cut(token, ".")
	p, _, _ := strings.Cut(rest, ".")
	var buf [maxStackHeader]byte
	var header []byte
	if enc.DecodedLen(len(h)) <= len(buf) {
		n, err := enc.Decode(buf[:], []byte(h))
		if err != nil {
			return nil, errNotCanonical
		}
		header = buf[:n]
	} else {
		var err error
		if header, err = enc.DecodeString(h); err != nil {
			return nil, errNotCanonical
		}
	}
	payload, err := enc.DecodeString(p)
	if err != nil {
		return nil, errNotCanonical
	}
	if !utf8.Valid(header) || !utf8.Valid(payload) {
		return nil, errNotUTF8
	}
	if err := ws.walkTop(header, false); err != nil {
		return nil, err
	}
	if err := ws.walkTop(payload, true); err != nil {
		return nil, err
	}
	return payload, nil
}

// walkTop reads a JSON text that must be one object, with jsontext (the
// encoding/json/v2 tokenizer), which refuses a repeated member name in any
// object, escapes resolved. claims says the object is a
// payload, whose top-level names and time claims are checked too.
func (ws *walkers) walkTop(b []byte, claims bool) error {
	w := ws.get()
	defer ws.pool.Put(w)
	w.r.Reset(b)
	w.dec.Reset(&w.r)
	dec := w.dec
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return errNotObject
	}
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return jsonError(err)
		}
		if claims {
			if err := claim(name.String(), dec.PeekKind()); err != nil {
				return err
			}
		}
		if err := dec.SkipValue(); err != nil {
			return jsonError(err)
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return jsonError(err)
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return errNotObject
	}
	return nil
}

// walker is a reusable decoder over a byte slice: decoding a token's JSON
// then allocates nothing of its own.
type walker struct {
	r   bytes.Reader
	dec *jsontext.Decoder
}

// walkers pools walkers; the zero value is ready to use.
type walkers struct{ pool sync.Pool }

func (ws *walkers) get() *walker {
	if w, ok := ws.pool.Get().(*walker); ok {
		return w
	}
	w := &walker{}
	w.dec = jsontext.NewDecoder(&w.r)
	return w
}

// jsonError names what jsontext refused (invalid UTF-8 is refused before
// the walk).
func jsonError(err error) error {
	if errors.Is(err, jsontext.ErrDuplicateName) {
		return errDuplicateName
	}
	return errNotObject
}

// claim checks one top-level claim name, whose value is of kind.
func claim(name string, kind jsontext.Kind) error {
	switch name {
	case "exp", "nbf", "iat":
		if kind != '0' {
			return errDateNotNumber
		}
		return nil
	case "iss", "sub", "aud", "jti", "sid", "session_id", "client_id", "azp", "scope", "scp", "iat_us", "gty":
		return nil
	}
	if foldsToClaim(name) {
		return errClaimCase
	}
	return nil
}

// claimNames are the claims Verify reads into Claims or foreignClaims.
var claimNames = [...]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "session_id", "client_id", "azp", "scope", "scp", "iat_us", "gty"}

// foldsToClaim reports whether encoding/json would read name as one of
// claimNames, which name does not spell exactly.
func foldsToClaim(name string) bool {
	// Folding keeps an ASCII name's length; only a name with other
	// characters ("ſub") can fold to a claim of another length.
	ascii := isASCII(name)
	for _, c := range claimNames {
		if (len(c) == len(name) || !ascii) && strings.EqualFold(name, c) {
			return true
		}
	}
	return false
}

func isASCII(b string) bool {
	for i := 0; i < len(b); i++ {
		if b[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
