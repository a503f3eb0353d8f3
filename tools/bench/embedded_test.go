package main

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestEmbeddedTargetsAreJudgedOrNotMeasured(t *testing.T) {
	measured := &embeddedResult{
		Check:   &checkResult{Checks: 1000, NsPerCheck: 250, MinNsPerCheck: 240, AllocsPerCheck: 0.0002},
		Refusal: &refusalResult{Iterations: 1000, Measured: 1000, FromSend: latency{P99Ms: 12}, After204: latency{P99Ms: 9}},
		Memory:  &verifierMemResult{Tokens: 1000, BytesPerRevocation: 90},
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
		{"nothing measured: every target says so", nil, []string{"not measured", "not measured", "not measured", "not measured"}},
		{"a stray allocation of another goroutine is no allocation of the check; p99 judged from the send", measured, []string{"met", "met", "missed", "met"}},
		{"whole allocations per check miss the target", &allocating, []string{"met", "missed", "missed", "met"}},
		{"on a busy machine the check is judged on its thread's CPU time", &busy, []string{"met", "met", "missed", "met"}},
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
		Check:   &checkResult{Checks: 1000, NsPerCheck: 250, CPUNsPerCheck: 240, AllocsPerCheck: 0},
		Refusal: &refusalResult{Iterations: 10, Measured: 9, Failures: 1, FirstFailure: "boom\ndetail"},
		Memory:  &verifierMemResult{Tokens: 1000, BytesPerRevocation: 90},
	}}
	var b strings.Builder
	if err := writeText(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"verifier.Verify, warm verified-token cache", "240 ns CPU, 250 ns wall", "revocation sent → verifier refuses", "1 failed, first: boom", "verifier heap per revoked token", "90 B"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, b.String())
		}
	}
}

// TestEmbeddedMeasurementsRunAgainstARealTokenguard runs the embedded
// verifier's measurements in a quick mode: a real tokenguard built from
// this tree on a real redis-server. It checks that each measured, not how
// fast.
func TestEmbeddedMeasurementsRunAgainstARealTokenguard(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts tokenguard and redis-server")
	}
	var tl tools
	for _, p := range []struct {
		name string
		dst  *string
	}{{"redis-server", &tl.redisServer}} {
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
	b := smokeBench(t, ctx, tl, options{
		// Enough per batch (about 50 ms) for the thread's CPU time, which
		// Linux accounts in scheduler ticks, to move.
		embeddedChecks:      100_000,
		embeddedRevocations: 5,
		embeddedMemory:      500,
		loadWorkers:         4,
		readyTimeout:        time.Minute,
	}, false)
	res := &results{}
	if err := b.measureEmbedded(ctx, res); err != nil {
		t.Fatalf("measureEmbedded = %v, want nil", err)
	}
	if len(res.Problems) > 0 {
		t.Fatalf("problems: %q (logs in %s)", res.Problems, b.logDir)
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
	for _, tg := range embeddedTargets(res) {
		if tg.Status == "not measured" {
			t.Errorf("target %q not measured: %s", tg.Name, tg.Note)
		}
	}
}
