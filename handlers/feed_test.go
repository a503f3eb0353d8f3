package handlers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Contract tests of the revocation feed, GET /v1/revocations/stream
// (feed.go), on the harness's mirror.

// sseEvent is one event read off a feed stream; comment holds a comment
// line's text instead.
type sseEvent struct {
	id, name, comment string
	data              map[string]any
}

// feedStream is a subscriber reading a feed stream from the harness's
// server.
type feedStream struct {
	t      *testing.T
	events chan sseEvent
	cancel context.CancelFunc
}

// stream subscribes as client, resuming after lastID when it is not empty,
// on a real HTTP server (streams never end, so they cannot go through a
// recorder).
func (h *harness) stream(t *testing.T, addr, client, lastID string) *feedStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v1/revocations/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(client, client+"-secret")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		t.Fatalf("GET /v1/revocations/stream = %d %q, want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &feedStream{t: t, events: make(chan sseEvent, 1024), cancel: cancel}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(s.events)
		defer resp.Body.Close()
		readSSE(bufio.NewScanner(resp.Body), s.events)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

// readSSE parses events off sc until it ends.
func readSSE(sc *bufio.Scanner, out chan<- sseEvent) {
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.name != "" || ev.comment != "" {
				out <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
			ev.comment = strings.TrimSpace(line[1:])
		case strings.HasPrefix(line, "id: "):
			ev.id = line[len("id: "):]
		case strings.HasPrefix(line, "event: "):
			ev.name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(line[len("data: "):]), &ev.data); err != nil {
				ev.data = map[string]any{"unparsable": line}
			}
		}
	}
}

// next returns the next event that is not a heartbeat.
func (s *feedStream) next() sseEvent {
	s.t.Helper()
	timeout := time.After(10 * time.Second) // a bound on a broken stream, never a synchronisation
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.t.Fatal("the stream ended")
			}
			if ev.comment != "" {
				continue
			}
			return ev
		case <-timeout:
			s.t.Fatal("no event within 10s")
		}
	}
}

// untilReady reads a snapshot or a replay up to its ready event, and
// returns the events before it with the ready event.
func (s *feedStream) untilReady() ([]sseEvent, sseEvent) {
	s.t.Helper()
	var before []sseEvent
	for {
		ev := s.next()
		if ev.name == "ready" {
			return before, ev
		}
		before = append(before, ev)
	}
}

// revoked returns the next revocation of jti, failing on a revocation of
// anything in refuse on the way.
func (s *feedStream) revocationOf(jti string) sseEvent {
	s.t.Helper()
	for {
		ev := s.next()
		if ev.name == "revocation" && ev.data["jti"] == jti {
			return ev
		}
	}
}

// revokeToken revokes a fresh token of subject through the admin API and
// returns its jti.
func (h *harness) revokeToken(t *testing.T, subject string) string {
	t.Helper()
	l := h.login("app", subject, "laptop")
	r := h.do(http.MethodPost, "/v1/admin/revocations", "admin", "application/json", fmt.Sprintf(`{"token":%q}`, l.token))
	if r.status != http.StatusNoContent {
		t.Fatalf("revoking = %d %s, want 204", r.status, r.body)
	}
	return l.claims.ID
}

