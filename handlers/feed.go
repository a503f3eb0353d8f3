package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/blacklist/state"
	"github.com/tokenguard/tokenguard/users"
)

// Feed is the revocation feed /v1/revocations/stream serves: the store's
// own mirror, so that subscribers add no load on Redis.
type Feed interface {
	Subscribe(after string) (*blacklist.Subscription, error)
	// FeedSubscribers counts the subscribers now; the more there are, the
	// more changes each write to one of them holds.
	FeedSubscribers() int
	// FeedCurrent reports whether the state the feed is served from is
	// current; while it is not, streams send no heartbeat.
	FeedCurrent() bool
}

// FeedConfig holds the settings of the revocation feed.
type FeedConfig struct {
	// Heartbeat is how often an idle stream sends a comment line, so that a
	// client notices a dead stream; zero means 15s.
	Heartbeat time.Duration
}

// feedWriteWindow bounds each write to a feed subscriber: one that accepts
// nothing for this long is disconnected. Each write moves the server's
// write deadline (http.write_timeout) to a heartbeat plus this window
// ahead, so that the timeout never cuts a live stream, idle or not.
const feedWriteWindow = 30 * time.Second

// feedWritesPerSecond bounds the writes of the whole feed: under a steady
// stream of changes, each subscriber gets at most one write per
// feedFlushWindow, which grows with the number of subscribers so that all
// of them together make about this many writes a second, however many
// changes there are; each write holds every change of its interval, and a
// change after a quiet spell goes out at once. With a thousand subscribers
// and hundreds of changes a second, a write per change per subscriber
// would take more CPU than the machine has (the window is then 20ms); a
// single subscriber (an embedded verifier) waits at most 20µs.
const feedWritesPerSecond = 50_000

// feedFlushWindow is the least time between two writes to one subscriber
// while subscribers follow the feed; it adds at most that much to a
// change's delivery.
func feedFlushWindow(subscribers int) time.Duration {
	return time.Duration(subscribers) * time.Second / feedWritesPerSecond
}

var errNoFeed = &apiError{http.StatusServiceUnavailable, "feed_unavailable", "this instance keeps no revocation mirror to serve the feed from"}

// revocationStream serves the revocation feed as Server-Sent Events: a
// snapshot (event "snapshot", then one "revocation" per entry), or the
// changes since the client's Last-Event-ID when they are still held; then
// "ready", whose id is the position to resume from; then every change as
// the mirror applies it, each with its id. A subscriber that falls behind
// is disconnected and resumes; a resync of the mirror starts a fresh,
// announced snapshot on the same stream.
func (h *handler) revocationStream(c echo.Context) error {
	if h.feed == nil {
		return errNoFeed
	}
	after := c.Request().Header.Get("Last-Event-ID")
	sub, err := h.feed.Subscribe(after)
	if errors.Is(err, blacklist.ErrNoFeed) {
		return errNoFeed
	}
	if err != nil {
		return err
	}
	if !h.feed.FeedCurrent() {
		// A new subscriber would take a stale snapshot for the current
		// state; it retries (an open stream only stops hearing heartbeats).
		sub.Close()
		return fmt.Errorf("%w: the revocation mirror is stale", blacklist.ErrUnavailable)
	}
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set(echo.HeaderCacheControl, "no-store")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: pass each event on
	w.WriteHeader(http.StatusOK)
	if c.Request().Method == http.MethodHead {
		sub.Close()
		return nil
	}
	s := &sse{h: h, rc: http.NewResponseController(w), w: w}
	ctx := c.Request().Context()
	beat := time.NewTicker(h.feedCfg.Heartbeat)
	defer beat.Stop()
	for {
		stopWatch := s.watch(sub)
		err := s.run(sub, after != "", ctx.Done(), beat.C)
		stopWatch()
		sub.Close()
		if errors.Is(sub.Err(), blacklist.ErrTooSlow) {
			err = sub.Err() // whatever the write it was stuck in returned
		}
		switch {
		case errors.Is(err, blacklist.ErrResync):
			// The mirror reloaded: start again from a fresh snapshot,
			// announced as a reset.
			if sub, err = h.feed.Subscribe(""); err != nil {
				return nil
			}
			after = "reset"
		case errors.Is(err, blacklist.ErrTooSlow):
			h.metrics.FeedSlowDisconnect()
			h.log.Info("revocation feed subscriber disconnected: too slow", "client", caller(c).ID)
			return nil
		default:
			return nil // the client left, or a write failed
		}
	}
}

// sse writes the events of one stream.
type sse struct {
	h   *handler
	rc  *http.ResponseController
	w   http.ResponseWriter
	buf bytes.Buffer
}

