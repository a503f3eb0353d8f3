package redisconn

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// reloadEvery is the least time between two slot-map reloads this process
// asks for. go-redis runs one reload at a time and rests 200 ms after each;
// this also bounds how often a dead node that stays in the map triggers one.
const reloadEvery = 250 * time.Millisecond

// reloader asks a Cluster client for a fresh slot map whenever a command to
// one of its nodes fails for want of the node. Left alone, go-redis reloads
// only on MOVED, ASK or READONLY replies, which a dead master never sends,
// or once a minute: after a failover it would dial the dead master until
// then. It hooks every node client, so that the commands sent to a node
// directly (a Writer's write and WAIT, the mirror's scans) count too.
type reloader struct {
	cc   *redis.ClusterClient
	last atomic.Int64 // unix nanoseconds of the last request
}

// watch installs the reloader on every node client cc will make; call it
// before the first command.
func watch(cc *redis.ClusterClient) {
	r := &reloader{cc: cc}
	cc.OnNewNode(func(node *redis.Client) { node.AddHook(r) })
}

func (r *reloader) after(err error) {
	if !nodeLost(err) {
		return
	}
	now := time.Now().UnixNano()
	last := r.last.Load()
	if now-last < int64(reloadEvery) || !r.last.CompareAndSwap(last, now) {
		return
	}
	r.cc.ReloadState(context.Background())
}

// nodeLost tells the errors that may mean the slot map is out of date: the
// node cannot be reached or does not answer, or it answers that the slot is
// elsewhere, that the cluster is down or that it is no longer a master.
// Plain reply errors (a missing key, a wrong type, NOSCRIPT) and a caller
// giving up do not.
func nodeLost(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) {
		return false
	}
	var reply redis.Error
	if errors.As(err, &reply) {
		for _, p := range []string{"MOVED ", "ASK ", "CLUSTERDOWN", "READONLY", "TRYAGAIN", "MASTERDOWN"} {
			if strings.HasPrefix(reply.Error(), p) {
				return true
			}
		}
		return false
	}
	return true
}

// DialHook passes dials through: a failed dial fails the command, which
// ProcessHook sees.
func (r *reloader) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook watches single commands.
func (r *reloader) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		r.after(err)
		return err
	}
}

// ProcessPipelineHook watches pipelines and transactions.
func (r *reloader) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		r.after(err)
		return err
	}
}

var _ redis.Hook = (*reloader)(nil)