func TestFeedSendsASnapshotThenMarksItThenEveryLiveRevocation(t *testing.T) {
	h := newHarness(t, harnessOptions{mirror: true})
	before := h.revokeToken(t, "alice")
	h.do(http.MethodPut, "/v1/admin/users/bob/ban", "admin", "application/json", `{"reason":"spam"}`)
	s := h.stream(t, h.listen(t, 0), "feeder", "")

	first := s.next()
	if first.name != "snapshot" || first.data["reset"] != false {
		t.Fatalf("first event = %+v, want a snapshot that is no reset", first)
	}
	entries, ready := s.untilReady()
	if ready.id == "" || ready.data["resumed"] != false {
		t.Errorf("ready = %+v, want an id and resumed false", ready)
	}
	var sawToken, sawBan, sawCutOff bool
	for _, ev := range entries {
		if ev.name != "revocation" || ev.id != "" {
			t.Errorf("snapshot entry %+v, want a revocation without an id", ev)
		}
		switch {
		case ev.data["kind"] == "token" && ev.data["jti"] == before:
			sawToken = ev.data["until"] != nil && ev.data["iss"] == testIssuer
		case ev.data["kind"] == "ban" && ev.data["sub"] == "bob":
			sawBan = ev.data["until"] == nil && ev.data["at"] != nil
		case ev.data["kind"] == "cut_off" && ev.data["sub"] == "bob":
			sawCutOff = ev.data["at"] != nil && ev.data["until"] != nil
		}
	}
	if !sawToken || !sawBan || !sawCutOff {
		t.Errorf("snapshot %+v: token %v, indefinite ban %v, cut-off %v; want all three with their times", entries, sawToken, sawBan, sawCutOff)
	}

	live := h.revokeToken(t, "carol")
	ev := s.revocationOf(live)
	if ev.id == "" || ev.data["kind"] != "token" || ev.data["until"] == nil {
		t.Errorf("live revocation = %+v, want an id, kind token and until", ev)
	}
}

func TestFeedNamesATrustedIssuersEntriesAsItsTokensDo(t *testing.T) {
	h := newHarness(t, harnessOptions{mirror: true})
	r := h.do(http.MethodPost, "/v1/admin/users/"+"42"+"/logout?issuer="+idpIssuer, "admin", "", "")
	if r.status != http.StatusNoContent {
		t.Fatalf("logging out a trusted issuer's user = %d %s", r.status, r.body)
	}
	s := h.stream(t, h.listen(t, 0), "feeder", "")
	entries, _ := s.untilReady()
	for _, ev := range entries {
		if ev.data["kind"] == "cut_off" && ev.data["sub"] == "42" && ev.data["iss"] == idpIssuer {
			return
		}
	}
	t.Errorf("snapshot %+v, want a cut-off of sub 42 with iss %s", entries, idpIssuer)
}

func TestFeedResumesAfterLastEventIDWithOnlyWhatFollowed(t *testing.T) {
	h := newHarness(t, harnessOptions{mirror: true})
	addr := h.listen(t, 0)
	s := h.stream(t, addr, "feeder", "")
	s.untilReady()
	seen := h.revokeToken(t, "alice")
	last := s.revocationOf(seen).id
	s.cancel()

	missed := h.revokeToken(t, "bob")
	r := h.stream(t, addr, "feeder", last)
	replay, ready := r.untilReady()
	if ready.data["resumed"] != true {
		t.Errorf("ready = %+v, want resumed", ready)
	}
	// The missed revocation comes in the replay or, if the mirror applies
	// it after the resume, live; nothing before the resume point comes.
	got := append([]sseEvent{}, replay...)
	found := false
	for _, ev := range got {
		found = found || ev.data["jti"] == missed
	}
	if !found {
		got = append(got, r.revocationOf(missed))
	}
	for _, ev := range got {
		if ev.name != "revocation" || ev.data["jti"] == seen {
			t.Errorf("resumed stream sent %+v, want only what followed %s", ev, last)
		}
	}
}

func TestFeedAnswersAPositionItCannotServeWithAnAnnouncedFreshSnapshot(t *testing.T) {
	h := newHarness(t, harnessOptions{mirror: true, feedBacklog: 2})
	addr := h.listen(t, 0)
	s := h.stream(t, addr, "feeder", "")
	s.untilReady()
	first := h.revokeToken(t, "alice")
	old := s.revocationOf(first).id
	s.cancel()
	for _, sub := range []string{"bob", "carol", "dave"} { // more than the backlog holds
		h.revokeToken(t, sub)
	}
	for _, id := range []string{"unknown-1", "garbage", old} {
		r := h.stream(t, addr, "feeder", id)
		ev := r.next()
		if ev.name != "snapshot" || ev.data["reset"] != true {
			t.Errorf("after Last-Event-ID %q the first event = %+v, want a snapshot with reset true", id, ev)
		}
		r.cancel()
	}
}

