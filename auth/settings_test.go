package auth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/auth"
)

// goodSettings are settings that pass Check. The key files do not exist:
// Check reads none.
func goodSettings() auth.Settings {
	return auth.Settings{
		Issuer:   testIssuer,
		Audience: testAudience,
		Keys: []auth.KeyConfig{
			{ID: "new", Alg: "EdDSA", PrivateKeyFile: "/nonexistent/new.pem"},
			{ID: "old", Alg: "RS256", PublicKeyFile: "/nonexistent/old.pem", VerifyOnly: true},
			{ID: "hs", Alg: "HS256", Secret: []byte(strings.Repeat("k", 32)), SecretEnv: "TG_HMAC", VerifyOnly: true},
		},
		TrustedIssuers: []auth.TrustedIssuerConfig{
			{Issuer: foreignIssuer, Audience: "api", Algorithms: []string{"RS256", "ES256"}, JWKSURL: "https://idp.example.test/jwks"},
			{Issuer: "https://other.example.test", Audience: "api", Algorithms: []string{"EdDSA"}, PublicKeyFile: "/nonexistent/other.pem"},
		},
	}
}

func TestSettingsCheckPassesGoodSettingsWithoutReadingFiles(t *testing.T) {
	if err := goodSettings().Check(); err != nil {
		t.Errorf("Check = %v, want nil", err)
	}
	noKeys := goodSettings()
	noKeys.Keys = nil
	if err := noKeys.Check(); err != nil {
		t.Errorf("Check without keys (the caller generates one) = %v, want nil", err)
	}
}

