package signals

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Stream limits: each worker and outbox costs, so both are bounded.
const (
	// MaxStreamsPerClient is how many streams one client may have.
	MaxStreamsPerClient = 10
	// MaxStreams is how many streams the deployment holds.
	MaxStreams          = 100
	maxDescriptionBytes = 1024
)

// Stream is one event stream as a receiver configured it (SSF 1.0 §8.1.1).
type Stream struct {
	ID string `json:"id"`
	// ClientID owns the stream: only it may read or change it, and it is
	// the aud of every SET the stream delivers.
	ClientID string `json:"client_id"`
	// Method is MethodPush or MethodPoll.
	Method string `json:"method"`
	// EndpointURL is the receiver's push endpoint; empty for poll.
	EndpointURL string `json:"endpoint_url,omitempty"`
	// Requested are the event types the receiver asked for.
	Requested   []string  `json:"events_requested"`
	Description string    `json:"description,omitempty"`
	Status      string    `json:"status"`
	Reason      string    `json:"reason,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	// Lost counts events dropped undelivered past the retention; LostAt is
	// when the last were. Set by the outbox, never by the receiver.
	Lost   int64     `json:"-"`
	LostAt time.Time `json:"-"`
}

// Delivered are the event types the stream delivers: those requested and
// supported (events_delivered). Verification events are always delivered.
func (s Stream) Delivered() []string {
	var out []string
	for _, t := range Supported {
		if slices.Contains(s.Requested, t) {
			out = append(out, t)
		}
	}
	return out
}

// delivers reports whether the stream takes events of type typ now.
func (s Stream) delivers(typ string) bool {
	return s.Status != StatusDisabled && (typ == TypeVerification || slices.Contains(s.Requested, typ))
}

// store keeps streams and outboxes in Redis (keys from internal/keyspace).
// A stream is a hash: "config" (the Stream as JSON), "lost" and "lost_at"
// (written by the retention sweep only).

// save writes a stream's configuration; create says whether it is new
// (then refused beyond the limits) or must exist (ErrNotFound otherwise).
var saveScript = redis.NewScript(`
if ARGV[2] == "1" then
  if redis.call("EXISTS", KEYS[1]) == 1 then return -1 end
else
  if redis.call("EXISTS", KEYS[1]) == 0 then return 0 end
end
redis.call("HSET", KEYS[1], "config", ARGV[1])
return 1
`)

func (t *Transmitter) save(ctx context.Context, s Stream, create bool) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	flag := "0"
	if create {
		flag = "1"
		n, err := t.rdb.SCard(ctx, t.keys.SignalStreams()).Result()
		if err != nil {
			return unavailable(err)
		}
		if n >= MaxStreams {
			return ErrConflict
		}
		// The index first: a stream is never unlisted, so never missed
		// by the workers and the retention sweep.
		if err := t.rdb.SAdd(ctx, t.keys.SignalStreams(), s.ID).Err(); err != nil {
			return unavailable(err)
		}
	}
	n, err := saveScript.Run(ctx, t.rdb, []string{t.keys.SignalStream(s.ID)}, string(b), flag).Int()
	switch {
	case err != nil:
		return unavailable(err)
	case n == 0:
		return ErrNotFound
	case n < 0:
		return ErrConflict
	}
	return nil
}

// load reads one stream; ErrNotFound when there is none.
func (t *Transmitter) load(ctx context.Context, id string) (Stream, error) {
	m, err := t.rdb.HGetAll(ctx, t.keys.SignalStream(id)).Result()
	if err != nil {
		return Stream{}, unavailable(err)
	}
	return decodeStream(m)
}

func decodeStream(m map[string]string) (Stream, error) {
	raw, ok := m["config"]
	if !ok {
		return Stream{}, ErrNotFound
	}
	var s Stream
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return Stream{}, unavailable(err)
	}
	if n, err := strconv.ParseInt(m["lost"], 10, 64); err == nil {
		s.Lost = n
	}
	if ms, err := strconv.ParseInt(m["lost_at"], 10, 64); err == nil {
		s.LostAt = time.UnixMilli(ms).UTC()
	}
	return s, nil
}

// all reads every stream, in no order.
func (t *Transmitter) all(ctx context.Context) ([]Stream, error) {
	ids, err := t.rdb.SMembers(ctx, t.keys.SignalStreams()).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err = t.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, t.keys.SignalStream(id))
		}
		return nil
	})
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]Stream, 0, len(ids))
	for _, c := range cmds {
		s, err := decodeStream(c.Val())
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// remove deletes a stream, its outbox and its lease.
func (t *Transmitter) remove(ctx context.Context, id string) error {
	n, err := t.rdb.Del(ctx, t.keys.SignalStream(id)).Result()
	if err != nil {
		return unavailable(err)
	}
	if n == 0 {
		return ErrNotFound
	}
	_, err = t.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, t.keys.SignalOutbox(id))
		p.Del(ctx, t.keys.SignalLease(id))
		p.SRem(ctx, t.keys.SignalStreams(), id)
		return nil
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}