func TestFeedSendsHeartbeats(t *testing.T) {
	h := newHarness(t, harnessOptions{mirror: true, heartbeat: time.Millisecond})
	s := h.stream(t, h.listen(t, 0), "feeder", "")
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-s.events:
			if ev.comment == "heartbeat" {
				return
			}
		case <-timeout:
			t.Fatal("no heartbeat within 10s")
		}
	}
}

// TestFeedWithholdsHeartbeatsWhileItsStateIsNotCurrent: a heartbeat tells
// the subscriber nothing changed, which an instance whose mirror is stale
// cannot know; the first heartbeat comes only once the state is current
// again.
func TestFeedWithholdsHeartbeatsWhileItsStateIsNotCurrent(t *testing.T) {
	var asked, current atomic.Int64
	h := newHarness(t, harnessOptions{mirror: true, heartbeat: time.Millisecond, feedCurrent: func() bool {
		// Current when the stream opens, stale for the next 20 beats,
		// then current.
		switch n := asked.Add(1); {
		case n == 1:
			return true
		case n <= 21:
			return false
		}
		current.Add(1)
		return true
	}})
	s := h.stream(t, h.listen(t, 0), "feeder", "")
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-s.events:
			if ev.comment != "heartbeat" {
				continue
			}
			if current.Load() == 0 {
				t.Fatalf("a heartbeat after %d answers that the state was stale and none that it was current", asked.Load())
			}
			return
		case <-timeout:
			t.Fatal("no heartbeat within 10s")
		}
	}
}

// TestFeedRefusesNewSubscribersWhileItsStateIsNotCurrent: a new subscriber
// would take a stale snapshot for the current state.
func TestFeedRefusesNewSubscribersWhileItsStateIsNotCurrent(t *testing.T) {
	h := newHarness(t, harnessOptions{mirror: true, feedCurrent: func() bool { return false }})
	r := h.do(http.MethodGet, "/v1/revocations/stream", "feeder", "", "")
	if r.status != http.StatusServiceUnavailable || r.json(t)["error"] != "temporarily_unavailable" {
		t.Errorf("feed with a stale mirror: %d %s, want 503 temporarily_unavailable", r.status, r.body)
	}
	if got := h.store.Stats().FeedSubscribers; got != 0 {
		t.Errorf("%d subscribers left behind by the refusal, want 0", got)
	}
}

func TestFeedRefusesCallersWithoutTheFeedPermission(t *testing.T) {
	h := newHarness(t, harnessOptions{mirror: true})
	cases := []struct {
		name, auth string
		want       int
	}{
		{"no credentials is invalid_client", "", http.StatusUnauthorized},
		{"a wrong secret is invalid_client", "feeder:wrong", http.StatusUnauthorized},
		{"a client without the permission is access_denied", "admin", http.StatusForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Without credentials the request is not as documented.
			r := h.exchange(t, h.newRequest(http.MethodGet, "/v1/revocations/stream", c.auth, "", ""), malformedRequest)
			if r.status != c.want {
				t.Errorf("status = %d %s, want %d", r.status, r.body, c.want)
			}
		})
	}
}

func TestFeedIsServedInStrictModeFromAMirrorKeptForIt(t *testing.T) {
	h := newHarness(t, harnessOptions{strictFeed: true})
	before := h.revokeToken(t, "alice")
	s := h.stream(t, h.listen(t, 0), "feeder", "")
	if first := s.next(); first.name != "snapshot" {
		t.Fatalf("first event = %+v, want the snapshot", first)
	}
	entries, ready := s.untilReady()
	found := false
	for _, ev := range entries {
		found = found || ev.data["jti"] == before
	}
	if !found || ready.id == "" {
		t.Errorf("snapshot %+v then ready %+v, want %s in it and a position", entries, ready, before)
	}
	live := h.revokeToken(t, "bob")
	if ev := s.revocationOf(live); ev.id == "" {
		t.Errorf("live revocation = %+v, want an id", ev)
	}
}

