package blacklist

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/blacklist/state"
	"github.com/tokenguard/tokenguard/internal/keyspace"
)

// Ban is a ban on a user (see state.Ban).
type Ban = state.Ban

// Ban bans subject and, in the same atomic step, cuts off every token of the
// user issued up to now; life is the longest the user's tokens live, as for
// CutOff. Check answers ErrBanned for the user's tokens until the ban lapses
// or is lifted; the cut-off stays either way.
func (s *Store) Ban(ctx context.Context, subject string, b Ban, life time.Duration) error {
	now := s.now()
	cut, err := s.cutOffChange(subject, now, life)
	if err != nil {
		return err
	}
	if b.At.IsZero() {
		b.At = now
	}
	var ttl time.Duration
	if !b.Until.IsZero() {
		if ttl = b.Until.Sub(now); ttl < time.Millisecond {
			return fmt.Errorf("blacklist: a ban until %v has already lapsed", b.Until)
		}
	}
	v, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return s.apply(ctx, change{kind: keyspace.KindBan, id: subject, value: string(v), ttl: ttl}, cut)
}

// Unban lifts a ban. Tokens cut off by the ban stay dead.
func (s *Store) Unban(ctx context.Context, subject string) error {
	return s.apply(ctx, change{kind: keyspace.KindBan, id: subject, del: true})
}

// BanOf returns the user's ban, if one is stored. Whether it is in force is
// for Ban.ActiveAt to say.
func (s *Store) BanOf(ctx context.Context, subject string) (Ban, bool, error) {
	v, err := s.rdb.Get(ctx, s.keys.Entry(keyspace.KindBan, subject)).Result()
	if errors.Is(err, redis.Nil) {
		return Ban{}, false, nil
	}
	if err != nil {
		return Ban{}, false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	b, err := state.ParseBan(v)
	return b, err == nil, err
}
