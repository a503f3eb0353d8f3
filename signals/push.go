package signals

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tokenguard/tokenguard/audit"
)

// TypeEventsLost is the audit event of events dropped undelivered past
// the retention. Actor is the stream's client; Reason says how many, of
// which stream.
const TypeEventsLost = "ssf_events_lost"

// Run delivers until ctx ends: it looks for streams every scan interval,
// runs one push worker per enabled push stream (each takes the stream's
// lease in Redis, so one instance at a time pushes a stream, in order),
// and drops what waited past the retention. It returns once every worker
// has stopped.
func (t *Transmitter) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	running := map[string]chan struct{}{}
	defer wg.Wait()
	tick := time.NewTicker(t.scan)
	defer tick.Stop()
	var lastSweep time.Time
	for {
		streams, err := t.all(ctx)
		if err != nil && ctx.Err() == nil {
			t.log.WarnContext(ctx, "ssf streams not read", "err", err)
		}
		if now := t.now(); now.Sub(lastSweep) >= t.sweepEvery {
			lastSweep = now
			t.sweep(ctx, streams)
		}
		for id, done := range running {
			select {
			case <-done:
				delete(running, id)
			default:
			}
		}
		for _, s := range streams {
			if s.Method != MethodPush || s.Status != StatusEnabled || running[s.ID] != nil {
				continue
			}
			done := make(chan struct{})
			running[s.ID] = done
			wg.Add(1)
			go func(id string) {
				defer wg.Done()
				defer close(done)
				t.push(ctx, id)
			}(s.ID)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-t.woken():
		}
	}
}

// sweep drops, from every stream, the events older than the retention:
// counted, audited, and the stream marked (Stream.Lost).
func (t *Transmitter) sweep(ctx context.Context, streams []Stream) {
	cutoff := t.now().Add(-t.retention)
	for _, s := range streams {
		n, err := t.expire(ctx, s.ID, cutoff)
		if err != nil {
			if ctx.Err() == nil {
				t.log.WarnContext(ctx, "ssf retention sweep", "stream_id", s.ID, "err", err)
			}
			continue
		}
		if n == 0 {
			continue
		}
		t.metrics.EventsDropped("retention", int(n))
		t.log.ErrorContext(ctx, "ssf events lost: undelivered past the retention", "stream_id", s.ID, "client_id", s.ClientID, "events", n, "retention", t.retention.String())
		e := audit.Event{Type: TypeEventsLost, Actor: s.ClientID, Reason: fmt.Sprintf("%d events of stream %s undelivered after %v", n, s.ID, t.retention)}
		if err := t.audit.Record(context.WithoutCancel(ctx), e); err != nil {
			t.log.ErrorContext(ctx, "audit event not recorded", "type", e.Type, "actor", e.Actor, "reason", e.Reason, "err", err)
		}
	}
}

// push delivers one stream's outbox, oldest first, while this instance
// holds the stream's lease and the stream stays an enabled push stream. A
// failing receiver is retried with exponential backoff and jitter; its
// events wait, in order, in the outbox. Nothing else waits for it.
func (t *Transmitter) push(ctx context.Context, id string) {
	defer t.release(context.WithoutCancel(ctx), id)
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		if ok, err := t.lease(ctx, id); err != nil || !ok {
			return // another instance pushes it, or Redis is away: Run retries
		}
		s, err := t.load(ctx, id)
		if err != nil || s.Method != MethodPush || s.Status != StatusEnabled {
			return
		}
		woken := t.woken()
		list, err := t.head(ctx, id, 1)
		if err != nil {
			return
		}
		if len(list) == 0 {
			backoff = 0
			select {
			case <-ctx.Done():
			case <-woken:
			case <-time.After(t.scan):
			}
			continue
		}
		e := list[0]
		outcome := t.deliver(ctx, s.EndpointURL, e.set)
		switch outcome {
		case "delivered":
			t.metrics.EventDelivered(e.typ, "push")
			backoff = 0
		case "rejected":
			// RFC 8935 §2.3: the receiver refused this SET; sending it
			// again would be refused again and block every later one.
			t.metrics.EventFailed(e.typ, outcome)
			t.log.WarnContext(ctx, "ssf receiver refused an event; dropped", "stream_id", id, "jti", e.jti)
		default:
			if ctx.Err() != nil {
				return
			}
			t.metrics.EventFailed(e.typ, outcome)
			backoff = t.nextBackoff(backoff)
			t.log.InfoContext(ctx, "ssf push failed; retrying", "stream_id", id, "jti", e.jti, "outcome", outcome, "retry_in", backoff.String())
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			continue
		}
		if err := t.done(context.WithoutCancel(ctx), id, e.id); err != nil {
			t.log.WarnContext(ctx, "ssf event delivered but not removed; it will be sent again", "stream_id", id, "jti", e.jti, "err", err)
		}
	}
}

// nextBackoff doubles the wait from MinBackoff up to MaxBackoff, and takes
// a random point in its upper half (jitter), so that receivers coming back
// are not hit by every instance at once.
func (t *Transmitter) nextBackoff(prev time.Duration) time.Duration {
	d := min(max(2*prev, t.minBackoff), t.maxBackoff)
	return d/2 + rand.N(d/2+1)
}

// deliver POSTs one SET (RFC 8935 §2): delivered on 202; rejected on a 400
// (the receiver's error body names why); status for any other answer,
// redirects included (never followed); unreachable for no answer.
func (t *Transmitter) deliver(ctx context.Context, endpoint, set string) string {
	ctx, cancel := context.WithTimeout(ctx, pushTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(set))
	if err != nil {
		return "unreachable"
	}
	req.Header.Set("Content-Type", "application/secevent+jwt")
	req.Header.Set("Accept", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return "canceled"
		}
		return "unreachable"
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)); err != nil {
		t.log.DebugContext(ctx, "ssf push answer not read", "err", err)
	}
	switch resp.StatusCode {
	case http.StatusAccepted:
		return "delivered"
	case http.StatusBadRequest:
		return "rejected"
	}
	return "status"
}
