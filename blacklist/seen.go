package blacklist

import (
	"context"
	"fmt"
	"time"
)

// MarkSeen records that the message id (a received logout token's jti,
// qualified by its issuer) has been acted upon, until until, the last
// moment the message would be accepted. first is false when it was
// already recorded: the message is a replay. Nothing is recorded for an
// until already past (first is then true: the caller refuses such a
// message before asking). The mark is not a revocation entry: no mirror
// loads it and no change log carries it.
func (s *Store) MarkSeen(ctx context.Context, id string, until time.Time) (first bool, err error) {
	ttl := until.Sub(s.now())
	if ttl < time.Millisecond {
		return true, nil
	}
	ok, err := s.rdb.SetNX(ctx, s.keys.SeenMessage(id), "1", ttl).Result()
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return ok, nil
}

// UnmarkSeen forgets a mark of MarkSeen, for a message whose action failed,
// so that the sender may deliver it again.
func (s *Store) UnmarkSeen(ctx context.Context, id string) error {
	if err := s.rdb.Del(ctx, s.keys.SeenMessage(id)).Err(); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}
