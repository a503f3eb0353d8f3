package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// feedOptions size the revocation feed phase.
type feedOptions struct {
	subscribers int
	rate        int // revocations per second
	duration    time.Duration
	writers     int // goroutines posting the revocations
}

// The size the feed target is stated for (issue 12); a smaller run says so.
const (
	targetFeedSubscribers = 1000
	targetFeedRate        = 500
)

// feedJTIPrefix starts the jti of every revocation the phase writes; the
// number after it indexes the time it was sent.
const feedJTIPrefix = "feedbench-"

// feedResult is how fast the revocation feed delivers under load, and what
// a subscriber costs the instance.
type feedResult struct {
	Subscribers int     `json:"subscribers"`
	Connected   int     `json:"connected"`
	Rate        int     `json:"rate_per_second"`
	Seconds     float64 `json:"seconds"`
	// Written counts the revocations acknowledged (204); WriteErrors the
	// others. AchievedRate is Written over the writing time.
	Written      int     `json:"written"`
	WriteErrors  int     `json:"write_errors"`
	AchievedRate float64 `json:"achieved_rate"`
	// Deliveries counts the events of written revocations subscribers
	// read; Expected is Written × the subscribers that stayed connected.
	Deliveries int64 `json:"deliveries"`
	Expected   int64 `json:"expected"`
	// Disconnected counts the streams the instance ended during the run
	// (a subscriber dropped as too slow); Resets the fresh snapshots sent
	// on open streams (the mirror reloaded). A snapshot's entries are not
	// deliveries.
	Disconnected int   `json:"disconnected"`
	Resets       int64 `json:"resets"`
	// Delivery runs from the revocation's 204 to a subscriber reading its
	// event (zero when the event came first): what the feed adds once a
	// revocation is acknowledged. FromSend runs from posting it, so it
	// adds the write through the API.
	Delivery latency `json:"delivery"`
	FromSend latency `json:"from_send"`
	// RSS of the instance: ready with no subscriber, with every subscriber
	// connected and idle, and at the end of the writes.
	RSSBefore     int64 `json:"rss_before_bytes"`
	RSSSubscribed int64 `json:"rss_subscribed_bytes"`
	RSSAfter      int64 `json:"rss_after_bytes"`
	// BytesPerSubscriber is (RSSSubscribed − RSSBefore) ÷ Connected: the
	// instance's memory per idle subscriber; LoadedBytesPerSubscriber the
	// same at the end of the writes.
	BytesPerSubscriber       float64 `json:"bytes_per_subscriber"`
	LoadedBytesPerSubscriber float64 `json:"loaded_bytes_per_subscriber"`
	FirstError               string  `json:"first_error,omitempty"`
}

