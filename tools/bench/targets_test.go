package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestJudgeSaysMetOrByHowMuchItMissed(t *testing.T) {
	cases := []struct {
		name       string
		g          goal
		value      float64
		wantStatus string
		wantNote   string
	}{
		{"at least, reached exactly", goal{true, 0.9, "×"}, 0.9, "met", ""},
		{"at least, short by a tenth", goal{true, 2, "×"}, 1.8, "missed", "missed by 10%"},
		{"at most, over by a hair", goal{false, 1.5, "×"}, 1.51, "missed", "missed by 0.7%"},
		{"at most, under", goal{false, 150, "B"}, 120, "met", ""},
		{"at most, over by a fifth", goal{false, 10, "ms"}, 12, "missed", "missed by 20%"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := judge("x", c.g, c.value, "")
			if got.Status != c.wantStatus || got.Note != c.wantNote {
				t.Errorf("judge = %q, %q; want %q, %q", got.Status, got.Note, c.wantStatus, c.wantNote)
			}
		})
	}
}

func TestThousandsGroupsDigits(t *testing.T) {
	cases := map[float64]string{0: "0", 999: "999", 1000: "1,000", 28477.61: "28,478", 1e6: "1,000,000", -12345: "-12,345"}
	for in, want := range cases {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %q, want %q", in, got, want)
		}
	}
}

// partialResults is a run in which the cache variant did not start and the
// memory measurements were skipped.
func partialResults() *results {
	variant := func(name, alg, mode string, rps, p99 float64) variantResult {
		v := variantResult{Name: name, Alg: alg, Mode: mode, Rounds: []roundResult{
			{Round: 1, wrkResult: wrkResult{RequestsPerSec: rps, P50Ms: 1, P99Ms: p99}},
			{Round: 2, wrkResult: wrkResult{RequestsPerSec: rps * 1.02, P50Ms: 1, P99Ms: p99}},
		}}
		v.aggregate()
		return v
	}
	return &results{
		Machine:  machine{CPUs: 2, CPUModel: "AMD EPYC"},
		Settings: settings{Rounds: 2, DurationSeconds: 5, Threads: 2, Connections: 64},
		Throughput: []variantResult{
			variant("HS256 reference", "HS256", referenceMode, 30000, 10),
			variant("HS256 strict", "HS256", "strict", 13000, 25),
			variant("HS256 mirror", "HS256", "mirror", 29000, 11),
			variant("ES256 reference", "ES256", referenceMode, 12000, 40),
			variant("ES256 strict", "ES256", "strict", 6500, 40),
			variant("ES256 mirror", "ES256", "mirror", 12100, 41),
			{Name: "ES256 mirror+cache", Alg: "ES256", Mode: "mirror", CacheSize: 10000, Error: "did not start: unknown setting \"tokens.verified_cache_size\"\nthe log…"},
		},
		Propagation: &propagationResult{Iterations: 1000, Measured: 1000, After204: latency{P50Ms: 0.3, P99Ms: 0.6, MaxMs: 2}},
	}
}

func TestEvaluateJudgesWhatWasMeasuredAndSaysWhatWasNot(t *testing.T) {
	got := map[string]string{}
	for _, tg := range evaluate(partialResults()) {
		got[tg.Name] = tg.Status
	}
	want := map[string]string{
		"HS256: mirror ÷ reference, req/s":      "met",
		"HS256: mirror ÷ strict, req/s":         "met",
		"ES256: mirror ÷ strict, req/s":         "missed",
		"ES256: with cache ÷ without, req/s":    "not measured",
		"propagation p99 (204 on A → 401 on B)": "met",
		"Redis memory per revoked token":        "not measured",
		"revocations/s through the API":         "not measured",
	}
	for name, status := range want {
		if got[name] != status {
			t.Errorf("target %q = %q, want %q", name, got[name], status)
		}
	}
}

func TestAPartialRunIsStillReported(t *testing.T) {
	r := partialResults()
	r.Targets = evaluate(r)
	var text, md bytes.Buffer
	if err := writeText(&text, r); err != nil {
		t.Fatalf("writeText: %v", err)
	}
	if err := writeMarkdown(&md, r); err != nil {
		t.Fatalf("writeMarkdown: %v", err)
	}
	for _, out := range []string{text.String(), md.String()} {
		if !strings.Contains(out, `did not start: unknown setting "tokens.verified_cache_size"`) {
			t.Errorf("the report does not say why the cache variant is missing:\n%s", out)
		}
		if strings.Contains(out, "the log…") {
			t.Errorf("the table quotes more than the first line of an error:\n%s", out)
		}
	}
	if err := writePlot(filepath.Join(t.TempDir(), "performance.png"), r); err != nil {
		t.Errorf("writePlot: %v", err)
	}
}

func TestRedisMemoryIsJudgedAsASteadyRateLeavesItAndShowsTheBurst(t *testing.T) {
	r := &results{RedisMemory: &redisMemoryResult{
		Revocations: 1_000_000, KeysAdded: 1_000_000, WindowSeconds: 120, InWindow: 129_032,
		BytesPerToken: 137, ChangeLogPerToken: 7,
		Burst: burstMemory{Revocations: 870_968, BytesPerToken: 181, ChangeLogPerToken: 53},
	}}
	var got target
	for _, tg := range evaluate(r) {
		if tg.Name == "Redis memory per revoked token" {
			got = tg
		}
	}
	if got.Status != "met" || got.Measured == nil || *got.Measured != 137 {
		t.Errorf("target = %+v, want met on the steady reading (137 B), not the burst's 181 B", got)
	}
	for _, want := range []string{"change log 7 B (its last 2m0s)", "181 B right after a burst"} {
		if !strings.Contains(got.Note, want) {
			t.Errorf("note %q does not say %q", got.Note, want)
		}
	}
}
