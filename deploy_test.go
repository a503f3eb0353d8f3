package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tokenguard/tokenguard/internal/nginxtest"
)

// requireTool finds a program the test needs; without it the test skips
// loudly, except under CI=true, where it fails.
func requireTool(t *testing.T, name, why string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found (CI=true): %s", name, why)
	}
	t.Skipf("SKIPPING: %s not found; install it to check that %s", name, why)
	return ""
}

// readmeSecrets runs the README's commands that generate deploy/.env, in
// a directory of the test's, and returns the file and its variables.
func readmeSecrets(t *testing.T) (path string, env map[string]string) {
	t.Helper()
	requireTool(t, "openssl", "the README's secret generation works")
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)\n(umask 077\ncat > \.env <<EOF\n.*?\nEOF)\n`).FindSubmatch(b)
	if m == nil {
		t.Fatal("README.md has no `umask 077` / `cat > .env <<EOF` … `EOF` block generating deploy/.env")
	}
	dir := t.TempDir()
	cmd := exec.Command("sh", "-e", "-c", string(m[1]))
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the README's secret generation failed: %v\n%s", err, out)
	}
	path = filepath.Join(dir, ".env")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env = map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok || v == "" {
			t.Fatalf("deploy/.env line %q is not NAME=value", sc.Text())
		}
		env[k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm()&0o077 != 0 {
		t.Errorf("deploy/.env is readable by others (%v, %v), want 0600", st.Mode(), err)
	}
	return path, env
}

// compose is the part of deploy/docker-compose.yml the tests look at.
type compose struct {
	Services map[string]struct {
		Image string `yaml:"image"`
		Build struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
	} `yaml:"services"`
}

// TestComposeFileDescribesTheProductionLikeSetup reads
// deploy/docker-compose.yml: tokenguard built from the repository's
// Dockerfile with the deploy configuration and every secret from deploy/.env,
// Redis with an append-only file, nginx with deploy/nginx.conf in front of
// the demo app; and, with docker-compose installed, `docker-compose config`
// accepts it with the README's secrets and refuses it without them.
func TestComposeFileDescribesTheProductionLikeSetup(t *testing.T) {
	b, err := os.ReadFile("deploy/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("deploy/docker-compose.yml is not YAML: %v", err)
	}
	tg, redis, nginx := c.Services["tokenguard"], c.Services["redis"], c.Services["nginx"]
	if tg.Build.Context != ".." || tg.Build.Dockerfile != "Dockerfile" {
		t.Errorf("tokenguard is built from %q/%q, want the repository's Dockerfile (../Dockerfile)", tg.Build.Context, tg.Build.Dockerfile)
	}
	if !slices.Contains(tg.Volumes, "./tokenguard.yaml:/etc/tokenguard/config.yaml:ro") {
		t.Errorf("tokenguard's volumes %v do not mount deploy/tokenguard.yaml read-only", tg.Volumes)
	}
	for k, v := range tg.Environment {
		if k != "TOKENGUARD_CONFIG" && !strings.HasPrefix(v, "${"+k+":?") {
			t.Errorf("tokenguard's %s = %q, want it from deploy/.env, required (${%s:?…})", k, v, k)
		}
	}
	if cmd := strings.Join(redis.Command, " "); !strings.Contains(cmd, "--appendonly yes") {
		t.Errorf("redis runs %q, want an append-only file (--appendonly yes)", cmd)
	}
	if !slices.Contains(nginx.Volumes, "./nginx.conf:/etc/nginx/conf.d/default.conf:ro") {
		t.Errorf("nginx's volumes %v do not mount deploy/nginx.conf", nginx.Volumes)
	}
	for name, s := range c.Services {
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s publishes %q on every interface, want loopback only", name, p)
			}
		}
	}

	bin := requireTool(t, "docker-compose", "deploy/docker-compose.yml is valid (Debian: apt-get install docker-compose)")
	envFile, _ := readmeSecrets(t)
	check := func(envFile string) (string, error) {
		cmd := exec.Command(bin, "--env-file", envFile, "-f", "deploy/docker-compose.yml", "config", "-q")
		// Only what docker-compose needs: none of this process's
		// TOKENGUARD_* variables may stand in for deploy/.env.
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := check(envFile); err != nil {
		t.Errorf("docker-compose config with the README's secrets: %v\n%s", err, out)
	}
	empty := filepath.Join(t.TempDir(), "empty.env")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := check(empty); err == nil || !strings.Contains(out, "generate deploy/.env first") {
		t.Errorf("docker-compose config without secrets = %v %q, want a refusal saying to generate deploy/.env", err, out)
	}
}

// TestDeployConfigPassesTheProductionRefusals: deploy/tokenguard.yaml with
// the secrets the README generates is accepted by check-config, that is,
// by every refusal of dev: false.
func TestDeployConfigPassesTheProductionRefusals(t *testing.T) {
	_, env := readmeSecrets(t)
	out, errOut, status := runCLI(t, context.Background(), env, "check-config", "-config", "deploy/tokenguard.yaml")
	if status != 0 {
		t.Fatalf("check-config of deploy/tokenguard.yaml = %d %q, want 0", status, errOut)
	}
	if !strings.Contains(out, "(dev: false)") {
		t.Errorf("check-config printed %q, want a production configuration", out)
	}
	for k, v := range env {
		if strings.Contains(out+errOut, v) {
			t.Errorf("check-config printed the value of %s", k)
		}
	}
	// And without them it is refused, naming what is missing.
	if _, errOut, status := runCLI(t, context.Background(), nil, "check-config", "-config", "deploy/tokenguard.yaml"); status != 1 || !strings.Contains(errOut, "TOKENGUARD_HS256_SECRET") {
		t.Errorf("check-config without the secrets = %d %q, want 1 naming TOKENGUARD_HS256_SECRET", status, errOut)
	}
}

// TestDeployNginxConfigDoesForwardAuth runs deploy/nginx.conf, as it is but
// for the addresses, with a real nginx in front of a real tokenguard and an
// app: a valid token reaches the app with the user's identity (the client's
// own copy of the header replaced), no token is refused with tokenguard's
// challenge, a banned user with 403, and the app never sees a refused
// request. nginx starting at all is the `nginx -t` check.
func TestDeployNginxConfigDoesForwardAuth(t *testing.T) {
	b, err := os.ReadFile("deploy/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t)
	reached := make(chan string, 16)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached <- r.URL.Path
		fmt.Fprintf(w, "user=%s", r.Header.Get("X-Auth-Request-User"))
	}))
	t.Cleanup(app.Close)
	conf := string(b)
	for _, s := range []string{"listen 80;", "http://tokenguard:8080/", "http://app:80;"} {
		if !strings.Contains(conf, s) {
			t.Fatalf("deploy/nginx.conf lacks %q, which the test replaces with its own address", s)
		}
	}
	ngx := nginxtest.Start(t, func(addr string) string {
		return strings.NewReplacer(
			"listen 80;", "listen "+addr+";",
			"http://tokenguard:8080/", ts.base+"/",
			"http://app:80;", app.URL+";",
		).Replace(conf)
	})
	get := func(token string, header map[string]string) response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "http://"+ngx.Addr+"/orders", nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET through nginx: %v\n%s", err, ngx.Logs())
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return response{resp.StatusCode, resp.Header, body}
	}

	alice := ts.session("alice")
	if r := get(alice.token, map[string]string{"X-Auth-Request-User": "root"}); r.status != http.StatusOK || string(r.body) != "user=alice" {
		t.Fatalf("a valid token through nginx = %d %q, want 200 \"user=alice\"\n%s", r.status, r.body, ngx.Logs())
	}
	if p := <-reached; p != "/orders" {
		t.Errorf("the app saw %q, want /orders", p)
	}
	if r := get("", nil); r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != `Bearer realm="tokenguard"` {
		t.Errorf("no token through nginx = %d (WWW-Authenticate %q), want 401 with tokenguard's challenge", r.status, r.header.Get("WWW-Authenticate"))
	}
	mallory := ts.session("mallory")
	ts.admin("ban", "mallory", "--reason", "abuse").ok(t, "ban")
	if r := get(mallory.token, nil); r.status != http.StatusForbidden {
		t.Errorf("a banned user's token through nginx = %d, want 403", r.status)
	}
	select {
	case p := <-reached:
		t.Errorf("the app saw a refused request (%s)", p)
	default:
	}
}

// TestDockerImageChecksItsOwnHealth: the Dockerfile's HEALTHCHECK runs the
// image's binary (exec form: the image has no shell) with the healthcheck
// command, and the build context leaves out .git and every .env.
func TestDockerImageChecksItsOwnHealth(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := strings.ReplaceAll(string(b), "\\\n", " ")
	entry := regexp.MustCompile(`(?m)^ENTRYPOINT \["([^"]+)"\]`).FindStringSubmatch(df)
	health := regexp.MustCompile(`(?m)^HEALTHCHECK .*CMD \["([^"]+)", "healthcheck"\]\s*$`).FindStringSubmatch(df)
	if entry == nil || health == nil || entry[1] != health[1] {
		t.Errorf("Dockerfile: ENTRYPOINT %v, HEALTHCHECK %v; want HEALTHCHECK … CMD [\"<the entrypoint>\", \"healthcheck\"]", entry, health)
	}
	var c cli
	found := false
	for _, cmd := range c.commands() {
		found = found || cmd.name == "healthcheck"
	}
	if !found {
		t.Errorf("the binary has no healthcheck command for the HEALTHCHECK to run")
	}
	ignore, err := os.ReadFile(".dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(ignore), "\n")
	for _, want := range []string{".git", "**/.env", "deploy/"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore lacks %q", want)
		}
	}
}
