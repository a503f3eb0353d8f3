package auth_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokenguard/tokenguard/auth"
)

// signRaw signs header and payload segments exactly as given (whatever
// bytes they hold) with method and key, the way a token whose signer was
// fed them would be.
func signRaw(t *testing.T, header, payload string, method jwt.SigningMethod, key any) string {
	t.Helper()
	sig, err := method.Sign(header+"."+payload, key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return header + "." + payload + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func seg(json string) string { return base64.RawURLEncoding.EncodeToString([]byte(json)) }

// TestVerifyAcceptsOnlyTheCanonicalEncoding feeds Verify tokens that are
// validly signed over every byte they hold, and that golang-jwt (and
// encoding/json) would read, but in a form that another parser could read
// differently or not at all. Each must be refused as malformed.
func TestVerifyAcceptsOnlyTheCanonicalEncoding(t *testing.T) {
	t.Parallel()
	key := loadTestKey(t, "ed", "EdDSA", false)
	s := newTestService(t, fixedClock(testNow), key.key)
	header := `{"alg":"EdDSA","kid":"ed","typ":"at+jwt"}`
	exp, iat := testNow.Add(testTTL).Unix(), testNow.Unix()
	// payload is a good payload with claims spliced in before its end.
	payload := func(more string) string {
		return fmt.Sprintf(`{"iss":%q,"sub":"user-1","aud":%q,"exp":%d,"iat":%d,"jti":"jti-1"%s}`, testIssuer, testAudience, exp, iat, more)
	}
	good := signRaw(t, seg(header), seg(payload("")), key.method, key.signer)
	if _, err := s.Verify(t.Context(), good); err != nil {
		t.Fatalf("control: Verify(the canonical token) = %v, want no error (the table would prove nothing)", err)
	}
	h, p, sig := splitToken(t, good)
	// A payload without exp, nbf or iat, for the cases that spell them.
	noTimes := fmt.Sprintf(`{"iss":%q,"sub":"user-1","aud":%q,"jti":"jti-1"`, testIssuer, testAudience)

	tests := []struct {
		name  string
		token string
	}{
		{"a line feed inside the signature", h + "." + p + "." + sig[:20] + "\n" + sig[20:]},
		{"a carriage return and line feed at the end of the signature", good + "\r\n"},
		{"a line feed inside the payload, signed with it", signRaw(t, seg(header), insert(seg(payload("")), 10, "\n"), key.method, key.signer)},
		{"a line feed inside the header, signed with it", signRaw(t, insert(seg(header), 5, "\n"), seg(payload("")), key.method, key.signer)},
		{"a space inside the payload, signed with it", signRaw(t, seg(header), insert(seg(payload("")), 10, " "), key.method, key.signer)},
		{"padding after the signature", good + "=="},
		{"a padded payload, signed so", signRaw(t, seg(header), base64.URLEncoding.EncodeToString([]byte(payload(` ,"x":1`))), key.method, key.signer)},
		{"the standard base64 alphabet in the payload, signed so", signRaw(t, seg(header), base64.RawStdEncoding.EncodeToString([]byte(payload(`,"x":"???>>>"`))), key.method, key.signer)},
		{"exp given as a string holding a number", signRaw(t, seg(header), seg(fmt.Sprintf(`%s,"exp":"%d","iat":%d}`, noTimes, exp, iat)), key.method, key.signer)},
		{"iat given as a string holding a number", signRaw(t, seg(header), seg(fmt.Sprintf(`%s,"exp":%d,"iat":"%d"}`, noTimes, exp, iat)), key.method, key.signer)},
		{"nbf given as a string holding a number", signRaw(t, seg(header), seg(payload(fmt.Sprintf(`,"nbf":"%d"`, iat))), key.method, key.signer)},
		{"exp given as true", signRaw(t, seg(header), seg(fmt.Sprintf(`%s,"exp":true,"iat":%d}`, noTimes, iat)), key.method, key.signer)},
		{"a repeated claim in the payload", signRaw(t, seg(header), seg(payload(`,"sub":"admin"`)), key.method, key.signer)},
		{"a claim repeated through a JSON escape", signRaw(t, seg(header), seg(payload(`,"\u0073ub":"admin"`)), key.method, key.signer)},
		{"a repeated name in an object inside the payload", signRaw(t, seg(header), seg(payload(`,"cnf":{"jkt":"a","jkt":"b"}`)), key.method, key.signer)},
		{"a repeated name in an object inside a list", signRaw(t, seg(header), seg(payload(`,"groups":[{"id":1,"id":2}]`)), key.method, key.signer)},
		{"a repeated header parameter", signRaw(t, seg(`{"alg":"EdDSA","kid":"ed","typ":"at+jwt","kid":"ed"}`), seg(payload("")), key.method, key.signer)},
		{"a claim name in capitals next to the real one", signRaw(t, seg(header), seg(payload(`,"SUB":"admin"`)), key.method, key.signer)},
		{"a claim name in capitals instead of the real one", signRaw(t, seg(header), seg(fmt.Sprintf(`%s,"EXP":%d,"iat":%d}`, noTimes, exp, iat)), key.method, key.signer)},
		{"a claim name with a long s (Unicode folding)", signRaw(t, seg(header), seg(payload(`,"ſid":"s-1"`)), key.method, key.signer)},
		{"a payload that is not UTF-8", signRaw(t, seg(header), seg(payload(`,"name":"caf`+"\xe9"+`"`)), key.method, key.signer)},
		{"a repeated claim among many claims", signRaw(t, seg(header), seg(payload(manyClaims(40)+`,"c7":0`)), key.method, key.signer)},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused as malformed", func(t *testing.T) {
			t.Parallel()
			got, err := s.Verify(t.Context(), tt.token)
			if !errors.Is(err, auth.ErrMalformed) || !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("Verify = %+v, %v; want an error wrapping ErrMalformed and ErrInvalidToken", got, err)
			}
			checkErrorHidesDetails(t, err, tt.token)
		})
	}

	for _, tt := range []struct {
		name  string
		token string
	}{
		{"claims of other names, many of them", signRaw(t, seg(header), seg(payload(manyClaims(40))), key.method, key.signer)},
		{"an escaped name that is no claim of ours", signRaw(t, seg(header), seg(payload(`,"gr\u006fups":["a"]`)), key.method, key.signer)},
		{"a name in capitals that is no claim of ours", signRaw(t, seg(header), seg(payload(`,"Email":"a@example.test"`)), key.method, key.signer)},
		{"fractional numeric dates", signRaw(t, seg(header), seg(fmt.Sprintf(`%s,"exp":%d.5,"iat":%d.25}`, noTimes, exp, iat)), key.method, key.signer)},
		{"whitespace between JSON tokens", signRaw(t, seg(" {\n\"alg\" : \"EdDSA\", \"kid\":\"ed\",\"typ\":\"at+jwt\"}\n"), seg(payload(`, "roles" : [ "a" , {"b" : null} ]`)), key.method, key.signer)},
	} {
		t.Run(tt.name+" is accepted", func(t *testing.T) {
			t.Parallel()
			if _, err := s.Verify(t.Context(), tt.token); err != nil {
				t.Errorf("Verify = %v, want no error", err)
			}
		})
	}
}

