package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"
	"go.yaml.in/yaml/v3"

	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/metrics"
)

const (
	alertRules    = "deploy/prometheus/alerts.yml"
	alertTests    = "deploy/prometheus/alerts_test.yml"
	dashboardFile = "deploy/grafana/tokenguard.json"
)

// lookPromtool finds promtool (Debian's prometheus package), or skips
// loudly; under CI=true a missing promtool fails.
func lookPromtool(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found on PATH (CI=true): the alerting rules must be checked; install Debian's prometheus package")
		}
		t.Skip("SKIPPING: promtool not found on PATH; install it (apt-get install prometheus) to check the alerting rules")
	}
	return bin
}

func TestTheAlertingRulesPassPromtoolAndTheirUnitTests(t *testing.T) {
	promtool := lookPromtool(t)
	for _, args := range [][]string{{"check", "rules", alertRules}, {"test", "rules", alertTests}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}

// exposedNames scrapes a Metrics with everything watched, as served, and
// returns every series name a query may use (a histogram's _bucket, _sum
// and _count included).
func exposedNames(t *testing.T) map[string]bool {
	t.Helper()
	m := metrics.New()
	if err := m.WatchMirror(func() blacklist.Stats { return blacklist.Stats{Mirror: true} }); err != nil {
		t.Fatal(err)
	}
	if err := m.WatchRedisPool(func() *redis.PoolStats { return &redis.PoolStats{} }); err != nil {
		t.Fatal(err)
	}
	// The vectors whose labels are not fixed have no series until used.
	m.RateLimited("client")
	m.Request("/healthz", "GET", 200, 0)
	srv := httptest.NewServer(m.Handler(slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	r := doRequest(t, srv.URL, "GET", "/metrics", "", "", nil)
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for name, f := range families {
		names[name] = true
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[name+s] = true
			}
		}
	}
	return names
}

// metricName finds the metric names in a PromQL expression.
var metricName = regexp.MustCompile(`\b(?:tokenguard|go|process)_[a-zA-Z0-9_]+\b`)

func TestTheAlertsAndTheDashboardQueryOnlyMetricsTokenguardExposes(t *testing.T) {
	exposed := exposedNames(t)

	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	raw, err := os.ReadFile(alertRules)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("%s: %v", alertRules, err)
	}
	queries := map[string]string{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			queries["alert "+r.Alert] = r.Expr
		}
	}
	var alerts []string
	for name := range queries {
		alerts = append(alerts, name)
	}
	for _, want := range []string{"TokenguardMirrorStale", "TokenguardPropagationSlow", "TokenguardRedisErrors", "TokenguardHTTP5xx", "TokenguardLockouts"} {
		if !slices.Contains(alerts, "alert "+want) {
			t.Errorf("%s has no alert %s", alertRules, want)
		}
	}

	var dash struct {
		UID        string `json:"uid"`
		Title      string `json:"title"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	raw, err = os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s does not parse: %v", dashboardFile, err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Errorf("%s has no uid or title", dashboardFile)
	}
	graphs := 0
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		graphs++
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for i, target := range p.Targets {
			queries["panel "+p.Title+" #"+string(rune('A'+i))] = target.Expr
		}
	}
	for _, v := range dash.Templating.List {
		if v.Definition != "" {
			queries["variable "+v.Name] = v.Definition
		}
	}
	if graphs < 10 {
		t.Errorf("%s has %d panels, want the dashboard of every metric family", dashboardFile, graphs)
	}

	for where, q := range queries {
		names := metricName.FindAllString(q, -1)
		if len(names) == 0 {
			t.Errorf("%s: %q queries no tokenguard, go or process metric", where, q)
		}
		for _, n := range names {
			if !exposed[n] {
				t.Errorf("%s queries %s, which /metrics does not expose", where, n)
			}
		}
	}
}

func TestTheREADMEListsEveryMetric(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	for name := range exposedNames(t) {
		if !strings.HasPrefix(name, "tokenguard_") || strings.HasSuffix(name, "_bucket") || strings.HasSuffix(name, "_sum") || strings.HasSuffix(name, "_count") {
			continue
		}
		if !strings.Contains(readme, "| `"+name+"` |") {
			t.Errorf("README.md's Metrics table lacks %s", name)
		}
	}
}

// TestOnlyMetricsAndMainImportPrometheus keeps the dependency direction:
// the domain and the adapters are counted through interfaces and callbacks
// of their own, and blacklist stays embeddable without a metrics library.
func TestOnlyMetricsAndMainImportPrometheus(t *testing.T) {
	pkgs := []string{"./users", "./handlers", "./blacklist", "./sessions", "./auth", "./audit", "./redisconn", "./clients", "./config"}
	for _, pkg := range pkgs {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "github.com/prometheus/") || dep == "github.com/tokenguard/tokenguard/metrics" {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}
