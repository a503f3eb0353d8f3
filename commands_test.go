package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/tokenguard/tokenguard/adminapi"
	"github.com/tokenguard/tokenguard/config"
)

// runCLI runs the binary's run with args and env as main does, and returns
// what it printed and the exit status main would exit with.
func runCLI(t *testing.T, ctx context.Context, env map[string]string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(ctx, args, func(k string) string { return env[k] }, &out, &errOut)
	status = report(err, &errOut)
	return out.String(), errOut.String(), status
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVersionNamesTheModuleTheRevisionAndGo(t *testing.T) {
	out, errOut, status := runCLI(t, context.Background(), nil, "version")
	if status != 0 || errOut != "" {
		t.Fatalf("version = %d, stderr %q; want 0 and nothing on stderr", status, errOut)
	}
	for _, want := range []string{"tokenguard ", "github.com/tokenguard/tokenguard", runtime.Version()} {
		if !strings.Contains(out, want) {
			t.Errorf("version printed %q, want it to contain %q", out, want)
		}
	}
	for _, c := range []struct {
		name     string
		info     *debug.BuildInfo
		want     []string
		wantNone string
	}{
		{"a clean checkout", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/tokenguard/tokenguard", Version: "v1.2.3"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.modified", Value: "false"}, {Key: "vcs.time", Value: "2026-11-30T10:00:00Z"}}},
			[]string{"tokenguard v1.2.3\n", "revision  0123abcd (2026-11-30T10:00:00Z)\n", "go        go1.26.8 "}, "dirty"},
		{"uncommitted changes", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/tokenguard/tokenguard", Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.modified", Value: "true"}}},
			[]string{"tokenguard (devel)\n", "revision  0123abcd+dirty\n"}, ""},
		{"no VCS information", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/tokenguard/tokenguard", Version: "(devel)"}},
			[]string{"revision  unknown (built without VCS information)\n"}, "dirty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := versionText(c.info)
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("versionText = %q, want it to contain %q", got, w)
				}
			}
			if c.wantNone != "" && strings.Contains(got, c.wantNone) {
				t.Errorf("versionText = %q, want no %q", got, c.wantNone)
			}
		})
	}
}

func TestHelpListsEveryCommandAndExitStatus(t *testing.T) {
	out, _, status := runCLI(t, context.Background(), nil, "help")
	if status != 0 {
		t.Fatalf("help exited %d, want 0", status)
	}
	for _, cmd := range (cli{}).commands() {
		if want := "tokenguard " + cmd.name + " " + cmd.args; !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	for _, s := range exitStatuses() {
		if want := fmt.Sprintf("  %d  %s\n", s.code, s.meaning); !strings.Contains(out, want) {
			t.Errorf("help lacks exit status %d", s.code)
		}
	}
	for _, v := range []string{"TOKENGUARD_URL", "TOKENGUARD_CLIENT_ID", "TOKENGUARD_CLIENT_SECRET"} {
		if !strings.Contains(out, v) {
			t.Errorf("help does not name %s", v)
		}
	}
}

func TestCommandLineMistakesExitWithStatus2(t *testing.T) {
	admin := map[string]string{"TOKENGUARD_URL": "http://127.0.0.1:1", "TOKENGUARD_CLIENT_ID": "admin", "TOKENGUARD_CLIENT_SECRET": "s3cret-value"}
	for _, c := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"an unknown command", nil, []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"an unknown flag", admin, []string{"user", "alice", "--colour"}, "flag provided but not defined: -colour"},
		{"a missing subject", admin, []string{"user"}, "user takes one argument, got 0"},
		{"two subjects", admin, []string{"unban", "alice", "bob"}, "unban takes one argument, got 2"},
		{"a ban without a reason", admin, []string{"ban", "alice"}, "--reason is required"},
		{"a revocation naming nothing", admin, []string{"revoke"}, "give --token, or --jti and --exp"},
		{"a revocation naming both", admin, []string{"revoke", "--token", "x", "--jti", "j", "--exp", "1"}, "not both"},
		{"a follow interval under the bound", admin, []string{"events", "--follow", "--interval", "1ms"}, "--interval wants 100ms to 1m0s"},
		{"no server configured", map[string]string{"TOKENGUARD_CLIENT_ID": "admin"}, []string{"user", "alice"}, "set TOKENGUARD_URL, TOKENGUARD_CLIENT_SECRET"},
		{"credentials in the URL", map[string]string{"TOKENGUARD_URL": "http://admin:pw@127.0.0.1:1", "TOKENGUARD_CLIENT_ID": "admin", "TOKENGUARD_CLIENT_SECRET": "x"}, []string{"user", "alice"}, "must not carry credentials"},
		{"an argument to version", nil, []string{"version", "now"}, "version takes no arguments, got 1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, status := runCLI(t, context.Background(), c.env, c.args...)
			if status != exitUsage {
				t.Errorf("exit status = %d, want %d", status, exitUsage)
			}
			if !strings.Contains(errOut, c.want) {
				t.Errorf("stderr = %q, want it to contain %q", errOut, c.want)
			}
			if strings.Contains(out+errOut, "s3cret-value") || strings.Contains(out+errOut, ":pw@") {
				t.Errorf("a secret was printed: %q %q", out, errOut)
			}
		})
	}
}

