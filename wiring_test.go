package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenguard/tokenguard/config"
)

// TestEachOwnerRefusesItsSettingsNamingThem feeds checkConfig files whose
// shape config accepts and whose content breaks a rule that auth, clients,
// handlers or blacklist owns: each refusal must name the setting by its YAML
// path, as config's own do.
func TestEachOwnerRefusesItsSettingsNamingThem(t *testing.T) {
	issuer := func(fields string) string { return "dev: true\ntrusted_issuers:\n  - {" + fields + "}\n" }
	const ok = "issuer: https://idp.test/, audience: api, algorithms: [RS256]"
	const prod = "redis:\n  addrs: [127.0.0.1:6379]\nkeys:\n  - {kid: a, alg: HS256, secret_env: X}\n"
	hmac := map[string]string{"X": strings.Repeat("k", 32)}
	cases := []struct {
		name, yaml string
		env        map[string]string
		want       string
	}{
		{"an unknown revocation mode", "dev: true\nrevocation:\n  mode: sometimes\n", nil, `revocation.mode: unknown revocation mode "sometimes"`},
		{"a revocation mode without a check", "dev: true\nrevocation:\n  mode: off\n", nil, `revocation.mode: unknown revocation mode "off"`},
		{"a revocation mode without a check in the environment", "dev: true\n", map[string]string{"TOKENGUARD_REVOCATION_MODE": "off"}, `revocation.mode: unknown revocation mode "off"`},
		{"an unknown algorithm", "dev: true\nkeys:\n  - {kid: a, alg: HS512, secret_env: X}\n", nil, "keys[0].alg"},
		{"two signing keys", "dev: true\nkeys:\n  - {kid: a, alg: HS256, secret_env: X}\n  - {kid: b, alg: HS256, secret_env: Y}\n", nil, "exactly one key must sign"},
		{"a duplicate kid", "dev: true\nkeys:\n  - {kid: a, alg: HS256, secret_env: X}\n  - {kid: a, alg: HS256, secret_env: Y, verify_only: true}\n", nil, "duplicate kid"},
		{"a short HMAC secret", "dev: true\nkeys:\n  - {kid: a, alg: HS256, secret_env: X}\n", map[string]string{"X": "too-short"}, "keys[0].secret_env: $X: an HMAC secret needs at least 32 bytes"},
		{"a client with two secrets", "dev: true\nclients:\n  - {id: a, secret: x, secret_env: Y}\n", nil, "clients[0]: set exactly one"},
		{"an unknown permission", "dev: true\nclients:\n  - {id: a, secret: x, permissions: [root]}\n", nil, `unknown permission "root"`},
		{"a bad secret hash", "dev: true\nclients:\n  - {id: a, secret_sha256: abc}\n", nil, "clients[0].secret_sha256"},
		{"production with a clear-text client secret", prod + "clients:\n  - {id: a, secret: s3cr3t}\n", hmac, "clients[0].secret: a clear-text secret"},
		{"a proxy that is not an address", "dev: true\nverify:\n  trusted_proxies: [gateway]\n", nil, "verify.trusted_proxies[0]"},
		{"a proxy from the environment that is not an address", "dev: true\n", map[string]string{"TOKENGUARD_VERIFY_TRUSTED_PROXIES": "10.0.0.1, 300.1.1.1"}, "verify.trusted_proxies[1]"},
		{"an issuer without a name", issuer("audience: api, algorithms: [RS256], jwks_url: https://idp.test/jwks"), nil, "trusted_issuers[0].issuer: must not be empty"},
		{"an issuer with a fragment", issuer("issuer: 'https://idp.test/#x', audience: api, algorithms: [RS256], jwks_url: https://idp.test/jwks"), nil, "must not contain '#'"},
		{"our own issuer as trusted", issuer("issuer: http://localhost:8080, audience: api, algorithms: [RS256], jwks_url: https://idp.test/jwks"), nil, "is our own issuer"},
		{"an issuer without audience", issuer("issuer: https://idp.test/, algorithms: [RS256], jwks_url: https://idp.test/jwks"), nil, "trusted_issuers[0].audience"},
		{"an issuer without algorithms", issuer("issuer: https://idp.test/, audience: api, jwks_url: https://idp.test/jwks"), nil, "trusted_issuers[0].algorithms"},
		{"an HMAC algorithm", issuer("issuer: https://idp.test/, audience: api, algorithms: [HS256], jwks_url: https://idp.test/jwks"), nil, `"HS256" is not allowed`},
		{"neither a JWKS URL nor a key file", issuer(ok), nil, "set exactly one of jwks_url and public_key_file"},
		{"both a JWKS URL and a key file", issuer(ok + ", jwks_url: https://idp.test/jwks, public_key_file: /k.pem"), nil, "set exactly one"},
		{"a JWKS URL that is not a URL", issuer(ok + ", jwks_url: idp.test/jwks"), nil, "trusted_issuers[0].jwks_url"},
		{"a negative max_token_lifetime", issuer(ok + ", jwks_url: https://idp.test/jwks, max_token_lifetime: -1h"), nil, "trusted_issuers[0].max_token_lifetime: must not be negative"},
		{"a JWKS over plain http in production", prod + "trusted_issuers:\n  - {" + ok + ", jwks_url: http://idp.test/jwks}\n", hmac, "refuses keys fetched over plain http"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			getenv := func(k string) string { return c.env[k] }
			path := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(path, []byte(c.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(path, true, getenv)
			if err != nil {
				t.Fatalf("config.Load = %v; want config to check the shape only and leave this rule to its owner", err)
			}
			_, err = checkConfig(cfg, getenv)
			if err == nil {
				t.Fatalf("checkConfig succeeded, want an error naming %s", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("checkConfig error = %q, want it to contain %q", err, c.want)
			}
		})
	}
}

// TestABadRuleStopsStartUpBeforeConnecting gives run a store that cannot
// be reached: a configuration that breaks a rule must be refused for that
// rule, not for the store, as config's own checks always were.
func TestABadRuleStopsStartUpBeforeConnecting(t *testing.T) {
	const store = "redis:\n  addrs: [127.0.0.1:1]\n  dial_timeout: 10s\n"
	const base = store + "keys:\n  - {kid: h1, alg: HS256, secret_env: TG_TEST_HMAC}\n"
	env := map[string]string{"TG_TEST_HMAC": strings.Repeat("k", 32)}
	for _, c := range []struct{ name, yaml, want string }{
		{"an unknown revocation mode", base + "revocation:\n  mode: sometimes\n", "configuration: revocation.mode"},
		{"a bad trusted proxy", base + "verify:\n  trusted_proxies: [gateway]\n", "configuration: verify.trusted_proxies[0]"},
		{"a bad client", base + "clients:\n  - {id: app, secret_sha256: abc}\n", "configuration: clients[0].secret_sha256"},
		{"a bad key", store + "keys:\n  - {kid: e1, alg: ES256, private_key_file: /nonexistent.pem, secret_env: TG_TEST_HMAC}\n", "configuration: keys[0]: a ES256 key takes key files"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(path, []byte(c.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			err := run(context.Background(), []string{"-config", path}, func(k string) string { return env[k] }, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("run = %v, want the refusal %q before any connection", err, c.want)
			}
		})
	}
}