// watch cuts short a write stuck on a client that stopped reading as soon
// as the feed drops sub for falling behind, rather than when the write
// window ends: the client learns at once and resumes, and its connection is
// not held meanwhile. The returned func stops watching.
func (s *sse) watch(sub *blacklist.Subscription) (stop func()) {
	stopped := make(chan struct{})
	go func() {
		select {
		case <-sub.Done():
			if !errors.Is(sub.Err(), blacklist.ErrTooSlow) {
				return
			}
			// A writer without deadlines (a test's) is stuck on no socket.
			if err := s.rc.SetWriteDeadline(time.Now()); err != nil && !errors.Is(err, http.ErrNotSupported) {
				s.h.log.Warn("revocation feed: cannot cut a stuck write short", "err", err)
			}
		case <-stopped:
		}
	}()
	return func() { close(stopped) }
}

// run writes sub's snapshot or replay, then its changes, until the client
// leaves (nil), sub ends (its error) or a write fails. asked says the
// client gave a position to resume from, so a snapshot is a reset.
func (s *sse) run(sub *blacklist.Subscription, asked bool, done <-chan struct{}, beat <-chan time.Time) error {
	n := 0
	if sub.Resumed {
		for _, ev := range sub.Replay {
			s.buf.Write(ev.Encoded(s.h.encodeEvent))
		}
		n = len(sub.Replay)
	} else {
		s.event("", "snapshot", map[string]any{"reset": asked, "entries": len(sub.Snapshot)})
		for _, ch := range sub.Snapshot {
			s.event("", "revocation", s.h.entry(ch))
		}
		n = len(sub.Snapshot) + 1
	}
	s.event(sub.Position, "ready", map[string]any{"resumed": sub.Resumed})
	if err := s.flush(n + 1); err != nil {
		return err
	}
	last := time.Now()
	pause := time.NewTimer(time.Hour)
	pause.Stop()
	defer pause.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-beat:
			if !s.h.feed.FeedCurrent() {
				// A heartbeat says "nothing changed": not while this
				// instance cannot know. The subscriber's own staleness
				// bound then runs out, as the instance's has.
				continue
			}
			s.buf.WriteString(": heartbeat\n\n")
			if err := s.flush(0); err != nil {
				return err
			}
		case ev, ok := <-sub.C:
			if !ok {
				return sub.Err()
			}
			if wait := time.Until(last.Add(feedFlushWindow(s.h.feed.FeedSubscribers()))); wait > 0 {
				pause.Reset(wait) // the changes meanwhile wait in sub.C
				select {
				case <-done:
					return nil
				case <-pause.C:
				}
			}
			s.buf.Write(ev.Encoded(s.h.encodeEvent))
			// Send whatever else is already waiting in the same write;
			// sub.C holds at most the feed's buffer.
			sent := 1
			for more := true; more; {
				select {
				case ev, ok := <-sub.C:
					if !ok {
						more = false
						break
					}
					s.buf.Write(ev.Encoded(s.h.encodeEvent))
					sent++
				default:
					more = false
				}
			}
			if err := s.flush(sent); err != nil {
				return err
			}
			last = time.Now()
		}
	}
}

// event appends one event to the buffer.
func (s *sse) event(id, name string, data any) { writeEvent(&s.buf, id, name, data) }

// writeEvent writes one event as Server-Sent Events spell it.
func writeEvent(buf *bytes.Buffer, id, name string, data any) {
	if id != "" {
		buf.WriteString("id: " + id + "\n")
	}
	buf.WriteString("event: " + name + "\ndata: ")
	b, err := json.Marshal(data)
	if err != nil {
		b = []byte(`{}`) // state.FeedEntry and its maps always marshal
	}
	buf.Write(b)
	buf.WriteString("\n\n")
}

// encodeEvent spells a live change as its event; blacklist.Event.Encoded
// makes it once for every subscriber.
func (h *handler) encodeEvent(ev blacklist.Event) []byte {
	var b bytes.Buffer
	writeEvent(&b, ev.Position, "revocation", h.entry(ev.Change))
	return b.Bytes()
}

// flush writes the buffer and flushes it to the client, within
// the write window; n events are counted as sent.
func (s *sse) flush(n int) error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(s.h.feedCfg.Heartbeat + feedWriteWindow)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	_, err := s.w.Write(s.buf.Bytes())
	s.buf.Reset()
	if err != nil {
		return err
	}
	if err := s.rc.Flush(); err != nil {
		return err
	}
	if n > 0 {
		s.h.metrics.FeedSent(n)
	}
	return nil
}

// entry names a change as tokens do: a trusted issuer's identifiers are
// split back into the issuer and the identifier the token carries.
func (h *handler) entry(c blacklist.Change) state.FeedEntry {
	iss, id := users.SplitSubject(c.ID)
	if iss == "" {
		iss = h.auth.Issuer()
	}
	e := state.FeedEntry{Kind: string(c.Kind), Issuer: iss, At: c.At, Until: c.Until}
	switch c.Kind {
	case blacklist.ChangeToken:
		e.JTI = id
	case blacklist.ChangeSession:
		e.SID = id
	default:
		e.Sub = id
	}
	return e
}

// heartbeatOrDefault is the heartbeat interval of cfg.
func heartbeatOrDefault(d time.Duration) time.Duration {
	if d <= 0 {
		return 15 * time.Second
	}
	return d
}
