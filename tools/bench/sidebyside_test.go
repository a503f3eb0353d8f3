package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNginxChecksEveryRequestWithVerifyBeforeTheApp(t *testing.T) {
	dir := t.TempDir()
	conf := nginxConfig(dir, "127.0.0.1:40010", "127.0.0.1:40011", "127.0.0.1:40012", os.Geteuid() == 0)
	for _, want := range []string{
		"listen 127.0.0.1:40010;",
		"server 127.0.0.1:40011;",
		"server 127.0.0.1:40012;",
		"auth_request /_tokenguard;",
		"proxy_pass http://tokenguard/v1/verify;",
		"proxy_set_header X-Auth-Request-User $auth_user;",
		"proxy_pass http://app;",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx.conf lacks %q:\n%s", want, conf)
		}
	}
	bin := findNginx()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("nginx not found (CI=true): variant (c) needs it; install Debian's nginx")
		}
		t.Skip("SKIPPING: nginx not found, so its own check of the configuration (nginx -t) cannot run; install it (apt-get install nginx)")
	}
	file := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-t", "-p", dir+"/", "-c", file, "-e", filepath.Join(dir, "error.log")).CombinedOutput()
	if err != nil {
		t.Errorf("nginx -t refuses the configuration: %v\n%s", err, out)
	}
}

func TestSideBySideFlagsAreParsedAndPublishRefusesATriedSetting(t *testing.T) {
	o, err := parseFlags([]string{"-tail-connections", "16, 32", "-side-variants", "verify,c", "-side-tokenguard-env", "GOMAXPROCS=1 GOGC=200"}, io.Discard)
	if err != nil {
		t.Fatalf("parseFlags: %v", err)
	}
	if diff := cmp.Diff([]int{16, 32}, o.tailConnections); diff != "" {
		t.Errorf("tail connections (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]bool{"verify": true, "c": true}, o.sideVariants); diff != "" {
		t.Errorf("side variants (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"GOMAXPROCS=1", "GOGC=200"}, o.sideEnv); diff != "" {
		t.Errorf("side env (-want +got):\n%s", diff)
	}
	for _, args := range [][]string{
		{"-tail-connections", "32,x"},
		{"-tail-connections", "0"},
		{"-side-variants", "verify,d"},
		{"-side-tokenguard-env", "GOGC"},
		{"-publish", "-side-variants", "verify"},
		{"-publish", "-side-compare-bin", "/tmp/tokenguard-before"},
		{"-publish", "-tokenguard-bin", "/tmp/tokenguard-profiled"},
		{"-publish", "-side-tokenguard-env", "GOGC=400"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) = nil error, want one", args)
		}
	}
}

func sideResults() *results {
	good := func(rps, p99 float64) []roundResult {
		return []roundResult{{Round: 1, wrkResult: wrkResult{RequestsPerSec: rps, P99Ms: p99}}}
	}
	r := &results{Settings: settings{TailConnections: []int{32, 64}, TailRevocations: 10_000}}
	r.SideBySide = []sideResult{
		{Name: sideVerify, Connections: 32, Rounds: good(40_000, 2.5)},
		{Name: sideVerify, Connections: 64, Rounds: good(41_000, 4.5)},
		{Name: sideSignatures, Connections: 32, Rounds: good(30_000, 3)},
		{Name: sideSignatures, Connections: 64, Rounds: good(31_000, 5)},
		{Name: sideEmbedded, Connections: 32, Rounds: good(28_000, 3.2)},
		{Name: sideEmbedded, Connections: 64, Rounds: good(20_000, 5.5)},
		{Name: sideNginx, Connections: 32, Error: "nginx: nothing listens"},
	}
	for i := range r.SideBySide {
		r.SideBySide[i].aggregate()
	}
	return r
}

func TestSideTargetsJudgeTheTailAndBAgainstAAtC32(t *testing.T) {
	got := map[string]target{}
	for _, tg := range sideTargets(sideResults()) {
		got[tg.Name] = tg
	}
	tail := got["/v1/verify p99 at wrk -t1 -c32 (issue 12)"]
	if tail.Status != "met" || tail.Shown != "2.50 ms" {
		t.Errorf("tail target = %+v, want met at 2.50 ms (the -c32 row, not -c64's 4.5 ms)", tail)
	}
	b := got["(b) embedded ÷ (a) signatures only, req/s at -c32 (issue 12)"]
	if b.Status != "met" || b.Shown != "0.93×" {
		t.Errorf("(b) target = %+v, want met at 0.93× (28,000 ÷ 30,000 at -c32, not -c64's 0.65×)", b)
	}
	r := sideResults()
	r.SideBySide = slices.DeleteFunc(r.SideBySide, func(s sideResult) bool { return s.Name == sideEmbedded })
	for _, tg := range sideTargets(r) {
		if strings.HasPrefix(tg.Name, "(b)") && (tg.Status != "not measured" || tg.Note != "(b) was not measured") {
			t.Errorf("(b) target without (b) = %+v, want not measured", tg)
		}
	}
}

func TestTheSideBySideTableHasEveryVariantAndWhyOneWasNotMeasured(t *testing.T) {
	r := sideResults()
	r.Targets = evaluate(r)
	var md bytes.Buffer
	if err := writeMarkdown(&md, r); err != nil {
		t.Fatalf("writeMarkdown: %v", err)
	}
	for _, want := range []string{
		"| tokenguard GET /v1/verify (HS256 mirror) | 32 | 40,000 |",
		"| (a) GET /app, signatures only (ES256) | 32 | 30,000 |",
		"| (b) GET /app, embedded verifier (ES256) | 64 | 20,000 |",
		"| (c) GET /app behind nginx auth_request → /v1/verify (ES256 mirror) | 32 | — |",
		"nginx: nothing listens",
		"10,000 revocations loaded; /v1/verify on HS256, the protected handler on ES256",
		"Targets, each from this run",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, md.String())
		}
	}
}

