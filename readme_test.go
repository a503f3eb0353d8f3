package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tokenguard/tokenguard/config"
	"github.com/tokenguard/tokenguard/handlers"
	"github.com/tokenguard/tokenguard/internal/syncbuf"
)

// TestREADMEListsEverySetting keeps the README's configuration table in step
// with the schema: every setting and its environment variable must be there.
func TestREADMEListsEverySetting(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, f := range config.Fields() {
		row := "| `" + f.Key + "` | `" + f.Env + "`"
		if !strings.Contains(readme, row) {
			t.Errorf("README.md lacks the row for %s (%s)", f.Key, f.Env)
		}
	}
}

// readmeGateway returns the configuration block of the README's "Use it
// as a sidecar" section that follows the bold label of gateway (**nginx**,
// **Traefik**, ...) and is fenced as lang.
func readmeGateway(t *testing.T, gateway, lang string) string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "## Use it as a sidecar")
	if !ok {
		t.Fatal(`README.md has no "## Use it as a sidecar" section`)
	}
	if _, rest, ok = strings.Cut(rest, "**"+gateway+"**"); !ok {
		t.Fatalf("the sidecar section of README.md has no **%s** configuration", gateway)
	}
	if _, rest, ok = strings.Cut(rest, "```"+lang+"\n"); !ok {
		t.Fatalf("the %s configuration of README.md has no %s block", gateway, lang)
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("the %s block of README.md is not closed", gateway)
	}
	return block
}

