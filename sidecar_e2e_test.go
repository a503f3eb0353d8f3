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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/lestrrat-go/jwx/v3/jwk"
	jwxjwt "github.com/lestrrat-go/jwx/v3/jwt"
)

// oauthClients are the extra clients of the sidecar tests: a gateway that
// introspects and an app backend that revokes.
const oauthClients = `  - {id: gateway, secret: gateway-secret-1, permissions: [introspect]}
  - {id: backend, secret: backend-secret-1, permissions: [revoke]}
`

// postForm sends a form to an OAuth endpoint with Basic client credentials.
func (ts *testServer) postForm(path, client string, form url.Values) response {
	ts.t.Helper()
	return ts.do(http.MethodPost, path, client, "application/x-www-form-urlencoded", []byte(form.Encode()))
}

func TestIntrospectionAndRevocationOverHTTP(t *testing.T) {
	ts := startServerYAML(t, nil, oauthClients)
	s := ts.session("alice")
	introspect := func(token string) map[string]any {
		t.Helper()
		r := ts.postForm("/oauth2/introspect", "gateway:gateway-secret-1", url.Values{"token": {token}})
		if r.status != http.StatusOK {
			t.Fatalf("introspect = %d %s, want 200", r.status, r.body)
		}
		return r.json(t)
	}

	got := introspect(s.token)
	want := map[string]any{
		"active": true, "sub": "alice", "iss": "https://tokenguard.test", "aud": "api", "client_id": "app",
		"scope": "read write", "sid": s.sid, "jti": s.jti, "exp": float64(s.exp.Unix()), "iat": got["iat"],
		"token_type": "Bearer", "token_use": "access_token",
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("introspection of a live token (-got +want):\n%s", diff)
	}

	if r := ts.postForm("/oauth2/revoke", "backend:backend-secret-1", url.Values{"token": {s.token}, "token_type_hint": {"refresh_token"}}); r.status != http.StatusOK {
		t.Fatalf("revoke = %d %s, want 200", r.status, r.body)
	}
	ts.wantVerify(s, http.StatusUnauthorized, "revoked through RFC 7009")
	ts.wantTTLNear("tg:{*}:j:"+s.jti, s.exp)
	if diff := cmp.Diff(introspect(s.token), map[string]any{"active": false}); diff != "" {
		t.Errorf("introspection of the revoked token (-got +want):\n%s", diff)
	}
	for _, token := range []string{"unknown-opaque-token", s.token, "a.b.c"} {
		if r := ts.postForm("/oauth2/revoke", "backend:backend-secret-1", url.Values{"token": {token}}); r.status != http.StatusOK {
			t.Errorf("revoke %q = %d %s, want 200 (RFC 7009 §2.2)", token, r.status, r.body)
		}
	}
	for _, client := range []string{"backend:wrong", "ghost:backend-secret-1", ""} {
		r := ts.postForm("/oauth2/introspect", client, url.Values{"token": {s.token}})
		if r.status != http.StatusUnauthorized || r.json(t)["error"] != "invalid_client" {
			t.Errorf("introspect as %q = %d %s, want 401 invalid_client", client, r.status, r.body)
		}
	}

	other := ts.session("bob")
	ts.redis.Stop()
	r := ts.postForm("/oauth2/revoke", "backend:backend-secret-1", url.Values{"token": {other.token}})
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Errorf("revoke with Redis down = %d %s (Retry-After %q), want 503 with Retry-After", r.status, r.body, r.header.Get("Retry-After"))
	}
	ts.redis.Restart()
	ts.wantVerify(other, http.StatusOK, "a revocation answered 503 was not made")
}

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
	p.mu.Lock()
	key := p.keys[kid]
	p.mu.Unlock()
	c := jwt.MapClaims{"iss": p.url + "/", "sub": sub, "aud": "api", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(), "azp": "spa"}
	for k, v := range claims {
		c[k] = v
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

func TestATrustedIssuersTokensAreVerifiedAndRevokedLikeOurs(t *testing.T) {
	provider := newIDP(t, "k1")
	iss := provider.url + "/"
	ts := startServerYAML(t, nil, oauthClients+fmt.Sprintf(`trusted_issuers:
  - issuer: %q
    jwks_url: %q
    audience: api
    algorithms: [RS256]
`, iss, provider.url+"/.well-known/jwks.json"))
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
	exp := time.Now().Add(time.Hour).Unix()
	if r := ts.do(http.MethodPost, "/v1/admin/revocations", adminAuth, "application/json", []byte(fmt.Sprintf(`{"jti":"idp-jti-2","exp":%d}`, exp))); r.status != http.StatusNoContent {
		t.Fatalf("admin revocation by jti = %d %s, want 204", r.status, r.body)
	}
	want("the provider's token revoked by jti", a2, http.StatusUnauthorized)
	a4 := provider.token("k2", "42", jwt.MapClaims{"n": 4})
	if got := ts.postForm("/oauth2/introspect", "gateway:gateway-secret-1", url.Values{"token": {a4}}).json(t); got["active"] != true || got["iss"] != iss || got["client_id"] != "spa" {
		t.Errorf("introspection of the provider's token = %v, want active, its issuer, client_id from azp", got)
	}
	if r := ts.postForm("/oauth2/revoke", "backend:backend-secret-1", url.Values{"token": {a4}}); r.status != http.StatusOK {
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
	ts.wantTTLNear("tg:{*}:u:"+iss+"#42", time.Now().Add(testAccessTTL))
	if r := ts.do(http.MethodPost, "/v1/admin/users/42/logout?issuer="+url.QueryEscape("https://unknown.test/"), adminAuth, "", nil); r.status != http.StatusBadRequest {
		t.Errorf("admin logout of an unknown issuer's user = %d, want 400", r.status)
	}
}

func TestOurJWKSVerifiesOurTokensWithAnotherLibrary(t *testing.T) {
	ts := startServer(t)
	s := ts.session("alice")
	r := ts.do(http.MethodGet, "/.well-known/jwks.json", "", "", nil)
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Cache-Control"), "public, max-age=") {
		t.Fatalf("GET jwks = %d (Cache-Control %q), want 200 and public caching", r.status, r.header.Get("Cache-Control"))
	}
	set, err := jwk.Parse(r.body)
	if err != nil {
		t.Fatalf("jwx cannot parse our JWKS %s: %v", r.body, err)
	}
	tok, err := jwxjwt.ParseString(s.token, jwxjwt.WithKeySet(set), jwxjwt.WithIssuer("https://tokenguard.test"), jwxjwt.WithAudience("api"))
	if err != nil {
		t.Fatalf("jwx refuses our token against our JWKS: %v", err)
	}
	if sub, _ := tok.Subject(); sub != "alice" {
		t.Errorf("jwx reads sub %q, want alice", sub)
	}

	m := ts.do(http.MethodGet, "/.well-known/oauth-authorization-server", "", "", nil).json(t)
	for k, v := range map[string]string{
		"issuer":                 "https://tokenguard.test",
		"jwks_uri":               "https://tokenguard.test/.well-known/jwks.json",
		"token_endpoint":         "https://tokenguard.test/oauth2/token",
		"introspection_endpoint": "https://tokenguard.test/oauth2/introspect",
		"revocation_endpoint":    "https://tokenguard.test/oauth2/revoke",
	} {
		if m[k] != v {
			t.Errorf("metadata %s = %v, want %s", k, m[k], v)
		}
	}
}