// TestSideBySideRunsEveryVariantAgainstARealTokenguard runs the side-by-side
// run in a quick mode: tokenguard and the reference server built from this
// tree, a real redis-server, nginx and wrk. It checks that (a), (b) and (c)
// let the token through and were driven, and /v1/verify too, not how fast.
func TestSideBySideRunsEveryVariantAgainstARealTokenguard(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts tokenguard, the reference server, redis-server, nginx and wrk")
	}
	tl := tools{nginx: findNginx()}
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
	if tl.nginx == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("nginx not found (CI=true): variant (c) needs it")
		}
		t.Skip("SKIPPED: nginx not found; install it (apt-get install nginx)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute) // a bound on a stuck run
	defer cancel()
	b := smokeBench(t, ctx, tl, options{
		rounds:          1,
		wrk:             wrkOptions{duration: time.Second},
		tailConnections: []int{2},
		tailRevocations: 100,
		sideVariants:    map[string]bool{sideKeyVerify: true, sideKeySignatures: true, sideKeyEmbedded: true, sideKeyNginx: true},
		loadWorkers:     4,
		readyTimeout:    time.Minute,
	}, true)
	got, err := b.sideBySide(ctx)
	if err != nil {
		t.Fatalf("sideBySide = %v, want nil (logs in %s)", err, b.logDir)
	}
	var names []string
	for _, s := range got {
		names = append(names, s.Name)
		if s.GoodRounds != 1 || s.RequestsPerSec <= 0 {
			t.Errorf("%s: %d good rounds at %v req/s (error %q), want one good round", s.Name, s.GoodRounds, s.RequestsPerSec, s.firstError())
		}
	}
	if diff := cmp.Diff([]string{sideVerify, sideSignatures, sideEmbedded, sideNginx}, names); diff != "" {
		t.Errorf("variants (-want +got):\n%s", diff)
	}
}
