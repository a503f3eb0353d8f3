package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// oauthClients are the extra clients of the trusted-issuer test: a gateway
// that introspects and an app backend that revokes.
const oauthClients = `  - {id: gateway, secret: gateway-secret-1, permissions: [introspect]}
  - {id: backend, secret: backend-secret-1, permissions: [revoke]}
`

// idp plays another identity provider: its JWKS on loopback, which the test
// rotates and takes down, and the RSA keys it signs with.
type idp struct {
	t   *testing.T
	url string

	mu   sync.Mutex
	keys map[string]*rsa.PrivateKey // published, by kid
	down bool
}

func newIDP(t *testing.T, kids ...string) *idp {
	t.Helper()
	p := &idp{t: t, keys: map[string]*rsa.PrivateKey{}}
	p.publish(kids...)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.down {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		var keys []map[string]string
		for kid, k := range p.keys {
			keys = append(keys, map[string]string{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
				"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()), "e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())})
		}
		if err := json.NewEncoder(w).Encode(map[string]any{"keys": keys}); err != nil {
			t.Errorf("encode JWKS: %v", err)
		}
	}))
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

// publish replaces the published keys with fresh ones under kids.
func (p *idp) publish(kids ...string) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = map[string]*rsa.PrivateKey{}
	for _, kid := range kids {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			p.t.Fatal(err)
		}
		p.keys[kid] = k
	}
}

func (p *idp) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// token mints one of the provider's access tokens, shaped like Auth0's: typ
// JWT, no jti unless claims add one.
func (p *idp) token(kid, sub string, claims jwt.MapClaims) string {
	p.t.Helper()
	c := jwt.MapClaims{"iss": p.url + "/", "sub": sub, "aud": "api", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(), "azp": "spa"}
	for k, v := range claims {
		c[k] = v
	}
	return p.sign(kid, "", c)
}

