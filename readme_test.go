package main

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tokenguard/tokenguard/config"
	"github.com/tokenguard/tokenguard/handlers"
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
