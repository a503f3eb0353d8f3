package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// refusal is a configuration that must stop start-up, and the text its
// error must contain (the name of the bad setting).
type refusal struct {
	name, yaml string
	env        map[string]string
	want       string
}

func wantRefusals(t *testing.T, cases []refusal) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(writeFile(t, c.yaml), true, env(c.env))
			if err == nil {
				t.Fatalf("Load succeeded, want an error naming %s", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("Load error = %q, want it to contain %q", err, c.want)
			}
		})
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

const devYAML = `
dev: true
listen: 127.0.0.1:9000
redis:
  key_prefix: "app:"
tokens:
  access_ttl: 5m
clients:
  - id: app
    secret: dev-app-secret
    permissions: [sessions]
`

func TestPrecedenceIsDefaultsThenFileThenEnvironment(t *testing.T) {
	cfg, err := Load(writeFile(t, devYAML), true, env(map[string]string{
		"TOKENGUARD_LISTEN":                 "127.0.0.1:9100",
		"TOKENGUARD_REDIS_ADDRS":            "10.0.0.1:6379, 10.0.0.2:6379",
		"TOKENGUARD_REDIS_PASSWORD":         "pw",
		"TOKENGUARD_REDIS_MIN_REPLICAS_ACK": "1",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := cfg.Listen, "127.0.0.1:9100"; got != want {
		t.Errorf("listen = %q, want %q (env over file)", got, want)
	}
	if diff := cmp.Diff([]string{"10.0.0.1:6379", "10.0.0.2:6379"}, cfg.Redis.Addrs); diff != "" {
		t.Errorf("redis.addrs from a comma-separated env var (-want +got):\n%s", diff)
	}
	if got, want := cfg.Redis.Password, "pw"; got != want {
		t.Errorf("redis.password = %q, want %q", got, want)
	}
	if got, want := cfg.Redis.MinReplicasAck, 1; got != want {
		t.Errorf("redis.min_replicas_ack = %d, want %d from the environment", got, want)
	}
	if got, want := cfg.Redis.KeyPrefix, "app:"; got != want {
		t.Errorf("redis.key_prefix = %q, want %q (file over default)", got, want)
	}
	if got, want := cfg.Tokens.AccessTTL, 5*time.Minute; got != want {
		t.Errorf("tokens.access_ttl = %v, want %v", got, want)
	}
	if got, want := cfg.Tokens.Leeway, 30*time.Second; got != want {
		t.Errorf("tokens.leeway = %v, want the default %v", got, want)
	}
}

func TestBadSettingsStopStartUpNamingTheSetting(t *testing.T) {
	cases := []refusal{
		{"an unknown key", "dev: true\nredis:\n  adress: x\n", nil, `unknown setting "redis.adress"`},
		{"an unknown top-level key", "dev: true\nlisten_addr: x\n", nil, `unknown setting "listen_addr"`},
		{"a bad duration", "dev: true\ntokens:\n  access_ttl: fast\n", nil, `"tokens.access_ttl"`},
		{"a bad integer", "dev: true\nredis:\n  db: zero\n", nil, `"redis.db"`},
		{"a bad duration in the environment", "dev: true\n", map[string]string{"TOKENGUARD_TOKENS_LEEWAY": "soon"}, "TOKENGUARD_TOKENS_LEEWAY"},
		{"a bad boolean in the environment", "", map[string]string{"TOKENGUARD_DEV": "maybe"}, "TOKENGUARD_DEV"},
		{"a negative TTL", "dev: true\ntokens:\n  access_ttl: -1m\n", nil, "tokens.access_ttl: must be positive"},
		{"a refresh lifetime shorter than the access tokens", "dev: true\ntokens:\n  access_ttl: 1h\n  refresh_ttl: 30m\n", nil, "tokens.refresh_ttl: want tokens.access_ttl"},
		{"a session limit over a year", "dev: true\ntokens:\n  session_max_age: 9000h\n", nil, "tokens.session_max_age"},
		{"a negative reuse window", "dev: true\ntokens:\n  refresh_reuse_window: -1s\n", nil, "tokens.refresh_reuse_window"},
		{"a reuse window over a minute", "dev: true\ntokens:\n  refresh_reuse_window: 2m\n", nil, "tokens.refresh_reuse_window"},
		{"a negative replica count", "dev: true\nredis:\n  addrs: [127.0.0.1:6379]\n  min_replicas_ack: -1\n", nil, "redis.min_replicas_ack: want 0"},
		{"replicas of the embedded store", "dev: true\nredis:\n  min_replicas_ack: 1\n", nil, "redis.min_replicas_ack: needs redis.addrs"},
		{"a negative session cap", "dev: true\nsessions:\n  max_per_user: -1\n", nil, "sessions.max_per_user"},
		{"no event retention", "dev: true\nevents:\n  retention: 0s\n", nil, "events.retention"},
		{"no failed client authentication allowed", "dev: true\nclient_auth:\n  failures_per_client: 0\n", nil, "client_auth.failures_per_client: want 1 to 10000, got 0"},
		{"no failure allowed per address", "dev: true\nclient_auth:\n  failures_per_ip: 0\n", nil, "client_auth.failures_per_ip: want 1 to 1000000, got 0"},
		{"a client authentication window under a second", "dev: true\nclient_auth:\n  window: 10ms\n", nil, "client_auth.window: want 1s to 24h"},
		{"a client authentication window over a day", "", map[string]string{"TOKENGUARD_DEV": "true", "TOKENGUARD_CLIENT_AUTH_WINDOW": "25h"}, "client_auth.window"},
		{"a console session shorter than a minute", "dev: true\nconsole:\n  session_ttl: 10s\n", nil, "console.session_ttl: want 1m to 24h"},
		{"a console session longer than a day", "", map[string]string{"TOKENGUARD_DEV": "true", "TOKENGUARD_CONSOLE_SESSION_TTL": "25h"}, "console.session_ttl"},
		{"a bad listen address", "dev: true\nlisten: nowhere\n", nil, "listen: want host:port"},
		{"production with the embedded store", "keys:\n  - {kid: a, alg: HS256, secret_env: X}\n", nil, "redis.addrs: production mode"},
		{"production with an ephemeral key", "redis:\n  addrs: [127.0.0.1:6379]\n", nil, "keys: production mode"},
	}
	wantRefusals(t, cases)
}

func TestMissingFileIsAnErrorOnlyWhenAskedFor(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	if _, err := Load(missing, true, env(map[string]string{"TOKENGUARD_DEV": "true"})); err == nil {
		t.Errorf("Load of a missing, explicitly given file succeeded, want an error")
	}
	cfg, err := Load(missing, false, env(map[string]string{"TOKENGUARD_DEV": "true"}))
	if err != nil {
		t.Fatalf("Load of a missing default file: %v, want the defaults", err)
	}
	if got, want := cfg.Listen, Default().Listen; got != want {
		t.Errorf("listen = %q, want the default %q", got, want)
	}
}

func TestEveryScalarSettingHasAnEnvironmentVariable(t *testing.T) {
	byKey := map[string]Field{}
	for _, f := range Fields() {
		byKey[f.Key] = f
	}
	for key, wantEnv := range map[string]string{
		"listen":                 "TOKENGUARD_LISTEN",
		"redis.addrs":            "TOKENGUARD_REDIS_ADDRS",
		"redis.password":         "TOKENGUARD_REDIS_PASSWORD",
		"redis.master_name":      "TOKENGUARD_REDIS_MASTER_NAME",
		"redis.key_prefix":       "TOKENGUARD_REDIS_KEY_PREFIX",
		"tokens.access_ttl":      "TOKENGUARD_TOKENS_ACCESS_TTL",
		"tokens.leeway":          "TOKENGUARD_TOKENS_LEEWAY",
		"dev":                    "TOKENGUARD_DEV",
		"issuer":                 "TOKENGUARD_ISSUER",
		"audience":               "TOKENGUARD_AUDIENCE",
		"redis.db":               "TOKENGUARD_REDIS_DB",
		"redis.username":         "TOKENGUARD_REDIS_USERNAME",
		"redis.min_replicas_ack": "TOKENGUARD_REDIS_MIN_REPLICAS_ACK",
	} {
		f, ok := byKey[key]
		if !ok {
			t.Errorf("Fields has no %q", key)
			continue
		}
		if f.Env != wantEnv {
			t.Errorf("%s: env = %q, want %q", key, f.Env, wantEnv)
		}
	}
	if !byKey["redis.password"].Secret {
		t.Errorf("redis.password is not marked secret")
	}
}

func TestRedactedMasksSecrets(t *testing.T) {
	c := Default()
	c.Redis.Password = "hunter2"
	hash := strings.Repeat("ab", 32)
	c.Clients = []Client{{ID: "a", Secret: "s3cr3t"}, {ID: "b", SecretSHA256: hash}, {ID: "c", SecretEnv: "TG_C"}}
	r := c.Redacted()
	if r.Redis.Password == "hunter2" || r.Clients[0].Secret == "s3cr3t" || strings.Contains(fmt.Sprintf("%+v", r), "abab") {
		t.Errorf("Redacted left a secret: %+v", r)
	}
	// A hash of a weak secret is as good as the secret: it can be cracked
	// offline.
	if got := r.Clients[1].SecretSHA256; got != "***" {
		t.Errorf("Redacted secret_sha256 = %q, want it masked", got)
	}
	if got := r.Clients[2].SecretEnv; got != "TG_C" {
		t.Errorf("Redacted secret_env = %q, want the variable's name, which is no secret", got)
	}
	if c.Clients[0].Secret != "s3cr3t" || c.Clients[1].SecretSHA256 != hash {
		t.Errorf("Redacted changed the original")
	}
}

func TestSessionSettingsHaveDefaultsAndEnvironmentVariables(t *testing.T) {
	byKey := map[string]Field{}
	for _, f := range Fields() {
		byKey[f.Key] = f
	}
	want := []Field{
		{Key: "tokens.refresh_ttl", Env: "TOKENGUARD_TOKENS_REFRESH_TTL", Default: "720h0m0s"},
		{Key: "tokens.session_max_age", Env: "TOKENGUARD_TOKENS_SESSION_MAX_AGE", Default: "2160h0m0s"},
		{Key: "tokens.refresh_reuse_window", Env: "TOKENGUARD_TOKENS_REFRESH_REUSE_WINDOW", Default: "10s"},
		{Key: "sessions.max_per_user", Env: "TOKENGUARD_SESSIONS_MAX_PER_USER", Default: "100"},
		{Key: "events.retention", Env: "TOKENGUARD_EVENTS_RETENTION", Default: "720h0m0s"},
	}
	for _, w := range want {
		if diff := cmp.Diff(w, byKey[w.Key]); diff != "" {
			t.Errorf("Fields()[%s] (-want +got):\n%s", w.Key, diff)
		}
	}
	cfg, err := Load(writeFile(t, devYAML), true, env(map[string]string{"TOKENGUARD_TOKENS_REFRESH_REUSE_WINDOW": "0s", "TOKENGUARD_SESSIONS_MAX_PER_USER": "3"}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Tokens.RefreshReuseWindow != 0 || cfg.Sessions.MaxPerUser != 3 {
		t.Errorf("reuse window %v and cap %d from the environment, want 0s and 3", cfg.Tokens.RefreshReuseWindow, cfg.Sessions.MaxPerUser)
	}
}

func TestADevIssuerFollowsListenUnlessSetExplicitly(t *testing.T) {
	for _, c := range []struct {
		name, yaml string
		env        map[string]string
		want       string
	}{
		{"dev on the default listen address", "dev: true\n", nil, "http://localhost:8080"},
		{"dev with the port moved in the environment", "dev: true\nlisten: 127.0.0.1:8080\n", map[string]string{"TOKENGUARD_LISTEN": "127.0.0.1:9191"}, "http://localhost:9191"},
		{"dev on every interface", "dev: true\nlisten: 0.0.0.0:9000\n", nil, "http://localhost:9000"},
		{"dev on IPv6 loopback", "dev: true\nlisten: \"[::1]:9000\"\n", nil, "http://localhost:9000"},
		{"dev on a named host", "dev: true\nlisten: auth.internal:9000\n", nil, "http://auth.internal:9000"},
		{"dev with the issuer in the file", "dev: true\nissuer: https://auth.example.com\n", map[string]string{"TOKENGUARD_LISTEN": "127.0.0.1:9191"}, "https://auth.example.com"},
		{"dev with the issuer in the environment", "dev: true\n", map[string]string{"TOKENGUARD_LISTEN": "127.0.0.1:9191", "TOKENGUARD_ISSUER": "https://env.example.com"}, "https://env.example.com"},
		{"production keeps the default", "redis:\n  addrs: [10.0.0.1:6379]\nkeys:\n  - {kid: a, alg: HS256, secret_env: X}\nlisten: 127.0.0.1:9000\n", nil, "http://localhost:8080"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Load(writeFile(t, c.yaml), true, env(c.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.Issuer != c.want {
				t.Errorf("issuer = %q, want %q", cfg.Issuer, c.want)
			}
		})
	}
}

func TestLogFormatIsReadEvenFromAConfigurationThatFailsToLoad(t *testing.T) {
	broken := writeFile(t, "log_format: json\nredis:\n  adress: x\n")
	if _, err := Load(broken, true, env(nil)); err == nil {
		t.Fatal("Load of a file with an unknown key succeeded, want an error")
	}
	for _, c := range []struct {
		name, path string
		env        map[string]string
		want       string
	}{
		{"from the file that fails to load", broken, nil, "json"},
		{"from the environment over the file", broken, map[string]string{"TOKENGUARD_LOG_FORMAT": "text"}, "text"},
		{"the default without a file", filepath.Join(t.TempDir(), "none.yaml"), nil, "text"},
		{"the default from a file that is not YAML", writeFile(t, "log_format: [json\n"), nil, "text"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := LogFormat(c.path, env(c.env)); got != c.want {
				t.Errorf("LogFormat = %q, want %q", got, c.want)
			}
		})
	}
}

func TestClientAuthLimitsHaveDefaultsAndEnvironmentVariables(t *testing.T) {
	byKey := map[string]Field{}
	for _, f := range Fields() {
		byKey[f.Key] = f
	}
	want := []Field{
		{Key: "client_auth.failures_per_client", Env: "TOKENGUARD_CLIENT_AUTH_FAILURES_PER_CLIENT", Default: "20"},
		{Key: "client_auth.failures_per_ip", Env: "TOKENGUARD_CLIENT_AUTH_FAILURES_PER_IP", Default: "100"},
		{Key: "client_auth.window", Env: "TOKENGUARD_CLIENT_AUTH_WINDOW", Default: "1m0s"},
	}
	for _, w := range want {
		if diff := cmp.Diff(w, byKey[w.Key]); diff != "" {
			t.Errorf("Fields()[%s] (-want +got):\n%s", w.Key, diff)
		}
	}
	cfg, err := Load(writeFile(t, devYAML+"client_auth:\n  failures_per_client: 5\n"), true, env(map[string]string{"TOKENGUARD_CLIENT_AUTH_WINDOW": "10m"}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := cfg.ClientAuth, (ClientAuth{FailuresPerClient: 5, FailuresPerIP: 100, Window: 10 * time.Minute}); got != want {
		t.Errorf("client_auth = %+v, want %+v", got, want)
	}
}

func TestConsoleSettingsHaveDefaultsAndEnvironmentVariables(t *testing.T) {
	byKey := map[string]Field{}
	for _, f := range Fields() {
		byKey[f.Key] = f
	}
	want := []Field{
		{Key: "console.enabled", Env: "TOKENGUARD_CONSOLE_ENABLED", Default: "false"},
		{Key: "console.session_ttl", Env: "TOKENGUARD_CONSOLE_SESSION_TTL", Default: "30m0s"},
	}
	for _, w := range want {
		if diff := cmp.Diff(w, byKey[w.Key]); diff != "" {
			t.Errorf("Fields()[%s] (-want +got):\n%s", w.Key, diff)
		}
	}
	cfg, err := Load(writeFile(t, devYAML+"console:\n  enabled: true\n"), true, env(map[string]string{"TOKENGUARD_CONSOLE_SESSION_TTL": "10m"}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := cfg.Console, (Console{Enabled: true, SessionTTL: 10 * time.Minute}); got != want {
		t.Errorf("console = %+v, want %+v", got, want)
	}
}