// TestEveryGatewayConfigSetsOrClearsEveryIdentityHeader reads each gateway
// configuration of the README and checks that it sets or removes, on every
// route to the app, each identity header /v1/verify can send
// (handlers.IdentityHeaders): one left alone is one a client can forge.
// sidecar_nginx_test.go also runs the nginx block for real.
func TestEveryGatewayConfigSetsOrClearsEveryIdentityHeader(t *testing.T) {
	headers := handlers.IdentityHeaders()
	t.Run("nginx sets every header from the answer in every location that asks tokenguard", func(t *testing.T) {
		locations := nginxLocations(readmeGateway(t, "nginx", "nginx"))
		checked := 0
		for name, body := range locations {
			if !regexp.MustCompile(`(?m)^\s*auth_request\s+/`).MatchString(body) {
				continue
			}
			checked++
			for _, h := range headers {
				variable := `\$(\w+)`
				set := regexp.MustCompile(`(?m)^\s*proxy_set_header\s+` + regexp.QuoteMeta(h) + `\s+` + variable + `;`).FindStringSubmatch(body)
				if set == nil {
					t.Errorf("%s does not proxy_set_header %s", name, h)
					continue
				}
				upstream := "$upstream_http_" + strings.ReplaceAll(strings.ToLower(h), "-", "_")
				from := regexp.MustCompile(`(?m)^\s*auth_request_set\s+\$` + set[1] + `\s+` + regexp.QuoteMeta(upstream) + `;`)
				if !from.MatchString(body) {
					t.Errorf("%s sets %s from $%s, which no auth_request_set takes from %s", name, h, set[1], upstream)
				}
			}
		}
		if checked < 2 {
			t.Errorf("found %d locations with auth_request, want the app's and the admin area's", checked)
		}
	})
	t.Run("Traefik lists every header in each forwardAuth middleware", func(t *testing.T) {
		var cfg struct {
			HTTP struct {
				Middlewares map[string]struct {
					ForwardAuth *struct {
						AuthResponseHeaders []string `yaml:"authResponseHeaders"`
					} `yaml:"forwardAuth"`
				} `yaml:"middlewares"`
			} `yaml:"http"`
		}
		if err := yaml.Unmarshal([]byte(readmeGateway(t, "Traefik", "yaml")), &cfg); err != nil {
			t.Fatal(err)
		}
		checked := 0
		for name, m := range cfg.HTTP.Middlewares {
			if m.ForwardAuth == nil {
				continue
			}
			checked++
			for _, h := range headers {
				if !slices.ContainsFunc(m.ForwardAuth.AuthResponseHeaders, func(s string) bool { return strings.EqualFold(s, h) }) {
					t.Errorf("middleware %s: authResponseHeaders lacks %s", name, h)
				}
			}
		}
		if checked < 2 {
			t.Errorf("found %d forwardAuth middlewares, want the app's and the admin area's", checked)
		}
	})
	t.Run("Caddy strips the client's X-Auth headers first and copies every header", func(t *testing.T) {
		block := readmeGateway(t, "Caddy", "caddyfile")
		strip, ask := strings.Index(block, "request_header -X-Auth-*"), strings.Index(block, "forward_auth ")
		if strip < 0 || ask < 0 || strip > ask {
			t.Errorf("the Caddy block must run request_header -X-Auth-* before forward_auth:\n%s", block)
		}
		line := regexp.MustCompile(`(?m)^\s*copy_headers\s+(.*)$`).FindStringSubmatch(block)
		if line == nil {
			t.Fatalf("the Caddy block has no copy_headers line:\n%s", block)
		}
		copied := strings.Fields(line[1])
		for _, h := range headers {
			if !strings.HasPrefix(h, "X-Auth-") {
				t.Errorf("%s escapes request_header -X-Auth-*", h)
			}
			if !slices.Contains(copied, h) {
				t.Errorf("copy_headers lacks %s", h)
			}
		}
	})
	t.Run("Envoy removes every header before ext_authz and lets the answer's through", func(t *testing.T) {
		var cfg struct {
			Filters []envoyFilter `yaml:"http_filters"`
		}
		if err := yaml.Unmarshal([]byte(readmeGateway(t, "Envoy", "yaml")), &cfg); err != nil {
			t.Fatal(err)
		}
		mutation := slices.IndexFunc(cfg.Filters, func(f envoyFilter) bool { return f.Name == "envoy.filters.http.header_mutation" })
		authz := slices.IndexFunc(cfg.Filters, func(f envoyFilter) bool { return f.Name == "envoy.filters.http.ext_authz" })
		if mutation < 0 || authz < 0 || mutation > authz {
			t.Fatalf("the Envoy block must run header_mutation before ext_authz: filters %+v", cfg.Filters)
		}
		var removed []string
		for _, m := range cfg.Filters[mutation].TypedConfig.Mutations.Request {
			removed = append(removed, m.Remove)
		}
		allowed := cfg.Filters[authz].TypedConfig.HTTPService.Response.Upstream.Patterns
		for _, h := range headers {
			name := strings.ToLower(h) // Envoy keeps header names in lower case
			if !slices.Contains(removed, name) {
				t.Errorf("header_mutation does not remove %s", name)
			}
			if !slices.ContainsFunc(allowed, func(p envoyPattern) bool {
				return p.Exact == name || (p.Prefix != "" && strings.HasPrefix(name, p.Prefix))
			}) {
				t.Errorf("allowed_upstream_headers does not let %s through", name)
			}
		}
	})
}

