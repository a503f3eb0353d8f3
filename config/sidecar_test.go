package config

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSidecarSettingsLoadFromFileAndEnvironment(t *testing.T) {
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
		Audience: "api", Algorithms: []string{"RS256", "ES256"},
	}); diff != "" {
		t.Errorf("trusted_issuers[0] (-got +want):\n%s", diff)
	}
}

func TestBadSidecarSettingsStopStartUpNamingTheSetting(t *testing.T) {
	const prod = "redis:\n  addrs: [127.0.0.1:6379]\nkeys:\n  - {kid: a, alg: HS256, secret_env: X}\n"
	issuer := func(fields string) string { return "dev: true\ntrusted_issuers:\n  - {" + fields + "}\n" }
	const ok = "issuer: https://idp.test/, audience: api, algorithms: [RS256]"
	cases := []refusal{
		{"a cookie name with a space", "dev: true\nverify:\n  cookie: my cookie\n", nil, "verify.cookie"},
		{"a proxy that is not an address", "dev: true\nverify:\n  trusted_proxies: [gateway]\n", nil, "verify.trusted_proxies[0]"},
		{"a proxy from the environment that is not an address", "dev: true\n", map[string]string{"TOKENGUARD_VERIFY_TRUSTED_PROXIES": "10.0.0.1, 300.1.1.1"}, "verify.trusted_proxies[1]"},
		{"a negative cache age", "dev: true\nverify:\n  cache_max_age: -1s\n", nil, "verify.cache_max_age"},
		{"a cache age past the token lifetime", "dev: true\nverify:\n  cache_max_age: 16m\n", nil, "verify.cache_max_age"},
		{"a cache age in fractions of a second", "dev: true\nverify:\n  cache_max_age: 1500ms\n", nil, "verify.cache_max_age"},
		{"an issuer without a name", issuer("audience: api, algorithms: [RS256], jwks_url: https://idp.test/jwks"), nil, "trusted_issuers[0].issuer: must not be empty"},
		{"an issuer with a fragment", issuer("issuer: 'https://idp.test/#x', audience: api, algorithms: [RS256], jwks_url: https://idp.test/jwks"), nil, "must not contain '#'"},
		{"our own issuer as trusted", issuer("issuer: http://localhost:8080, audience: api, algorithms: [RS256], jwks_url: https://idp.test/jwks"), nil, "is our own issuer"},
		{"an issuer without audience", issuer("issuer: https://idp.test/, algorithms: [RS256], jwks_url: https://idp.test/jwks"), nil, "trusted_issuers[0].audience"},
		{"an issuer without algorithms", issuer("issuer: https://idp.test/, audience: api, jwks_url: https://idp.test/jwks"), nil, "trusted_issuers[0].algorithms"},
		{"an HMAC algorithm", issuer("issuer: https://idp.test/, audience: api, algorithms: [HS256], jwks_url: https://idp.test/jwks"), nil, `"HS256" is not allowed`},
		{"neither a JWKS URL nor a key file", issuer(ok), nil, "set exactly one of jwks_url and public_key_file"},
		{"both a JWKS URL and a key file", issuer(ok + ", jwks_url: https://idp.test/jwks, public_key_file: /k.pem"), nil, "set exactly one"},
		{"a JWKS URL that is not a URL", issuer(ok + ", jwks_url: idp.test/jwks"), nil, "trusted_issuers[0].jwks_url"},
		{"a JWKS over plain http in production", prod + "trusted_issuers:\n  - {" + ok + ", jwks_url: http://idp.test/jwks}\n", nil, "refuses keys fetched over plain http"},
		{"an unknown field in a trusted issuer", issuer(ok + ", jwks: https://idp.test/jwks"), nil, "unknown setting"},
	}
	wantRefusals(t, cases)
}

func TestParseProxyTakesAddressesAndCIDRs(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1":        "127.0.0.1/32",
		"10.1.2.3/8":       "10.0.0.0/8",
		"::1":              "::1/128",
		"::ffff:192.0.2.1": "192.0.2.1/32",
		"fd00::/8":         "fd00::/8",
	} {
		got, err := ParseProxy(in)
		if err != nil || got != netip.MustParsePrefix(want) {
			t.Errorf("ParseProxy(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
}
