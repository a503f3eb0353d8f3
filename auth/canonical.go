package auth

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"unicode/utf8"
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
func checkJSON(token string) ([]byte, error) {
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
	if err := walkTop(header, false); err != nil {
		return nil, err
	}
	if err := walkTop(payload, true); err != nil {
		return nil, err
	}
	return payload, nil
}

// walkTop walks a JSON text that must be one object; claims says it is a
// payload, whose top-level names and time claims are checked too.
func walkTop(b []byte, claims bool) error {
	w := walker{b: b}
	w.space()
	if w.i >= len(w.b) || w.b[w.i] != '{' {
		return errNotObject
	}
	if err := w.object(claims); err != nil {
		return err
	}
	w.space()
	if w.i != len(w.b) {
		return errNotObject
	}
	return nil
}

// walker reads one JSON text that encoding/json has already accepted, so
// it only needs to find its objects' member names; it still fails cleanly
// on anything unexpected rather than trusting that.
type walker struct {
	b []byte
	i int
}

func (w *walker) space() {
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

// object walks the object at w.i, refusing a repeated member name. With
// claims, each name must be one tokenguard reads spelled exactly or no
// such name in another case, and a time claim must be a number.
func (w *walker) object(claims bool) error {
	w.i++ // '{'
	// Objects are small: names are compared pairwise until there are
	// many, then through a map.
	var small [16][]byte
	n := 0 // names in small; not append, which would move them to the heap
	var many map[string]struct{}
	w.space()
	if w.i < len(w.b) && w.b[w.i] == '}' {
		w.i++
		return nil
	}
	for {
		w.space()
		name, err := w.str()
		if err != nil {
			return err
		}
		if many != nil {
			if _, dup := many[string(name)]; dup {
				return errDuplicateName
			}
			many[string(name)] = struct{}{}
		} else {
			for _, prev := range small[:n] {
				if string(prev) == string(name) {
					return errDuplicateName
				}
			}
			if n < len(small) {
				small[n] = name
				n++
			} else {
				many = make(map[string]struct{}, 2*len(small))
				for _, prev := range small {
					many[string(prev)] = struct{}{}
				}
				many[string(name)] = struct{}{}
			}
		}
		w.space()
		if w.i >= len(w.b) || w.b[w.i] != ':' {
			return errNotObject
		}
		w.i++
		w.space()
		if claims {
			if err := w.claim(name); err != nil {
				return err
			}
		}
		if err := w.value(); err != nil {
			return err
		}
		w.space()
		if w.i >= len(w.b) {
			return errNotObject
		}
		switch w.b[w.i] {
		case ',':
			w.i++
		case '}':
			w.i++
			return nil
		default:
			return errNotObject
		}
	}
}

// claim checks one top-level claim whose value starts at w.i.
func (w *walker) claim(name []byte) error {
	switch string(name) {
	case "exp", "nbf", "iat":
		if w.i >= len(w.b) {
			return errNotObject
		}
		if c := w.b[w.i]; c != '-' && (c < '0' || c > '9') {
			return errDateNotNumber
		}
		return nil
	case "iss", "sub", "aud", "jti", "sid", "session_id", "client_id", "azp", "scope", "scp", "iat_us":
		return nil
	}
	if foldsToClaim(name) {
		return errClaimCase
	}
	return nil
}

// claimNames are the claims Verify reads into Claims or foreignClaims.
var claimNames = [...]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "session_id", "client_id", "azp", "scope", "scp", "iat_us"}

// foldsToClaim reports whether encoding/json would read name as one of
// claimNames, which name does not spell exactly.
func foldsToClaim(name []byte) bool {
	// Folding keeps an ASCII name's length; only a name with other
	// characters ("ſub") can fold to a claim of another length.
	ascii := isASCII(name)
	for _, c := range claimNames {
		if (len(c) == len(name) || !ascii) && strings.EqualFold(string(name), c) {
			return true
		}
	}
	return false
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// value skips the value at w.i, walking the objects in it.
func (w *walker) value() error {
	if w.i >= len(w.b) {
		return errNotObject
	}
	switch w.b[w.i] {
	case '{':
		return w.object(false)
	case '[':
		w.i++
		w.space()
		if w.i < len(w.b) && w.b[w.i] == ']' {
			w.i++
			return nil
		}
		for {
			w.space()
			if err := w.value(); err != nil {
				return err
			}
			w.space()
			if w.i >= len(w.b) {
				return errNotObject
			}
			switch w.b[w.i] {
			case ',':
				w.i++
			case ']':
				w.i++
				return nil
			default:
				return errNotObject
			}
		}
	case '"':
		_, err := w.str()
		return err
	}
	// A number, true, false or null: up to the next delimiter.
	start := w.i
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			if w.i == start {
				return errNotObject
			}
			return nil
		}
		w.i++
	}
	return nil
}

// str reads the string at w.i and returns its contents as encoding/json
// reads them: escapes resolved, so that "\u0073ub" and "sub" are one name.
func (w *walker) str() ([]byte, error) {
	if w.i >= len(w.b) || w.b[w.i] != '"' {
		return nil, errNotObject
	}
	start := w.i
	escaped := false
	for j := start + 1; j < len(w.b); j++ {
		switch w.b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			w.i = j + 1
			if !escaped {
				return w.b[start+1 : j], nil
			}
			// Rare: resolve the escapes on a copy, so that the walked
			// text itself never escapes to the heap.
			var s string
			if err := json.Unmarshal(append([]byte(nil), w.b[start:j+1]...), &s); err != nil {
				return nil, errNotObject
			}
			return []byte(s), nil
		}
	}
	return nil, errNotObject
}