func TestFlagsMayFollowArguments(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want []string
		why  string
	}{
		{"flags first", []string{"--reason", "spam", "mallory"}, []string{"mallory"}, "spam"},
		{"flags after", []string{"mallory", "--reason", "spam"}, []string{"mallory"}, "spam"},
		{"a subject that looks like a flag after --", []string{"--reason", "spam", "--", "-mallory"}, []string{"-mallory"}, "spam"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := flag.NewFlagSet("ban", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			reason := fs.String("reason", "", "")
			got, err := parseArgs(fs, c.args, 1)
			if err != nil {
				t.Fatalf("parseArgs: %v", err)
			}
			if diff := cmp.Diff(c.want, got); diff != "" || *reason != c.why {
				t.Errorf("parseArgs = %v, reason %q; want %v, %q", got, *reason, c.want, c.why)
			}
		})
	}
}

func TestExitStatusesStandForWhatWentWrong(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want int
	}{
		{"success", nil, 0},
		{"-h", flag.ErrHelp, 0},
		{"a usage mistake", usagef("x"), 2},
		{"the API refused the credentials", fmt.Errorf("user: %w", &adminapi.Error{Status: 401, Code: "invalid_client"}), 1},
		{"not found", &adminapi.Error{Status: 404, Code: "not_found"}, 1},
		{"the store is down", &adminapi.Error{Status: 503, Code: "temporarily_unavailable"}, 3},
		{"a proxy's error page", &adminapi.Error{Status: 502}, 3},
		{"no answer", fmt.Errorf("%w: connection refused", adminapi.ErrUnreachable), 3},
		{"not the API's answer", fmt.Errorf("%w: not JSON", adminapi.ErrBadAnswer), 3},
		{"a configuration refused", errors.New("configuration: keys: production mode"), 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := exitStatus(c.err); got != c.want {
				t.Errorf("exitStatus(%v) = %d, want %d", c.err, got, c.want)
			}
		})
	}
}

func TestReadyzURLIsReachableFromTheSameHost(t *testing.T) {
	for listen, want := range map[string]string{
		":8080":          "http://127.0.0.1:8080/readyz",
		"0.0.0.0:9000":   "http://127.0.0.1:9000/readyz",
		"[::]:9000":      "http://[::1]:9000/readyz",
		"127.0.0.1:8080": "http://127.0.0.1:8080/readyz",
		"10.1.2.3:8080":  "http://10.1.2.3:8080/readyz",
		"auth.lan:8080":  "http://auth.lan:8080/readyz",
	} {
		if got := readyzURL(listen); got != want {
			t.Errorf("readyzURL(%q) = %q, want %q", listen, got, want)
		}
	}
}

