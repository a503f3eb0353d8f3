package handlers

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/lestrrat-go/jwx/v3/jwk"
	jwxjwt "github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/tokenguard/tokenguard/auth"
)

func TestJWKSAndMetadataDescribeUs(t *testing.T) {
	t.Parallel()
	s := newHarness(t, harnessOptions{})
	r := s.serve(httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	if r.status != http.StatusOK || r.header.Get("Cache-Control") != "public, max-age=300" {
		t.Fatalf("jwks = %d (Cache-Control %q), want 200, public, max-age=300", r.status, r.header.Get("Cache-Control"))
	}
	var set auth.JWKS
	if err := json.Unmarshal([]byte(r.body), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks body %s: %v, want one key", r.body, err)
	}
	if k := set.Keys[0]; k.Kid != "k1" || k.Alg != "EdDSA" || k.Use != "sig" {
		t.Errorf("jwk = %+v, want kid k1, alg EdDSA, use sig", k)
	}

	r = s.serve(httptest.NewRequest(http.MethodGet, "/.well-known/oauth-authorization-server", nil))
	methods := []any{"client_secret_basic", "client_secret_post"}
	want := map[string]any{
		"issuer":                                testIssuer,
		"jwks_uri":                              testIssuer + "/.well-known/jwks.json",
		"token_endpoint":                        testIssuer + "/oauth2/token",
		"token_endpoint_auth_methods_supported": methods,
		"grant_types_supported":                 []any{"refresh_token", "client_credentials"},
		"response_types_supported":              []any{},
		"introspection_endpoint":                testIssuer + "/oauth2/introspect",
		"introspection_endpoint_auth_methods_supported": methods,
		"revocation_endpoint":                           testIssuer + "/oauth2/revoke",
		"revocation_endpoint_auth_methods_supported":    methods,
	}
	if diff := cmp.Diff(r.json(t), want); diff != "" {
		t.Errorf("metadata (-got +want):\n%s", diff)
	}
}

func TestMetadataPathsFollowRFC8414(t *testing.T) {
	t.Parallel()
	for issuer, want := range map[string][]string{
		"https://auth.example.test":          {"/.well-known/oauth-authorization-server"},
		"https://auth.example.test/":         {"/.well-known/oauth-authorization-server"},
		"https://example.test/tenants/acme/": {"/.well-known/oauth-authorization-server", "/.well-known/oauth-authorization-server/tenants/acme"},
	} {
		if diff := cmp.Diff(metadataPaths(issuer), want); diff != "" {
			t.Errorf("metadataPaths(%q) (-got +want):\n%s", issuer, diff)
		}
	}
}

// TestOurJWKSVerifiesOurTokensWithAnotherLibrary fetches our JWKS and
// metadata as a third party would and verifies a session's access token,
// RS256 as in production, with lestrrat-go/jwx rather than golang-jwt.
func TestOurJWKSVerifiesOurTokensWithAnotherLibrary(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{rsa: true})
	s := h.login("app", "alice", "laptop")
	r := h.do(http.MethodGet, "/.well-known/jwks.json", "", "", "")
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Cache-Control"), "public, max-age=") {
		t.Fatalf("GET jwks = %d (Cache-Control %q), want 200 and public caching", r.status, r.header.Get("Cache-Control"))
	}
	set, err := jwk.Parse([]byte(r.body))
	if err != nil {
		t.Fatalf("jwx cannot parse our JWKS %s: %v", r.body, err)
	}
	tok, err := jwxjwt.ParseString(s.token, jwxjwt.WithKeySet(set), jwxjwt.WithClock(jwxjwt.ClockFunc(h.now)),
		jwxjwt.WithIssuer(testIssuer), jwxjwt.WithAudience("api"))
	if err != nil {
		t.Fatalf("jwx refuses our token against our JWKS: %v", err)
	}
	if sub, _ := tok.Subject(); sub != "alice" {
		t.Errorf("jwx reads sub %q, want alice", sub)
	}

	m := h.do(http.MethodGet, "/.well-known/oauth-authorization-server", "", "", "").json(t)
	for k, v := range map[string]string{
		"issuer":                 testIssuer,
		"jwks_uri":               testIssuer + "/.well-known/jwks.json",
		"token_endpoint":         testIssuer + "/oauth2/token",
		"introspection_endpoint": testIssuer + "/oauth2/introspect",
		"revocation_endpoint":    testIssuer + "/oauth2/revoke",
	} {
		if m[k] != v {
			t.Errorf("metadata %s = %v, want %s", k, m[k], v)
		}
	}
}