// TestREADMECaddySectionStatesTheMinimumVersion: Caddy before 2.10.0
// (Debian's 2.6.2 among them) hands the app a literal placeholder for each
// copy_headers header the answer lacks, and 2.10.0 to 2.11.1 let the
// client's own copy through instead; the README must say which version to
// run and why the line stripping the client's X-Auth-* headers stays.
func TestREADMECaddySectionStatesTheMinimumVersion(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(b), "## Use it as a sidecar")
	_, section, ok := strings.Cut(section, "**Caddy**")
	section, _, _ = strings.Cut(section, "**Envoy**")
	if !ok {
		t.Fatal("README.md has no **Caddy** configuration")
	}
	m := regexp.MustCompile(`Caddy (\d+)\.(\d+)\.(\d+) or later`).FindStringSubmatch(section)
	if m == nil {
		t.Fatalf("the Caddy section states no minimum version (\"Caddy X.Y.Z or later\"):\n%s", section)
	}
	if version := [3]int{atoi(t, m[1]), atoi(t, m[2]), atoi(t, m[3])}; slices.Compare(version[:], []int{2, 10, 0}) < 0 {
		t.Errorf("minimum Caddy version %s.%s.%s, want 2.10.0 or later: earlier ones pass literal placeholders", m[1], m[2], m[3])
	}
	_, prose, _ := strings.Cut(section, "```caddyfile")
	_, prose, _ = strings.Cut(prose, "```")
	for _, want := range []string{"{http.reverse_proxy.header.", "request_header -X-Auth-*", "GHSA-7r4p-vjf4-gxv4"} {
		if !strings.Contains(prose, want) {
			t.Errorf("the text after the Caddy block does not explain %q", want)
		}
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// envoyFilter is what the gateway test reads of an Envoy HTTP filter.
type envoyFilter struct {
	Name        string `yaml:"name"`
	TypedConfig struct {
		Mutations struct {
			Request []struct {
				Remove string `yaml:"remove"`
			} `yaml:"request_mutations"`
		} `yaml:"mutations"`
		HTTPService struct {
			Response struct {
				Upstream struct {
					Patterns []envoyPattern `yaml:"patterns"`
				} `yaml:"allowed_upstream_headers"`
			} `yaml:"authorization_response"`
		} `yaml:"http_service"`
	} `yaml:"typed_config"`
}

// envoyPattern is one string matcher of an Envoy header list.
type envoyPattern struct {
	Exact  string `yaml:"exact"`
	Prefix string `yaml:"prefix"`
}

// nginxLocations returns the body of each location block of an nginx
// configuration, by its location line ("location /admin/").
func nginxLocations(conf string) map[string]string {
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s*(location\s+[^{]*?)\s*\{`).FindAllStringSubmatchIndex(conf, -1) {
		depth, start := 1, m[1]
		end := start
		for end < len(conf) && depth > 0 {
			switch conf[end] {
			case '{':
				depth++
			case '}':
				depth--
			}
			end++
		}
		out[conf[m[2]:m[3]]] = conf[start : end-1]
	}
	return out
}

// TestREADMEStatesGoModsGoVersion: the quick start names the minimum Go
// version, and it is go.mod's go directive.
func TestREADMEStatesGoModsGoVersion(t *testing.T) {
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, quick, _ := strings.Cut(string(readme), "## Quick start")
	stated := regexp.MustCompile(`Go (\d+\.\d+(?:\.\d+)?) or newer`).FindStringSubmatch(quick)
	if stated == nil {
		t.Fatal(`the README's quick start states no "Go <version> or newer"`)
	}
	if stated[1] != string(m[1]) {
		t.Errorf("the README's quick start says Go %s, go.mod needs %s", stated[1], m[1])
	}
}

// TestREADMEListsEveryCommandAndExitStatus keeps the README's command line
// section in step with the binary.
func TestREADMEListsEveryCommandAndExitStatus(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, cmd := range (cli{}).commands() {
		if cmd.name == "help" {
			continue
		}
		row := "| `" + strings.TrimSpace("tokenguard "+cmd.name+" "+strings.ReplaceAll(cmd.args, "|", `\|`)) + "` |"
		if !strings.Contains(readme, row) {
			t.Errorf("README.md lacks the row %s", row)
		}
	}
	for _, s := range exitStatuses() {
		if row := fmt.Sprintf("| `%d` | %s |", s.code, s.meaning); !strings.Contains(readme, row) {
			t.Errorf("README.md lacks the row %s", row)
		}
	}
}

// curlCall is one curl command of the README and the status its comment
// announces: an exact code, 2xx (a JSON body that is not an error), or
// none (0).
type curlCall struct {
	line int
	want int
	any  bool
}

var (
	curlRE     = regexp.MustCompile(`(^|[\s$(])curl\s`)
	trailingRE = regexp.MustCompile(`\s#\s*(?:HTTP/\S+\s+)?(\d{3})\b`)
	nextRE     = regexp.MustCompile(`^#\s*(?:HTTP/\S+\s+)?(\d{3})\b`)
)

func statusCode(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("status %q: %v", s, err)
	}
	return n
}

// readmeShell returns the README's sh blocks, in order, and the curl
// commands in them with the status each one's comment announces.
func readmeShell(t *testing.T) (blocks []string, calls []curlCall) {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		if lines[i] != "```sh" {
			continue
		}
		var block []string
		for i++; i < len(lines) && lines[i] != "```"; i++ {
			block = append(block, lines[i])
		}
		for j := 0; j < len(block); j++ {
			l := block[j]
			if strings.HasPrefix(strings.TrimSpace(l), "#") || !curlRE.MatchString(l) {
				continue
			}
			start := j
			for strings.HasSuffix(block[j], `\`) && j+1 < len(block) {
				j++
			}
			c := curlCall{line: i - len(block) + start}
			if m := trailingRE.FindStringSubmatch(block[j]); m != nil {
				c.want = statusCode(t, m[1])
			} else if j+1 < len(block) {
				next := block[j+1]
				if m := nextRE.FindStringSubmatch(next); m != nil {
					c.want = statusCode(t, m[1])
				} else if strings.HasPrefix(next, "# {") && !strings.Contains(next, `"error"`) {
					c.any = true
				}
			}
			calls = append(calls, c)
		}
		blocks = append(blocks, strings.Join(block, "\n"))
	}
	return blocks, calls
}

// TestREADMEExamplesRunAsPasted runs every sh block of the README, in
// order, in one bash with -euo pipefail (an unset variable or a
// placeholder such as <id> fails it), against the service as `go run .`
// starts it from the committed config.yaml, with a freshly built tokenguard
// on the PATH. Each curl's answer must be the status its comment announces,
// no answer may be a 5xx or refuse the client's credentials, and every
// admin command must succeed.
func TestREADMEExamplesRunAsPasted(t *testing.T) {
	requireTool(t, "curl", "the README's examples run as pasted")
	bash := requireTool(t, "bash", "the README's examples run as pasted")
	blocks, calls := readmeShell(t)
	if len(blocks) < 8 || len(calls) < 20 {
		t.Fatalf("found %d sh blocks and %d curl commands in README.md; the examples moved?", len(blocks), len(calls))
	}

	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "tokenguard"), ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	logs := &syncbuf.Buffer{}
	// The committed config.yaml puts the metrics on 127.0.0.1:8081; the
	// test moves them to a free port, and the README's examples with them.
	metricsAddr := freeLoopbackAddr(t)
	base := startServe(t, nil, map[string]string{"TOKENGUARD_LISTEN": "127.0.0.1:0", "TOKENGUARD_METRICS_LISTEN": metricsAddr}, logs)
	addr := strings.TrimPrefix(base, "http://")

	dir := t.TempDir()
	script := fmt.Sprintf(`set -euo pipefail
TG_DIR=%q
echo 0 > "$TG_DIR/n"
# Every curl leaves its answer's headers in h.<n>, n counting in order.
curl() {
  local n
  n=$(( $(cat "$TG_DIR/n") + 1 ))
  echo "$n" > "$TG_DIR/n"
  command curl -D "$TG_DIR/h.$n" "$@"
}
`, dir)
	for i, b := range blocks {
		script += fmt.Sprintf("\necho '== README sh block %d'\n%s\n", i+1, strings.NewReplacer("127.0.0.1:8080", addr, "127.0.0.1:8081", metricsAddr).Replace(b))
	}
	cmd := exec.Command(bash, "-c", script)
	cmd.Env = []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + dir, "TOKENGUARD_LISTEN=" + addr}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's examples failed: %v\n%s", err, out)
	}

	n, err := os.ReadFile(filepath.Join(dir, "n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(n)); got != fmt.Sprint(len(calls)) {
		t.Fatalf("the examples ran curl %s times, the README has %d curl commands (a loop or a function would make them differ)", got, len(calls))
	}
	statusRE := regexp.MustCompile(`(?m)^HTTP/\S+ (\d{3})`)
	for i, c := range calls {
		h, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("h.%d", i+1)))
		if err != nil {
			t.Fatalf("curl on README.md line %d left no headers: %v", c.line+1, err)
		}
		m := statusRE.FindAllSubmatch(h, -1)
		if m == nil {
			t.Fatalf("curl on README.md line %d got no answer:\n%s", c.line+1, h)
		}
		got := statusCode(t, string(m[len(m)-1][1]))
		switch {
		case got >= 500:
			t.Errorf("README.md line %d: answered %d", c.line+1, got)
		case strings.Contains(strings.ToLower(string(h)), "www-authenticate: basic"):
			t.Errorf("README.md line %d: the client's credentials were refused (%d)", c.line+1, got)
		case c.want != 0 && got != c.want:
			t.Errorf("README.md line %d: answered %d, its comment says %d", c.line+1, got, c.want)
		case c.any && (got < 200 || got > 299):
			t.Errorf("README.md line %d: answered %d, its comment shows a successful answer", c.line+1, got)
		}
	}
	if t.Failed() {
		t.Logf("the examples' output:\n%s", out)
	}
}

// TestREADMEStatesEveryDefault keeps the default column of the README's
// configuration table equal to config.Default(): an empty default reads
// "empty", any other starts with the value in backquotes (durations
// compared as durations, so `720h` matches 720h0m0s).
func TestREADMEStatesEveryDefault(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for line := range strings.SplitSeq(string(b), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		rows[strings.Trim(strings.TrimSpace(cells[1]), "`")] = strings.TrimSpace(strings.Join(cells[3:len(cells)-1], "|"))
	}
	first := regexp.MustCompile("^`([^`]*)`")
	for _, f := range config.Fields() {
		cell, ok := rows[f.Key]
		if !ok {
			t.Errorf("README.md has no row for %s", f.Key)
			continue
		}
		if f.Default == "" {
			if !strings.HasPrefix(cell, "empty") {
				t.Errorf("README.md: %s defaults to %q, want it to say empty (the default is empty)", f.Key, cell)
			}
			continue
		}
		m := first.FindStringSubmatch(cell)
		if m == nil {
			t.Errorf("README.md: %s's default %q does not start with a value in backquotes (the default is %s)", f.Key, cell, f.Default)
			continue
		}
		if want, err := time.ParseDuration(f.Default); err == nil {
			if got, err := time.ParseDuration(m[1]); err != nil || got != want {
				t.Errorf("README.md: %s defaults to %s, config.Default() has %s", f.Key, m[1], f.Default)
			}
			continue
		}
		if m[1] != f.Default {
			t.Errorf("README.md: %s defaults to %s, config.Default() has %s", f.Key, m[1], f.Default)
		}
	}
}

// TestREADMECodeMapListsEveryPackage keeps the code map in step with the
// module: every package `go list ./...` reports has its line.
func TestREADMECodeMapListsEveryPackage(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, codeMap, ok := strings.Cut(string(b), "\n## Code map\n")
	if !ok {
		t.Fatal("README.md has no Code map section")
	}
	codeMap, _, _ = strings.Cut(codeMap, "\n## ")
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{.Module.Path}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs int
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		path, module, _ := strings.Cut(line, " ")
		name := "`.`"
		if path != module {
			name = "`" + strings.TrimPrefix(path, module+"/") + "/`"
		}
		pkgs++
		if !strings.Contains(codeMap, "| "+name) && !strings.Contains(codeMap, ", "+name) {
			t.Errorf("README.md's code map has no line for %s (%s)", name, path)
		}
	}
	if pkgs < 10 {
		t.Fatalf("go list found %d packages, want the whole module", pkgs)
	}
}
