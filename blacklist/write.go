package blacklist

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/internal/keyspace"
	"github.com/tokenguard/tokenguard/redisconn"
)

// change is one entry to set or delete, and to append to its shard's change
// log, which the local mirrors of other instances follow.
type change struct {
	kind  byte
	id    string
	value string
	// ttl is how long the key lives; zero means no expiry (an indefinite
	// ban, the one entry that must outlive every token).
	ttl time.Duration
	// keepMax keeps the larger of the stored and the new numeric value, so
	// a cut-off never moves back in time.
	keepMax bool
	// del deletes the entry instead (lifting a ban).
	del bool
}

// changeScript applies changes that share one shard in one atomic step: it
// sets (or deletes) each key with its TTL and appends what it did to the
// shard's change log, trimming the log of entries older than its window
// (ChangeLogWindow). The log entry carries the value actually stored, so
// replaying the log in order gives the same state as the keys.
//
// Each entry also carries n, its number in the shard's log: one more than
// the entry before it. A mirror that reads an entry whose number does not
// follow the last one it read knows that entries it never saw were trimmed
// (or lost to a restart or a failover), and reloads from a snapshot; so the
// log only has to be kept as long as a mirror is expected to need it, not
// as long as the entries it describes live.
//
// KEYS: the entry keys, then the shard's log. ARGV[1]: how long log entries
// are kept (ms), counted on Redis's own clock, which also stamps the entry
// ids, so an instance's clock skew never trims fresh entries; ARGV[2]: the
// log's own TTL (ms), so that an idle log vanishes like every other key;
// then six per key: kind, id, the value for the log, the value for the key,
// ttl in ms (0: none), mode.
var changeScript = redis.NewScript(`
local log = KEYS[#KEYS]
local t = redis.call('TIME')
local minid = (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)) - tonumber(ARGV[1])
local n = 0
local last = redis.call('XREVRANGE', log, '+', '-', 'COUNT', 1)[1]
if last then
  local f = last[2]
  for j = 1, #f - 1, 2 do
    if f[j] == 'n' then n = tonumber(f[j + 1]) or 0 end
  end
end
for i = 1, #KEYS - 1 do
  local a = 3 + (i - 1) * 6
  local kind, id, value, stored, ttl, mode = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], tonumber(ARGV[a + 4]), ARGV[a + 5]
  if mode == 'del' then
    redis.call('DEL', KEYS[i])
    value = ''
  else
    if mode == 'max' then
      local cur = tonumber(redis.call('GET', KEYS[i]) or '')
      if cur and cur >= tonumber(value) then
        value = tostring(redis.call('GET', KEYS[i]))
      end
      stored = value
    end
    if ttl > 0 then
      redis.call('SET', KEYS[i], stored, 'PX', ttl)
    else
      redis.call('SET', KEYS[i], stored)
    end
  end
  n = n + 1
  redis.call('XADD', log, 'MINID', '~', minid, '*', 't', kind, 'id', id, 'v', value, 'n', string.format('%d', n))
end
redis.call('PEXPIRE', log, ARGV[2])
return #KEYS - 1
`)

// ChangeLogWindow is how long a change log keeps an entry (or the longest
// our tokens live plus the leeway, if that is shorter). The log is not
// the record of the revocation state (the keys are); it only lets a mirror
// go from a snapshot, or from a pause, to the present without loading the
// whole state again, and a mirror that finds a gap in it reloads (see
// changeScript). So it must cover:
//
//   - a snapshot: every change from the moment a snapshot begins until the
//     mirror's first read of the log. One of 1,000,000 entries takes about
//     4 s on the 2-core benchmark machine, so two minutes leave room for a
//     state some 30 times that size before a mirror could never catch up;
//   - a pause of a mirror that keeps its connection (a stopped or starved
//     process, a long GC, a burst it reads behind): revocation.max_staleness
//     is at most one minute, so a mirror that was stale, and refused checks,
//     for as long as any configuration allows catches up by replaying the
//     log, with as long again to spare, instead of reloading.
//
// Beyond it a mirror reloads, which is correct, only slower (a mirror
// whose connection broke reloads anyway). At a steady rate the log holds
// window ÷ (how long a revocation stays live) of the live revocations:
// with the default 15m access tokens revoked as they are issued, one in
// eight, a few bytes of Redis memory per revoked token instead of the 48 B
// its entry cost when the log was kept as long as the tokens. Trimming is
// approximate (whole stream nodes, at most 10,000 entries per write), so an
// entry may outlive the window a little, never the other way round.
const ChangeLogWindow = 2 * time.Minute

// logWindow is how long this store's writes keep change-log entries.
func (s *Store) logWindow() time.Duration { return min(ChangeLogWindow, s.hold) }

// apply writes changes that share one shard atomically, and only returns nil
// once Redis has them, and as many replicas as the Writer waits for.
//
// Repeating a change does no harm: a revocation set again, a cut-off that
// keeps the later of two times, a ban put in place anew, a delete. A client
// told "unavailable" may retry the same revocation, logout or ban safely,
// whether or not the first attempt reached Redis.
func (s *Store) apply(ctx context.Context, changes ...change) error {
	shard := keyspace.Shard(changes[0].id)
	keys := make([]string, 0, len(changes)+1)
	args := make([]any, 0, 2+6*len(changes))
	args = append(args, s.logWindow().Milliseconds(), s.hold.Milliseconds())
	for _, c := range changes {
		if keyspace.Shard(c.id) != shard {
			return fmt.Errorf("blacklist: changes span shards %d and %d", shard, keyspace.Shard(c.id))
		}
		keys = append(keys, s.keys.Entry(c.kind, c.id))
		mode := "set"
		switch {
		case c.del:
			mode = "del"
		case c.keepMax:
			mode = "max"
		}
		args = append(args, string(c.kind), c.id, c.value, storedValue(c), strconv.FormatInt(c.ttl.Milliseconds(), 10), mode)
	}
	keys = append(keys, s.keys.ChangeLog(shard))
	_, err := s.writer.Run(ctx, changeScript, keys, args...)
	if err != nil && !errors.Is(err, redisconn.ErrNotReplicated) {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	// Read-your-writes: this instance refuses the token before the client
	// hears that it is revoked; the others follow the log. A change the
	// replicas did not confirm is applied too: it is on the master, whose
	// log every other mirror follows, so this one agrees with them.
	if s.mirror != nil {
		for _, c := range changes {
			v := c.value
			if c.del {
				v = ""
			}
			if err := s.mirror.Set(c.kind, c.id, v); err != nil {
				return err
			}
		}
	}
	if err != nil {
		// Not acknowledged: a failover could still lose it.
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// storedValue is what the key holds. A revoked token or session stores "1",
// one of Redis's shared integers, so the key costs no value object: its TTL
// already says when it ends. The log entry carries the expiry instead, for
// the mirrors.
func storedValue(c change) string {
	if c.kind == keyspace.KindRevokedToken || c.kind == keyspace.KindEndedSession {
		return "1"
	}
	return c.value
}
