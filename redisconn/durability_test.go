package redisconn

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/internal/redistest"
	"github.com/tokenguard/tokenguard/internal/syncbuf"
)

func TestOpenWarnsWhenRedisPersistsNothing(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		// user, when set, is an ACL user that may not run INFO or CONFIG.
		user     string
		wantWarn bool
	}{
		{"no append-only file and no snapshots: warned", []string{"--save", "", "--appendonly", "no"}, "", true},
		{"an append-only file: quiet", []string{"--appendonly", "yes"}, "", false},
		{"RDB snapshots: quiet", []string{"--save", "900 1"}, "", false},
		{"INFO and CONFIG refused: quiet, nothing can be known", []string{"--save", "", "--appendonly", "no"}, "limited", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := redistest.StartWith(t, c.args...)
			cfg := Config{Addrs: []string{srv.Addr}}
			if c.user != "" {
				if err := srv.Client().Do(context.Background(), "acl", "setuser", c.user, "on", ">secret-pw", "~*", "+@all", "-config", "-info").Err(); err != nil {
					t.Fatal(err)
				}
				cfg.Username, cfg.Password = c.user, "secret-pw"
			}
			var logs syncbuf.Buffer
			conn, err := Open(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = conn.Close() })
			if got := strings.Contains(logs.String(), "REDIS WITHOUT PERSISTENCE"); got != c.wantWarn {
				t.Errorf("warned = %v, want %v; log:\n%s", got, c.wantWarn, logs.String())
			}
			if strings.Contains(logs.String(), "level=ERROR") {
				t.Errorf("a refusal was logged as an error:\n%s", logs.String())
			}
		})
	}
	t.Run("the embedded store: exempt", func(t *testing.T) {
		var logs syncbuf.Buffer
		conn, err := Open(context.Background(), Config{}, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		if strings.Contains(logs.String(), "REDIS WITHOUT PERSISTENCE") {
			t.Errorf("the embedded store was warned about; it has its own warning:\n%s", logs.String())
		}
	})
}

var setScript = redis.NewScript(`redis.call('SET', KEYS[1], ARGV[1]) return 1`)

func TestWriterAcknowledgesOnlyWhatTheReplicasHold(t *testing.T) {
	master := redistest.Start(t)
	replica := redistest.StartWith(t, "--replicaof", "127.0.0.1", portOf(master.Addr))
	replica.AwaitReplicaOf(master)
	ctx := context.Background()
	rdb := master.Client()
	w := NewWriter(rdb, 1, 200*time.Millisecond)

	if _, err := w.Run(ctx, setScript, []string{"k1"}, "v1"); err != nil {
		t.Fatalf("Run with the replica up = %v, want nil", err)
	}
	if got := replica.Client().Get(ctx, "k1").Val(); got != "v1" {
		t.Errorf("the replica holds %q once the write was acknowledged, want v1", got)
	}

	replica.Stop()
	reply, err := w.Run(ctx, setScript, []string{"k2"}, "v2")
	if !errors.Is(err, ErrNotReplicated) {
		t.Fatalf("Run with the replica down = %v, want ErrNotReplicated", err)
	}
	if reply != int64(1) {
		t.Errorf("reply = %v, want the script's 1 alongside the error", reply)
	}
	if got := rdb.Get(ctx, "k2").Val(); got != "v2" {
		t.Errorf("master holds %q: the write itself should have been applied, only not acknowledged", got)
	}
	if _, err := NewWriter(rdb, 0, time.Second).Run(ctx, setScript, []string{"k3"}, "v3"); err != nil {
		t.Errorf("Run waiting for no replica = %v, want nil", err)
	}
}

func TestClusterClientFollowsAFailoverAtOnce(t *testing.T) {
	cl := redistest.StartCluster(t)
	ctx := context.Background()
	conn, err := Open(ctx, Config{Addrs: cl.Addrs(), DialTimeout: time.Second, Timeout: time.Second, MinReplicasAck: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	const key = "{failover}k"
	if _, err := conn.Writer.Run(ctx, setScript, []string{key}, "before"); err != nil {
		t.Fatalf("write acknowledged by a replica: %v", err)
	}
	old := cl.MasterOf(key)
	old.Stop()
	// Commands fail while the master is dead: each asks for a new map.
	if err := conn.Client.Get(ctx, key).Err(); err == nil {
		t.Fatalf("GET with the master dead and no failover yet succeeded")
	}
	cl.AwaitFailover(key, old)

	// go-redis on its own would dial the dead master until its next
	// scheduled reload, a minute after the last.
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := conn.Client.Get(ctx, key).Result()
		if err == nil {
			if v != "before" {
				t.Errorf("GET after the failover = %q, want the acknowledged \"before\"", v)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET still fails 10s after the failover: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The new master has no replica left: writes go through but are not
	// acknowledged.
	if _, err := conn.Writer.Run(ctx, setScript, []string{key}, "after"); !errors.Is(err, ErrNotReplicated) {
		t.Errorf("write to a master without replicas = %v, want ErrNotReplicated", err)
	}
}

func portOf(addr string) string {
	return addr[strings.LastIndexByte(addr, ':')+1:]
}

func TestNodeLostTellsOutagesFromReplies(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{redis.Nil, false},
		{context.Canceled, false},
		{context.DeadlineExceeded, true},
		{errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), true},
	} {
		if got := nodeLost(c.err); got != c.want {
			t.Errorf("nodeLost(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
