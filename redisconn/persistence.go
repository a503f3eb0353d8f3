package redisconn

import (
	"context"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"
)

// warnIfVolatile warns about every server of the store that keeps neither
// an append-only file nor RDB snapshots: restarted, it comes back empty, and
// every token it had revoked works again. It asks INFO persistence and
// CONFIG GET; a server that refuses them (managed Redis often does) is not
// reported, since nothing can be known.
func warnIfVolatile(ctx context.Context, c redis.UniversalClient, masterName string, log *slog.Logger) {
	check := func(ctx context.Context, n *redis.Client) error {
		if volatile(ctx, n) {
			where := n.Options().Addr
			if masterName != "" {
				where = "the master of " + masterName
			}
			log.Warn("REDIS WITHOUT PERSISTENCE: it keeps neither an append-only file nor RDB snapshots; if it restarts it forgets every revocation and revoked tokens work again. Turn on appendonly (see Durability in the README).", "redis", where)
		}
		return nil
	}
	switch c := c.(type) {
	case *redis.ClusterClient:
		_ = c.ForEachShard(ctx, check) // check never fails; an unreachable node is skipped
	case *redis.Client:
		_ = check(ctx, c)
	}
}

// volatile reports whether n is known to persist nothing.
func volatile(ctx context.Context, n *redis.Client) bool {
	aof := ""
	if info, err := n.Info(ctx, "persistence").Result(); err == nil {
		aof = map[string]string{"1": "yes", "0": "no"}[infoField(info, "aof_enabled")]
	}
	if aof == "" {
		if v, err := n.ConfigGet(ctx, "appendonly").Result(); err == nil {
			aof = v["appendonly"]
		}
	}
	if aof != "no" {
		return false // on, or unknown
	}
	// Only the configuration says whether snapshots are taken.
	v, err := n.ConfigGet(ctx, "save").Result()
	if err != nil {
		return false
	}
	save, ok := v["save"]
	return ok && strings.TrimSpace(save) == ""
}

// infoField reads "field:value" from an INFO reply.
func infoField(info, field string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}
