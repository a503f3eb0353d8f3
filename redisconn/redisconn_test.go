package redisconn

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/redistest"
)

func TestEmbeddedStoreExpiresKeysInWallClockTime(t *testing.T) {
	ctx := context.Background()
	c, err := Open(ctx, Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Open embedded: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if !c.Embedded {
		t.Fatalf("Embedded = false with no addresses, want true")
	}
	if err := c.Client.Set(ctx, "k", "v", 100*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Client.Exists(ctx, "k").Result(); err != nil || n != 1 {
		t.Fatalf("Exists right after SET = %d, %v; want 1", n, err)
	}
	// Await the expiry as an event: poll until the key is gone, bounded.
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := c.Client.Exists(ctx, "k").Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("key with a 100ms TTL still there after 5s: the embedded store does not expire keys")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOpenStandaloneServer(t *testing.T) {
	srv := redistest.Start(t)
	c, err := Open(context.Background(), Config{Addrs: []string{srv.Addr}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Open %s: %v", srv.Addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if c.Embedded {
		t.Errorf("Embedded = true with an address, want false")
	}
	if err := c.Client.Set(context.Background(), "k", "v", time.Minute).Err(); err != nil {
		t.Errorf("SET through the opened client: %v", err)
	}
	if got, err := srv.Client().Get(context.Background(), "k").Result(); err != nil || got != "v" {
		t.Errorf("the value landed elsewhere: GET on the test server = %q, %v; want \"v\"", got, err)
	}
}

func TestOpenFailsFastOnAnUnreachableStore(t *testing.T) {
	srv := redistest.Start(t)
	addr := srv.Addr
	srv.Stop()
	_, err := Open(context.Background(), Config{Addrs: []string{addr}, DialTimeout: 300 * time.Millisecond}, slog.New(slog.DiscardHandler))
	if err == nil {
		t.Fatalf("Open of a stopped server succeeded, want an error")
	}
}
