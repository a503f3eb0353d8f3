package redisconn

import (
	"context"
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
)

// errorHook tells failed of every command that fails, by its lower-case
// name: a command (and each command of a pipeline) that could not be sent,
// got no answer in time, or was answered with an error. It leaves out what
// is no failure of Redis: a nil reply (a missing key, an XREAD that timed
// out with nothing new), NOSCRIPT (go-redis loads the script and runs it
// again), a caller that went away, and the error replies to the handshake
// of a new connection (HELLO, CLIENT SETINFO, CLIENT MAINT_NOTIFICATIONS),
// which go-redis sends to learn what the server supports and then does
// without. On a Cluster it sees each command once, after go-redis has
// followed redirections.
type errorHook struct {
	failed func(command string)
}

// DialHook passes dials through: a failed dial fails the command, which
// ProcessHook sees.
func (h errorHook) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook watches single commands.
func (h errorHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if failure(cmd, err) {
			h.failed(cmd.Name())
		}
		return err
	}
}

// ProcessPipelineHook watches each command of pipelines and transactions.
func (h errorHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			if failure(cmd, cmd.Err()) {
				h.failed(cmd.Name())
			}
		}
		return err
	}
}

// failure reports whether err, which cmd returned, is a failure errorHook
// counts.
func failure(cmd redis.Cmder, err error) bool {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) {
		return false
	}
	var reply redis.Error
	if !errors.As(err, &reply) {
		return true // not sent, or no answer
	}
	switch cmd.Name() {
	case "hello", "client":
		return false
	}
	return !strings.HasPrefix(reply.Error(), "NOSCRIPT")
}

var _ redis.Hook = errorHook{}
