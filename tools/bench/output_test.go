package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docFixture is a docs/performance.md with hand-written text around its
// results section.
const docFixture = "# tokenguard performance\n\nHand-written method.\n\n" +
	resultsBegin + "\nthe old results\n\n" + resultsEnd + "\n\n## Hand-written analysis\n"

// newService lays out a service directory with committed figures and
// returns it with the paths of docs/performance.md and .png.
func newService(t *testing.T) (dir, md, png string) {
	t.Helper()
	dir = t.TempDir()
	md = filepath.Join(dir, "docs", "performance.md")
	png = filepath.Join(dir, "docs", "performance.png")
	if err := os.MkdirAll(filepath.Dir(md), 0o755); err != nil {
		t.Fatal(err)
	}
	for path, content := range map[string]string{md: docFixture, png: "the committed plot"} {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, md, png
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOnlyPublishPointsAtTheCommittedFigures(t *testing.T) {
	bench, service := filepath.Join("repo", "tools", "bench"), "repo"
	docs := filepath.Join(service, "docs")
	for _, c := range []struct {
		name    string
		outDir  string
		publish bool
	}{
		{"a default run", "", false},
		{"a run with -out", filepath.Join("elsewhere", "out"), false},
		{"a run with -out docs/", docs, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := outputPaths(c.outDir, bench, service, c.publish)
			if o.docsMD != "" || o.docsPlot != "" {
				t.Errorf("outputPaths without -publish = docs %q, %q; want none", o.docsMD, o.docsPlot)
			}
			for _, p := range []string{o.json, o.md, o.plot} {
				if p == filepath.Join(docs, "performance.md") || p == filepath.Join(docs, "performance.png") {
					t.Errorf("outputPaths without -publish writes %s, a committed figure", p)
				}
			}
		})
	}
	if o := outputPaths("", bench, service, false); o.dir != filepath.Join(bench, "out") || o.plot != filepath.Join(bench, "out", "results.png") {
		t.Errorf("default output = %q, plot %q; want the module's out/", o.dir, o.plot)
	}
	o := outputPaths("", bench, service, true)
	if o.docsMD != filepath.Join(docs, "performance.md") || o.docsPlot != filepath.Join(docs, "performance.png") {
		t.Errorf("outputPaths with -publish = docs %q, %q; want docs/performance.md and .png", o.docsMD, o.docsPlot)
	}
}

func TestARunWithoutPublishLeavesTheDocsUntouched(t *testing.T) {
	service, md, png := newService(t)
	out := outputPaths(filepath.Join(t.TempDir(), "out"), t.TempDir(), service, false)
	if err := report(reportable(), out, io.Discard); err != nil {
		t.Fatalf("report: %v", err)
	}
	if got := readFile(t, md); got != docFixture {
		t.Errorf("docs/performance.md changed:\n%s", got)
	}
	if got := readFile(t, png); got != "the committed plot" {
		t.Errorf("docs/performance.png changed")
	}
	for _, p := range []string{out.json, out.md, out.plot} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("the run did not write %s: %v", p, err)
		}
	}
}

func TestPublishReplacesTheFiguresAndOnlyTheResultsSection(t *testing.T) {
	service, md, png := newService(t)
	out := outputPaths(filepath.Join(t.TempDir(), "out"), t.TempDir(), service, true)
	var stdout bytes.Buffer
	if err := report(reportable(), out, &stdout); err != nil {
		t.Fatalf("report: %v", err)
	}
	if got, want := readFile(t, png), readFile(t, out.plot); got != want {
		t.Errorf("docs/performance.png is not the run's plot")
	}
	doc := readFile(t, md)
	for _, want := range []string{
		"# tokenguard performance\n\nHand-written method.\n\n" + resultsBegin + "\n",
		"![requests/s per variant](performance.png)",
		"| HS256 reference (signatures only, no revocation check) | 30,300 |",
		"\n" + resultsEnd + "\n\n## Hand-written analysis\n",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("published docs/performance.md lacks %q:\n%s", want, doc)
		}
	}
	if strings.Contains(doc, "the old results") {
		t.Errorf("published docs/performance.md keeps the old results:\n%s", doc)
	}
	if !strings.Contains(stdout.String(), "published "+md) {
		t.Errorf("the run does not say it published:\n%s", stdout.String())
	}
}

func TestPublishSkipsARunWithProblems(t *testing.T) {
	service, md, png := newService(t)
	res := reportable()
	res.problem(os.ErrDeadlineExceeded)
	var stdout bytes.Buffer
	if err := report(res, outputPaths(filepath.Join(t.TempDir(), "out"), t.TempDir(), service, true), &stdout); err != nil {
		t.Fatalf("report: %v", err)
	}
	if readFile(t, md) != docFixture || readFile(t, png) != "the committed plot" {
		t.Errorf("a run with problems was published")
	}
	if !strings.Contains(stdout.String(), "not published") {
		t.Errorf("the run does not say it did not publish:\n%s", stdout.String())
	}
}

func TestPublishNeedsACompleteRun(t *testing.T) {
	if _, err := parseFlags([]string{"-publish", "-skip-memory"}, io.Discard); err == nil || !strings.Contains(err.Error(), "-publish") {
		t.Errorf("parseFlags(-publish -skip-memory) = %v, want an error naming -publish", err)
	}
	o, err := parseFlags([]string{"-publish"}, io.Discard)
	if err != nil || !o.publish {
		t.Errorf("parseFlags(-publish) = %+v, %v; want publish", o, err)
	}
}

func TestReplaceSectionNeedsBothMarkers(t *testing.T) {
	for name, doc := range map[string]string{
		"no markers":     "# performance\n",
		"no end marker":  resultsBegin + "\nold\n",
		"only the end":   "old\n" + resultsEnd + "\n",
		"markers turned": resultsEnd + "\nold\n" + resultsBegin + "\n",
	} {
		if _, err := replaceSection(doc, "new"); err == nil {
			t.Errorf("replaceSection with %s succeeded", name)
		}
	}
}

// TestTheCommittedDocsHaveAResultsSection keeps docs/performance.md ready
// for -publish.
func TestTheCommittedDocsHaveAResultsSection(t *testing.T) {
	doc := readFile(t, filepath.Join("..", "..", "docs", "performance.md"))
	if _, err := replaceSection(doc, "new"); err != nil {
		t.Errorf("docs/performance.md: %v", err)
	}
}

// reportable is a run with every throughput variant measured.
func reportable() *results {
	r := partialResults()
	r.Throughput[len(r.Throughput)-1] = variantResult{Name: "ES256 mirror+cache", Alg: "ES256", Mode: "mirror", CacheSize: 10000,
		Rounds: []roundResult{{Round: 1, wrkResult: wrkResult{RequestsPerSec: 36000, P50Ms: 1, P99Ms: 9}}}}
	r.Throughput[len(r.Throughput)-1].aggregate()
	r.Targets = evaluate(r)
	return r
}
