package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tokenguard/tokenguard/config"
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
	logs := &syncBuffer{}
	base := startServe(t, nil, map[string]string{"TOKENGUARD_LISTEN": "127.0.0.1:0"}, logs)
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
		script += fmt.Sprintf("\necho '== README sh block %d'\n%s\n", i+1, strings.ReplaceAll(b, "127.0.0.1:8080", addr))
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
