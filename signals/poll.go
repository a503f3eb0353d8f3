package signals

import (
	"context"
	"time"
)

// Poll limits (RFC 8936 §2.4 lets the transmitter bound both).
const (
	// MaxPollEvents is the most SETs one poll returns; also the default.
	MaxPollEvents = 100
	// MaxAcks is the most acks and setErrs one poll may carry.
	MaxAcks = 1000
)

// PollRequest is an RFC 8936 §2.4 poll: acknowledgements of SETs received
// (Ack), SETs the receiver refused (Errors, jti to its err code), and how
// many new ones it wants (MaxEvents, at most MaxPollEvents are returned; 0
// asks for none).
type PollRequest struct {
	MaxEvents         int
	ReturnImmediately bool
	Ack               []string
	Errors            map[string]string
}

// PollResult is the answer: SETs oldest first, and whether more wait.
type PollResult struct {
	Sets          []SET
	MoreAvailable bool
}

// SET is a signed Security Event Token and its jti.
type SET struct {
	JTI, Token string
}

// Poll serves one of clientID's poll streams (RFC 8936): it removes the
// SETs acknowledged or refused (among the oldest waiting, where the SETs
// returned before are), then returns the oldest SETs waiting, in order,
// up to MaxEvents. Unacknowledged SETs are returned again by the next poll
// (at least once). Without returnImmediately, a poll that finds none waits
// up to the poll wait for one. A paused stream returns none.
func (t *Transmitter) Poll(ctx context.Context, clientID, id string, r PollRequest) (PollResult, error) {
	if r.MaxEvents < 0 {
		return PollResult{}, invalid("maxEvents must not be negative")
	}
	if len(r.Ack)+len(r.Errors) > MaxAcks {
		return PollResult{}, invalid("at most %d acks and setErrs in one poll", MaxAcks)
	}
	s, err := t.Stream(ctx, clientID, id)
	if err != nil {
		return PollResult{}, err
	}
	if s.Method != MethodPoll {
		return PollResult{}, invalid("the stream is not a poll stream")
	}
	if err := t.acknowledge(ctx, s, r); err != nil {
		return PollResult{}, err
	}
	if r.MaxEvents == 0 {
		// RFC 8936 §2.4.1: maxEvents 0 is an acknowledgement-only
		// request.
		return PollResult{}, nil
	}
	limit := min(r.MaxEvents, MaxPollEvents)
	deadline := time.NewTimer(t.pollWait)
	defer deadline.Stop()
	for {
		woken := t.woken()
		res, err := t.pollOnce(ctx, s.ID, limit)
		if err != nil || len(res.Sets) > 0 || r.ReturnImmediately {
			return res, err
		}
		select {
		case <-woken:
		case <-time.After(t.scan):
		case <-deadline.C:
			return res, nil
		case <-ctx.Done():
			return res, nil
		}
		if s, err = t.Stream(ctx, clientID, id); err != nil {
			return PollResult{}, err
		}
	}
}

// pollOnce reads up to limit SETs of a stream, if it is enabled.
func (t *Transmitter) pollOnce(ctx context.Context, id string, limit int) (PollResult, error) {
	var res PollResult
	s, err := t.load(ctx, id)
	if err != nil || s.Status != StatusEnabled {
		return res, err
	}
	list, err := t.head(ctx, id, int64(limit)+1)
	if err != nil {
		return res, err
	}
	if len(list) > limit {
		list, res.MoreAvailable = list[:limit], true
	}
	for _, e := range list {
		res.Sets = append(res.Sets, SET{JTI: e.jti, Token: e.set})
	}
	return res, nil
}

// acknowledge removes the SETs a poll acknowledges or reports refused.
func (t *Transmitter) acknowledge(ctx context.Context, s Stream, r PollRequest) error {
	if len(r.Ack)+len(r.Errors) == 0 {
		return nil
	}
	acked := make(map[string]bool, len(r.Ack))
	for _, jti := range r.Ack {
		acked[jti] = true
	}
	list, err := t.head(ctx, s.ID, MaxAcks+MaxPollEvents)
	if err != nil {
		return err
	}
	var ids []string
	for _, e := range list {
		_, refused := r.Errors[e.jti]
		switch {
		case acked[e.jti]:
			t.metrics.EventDelivered(e.typ, "poll")
		case refused:
			t.metrics.EventFailed(e.typ, "rejected")
			t.log.WarnContext(ctx, "ssf receiver refused an event", "stream_id", s.ID, "jti", e.jti, "err_code", r.Errors[e.jti])
		default:
			continue
		}
		ids = append(ids, e.id)
	}
	return t.done(ctx, s.ID, ids...)
}