// feed starts a mirror instance on its own Redis (empty, so that every
// snapshot is small), connects the subscribers to its revocation feed,
// and posts revocations through its admin API at the given rate, while
// every subscriber notes when each one's event arrives.
func (b *bench) feed(ctx context.Context, o feedOptions) (*feedResult, error) {
	srv, err := startRedis(ctx, b.tools.redisServer, b.dir, b.logDir, "redis-feed")
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	in, err := b.tokenguard.start(ctx, instanceSpec{name: "feed", alg: "HS256", mode: "mirror", redisAddr: srv.Addr})
	if err != nil {
		return nil, err
	}
	defer in.Stop()
	writer := api{http: newHTTPClient(o.writers), sec: b.tokenguard.sec}
	if _, err := in.awaitReady(ctx, writer.http, b.opts.readyTimeout); err != nil {
		return nil, err
	}
	res := &feedResult{Subscribers: o.subscribers, Rate: o.rate}
	if res.RSSBefore, _, err = in.memory(); err != nil {
		return nil, err
	}

	total := int(float64(o.rate) * o.duration.Seconds())
	// When each revocation was posted and acknowledged, unix nanoseconds;
	// zero until then.
	sent := make([]atomic.Int64, total)
	acked := make([]atomic.Int64, total)
	subCtx, stopSubs := context.WithCancel(ctx)
	defer stopSubs()
	// Streams never end by themselves: no client timeout, and one
	// connection each.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxConnsPerHost, tr.MaxIdleConnsPerHost = 0, 1
	client := &http.Client{Transport: tr}
	subs := make([]*feedSubscriber, o.subscribers)
	ready := make(chan error, o.subscribers)
	var wg sync.WaitGroup
	for i := range subs {
		s := &feedSubscriber{sent: sent, acked: acked, fromSend: make([]time.Duration, 0, total), arrived: make([]int64, 0, total), index: make([]int, 0, total)}
		subs[i] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.follow(subCtx, client, in.base, b.tokenguard.sec.feedSecret, ready)
		}()
	}
	defer func() {
		stopSubs()
		wg.Wait()
	}()
	deadline := time.After(b.opts.readyTimeout)
	for range subs {
		select {
		case err := <-ready:
			if err != nil && res.FirstError == "" {
				res.FirstError = err.Error()
			}
			if err == nil {
				res.Connected++
			}
		case <-deadline:
			return res, fmt.Errorf("feed: %d of %d subscribers ready after %v", res.Connected, o.subscribers, b.opts.readyTimeout)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if res.Connected == 0 {
		return res, errors.New("feed: no subscriber connected: " + res.FirstError)
	}
	if res.RSSSubscribed, _, err = in.memory(); err != nil {
		return nil, err
	}

	start := time.Now()
	written, writeErrs, firstWriteErr := b.writeRevocations(ctx, writer, in.base, o, sent, acked)
	res.Seconds = time.Since(start).Seconds()
	res.Written, res.WriteErrors = written, writeErrs
	res.AchievedRate = float64(written) / res.Seconds
	if res.FirstError == "" {
		res.FirstError = firstWriteErr
	}
	// Every connected subscriber should read every acknowledged
	// revocation; wait for the last ones, within a bound.
	drain := time.Now().Add(10 * time.Second)
	for time.Now().Before(drain) && ctx.Err() == nil {
		if feedDelivered(subs) >= int64(written)*int64(feedLive(subs)) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if res.RSSAfter, _, err = in.memory(); err != nil {
		return nil, err
	}
	stopSubs()
	wg.Wait()

	var all, afterAck []time.Duration
	for _, s := range subs {
		s.mu.Lock()
		all = append(all, s.fromSend...)
		for k, at := range s.arrived {
			afterAck = append(afterAck, time.Duration(max(at-acked[s.index[k]].Load(), 0)))
		}
		res.Deliveries += int64(len(s.fromSend))
		res.Resets += s.resets
		if s.ended && s.err == nil {
			res.Disconnected++
		}
		if s.connected && !s.ended {
			res.Expected += int64(written)
		}
		s.mu.Unlock()
	}
	res.Delivery, res.FromSend = summarize(afterAck), summarize(all)
	res.BytesPerSubscriber = float64(res.RSSSubscribed-res.RSSBefore) / float64(res.Connected)
	res.LoadedBytesPerSubscriber = float64(res.RSSAfter-res.RSSBefore) / float64(res.Connected)
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case res.Connected < o.subscribers:
		return res, fmt.Errorf("feed: only %d of %d subscribers connected; first error: %s", res.Connected, o.subscribers, res.FirstError)
	case writeErrs > 0:
		return res, fmt.Errorf("feed: %d of %d revocations failed; first: %s", writeErrs, written+writeErrs, res.FirstError)
	case res.Disconnected > 0:
		return res, fmt.Errorf("feed: the instance ended %d of %d streams during the run", res.Disconnected, res.Connected)
	case res.Deliveries < res.Expected:
		return res, fmt.Errorf("feed: %d of %d events never arrived", res.Expected-res.Deliveries, res.Expected)
	case res.Resets > 0:
		return res, fmt.Errorf("feed: %d fresh snapshots were sent on open streams during the run (the mirror reloaded)", res.Resets)
	}
	return res, nil
}

// writeRevocations posts o.rate revocations a second for o.duration, each
// at its own due time, recording in sent when each was posted. A writer
// that falls behind posts late ones at once: the achieved rate says so.
func (b *bench) writeRevocations(ctx context.Context, a api, base string, o feedOptions, sent, acked []atomic.Int64) (written, failed int, firstErr string) {
	exp := time.Now().Add(10 * time.Minute).Unix()
	interval := time.Second / time.Duration(o.rate)
	start := time.Now()
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range o.writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(sent) || ctx.Err() != nil {
					return
				}
				if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
					time.Sleep(wait)
				}
				body := fmt.Appendf(nil, `{"jti":"%s%d","exp":%d}`, feedJTIPrefix, i, exp)
				sent[i].Store(time.Now().UnixNano())
				status, err := a.revoke(ctx, base, body)
				acked[i].Store(time.Now().UnixNano())
				mu.Lock()
				switch {
				case err == nil && status == http.StatusNoContent:
					written++
				default:
					failed++
					if firstErr == "" {
						firstErr = fmt.Sprintf("revocation answered %d (err %v), want 204", status, err)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return written, failed, firstErr
}

// feedSubscriber is one client of the feed: it reads the stream and notes,
// for each revocation the phase wrote, how long after it was sent the
// event arrived.
type feedSubscriber struct {
	sent, acked []atomic.Int64

	mu sync.Mutex
	// fromSend, arrived and index hold, for each live event read, how long
	// after its revocation was posted it came, when (unix nanoseconds), and
	// the revocation's number; acked is compared once the writes are done.
	fromSend  []time.Duration
	arrived   []int64
	index     []int
	resets    int64 // snapshots after the first
	connected bool
	ended     bool  // the stream ended before the phase stopped it
	err       error // set when the phase stopped it, or it never connected
}

// follow subscribes and reads until ctx ends, telling ready once the
// snapshot is in (or why it could not subscribe).
func (s *feedSubscriber) follow(ctx context.Context, c *http.Client, base, secret string, ready chan<- error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/revocations/stream", nil)
	if err != nil {
		ready <- err
		return
	}
	req.SetBasicAuth("feed", secret)
	resp, err := c.Do(req)
	if err != nil {
		s.finish(err)
		ready <- err
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("GET /v1/revocations/stream = %d, want 200", resp.StatusCode)
		s.finish(err)
		ready <- err
		return
	}
	r := bufio.NewReaderSize(resp.Body, 16<<10)
	told := false
	inSnapshot := false
	prefix := []byte(`"jti":"` + feedJTIPrefix)
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			if !told {
				ready <- fmt.Errorf("the stream ended before its snapshot: %w", err)
			}
			s.finish(ctx.Err())
			return
		}
		switch {
		case bytes.HasPrefix(line, []byte("event: snapshot")):
			inSnapshot = true
			if told {
				s.mu.Lock()
				s.resets++
				s.mu.Unlock()
			}
		case bytes.HasPrefix(line, []byte("event: ready")):
			inSnapshot = false
			if !told {
				s.mu.Lock()
				s.connected = true
				s.mu.Unlock()
				ready <- nil
				told = true
			}
		case !inSnapshot && bytes.HasPrefix(line, []byte("data: ")):
			at := bytes.Index(line, prefix)
			if at < 0 {
				continue
			}
			num := line[at+len(prefix):]
			end := bytes.IndexByte(num, '"')
			i, err := strconv.Atoi(string(num[:max(end, 0)]))
			if err != nil || i < 0 || i >= len(s.sent) {
				continue
			}
			now := time.Now().UnixNano()
			if t := s.sent[i].Load(); t != 0 {
				s.mu.Lock()
				s.fromSend = append(s.fromSend, time.Duration(now-t))
				s.arrived = append(s.arrived, now)
				s.index = append(s.index, i)
				s.mu.Unlock()
			}
		}
	}
}

// finish records how the stream ended: err is nil when the instance ended
// it, the phase's cancellation otherwise.
func (s *feedSubscriber) finish(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = err == nil
	s.err = err
}

// feedDelivered counts the events every subscriber has read so far.
func feedDelivered(subs []*feedSubscriber) int64 {
	var n int64
	for _, s := range subs {
		s.mu.Lock()
		n += int64(len(s.fromSend))
		s.mu.Unlock()
	}
	return n
}

// feedLive counts the subscribers connected and still reading.
func feedLive(subs []*feedSubscriber) int {
	n := 0
	for _, s := range subs {
		s.mu.Lock()
		if s.connected && !s.ended {
			n++
		}
		s.mu.Unlock()
	}
	return n
}