func TestSettingsCheckNamesEveryBadSetting(t *testing.T) {
	secret := strings.Repeat("s", 31)
	cases := []struct {
		name string
		edit func(s *auth.Settings)
		want string
	}{
		{"no issuer", func(s *auth.Settings) { s.Issuer = "" }, "issuer: must not be empty"},
		{"no audience", func(s *auth.Settings) { s.Audience = "" }, "audience: must not be empty"},
		{"an unknown algorithm", func(s *auth.Settings) { s.Keys[0].Alg = "HS512" }, "keys[0].alg"},
		{"alg none", func(s *auth.Settings) { s.Keys[0].Alg = "none" }, `keys[0].alg: want one of [HS256 RS256 ES256 EdDSA], got "none"`},
		{"an empty kid", func(s *auth.Settings) { s.Keys[1].ID = "" }, "keys[1].kid: must not be empty"},
		{"two signing keys", func(s *auth.Settings) { s.Keys[1].VerifyOnly = false; s.Keys[1].PrivateKeyFile = "/k.pem" }, "keys: exactly one key must sign"},
		{"no signing key", func(s *auth.Settings) { s.Keys[0].VerifyOnly = true }, "keys: exactly one key must sign (the others verify_only: true), got 0"},
		{"a duplicate kid", func(s *auth.Settings) { s.Keys[2].ID = "new" }, `keys[2].kid: duplicate kid "new"`},
		{"an HS256 key with a key file", func(s *auth.Settings) { s.Keys[2].PublicKeyFile = "/k.pem" }, "keys[2]: an HS256 key takes its secret from secret_env, and nothing else"},
		{"an HS256 key without secret_env", func(s *auth.Settings) { s.Keys[2].SecretEnv, s.Keys[2].Secret = "", nil }, "keys[2]: an HS256 key takes its secret"},
		{"an HS256 secret from an unset variable", func(s *auth.Settings) { s.Keys[2].Secret = nil }, "keys[2].secret_env: $TG_HMAC: the secret is empty"},
		{"a 31-byte HMAC secret", func(s *auth.Settings) { s.Keys[2].Secret = []byte(secret) }, "keys[2].secret_env: $TG_HMAC: an HMAC secret needs at least 32 bytes, got 31"},
		{"secret_env on an asymmetric key, however empty", func(s *auth.Settings) { s.Keys[0].SecretEnv = "X" }, "keys[0]: a EdDSA key takes key files"},
		{"an asymmetric key without files", func(s *auth.Settings) { s.Keys[1].PublicKeyFile = "" }, "keys[1]: a RS256 key needs private_key_file"},
		{"a signing key with a public key only", func(s *auth.Settings) { s.Keys[0].PrivateKeyFile, s.Keys[0].PublicKeyFile = "", "/k.pem" }, "keys[0]: a signing key needs private_key_file"},
		{"an issuer without a name", func(s *auth.Settings) { s.TrustedIssuers[0].Issuer = "" }, "trusted_issuers[0].issuer: must not be empty"},
		{"an issuer with a fragment", func(s *auth.Settings) { s.TrustedIssuers[0].Issuer = "https://idp.test/#x" }, "must not contain '#'"},
		{"an issuer with a control character", func(s *auth.Settings) { s.TrustedIssuers[0].Issuer = "https://idp.test/\x1f" }, "trusted_issuers[0].issuer: must not contain control characters"},
		{"a negative max_token_lifetime", func(s *auth.Settings) { s.TrustedIssuers[0].MaxTokenLifetime = -time.Hour }, "trusted_issuers[0].max_token_lifetime: must not be negative"},
		{"our own issuer as trusted", func(s *auth.Settings) { s.TrustedIssuers[1].Issuer = testIssuer }, "trusted_issuers[1].issuer: is our own issuer"},
		{"a trusted issuer listed twice", func(s *auth.Settings) { s.TrustedIssuers[1].Issuer = foreignIssuer }, "trusted_issuers[1].issuer: duplicate trusted issuer"},
		{"an issuer without audience", func(s *auth.Settings) { s.TrustedIssuers[0].Audience = "" }, "trusted_issuers[0].audience"},
		{"an issuer without algorithms", func(s *auth.Settings) { s.TrustedIssuers[0].Algorithms = nil }, "trusted_issuers[0].algorithms"},
		{"an HMAC algorithm", func(s *auth.Settings) { s.TrustedIssuers[0].Algorithms = []string{"HS256"} }, `trusted_issuers[0].algorithms: "HS256" is not allowed`},
		{"neither a JWKS URL nor a key file", func(s *auth.Settings) { s.TrustedIssuers[0].JWKSURL = "" }, "trusted_issuers[0]: set exactly one of jwks_url and public_key_file"},
		{"both a JWKS URL and a key file", func(s *auth.Settings) { s.TrustedIssuers[0].PublicKeyFile = "/k.pem" }, "set exactly one"},
		{"a JWKS URL that is not a URL", func(s *auth.Settings) { s.TrustedIssuers[0].JWKSURL = "idp.test/jwks" }, "trusted_issuers[0].jwks_url: want an https URL"},
		{"a JWKS over plain http in production", func(s *auth.Settings) { s.TrustedIssuers[0].JWKSURL = "http://idp.test/jwks" }, "trusted_issuers[0].jwks_url: production mode (dev: false) refuses keys fetched over plain http"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := goodSettings()
			c.edit(&s)
			err := s.Check()
			if err == nil {
				t.Fatalf("Check = nil, want an error naming %s", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("Check = %q, want it to contain %q", err, c.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("Check = %q holds the secret", err)
			}
		})
	}
}

func TestSettingsCheckReportsEveryProblemAtOnce(t *testing.T) {
	s := goodSettings()
	s.Keys[0].Alg = "HS512"
	s.TrustedIssuers[1].Audience = ""
	err := s.Check()
	for _, want := range []string{"keys[0].alg", "trusted_issuers[1].audience"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check = %v, want it to name %s too", err, want)
		}
	}
}

func TestPlainHTTPKeySetsAreForDevelopmentOnly(t *testing.T) {
	s := goodSettings()
	s.TrustedIssuers[0].JWKSURL = "http://idp.test/jwks"
	s.AllowHTTPJWKS = true
	if err := s.Check(); err != nil {
		t.Errorf("Check with AllowHTTPJWKS = %v, want nil", err)
	}
}

func TestHMACSecretsNeedAtLeast32Bytes(t *testing.T) {
	for _, c := range []struct {
		name    string
		secret  string
		wantErr bool
	}{
		{"a 31-byte secret is refused", strings.Repeat("k", 31), true},
		{"a 32-byte secret is accepted", strings.Repeat("k", 32), false},
		{"a short secret is refused", "short", true},
		{"an empty secret is refused", "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := auth.Settings{Issuer: testIssuer, Audience: testAudience, Keys: []auth.KeyConfig{{ID: "hs", Alg: "HS256", Secret: []byte(c.secret), SecretEnv: "TG_HMAC"}}}
			err := s.Check()
			if (err != nil) != c.wantErr {
				t.Errorf("Check = %v, want error: %v", err, c.wantErr)
			}
			_, loadErr := auth.LoadKey(s.Keys[0])
			if (loadErr != nil) != c.wantErr {
				t.Errorf("LoadKey = %v, want error: %v (the same rule as Check)", loadErr, c.wantErr)
			}
			if err != nil && c.secret != "" && strings.Contains(err.Error(), c.secret) {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}