// sign signs claims with the provider's key kid, with typ as the typ
// header, or golang-jwt's "JWT" when it is empty.
func (p *idp) sign(kid, typ string, claims jwt.MapClaims) string {
	p.t.Helper()
	p.mu.Lock()
	key := p.keys[kid]
	p.mu.Unlock()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kid
	if typ != "" {
		tok.Header["typ"] = typ
	}
	s, err := tok.SignedString(key)
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

// trustedIssuerYAML is the trusted_issuers setting that trusts the
// provider, its keys fetched from its JWKS, for audience api and RS256;
// more settings of the entry ("    max_token_lifetime: 2h\n"), or
// top-level ones, may follow it.
func (p *idp) trustedIssuerYAML() string {
	return fmt.Sprintf(`trusted_issuers:
  - issuer: %q
    jwks_url: %q
    audience: api
    algorithms: [RS256]
`, p.url+"/", p.url+"/.well-known/jwks.json")
}

func TestATrustedIssuersTokensAreVerifiedAndRevokedLikeOurs(t *testing.T) {
	provider := newIDP(t, "k1")
	iss := provider.url + "/"
	ts := startServerYAML(t, nil, oauthClients+provider.trustedIssuerYAML()+"    max_token_lifetime: 2h\n")
	verify := func(token string) response {
		t.Helper()
		return ts.do(http.MethodGet, "/v1/verify", "Bearer "+token, "", nil)
	}
	want := func(name, token string, status int) {
		t.Helper()
		if got := verify(token).status; got != status {
			t.Errorf("%s: verify = %d, want %d", name, got, status)
		}
	}

	a1 := provider.token("k1", "42", nil)
	r := verify(a1)
	if r.status != http.StatusOK || r.header.Get("X-Auth-Request-User") != "42" || r.header.Get("X-Auth-Request-Issuer") != iss {
		t.Fatalf("verify(provider's token) = %d, user %q, issuer %q; want 200, 42, %s\n%s", r.status, r.header.Get("X-Auth-Request-User"), r.header.Get("X-Auth-Request-Issuer"), iss, ts.logs)
	}

	// The provider rotates its key; the first token of the new key makes
	// tokenguard fetch the set again.
	provider.publish("k2")
	a2 := provider.token("k2", "42", jwt.MapClaims{"jti": "idp-jti-2"})
	want("a token of the provider's new key", a2, http.StatusOK)
	// The provider goes down: the cached keys keep working.
	provider.setDown(true)
	// Without jti, two tokens minted in the same second with the same claims
	// are the same token (RS256 is deterministic); each below differs.
	a3 := provider.token("k2", "42", jwt.MapClaims{"n": 3})
	want("a token of the cached key while the provider is down", a3, http.StatusOK)
	want("a token of the key the provider retired", a1, http.StatusUnauthorized)

	// Revoked alone: by token (no jti: the derived id), by jti and exp, and
	// through RFC 7009.
	if r := ts.do(http.MethodPost, "/v1/admin/revocations", adminAuth, "application/json", []byte(fmt.Sprintf(`{"token":%q}`, a3))); r.status != http.StatusNoContent {
		t.Fatalf("admin revocation of the provider's token = %d %s, want 204", r.status, r.body)
	}
	want("the provider's token revoked by an admin", a3, http.StatusUnauthorized)
	want("another token of the same user", a2, http.StatusOK)
	// Its jti is the provider's: revoking it names the issuer.
	exp := time.Now().Add(time.Hour).Unix()
	ourExp := time.Now().Add(testAccessTTL).Unix()
	if r := ts.do(http.MethodPost, "/v1/admin/revocations", adminAuth, "application/json", []byte(fmt.Sprintf(`{"jti":"idp-jti-2","exp":%d}`, ourExp))); r.status != http.StatusNoContent {
		t.Fatalf("admin revocation by jti = %d %s, want 204", r.status, r.body)
	}
	want("the provider's token after revoking our jti of the same value", a2, http.StatusOK)
	if r := ts.do(http.MethodPost, "/v1/admin/revocations", adminAuth, "application/json", []byte(fmt.Sprintf(`{"jti":"idp-jti-2","exp":%d,"issuer":%q}`, exp, iss))); r.status != http.StatusNoContent {
		t.Fatalf("admin revocation by jti = %d %s, want 204", r.status, r.body)
	}
	want("the provider's token revoked by jti", a2, http.StatusUnauthorized)
	a4 := provider.token("k2", "42", jwt.MapClaims{"n": 4})
	if got := ts.form("/oauth2/introspect", "gateway:gateway-secret-1", url.Values{"token": {a4}}).json(t); got["active"] != true || got["iss"] != iss || got["client_id"] != "spa" {
		t.Errorf("introspection of the provider's token = %v, want active, its issuer, client_id from azp", got)
	}
	if r := ts.form("/oauth2/revoke", "backend:backend-secret-1", url.Values{"token": {a4}}); r.status != http.StatusOK {
		t.Fatalf("RFC 7009 revocation of the provider's token = %d %s, want 200", r.status, r.body)
	}
	want("the provider's token revoked through RFC 7009", a4, http.StatusUnauthorized)

	// Their user 42 and ours are different people.
	ours := ts.session("42")
	a5 := provider.token("k2", "42", jwt.MapClaims{"n": 5})
	if r := ts.do(http.MethodPost, "/v1/admin/users/42/logout?issuer="+url.QueryEscape(iss), adminAuth, "", nil); r.status != http.StatusNoContent {
		t.Fatalf("admin logout of the provider's user 42 = %d %s, want 204", r.status, r.body)
	}
	want("the provider's user 42 after an admin logged them out", a5, http.StatusUnauthorized)
	ts.wantVerify(ours, http.StatusOK, "our user 42 is not the provider's")
	// Their cut-off lasts as long as their tokens may: max_token_lifetime.
	ts.wantTTLNear("tg:{*}:u:"+iss+"\x1f42", time.Now().Add(2*time.Hour))
	if r := ts.do(http.MethodPost, "/v1/admin/users/42/logout?issuer="+url.QueryEscape("https://unknown.test/"), adminAuth, "", nil); r.status != http.StatusBadRequest {
		t.Errorf("admin logout of an unknown issuer's user = %d, want 400", r.status)
	}
}
