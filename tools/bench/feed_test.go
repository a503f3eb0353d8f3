package main

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// smokeBench builds tokenguard (and the reference server, with
// withReference) and prepares a bench around it with tl and opts, as run
// does, for a test that runs one phase on a small scale.
func smokeBench(t *testing.T, ctx context.Context, tl tools, opts options, withReference bool) *bench {
	t.Helper()
	benchDir, serviceDir, err := moduleDirs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin, err := buildTokenguard(ctx, serviceDir, dir)
	if err != nil {
		t.Fatal(err)
	}
	var ref string
	if withReference {
		if ref, err = buildReference(ctx, benchDir, dir); err != nil {
			t.Fatal(err)
		}
	}
	sec, err := newSecrets(dir)
	if err != nil {
		t.Fatal(err)
	}
	logDir := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &bench{
		log:        slog.New(slog.DiscardHandler),
		opts:       opts,
		tools:      tl,
		tokenguard: launcher{bin: bin, reference: ref, configDir: dir, logDir: logDir, sec: sec},
		dir:        dir,
		logDir:     logDir,
	}
}

// needRedisServer finds redis-server; without it the test skips loudly,
// and fails under CI=true.
func needRedisServer(t *testing.T) string {
	t.Helper()
	redisServer, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed (CI=true: failing rather than skipping)")
		}
		t.Skip("SKIPPED: redis-server is not installed; this smoke run of the benchmark needs it")
	}
	return redisServer
}

func TestFeedPhaseDeliversEveryRevocationToEverySubscriberOnASmallScale(t *testing.T) {
	b := smokeBench(t, context.Background(), tools{redisServer: needRedisServer(t)}, options{readyTimeout: 30 * time.Second}, false)
	res, err := b.feed(context.Background(), feedOptions{subscribers: 20, rate: 100, duration: time.Second, writers: 4})
	if err != nil {
		t.Fatalf("feed phase: %v", err)
	}
	if res.Connected != 20 || res.Written != 100 || res.Deliveries != 20*100 || res.Expected != res.Deliveries {
		t.Errorf("connected %d, written %d, delivered %d of %d; want 20, 100 and 2000 of 2000", res.Connected, res.Written, res.Deliveries, res.Expected)
	}
	if res.Delivery.P99Ms <= 0 || res.RSSSubscribed <= 0 {
		t.Errorf("delivery p99 %.3f ms, RSS with subscribers %d; want both measured", res.Delivery.P99Ms, res.RSSSubscribed)
	}

	r := &results{Feed: res}
	var feedTarget *target
	for _, g := range evaluate(r) {
		if strings.HasPrefix(g.Name, "feed delivery p99") {
			feedTarget = &g
		}
	}
	if feedTarget == nil || feedTarget.Measured == nil || !strings.Contains(feedTarget.Note, "only 20 measured") {
		t.Errorf("the feed target = %+v, want it measured and noted as undersized", feedTarget)
	}
	var md strings.Builder
	if err := writeMarkdown(&md, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "Revocation feed: 20 subscribers") {
		t.Errorf("the report lacks the feed's table:\n%s", md.String())
	}
}
