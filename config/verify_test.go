package config

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestVerifySettingsLoadFromFileAndEnvironment(t *testing.T) {
	cfg, err := Load(writeFile(t, `
dev: true
verify:
  cookie: tg_at
  trusted_proxies: [127.0.0.1, 10.0.0.0/8]
trusted_issuers:
  - issuer: https://idp.example.test/
    jwks_url: https://idp.example.test/.well-known/jwks.json
    audience: api
    algorithms: [RS256, ES256]
    max_token_lifetime: 1h
  - issuer: https://other.example.test
    public_key_file: /etc/tokenguard/other.pem
    audience: api
    algorithms: [EdDSA]
`), true, env(map[string]string{
		"TOKENGUARD_VERIFY_CACHE_MAX_AGE": "5s",
		"TOKENGUARD_VERIFY_GROUPS_CLAIM":  "https://example.test/groups",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Verify{
		Cookie:         "tg_at",
		TrustedProxies: []string{"127.0.0.1", "10.0.0.0/8"},
		CacheMaxAge:    5 * time.Second,
		EmailClaim:     "email",
		GroupsClaim:    "https://example.test/groups",
	}
	if diff := cmp.Diff(cfg.Verify, want); diff != "" {
		t.Errorf("verify (-got +want):\n%s", diff)
	}
	if got := len(cfg.TrustedIssuers); got != 2 {
		t.Fatalf("trusted_issuers has %d entries, want 2", got)
	}
	if diff := cmp.Diff(cfg.TrustedIssuers[0], TrustedIssuer{
		Issuer: "https://idp.example.test/", JWKSURL: "https://idp.example.test/.well-known/jwks.json",
		Audience: "api", Algorithms: []string{"RS256", "ES256"}, MaxTokenLifetime: time.Hour,
	}); diff != "" {
		t.Errorf("trusted_issuers[0] (-got +want):\n%s", diff)
	}
}

func TestBadVerifySettingsStopStartUpNamingTheSetting(t *testing.T) {
	issuer := func(fields string) string { return "dev: true\ntrusted_issuers:\n  - {" + fields + "}\n" }
	const ok = "issuer: https://idp.test/, audience: api, algorithms: [RS256]"
	cases := []refusal{
		{"a cookie name with a space", "dev: true\nverify:\n  cookie: my cookie\n", nil, "verify.cookie"},
		{"a negative cache age", "dev: true\nverify:\n  cache_max_age: -1s\n", nil, "verify.cache_max_age"},
		{"a cache age past the token lifetime", "dev: true\nverify:\n  cache_max_age: 16m\n", nil, "verify.cache_max_age"},
		{"a cache age in fractions of a second", "dev: true\nverify:\n  cache_max_age: 1500ms\n", nil, "verify.cache_max_age"},
		{"an unknown field in a trusted issuer", issuer(ok + ", jwks: https://idp.test/jwks"), nil, "unknown setting"},
	}
	wantRefusals(t, cases)
}
