package redisconn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotReplicated reports a write that the master applied but that fewer
// replicas than required confirmed in time. It is on the master, and every
// mirror will see it, but a failover may yet lose it, so it must not be
// acknowledged: the caller answers "unavailable" and the client retries.
var ErrNotReplicated = errors.New("write not confirmed by enough replicas")

// Writer runs the Lua scripts that change tokenguard's state. With replicas
// above zero (redis.min_replicas_ack) it counts a write as done only once
// WAIT, sent on the connection that wrote, confirms that many replicas hold
// it: WAIT covers the writes of its own connection only, so on Cluster both
// go to the master of the keys' slot. The blacklist and the session store
// share one Writer.
type Writer struct {
	rdb      redis.UniversalClient
	replicas int
	timeout  time.Duration
}

// NewWriter returns a Writer for rdb that waits up to timeout for replicas
// replicas to confirm each write; replicas zero waits for none.
func NewWriter(rdb redis.UniversalClient, replicas int, timeout time.Duration) *Writer {
	return &Writer{rdb: rdb, replicas: replicas, timeout: timeout}
}

// Run runs script on keys, which must share one slot, and returns its
// reply. When the replicas fall short it returns the reply too, with an
// error wrapping ErrNotReplicated, so that a caller whose script turned out
// to write nothing can tell.
func (w *Writer) Run(ctx context.Context, script *redis.Script, keys []string, args ...any) (any, error) {
	if w.replicas <= 0 {
		return script.Run(ctx, w.rdb, keys, args...).Result()
	}
	node, err := w.master(ctx, keys[0])
	if err != nil {
		return nil, err
	}
	// One connection for the write and its WAIT. Two round trips rather
	// than a pipeline: a pipeline's read would time out after the client's
	// read timeout, before WAIT's own timeout, which go-redis allows for.
	conn := node.Conn()
	defer conn.Close()
	reply, err := script.Run(ctx, conn, keys, args...).Result()
	if err != nil {
		return nil, err
	}
	n, err := conn.Wait(ctx, w.replicas, w.timeout).Result()
	if err != nil {
		return reply, fmt.Errorf("%w: WAIT: %v", ErrNotReplicated, err)
	}
	if int(n) < w.replicas {
		return reply, fmt.Errorf("%w: %d of %d within %v", ErrNotReplicated, n, w.replicas, w.timeout)
	}
	return reply, nil
}

// master returns the client of the server that takes writes for key.
func (w *Writer) master(ctx context.Context, key string) (*redis.Client, error) {
	switch c := w.rdb.(type) {
	case *redis.ClusterClient:
		return c.MasterForKey(ctx, key)
	case *redis.Client: // standalone, or the master a Sentinel names
		return c, nil
	}
	return nil, fmt.Errorf("redis.min_replicas_ack needs a standalone, Sentinel or Cluster client, not %T", w.rdb)
}
