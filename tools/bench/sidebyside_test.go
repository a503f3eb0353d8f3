package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
		{Name: sideEmbedded, Connections: 32, Error: errEmbeddedNotWiredText, NotWired: true},
		{Name: sideNginx, Connections: 32, Rounds: good(12_000, 6)},
	}
	for i := range r.SideBySide {
		r.SideBySide[i].aggregate()
	}
	return r
}

// errEmbeddedNotWiredText is how the reference server says that its hook is
// empty (tools/bench/reference/embedded.go).
const errEmbeddedNotWiredText = "-protect embedded: embedded verifier not wired: see embeddedGuard in tools/bench/reference/embedded.go"

func TestSideTargetsJudgeTheTailAtC32AndSayWhyBIsMissing(t *testing.T) {
	got := map[string]target{}
	for _, tg := range sideTargets(sideResults()) {
		got[tg.Name] = tg
	}
	tail := got["/v1/verify p99 at wrk -t1 -c32 (issue 12)"]
	if tail.Status != "met" || tail.Shown != "2.50 ms" {
		t.Errorf("tail target = %+v, want met at 2.50 ms (the -c32 row, not -c64's 4.5 ms)", tail)
	}
	b := got["(b) embedded ÷ (a) signatures only, req/s at -c32 (issue 12)"]
	if b.Status != "not measured" || !strings.Contains(b.Note, "embedded.go") {
		t.Errorf("(b) target = %+v, want not measured, naming the hook", b)
	}
}

func TestTheSideBySideTableNamesTheHookOfAnUnwiredVariant(t *testing.T) {
	r := sideResults()
	r.Targets = evaluate(r)
	var md bytes.Buffer
	if err := writeMarkdown(&md, r); err != nil {
		t.Fatalf("writeMarkdown: %v", err)
	}
	for _, want := range []string{
		"| (b) handler, embedded verifier | 32 | — |",
		"not wired yet: the hook is embeddedGuard in tools/bench/reference/embedded.go",
		"| tokenguard GET /v1/verify (HS256 mirror) | 32 | 40,000 |",
		"10,000 revocations loaded",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, md.String())
		}
	}
}
