package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenguard/tokenguard/internal/syncbuf"
)

// TestCommittedConfigRunsTheWalkthrough starts the service exactly as
// `go run .` does (config.yaml, embedded store, ephemeral key) and walks the
// README's walkthrough: login, verify, logout, refused.
func TestCommittedConfigRunsTheWalkthrough(t *testing.T) {
	logs := &syncbuf.Buffer{}
	base := startServe(t, nil, map[string]string{"TOKENGUARD_LISTEN": "127.0.0.1:0", "TOKENGUARD_METRICS_LISTEN": freeLoopbackAddr(t)}, logs)
	s := createSession(t, base, sessionBody("alice"))
	if r := doRequest(t, base, "GET", "/v1/verify", "Bearer "+s.token, "", nil); r.status != http.StatusOK {
		t.Fatalf("verify = %d, want 200", r.status)
	}
	if r := doRequest(t, base, "POST", "/v1/logout", "Bearer "+s.token, "", nil); r.status != http.StatusNoContent {
		t.Fatalf("logout = %d %s, want 204", r.status, r.body)
	}
	if r := doRequest(t, base, "GET", "/v1/verify", "Bearer "+s.token, "", nil); r.status != http.StatusUnauthorized {
		t.Fatalf("verify after logout = %d, want 401", r.status)
	}
	for _, warning := range []string{"EMBEDDED STORE", "EPHEMERAL KEY", "DEV MODE"} {
		if !strings.Contains(logs.String(), warning) {
			t.Errorf("start-up log lacks the %q warning", warning)
		}
	}
	if strings.Contains(logs.String(), "dev-app-secret") || strings.Contains(logs.String(), s.token) {
		t.Errorf("a secret or a token appeared in the logs")
	}
	// The test probed /readyz from the moment the server listened, as an
	// orchestrator does: nothing of that is an error.
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a first run logged an ERROR line:\n%s", logs)
	}
}

// TestCommittedConfigIssuerFollowsTheListenPort: moving `go run .` to
// another port moves the issuer, and with it the discovery document's URLs.
func TestCommittedConfigIssuerFollowsTheListenPort(t *testing.T) {
	out, errOut, status := runCLI(t, context.Background(), map[string]string{"TOKENGUARD_LISTEN": "127.0.0.1:9191"}, "check-config")
	if status != 0 {
		t.Fatalf("check-config of the committed config = %d %q, want 0", status, errOut)
	}
	if !strings.Contains(out, "\nissuer: http://localhost:9191\n") {
		t.Errorf("check-config with TOKENGUARD_LISTEN=127.0.0.1:9191 printed:\n%s\nwant issuer: http://localhost:9191", out)
	}
}

func TestProductionModeRefusesToStartUnsafely(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const hmacKey = "keys:\n  - {kid: h1, alg: HS256, secret_env: TG_TEST_HMAC}\n"
	const redis = "redis:\n  addrs: [127.0.0.1:1]\n"
	cases := []struct {
		name, yaml string
		env        map[string]string
		want       string
	}{
		{"the embedded store", "dev: false\n" + hmacKey, map[string]string{"TG_TEST_HMAC": strings.Repeat("k", 32)}, "redis.addrs"},
		{"an ephemeral key", "dev: false\n" + redis, nil, "keys: production mode"},
		{"a short HMAC secret", "dev: false\n" + redis + hmacKey, map[string]string{"TG_TEST_HMAC": "too-short"}, "at least 32 bytes"},
		{"a missing HMAC secret", "dev: false\n" + redis + hmacKey, nil, "secret is empty"},
		{"a dev client secret from the environment", "dev: false\n" + redis + hmacKey + "clients:\n  - {id: app, secret_env: TG_TEST_CLIENT}\n",
			map[string]string{"TG_TEST_HMAC": strings.Repeat("k", 32), "TG_TEST_CLIENT": "dev-app-secret"}, "known dev secret"},
		{"a clear-text client secret", "dev: false\n" + redis + hmacKey + "clients:\n  - {id: app, secret: s3cret-but-in-the-file}\n",
			map[string]string{"TG_TEST_HMAC": strings.Repeat("k", 32)}, "clear-text secret"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := write(fmt.Sprintf("c%d.yaml", i), c.yaml)
			err := run(context.Background(), []string{"-config", path}, func(k string) string { return c.env[k] }, io.Discard, io.Discard)
			if err == nil {
				t.Fatalf("run started, want a refusal naming %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("run error = %q, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestAnExplicitConfigPathMustExist(t *testing.T) {
	err := run(context.Background(), []string{"-config", filepath.Join(t.TempDir(), "missing.yaml")}, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("run with a missing -config = %v, want an error naming the file", err)
	}
}

// TestStartUpLogMasksSecretHashes starts the service with a client whose
// secret is configured as its SHA-256 and reads the configuration dump of
// the start-up log: the hash must not be there, since a hash of a weak
// secret can be cracked offline.
func TestStartUpLogMasksSecretHashes(t *testing.T) {
	sum := sha256.Sum256([]byte("a-secret-whose-hash-must-stay-out-of-the-logs"))
	hash := hex.EncodeToString(sum[:])
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	yaml := "dev: true\nlisten: 127.0.0.1:0\nclients:\n  - {id: app, secret_sha256: " + hash + ", permissions: [sessions]}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	startServe(t, []string{"-config", cfg}, nil, logs)
	out := logs.String()
	if !strings.Contains(out, "configuration loaded") {
		t.Fatalf("the start-up log has no configuration dump:\n%s", out)
	}
	if strings.Contains(strings.ToLower(out), hash) {
		t.Fatalf("the start-up log contains the client's secret_sha256:\n%s", out)
	}
	if !strings.Contains(out, "SecretSHA256:***") {
		t.Errorf("the configuration dump does not show secret_sha256 as masked:\n%s", out)
	}
}
