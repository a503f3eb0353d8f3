package redisconn

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/internal/redistest"
)

func TestCommandFailedIsToldOfEveryFailedCommandAndNothingElse(t *testing.T) {
	srv := redistest.Start(t)
	var mu sync.Mutex
	var failed []string
	c, err := Open(context.Background(), Config{Addrs: []string{srv.Addr}, CommandFailed: func(cmd string) {
		mu.Lock()
		defer mu.Unlock()
		failed = append(failed, cmd)
	}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	rdb := c.Client

	// No failures: a nil reply, a script Redis has not seen (NOSCRIPT, then
	// EVAL), a caller that has gone away.
	if err := rdb.Get(ctx, "missing").Err(); err != redis.Nil {
		t.Fatalf("GET of a missing key = %v, want redis.Nil", err)
	}
	if err := redis.NewScript(`return 1`).Run(ctx, rdb, nil).Err(); err != nil {
		t.Fatalf("a script's first run = %v, want it loaded and run", err)
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if err := rdb.Set(gone, "k", "v", 0).Err(); err == nil {
		t.Fatal("SET with a cancelled context succeeded; the test proves nothing")
	}

	// Failures: an error reply, one command of a pipeline, an outage.
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.LPush(ctx, "k", "x").Err(); err == nil {
		t.Fatal("LPUSH on a string succeeded; the test proves nothing")
	}
	_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Get(ctx, "k")
		p.Incr(ctx, "k")
		return nil
	})
	srv.Stop()
	if err := rdb.Ping(ctx).Err(); err == nil {
		t.Fatal("PING of a stopped server succeeded; the test proves nothing")
	}

	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"lpush", "incr", "ping"}, failed); diff != "" {
		t.Errorf("commands reported failed (-want +got):\n%s", diff)
	}
}
