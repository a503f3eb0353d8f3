package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/config"
)

func TestFedConfigIsOneTokenguardAccepts(t *testing.T) {
	dir := t.TempDir()
	sec := secrets{es256File: filepath.Join(dir, "es256.pem"), appSecret: "app-secret-x", adminSecret: "admin-secret-y"}
	file := filepath.Join(dir, "fed.yaml")
	spec := instanceSpec{name: "fed", alg: "ES256", mode: "mirror", redisAddr: "127.0.0.1:40001"}
	if err := os.WriteFile(file, []byte(fedConfig(spec, 40002, sec, "feed-secret-z")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file, true, func(string) string { return "" })
	if err != nil {
		t.Fatalf("config.Load of the fed config: %v", err)
	}
	var ids []string
	for _, c := range cfg.Clients {
		ids = append(ids, c.ID)
		if c.ID == verifierClientID && (c.Secret != "feed-secret-z" || !slices.Equal(c.Permissions, []string{"feed"})) {
			t.Errorf("client %s = secret %q, permissions %q; want the feed secret and [feed]", c.ID, c.Secret, c.Permissions)
		}
	}
	if !slices.Contains(ids, verifierClientID) || !slices.Contains(ids, "app") || !slices.Contains(ids, "admin") {
		t.Errorf("clients = %q, want app, admin and %s", ids, verifierClientID)
	}
}

func TestEmbeddedTargetsAreJudgedOrNotMeasured(t *testing.T) {
	side := func(name string, rps, p99 float64) variantResult {
		v := variantResult{Name: name, Rounds: []roundResult{{Round: 1, wrkResult: wrkResult{RequestsPerSec: rps, P50Ms: 1, P99Ms: p99}}}}
		v.aggregate()
		return v
	}
	measured := &embeddedResult{
		Check:   &checkResult{Checks: 1000, NsPerCheck: 250, MinNsPerCheck: 240, AllocsPerCheck: 0.0002},
		Refusal: &refusalResult{Iterations: 1000, Measured: 1000, FromSend: latency{P99Ms: 12}, After204: latency{P99Ms: 9}},
		Memory:  &verifierMemResult{Tokens: 1000, BytesPerRevocation: 90},
		SideBySide: []variantResult{
			side(sideSignaturesName, 20000, 3),
			side(sideEmbeddedName, 19000, 3.1),
		},
	}
	allocating := *measured
	allocating.Check = &checkResult{Checks: 1000, NsPerCheck: 900, AllocsPerCheck: 2.5}
	busy := *measured
	busy.Check = &checkResult{Checks: 1000, NsPerCheck: 1400, CPUNsPerCheck: 600}
	cases := []struct {
		name string
		e    *embeddedResult
		want []string
	}{
		{"nothing measured: every target says so", nil, []string{"not measured", "not measured", "not measured", "not measured", "not measured"}},
		{"a stray allocation of another goroutine is no allocation of the check; p99 judged from the send", measured, []string{"met", "met", "missed", "met", "met"}},
		{"whole allocations per check miss the target", &allocating, []string{"met", "missed", "missed", "met", "met"}},
		{"on a busy machine the check is judged on its thread's CPU time", &busy, []string{"met", "met", "missed", "met", "met"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, tg := range embeddedTargets(&results{Embedded: c.e}) {
				got = append(got, tg.Status)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("statuses = %q, want %q", got, c.want)
			}
		})
	}
}

func TestEmbeddedTablesShowEveryMeasurement(t *testing.T) {
	r := &results{Embedded: &embeddedResult{
		Check:      &checkResult{Checks: 1000, NsPerCheck: 250, CPUNsPerCheck: 240, AllocsPerCheck: 0},
		Refusal:    &refusalResult{Iterations: 10, Measured: 9, Failures: 1, FirstFailure: "boom\ndetail"},
		Memory:     &verifierMemResult{Tokens: 1000, BytesPerRevocation: 90},
		SideBySide: []variantResult{{Name: sideEmbeddedName, Error: "did not start: no feed"}},
	}}
	var b strings.Builder
	if err := writeText(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"verifier.Verify, warm verified-token cache", "240 ns CPU, 250 ns wall", "revocation sent → verifier refuses", "1 failed, first: boom", "verifier heap per revoked token", "90 B", sideEmbeddedName, "did not start: no feed"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, b.String())
		}
	}
}

// TestEmbeddedMeasurementsRunAgainstARealTokenguard runs the embedded
// verifier's measurements in a quick mode: a real tokenguard built from
// this tree on a real redis-server, the protected server built and driven
// by wrk. It checks that each measured, not how fast.
func TestEmbeddedMeasurementsRunAgainstARealTokenguard(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts tokenguard, redis-server and wrk")
	}
	var tl tools
	for _, p := range []struct {
		name string
		dst  *string
	}{{"redis-server", &tl.redisServer}, {"wrk", &tl.wrk}} {
		path, err := exec.LookPath(p.name)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not on PATH: %v", p.name, err)
			}
			t.Skipf("SKIPPED: %s is not on PATH (install it; under CI=true this fails)", p.name)
		}
		*p.dst = path
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute) // a bound on a stuck run
	defer cancel()
	_, serviceDir, err := moduleDirs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin, err := buildTokenguard(ctx, serviceDir, dir)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := newSecrets(dir)
	if err != nil {
		t.Fatal(err)
	}
	logDir := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := &bench{
		log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		tools: tl,
		opts: options{
			rounds:              1,
			wrk:                 wrkOptions{duration: time.Second, connections: 2, threads: 1},
			embeddedChecks:      2000,
			embeddedRevocations: 5,
			embeddedMemory:      500,
			loadWorkers:         4,
			readyTimeout:        time.Minute,
		},
		tokenguard: launcher{bin: bin, configDir: dir, logDir: logDir, sec: sec},
		dir:        dir,
		logDir:     logDir,
	}
	res := &results{}
	if err := b.measureEmbedded(ctx, res); err != nil {
		t.Fatalf("measureEmbedded = %v, want nil", err)
	}
	if len(res.Problems) > 0 {
		t.Fatalf("problems: %q (logs in %s)", res.Problems, logDir)
	}
	e := res.Embedded
	if e == nil || e.Check == nil || e.Refusal == nil || e.Memory == nil {
		t.Fatalf("embedded results = %+v, want every measurement", e)
	}
	if e.Check.NsPerCheck <= 0 || (runtime.GOOS == "linux" && e.Check.CPUNsPerCheck <= 0) {
		t.Errorf("warm check = %v ns wall, %v ns CPU; want positive times", e.Check.NsPerCheck, e.Check.CPUNsPerCheck)
	}
	if e.Refusal.Measured != 5 || e.Refusal.Failures != 0 {
		t.Errorf("refusals measured %d, failed %d; want 5 and 0", e.Refusal.Measured, e.Refusal.Failures)
	}
	if e.Memory.Tokens < 505 {
		t.Errorf("the memory verifier holds %d revoked tokens, want at least the 500 loaded and the 5 revoked", e.Memory.Tokens)
	}
	for _, name := range []string{sideSignaturesName, sideEmbeddedName} {
		if v, ok := sideVariant(e.SideBySide, name); !ok || v.RequestsPerSec <= 0 {
			t.Errorf("%s: measured %v, %+v; want one good round", name, ok, v)
		}
	}
	for _, tg := range embeddedTargets(res) {
		if tg.Status == "not measured" {
			t.Errorf("target %q not measured: %s", tg.Name, tg.Note)
		}
	}
}
