package signals

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// An outbox entry holds one signed SET: fields "jti", "type" (the metric
// name of its event type) and "set" (the compact JWS). Its stream id is
// its enqueue time, which the retention sweep reads.
type entry struct {
	id, jti, typ, set string
}

// enqueueScript appends a SET to a stream's outbox if the stream still
// exists (a delete racing a publish must not leave an orphan outbox) and
// is not disabled. Both keys share the stream's shard.
var enqueueScript = redis.NewScript(`
local cfg = redis.call("HGET", KEYS[1], "config")
if not cfg then return 0 end
if string.find(cfg, '"status":"disabled"', 1, true) then return 0 end
redis.call("XADD", KEYS[2], "*", "jti", ARGV[1], "type", ARGV[2], "set", ARGV[3])
return 1
`)

// enqueue appends a signed SET to the outbox of stream id; false when the
// stream is gone or disabled.
func (t *Transmitter) enqueue(ctx context.Context, id string, e entry) (bool, error) {
	n, err := enqueueScript.Run(ctx, t.rdb, []string{t.keys.SignalStream(id), t.keys.SignalOutbox(id)}, e.jti, e.typ, e.set).Int()
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

// head reads up to n of the oldest entries of a stream's outbox.
func (t *Transmitter) head(ctx context.Context, id string, n int64) ([]entry, error) {
	msgs, err := t.rdb.XRangeN(ctx, t.keys.SignalOutbox(id), "-", "+", n).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]entry, 0, len(msgs))
	for _, m := range msgs {
		e := entry{id: m.ID}
		e.jti, _ = m.Values["jti"].(string)
		e.typ, _ = m.Values["type"].(string)
		e.set, _ = m.Values["set"].(string)
		out = append(out, e)
	}
	return out, nil
}

// backlog counts the entries of a stream's outbox.
func (t *Transmitter) backlog(ctx context.Context, id string) (int64, error) {
	n, err := t.rdb.XLen(ctx, t.keys.SignalOutbox(id)).Result()
	if err != nil {
		return 0, unavailable(err)
	}
	return n, nil
}

// done removes delivered (or rejected) entries from a stream's outbox.
func (t *Transmitter) done(ctx context.Context, id string, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	if err := t.rdb.XDel(ctx, t.keys.SignalOutbox(id), ids...).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// clear empties a stream's outbox (a disabled stream holds nothing) and
// returns how many entries it held.
func (t *Transmitter) clear(ctx context.Context, id string) (int64, error) {
	n, err := t.rdb.XLen(ctx, t.keys.SignalOutbox(id)).Result()
	if err == nil && n > 0 {
		err = t.rdb.Del(ctx, t.keys.SignalOutbox(id)).Err()
	}
	if err != nil {
		return 0, unavailable(err)
	}
	return n, nil
}

// expireScript drops the entries of an outbox older than ARGV[1] (a
// stream id bound: ms-seq) and marks the stream with how many, in one
// step, so that two instances sweeping at once count each loss once.
var expireScript = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 0 then return 0 end
local old = redis.call("XRANGE", KEYS[2], "-", ARGV[1])
if #old == 0 then return 0 end
for _, e in ipairs(old) do redis.call("XDEL", KEYS[2], e[1]) end
redis.call("HINCRBY", KEYS[1], "lost", #old)
redis.call("HSET", KEYS[1], "lost_at", ARGV[2])
return #old
`)

// expire drops the entries of stream id's outbox enqueued before cutoff
// and returns how many.
func (t *Transmitter) expire(ctx context.Context, id string, cutoff time.Time) (int64, error) {
	bound := strconv.FormatInt(cutoff.UnixMilli()-1, 10) + "-18446744073709551615"
	n, err := expireScript.Run(ctx, t.rdb, []string{t.keys.SignalStream(id), t.keys.SignalOutbox(id)}, bound, strconv.FormatInt(t.now().UnixMilli(), 10)).Int64()
	if err != nil {
		return 0, unavailable(err)
	}
	return n, nil
}

// leaseScript takes or renews the lease of a stream for holder.
var leaseScript = redis.NewScript(`
local v = redis.call("GET", KEYS[1])
if v and v ~= ARGV[1] then return 0 end
redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
return 1
`)

// releaseScript gives a lease up if holder has it.
var releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then redis.call("DEL", KEYS[1]) end
return 1
`)

// lease takes or renews this instance's lease on pushing stream id.
func (t *Transmitter) lease(ctx context.Context, id string) (bool, error) {
	n, err := leaseScript.Run(ctx, t.rdb, []string{t.keys.SignalLease(id)}, t.instance, strconv.FormatInt(leaseTTL.Milliseconds(), 10)).Int()
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

// release gives up this instance's lease on stream id.
func (t *Transmitter) release(ctx context.Context, id string) {
	if err := releaseScript.Run(ctx, t.rdb, []string{t.keys.SignalLease(id)}, t.instance).Err(); err != nil {
		t.log.WarnContext(ctx, "ssf lease not released", "stream_id", id, "err", err)
	}
}