func TestFeedIsUnavailableWithoutAMirror(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	r := h.do(http.MethodGet, "/v1/revocations/stream", "feeder", "", "")
	if r.status != http.StatusServiceUnavailable || r.json(t)["error"] != "feed_unavailable" {
		t.Errorf("strict mode without a mirror for the feed: %d %s, want 503 feed_unavailable", r.status, r.body)
	}
}

// stuckWriter is a client that stops reading once stuck is set: its
// writes block until released.
type stuckWriter struct {
	header  http.Header
	mu      sync.Mutex
	body    bytes.Buffer
	status  int
	stuck   atomic.Bool
	blocked chan struct{}
	once    sync.Once
	release chan struct{}
}

func (w *stuckWriter) Header() http.Header { return w.header }
func (w *stuckWriter) WriteHeader(s int)   { w.status = s }
func (w *stuckWriter) Flush()              {}
func (w *stuckWriter) Write(p []byte) (int, error) {
	if w.stuck.Load() {
		w.once.Do(func() { close(w.blocked) })
		<-w.release
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.body.Write(p)
}

func (w *stuckWriter) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.body.String()
}

func TestFeedDisconnectsASlowSubscriberWithoutSlowingRevocationsOrOthers(t *testing.T) {
	h := newHarness(t, harnessOptions{mirror: true, feedBuffer: 2})
	healthy := h.stream(t, h.listen(t, 0), "feeder", "")
	healthy.untilReady()

	w := &stuckWriter{header: http.Header{}, blocked: make(chan struct{}), release: make(chan struct{})}
	req := httptest.NewRequest(http.MethodGet, "/v1/revocations/stream", nil)
	req.SetBasicAuth("feeder", "feeder-secret")
	served := make(chan struct{})
	go func() {
		defer close(served)
		h.e.ServeHTTP(w, req)
	}()
	await(t, "the slow subscriber's snapshot", func() bool { return strings.Contains(w.text(), "event: ready") })
	w.stuck.Store(true)
	before := h.counters()

	var jtis []string
	jtis = append(jtis, h.revokeToken(t, "alice"))
	<-w.blocked // the slow subscriber is stuck writing alice's revocation
	for _, sub := range []string{"bob", "carol", "dave", "erin"} {
		jtis = append(jtis, h.revokeToken(t, sub)) // each acknowledged while it is stuck
	}
	for _, jti := range jtis {
		healthy.revocationOf(jti)
	}
	await(t, "the slow subscriber is dropped", func() bool { return h.store.Stats().FeedSubscribers == 1 })
	close(w.release)
	<-served
	if got := h.moved(before)["tokenguard_feed_slow_disconnects_total{}"]; got != 1 {
		t.Errorf("slow disconnects moved by %v, want 1", got)
	}
}

// await polls cond until it holds, failing after 10s.
func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFeedBatchesWritesByHowManyFollowIt: the window between two writes to
// one subscriber grows with the subscribers, so that a lone embedded
// verifier hears of a revocation at once and a thousand subscribers
// together make no more writes than the bound.
func TestFeedBatchesWritesByHowManyFollowIt(t *testing.T) {
	for _, c := range []struct {
		subscribers int
		want        time.Duration
	}{
		{0, 0},
		{1, 20 * time.Microsecond},
		{1000, 20 * time.Millisecond},
	} {
		if got := feedFlushWindow(c.subscribers); got != c.want {
			t.Errorf("feedFlushWindow(%d) = %v, want %v", c.subscribers, got, c.want)
		}
	}
}