// productionYAML is a configuration that dev: false accepts: real Redis
// (on a port where nothing listens: check-config must not connect), an
// HS256 key and client secrets from the environment or as a hash, and a
// trusted issuer whose JWKS URL must not be fetched.
func productionYAML(jwksURL string) string {
	sum := sha256.Sum256([]byte("gateway-secret-that-is-long-enough"))
	return fmt.Sprintf(`dev: false
listen: 127.0.0.1:0
issuer: https://auth.example.test
redis:
  addrs: [127.0.0.1:1]
  password: redis-password-value
keys:
  - {kid: h1, alg: HS256, secret_env: TG_TEST_HMAC}
clients:
  - {id: admin, secret_env: TG_TEST_ADMIN, permissions: [admin]}
  - {id: gateway, secret_sha256: %s, permissions: [introspect]}
trusted_issuers:
  - {issuer: https://idp.example.test/, jwks_url: %q, audience: api, algorithms: [RS256]}
`, hex.EncodeToString(sum[:]), jwksURL)
}

func TestCheckConfigPrintsTheEffectiveConfigurationMaskedWithoutConnecting(t *testing.T) {
	var fetched atomic.Int64
	idp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		http.Error(w, "no", http.StatusNotFound)
	}))
	t.Cleanup(idp.Close)
	hash := sha256.Sum256([]byte("gateway-secret-that-is-long-enough"))
	path := writeConfig(t, productionYAML(idp.URL+"/jwks"))
	env := map[string]string{
		"TG_TEST_HMAC":              strings.Repeat("h", 40),
		"TG_TEST_ADMIN":             "admin-secret-value-of-32-bytes-at-least",
		"TOKENGUARD_TOKENS_LEEWAY":  "10s",
		"TOKENGUARD_REDIS_PASSWORD": "env-redis-password",
	}
	out, errOut, status := runCLI(t, context.Background(), env, "check-config", "-config", path)
	if status != 0 {
		t.Fatalf("check-config = %d, stderr %q; want 0", status, errOut)
	}
	for _, secret := range []string{"redis-password-value", "env-redis-password", "admin-secret-value-of-32-bytes-at-least", strings.Repeat("h", 40), hex.EncodeToString(hash[:])} {
		if strings.Contains(out+errOut, secret) {
			t.Errorf("check-config printed a secret (%.12s…):\n%s", secret, out)
		}
	}
	var cfg config.Config
	if err := yaml.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatalf("check-config printed something that is not YAML: %v\n%s", err, out)
	}
	if cfg.Dev || cfg.Tokens.Leeway.String() != "10s" || cfg.Redis.Password != "***" || cfg.Clients[1].SecretSHA256 != "***" || cfg.Clients[0].SecretEnv != "TG_TEST_ADMIN" {
		t.Errorf("check-config printed dev %t, leeway %v, password %q, secret_sha256 %q, secret_env %q; want the effective values (the environment's leeway), secrets masked",
			cfg.Dev, cfg.Tokens.Leeway, cfg.Redis.Password, cfg.Clients[1].SecretSHA256, cfg.Clients[0].SecretEnv)
	}
	if n := fetched.Load(); n != 0 {
		t.Errorf("check-config fetched the JWKS %d times, want never", n)
	}
}