// TestATrustedIssuersTokenIsHeldToTheSameSpelling checks that the rules of
// TestVerifyAcceptsOnlyTheCanonicalEncoding hold on the trusted issuers'
// path too.
func TestATrustedIssuersTokenIsHeldToTheSameSpelling(t *testing.T) {
	t.Parallel()
	idp := loadTestKey(t, "idp", "ES256", false)
	own := loadTestKey(t, "own", "EdDSA", false)
	s := newServiceTrusting(t, own.key, newTrusted(t, auth.TrustedIssuerConfig{PublicKeyFile: filepath.Join(idp.dir, "public.pem"), Algorithms: []string{"ES256"}}))
	header := seg(`{"alg":"ES256","typ":"JWT"}`)
	payload := func(more string) string {
		return seg(fmt.Sprintf(`{"iss":%q,"sub":"f:1","aud":"api","exp":%d,"iat":%d%s}`, foreignIssuer, testNow.Add(time.Hour).Unix(), testNow.Unix(), more))
	}
	if _, err := s.Verify(t.Context(), signRaw(t, header, payload(""), idp.method, idp.signer)); err != nil {
		t.Fatalf("control: Verify(the provider's canonical token) = %v, want no error", err)
	}
	for name, token := range map[string]string{
		"a repeated sub":                signRaw(t, header, payload(`,"sub":"f:2"`), idp.method, idp.signer),
		"a session_id in capitals":      signRaw(t, header, payload(`,"SESSION_ID":"s"`), idp.method, idp.signer),
		"a line feed in the payload":    signRaw(t, header, insert(payload(""), 8, "\n"), idp.method, idp.signer),
		"nbf as a string with a number": signRaw(t, header, payload(fmt.Sprintf(`,"nbf":"%d"`, testNow.Unix())), idp.method, idp.signer),
	} {
		t.Run(name+" is refused as malformed", func(t *testing.T) {
			t.Parallel()
			if _, err := s.Verify(t.Context(), token); !errors.Is(err, auth.ErrMalformed) {
				t.Errorf("Verify = %v, want ErrMalformed", err)
			}
		})
	}
}

func splitToken(t *testing.T, token string) (h, p, sig string) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments", len(parts))
	}
	return parts[0], parts[1], parts[2]
}

func insert(s string, at int, what string) string { return s[:at] + what + s[at:] }

// manyClaims is n claims c0…c(n-1), with a leading comma.
func manyClaims(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `,"c%d":%d`, i, i)
	}
	return b.String()
}