// TestCheckConfigRefusesWithServesMessage runs serve and check-config on the
// same bad configurations: the same refusal, word for word, and status 1.
func TestCheckConfigRefusesWithServesMessage(t *testing.T) {
	const redis = "redis:\n  addrs: [127.0.0.1:1]\n"
	const hmacKey = "keys:\n  - {kid: h1, alg: HS256, secret_env: TG_TEST_HMAC}\n"
	long := map[string]string{"TG_TEST_HMAC": strings.Repeat("k", 32)}
	for _, c := range []struct {
		name, yaml string
		env        map[string]string
		want       string
	}{
		{"the embedded store in production", "dev: false\n" + hmacKey, long, "redis.addrs"},
		{"a short HMAC secret", "dev: false\n" + redis + hmacKey, map[string]string{"TG_TEST_HMAC": "short"}, "at least 32 bytes"},
		{"a clear-text client secret in production", "dev: false\n" + redis + hmacKey + "clients:\n  - {id: app, secret: s3cret-in-the-file}\n", long, "clear-text secret"},
		{"a key file that does not exist", "dev: true\nkeys:\n  - {kid: r1, alg: RS256, private_key_file: /nonexistent/rs256.pem}\n", nil, "keys[0]"},
		{"a trusted issuer's key file that does not exist", "dev: true\ntrusted_issuers:\n  - {issuer: https://idp.test/, audience: api, algorithms: [RS256], public_key_file: /nonexistent/idp.pem}\n", nil, "trusted_issuers[0]"},
		{"an unknown setting", "dev: true\nredis:\n  adress: x\n", nil, `unknown setting "redis.adress"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeConfig(t, c.yaml)
			_, checkErr, checkStatus := runCLI(t, context.Background(), c.env, "check-config", "-config", path)
			_, serveErr, serveStatus := runCLI(t, context.Background(), c.env, "-config", path)
			if checkStatus != 1 || serveStatus != 1 {
				t.Errorf("check-config exited %d and serve %d, want 1 and 1", checkStatus, serveStatus)
			}
			if !strings.Contains(checkErr, c.want) {
				t.Errorf("check-config said %q, want it to contain %q", checkErr, c.want)
			}
			// serve may have logged its progress before it stopped.
			if last := lastLine(serveErr); checkErr != last {
				t.Errorf("check-config said %q, serve said %q: want the same message", checkErr, last)
			}
		})
	}
}

// TestAFatalErrorIsAJSONLogLineWhenJSONIsConfigured: with log_format: json
// (in the file or the environment), the error that stops tokenguard is one
// JSON log line, whether the configuration was refused or the store could
// not be reached; with text logs it stays a plain line.
func TestAFatalErrorIsAJSONLogLineWhenJSONIsConfigured(t *testing.T) {
	for _, c := range []struct {
		name, yaml string
		env        map[string]string
		want       string
	}{
		{"a refused configuration, json in the file", "log_format: json\ndev: false\n", nil, "redis.addrs"},
		{"a configuration that does not parse, json in the file", "log_format: json\nredis:\n  adress: x\n", nil, `unknown setting \"redis.adress\"`},
		{"a refused configuration, json in the environment", "dev: false\n", map[string]string{"TOKENGUARD_LOG_FORMAT": "json"}, "keys: production mode"},
		{"a store that cannot be reached", "log_format: json\ndev: true\nlisten: 127.0.0.1:0\nredis:\n  addrs: [127.0.0.1:1]\n  dial_timeout: 2s\n", nil, "store:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, status := runCLI(t, context.Background(), c.env, "-config", writeConfig(t, c.yaml))
			if status != 1 || out != "" {
				t.Errorf("exit status %d, stdout %q; want 1 and nothing", status, out)
			}
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			last := lines[len(lines)-1]
			var line struct {
				Level string `json:"level"`
				Msg   string `json:"msg"`
				Err   string `json:"err"`
			}
			if err := json.Unmarshal([]byte(last), &line); err != nil {
				t.Fatalf("the last line on stderr is not JSON: %q (%v)", last, err)
			}
			if line.Level != "ERROR" || line.Msg != "tokenguard stopped" || !strings.Contains(last, c.want) {
				t.Errorf("fatal line = %s, want level ERROR, msg \"tokenguard stopped\" and an err naming %q", last, c.want)
			}
			for _, l := range lines {
				if !json.Valid([]byte(l)) {
					t.Errorf("a line on stderr is not JSON: %q", l)
				}
			}
		})
	}
	_, errOut, status := runCLI(t, context.Background(), nil, "-config", writeConfig(t, "dev: false\n"))
	if status != 1 || !strings.HasPrefix(errOut, "tokenguard: configuration: ") || json.Valid([]byte(strings.TrimSpace(errOut))) {
		t.Errorf("with text logs: status %d, stderr %q; want 1 and a plain \"tokenguard: configuration: …\" line", status, errOut)
	}
}

// lastLine is the last line of s, with its newline.
func lastLine(s string) string {
	lines := strings.SplitAfter(strings.TrimSuffix(s, "\n"), "\n")
	return lines[len(lines)-1] + "\n"
}
