package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/internal/keyspace"
)

// e2eEvent is one Server-Sent Event of the revocation feed.
type e2eEvent struct {
	id, name string
	data     map[string]any
}

// e2eFeed is a subscriber of the served revocation feed.
type e2eFeed struct {
	t      *testing.T
	events chan e2eEvent
	stop   func()
}

// feedRequest is a request of base's revocation feed as auth ("id:secret").
func feedRequest(t *testing.T, ctx context.Context, method, base, auth string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, base+"/v1/revocations/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	id, secret, _ := strings.Cut(auth, ":")
	req.SetBasicAuth(id, secret)
	return req
}

// subscribeFeed opens the revocation feed of base as auth ("id:secret"),
// resuming after lastID when it is not empty.
func subscribeFeed(t *testing.T, base, auth, lastID string) *e2eFeed {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req := feedRequest(t, ctx, http.MethodGet, base, auth)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("GET /v1/revocations/stream = %d, want 200", resp.StatusCode)
	}
	f := &e2eFeed{t: t, events: make(chan e2eEvent, 1024)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(f.events)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev e2eEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					f.events <- ev
				}
				ev = e2eEvent{}
			case strings.HasPrefix(line, ":"):
				f.events <- e2eEvent{name: line} // a comment: the heartbeat
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(line[6:]), &ev.data) // a bad one fails the field checks
			}
		}
	}()
	f.stop = func() { cancel(); <-done }
	t.Cleanup(f.stop)
	return f
}

// next returns the next event.
func (f *e2eFeed) next() e2eEvent {
	f.t.Helper()
	select {
	case ev, ok := <-f.events:
		if !ok {
			f.t.Fatal("the feed ended")
		}
		return ev
	case <-time.After(10 * time.Second): // a bound on a broken stream
		f.t.Fatal("no feed event within 10s")
	}
	return e2eEvent{}
}

// until returns the first event that match accepts, with those before it.
// Heartbeats keep next from timing out, so until has its own bound.
func (f *e2eFeed) until(match func(e2eEvent) bool) (e2eEvent, []e2eEvent) {
	f.t.Helper()
	var before []e2eEvent
	deadline := time.Now().Add(30 * time.Second)
	for {
		ev := f.next()
		if match(ev) {
			return ev, before
		}
		before = append(before, ev)
		if time.Now().After(deadline) {
			f.t.Fatalf("no matching feed event within 30s; got %d others, the last %+v", len(before), ev)
		}
	}
}

// isReady matches the event that ends the feed's snapshot.
func isReady(ev e2eEvent) bool { return ev.name == "ready" }

func endedSession(sid string) func(e2eEvent) bool {
	return func(ev e2eEvent) bool {
		return ev.name == "revocation" && ev.data["kind"] == "session" && ev.data["sid"] == sid
	}
}

func TestFeedClientSeesALogoutAndResumesAfterADroppedConnection(t *testing.T) {
	// A write timeout far shorter than the stream's life, and heartbeats
	// that outnumber it, show that http.write_timeout never cuts a stream.
	ts := startServerYAML(t, map[string]string{
		"TOKENGUARD_HTTP_WRITE_TIMEOUT": "200ms",
		"TOKENGUARD_FEED_HEARTBEAT":     "20ms",
	}, feederClient)
	f := subscribeFeed(t, ts.base, feeder, "")
	if ev := f.next(); ev.name != "snapshot" {
		t.Fatalf("first event = %+v, want the snapshot", ev)
	}
	f.until(isReady)
	for range 20 { // 20 heartbeats: twice the write timeout at least
		f.until(func(ev e2eEvent) bool { return ev.name == ": heartbeat" })
	}

	first := ts.session("alice")
	ts.logout(first)
	ev, _ := f.until(endedSession(first.sid))
	if ev.id == "" || ev.data["iss"] != "https://tokenguard.test" || ev.data["until"] == nil {
		t.Errorf("the logout's event = %+v, want an id, our issuer and until", ev)
	}
	f.stop() // the connection drops

	second := ts.session("bob")
	ts.logout(second)
	resumed := subscribeFeed(t, ts.base, feeder, ev.id)
	got, before := resumed.until(endedSession(second.sid))
	for _, e := range before {
		if e.name == "snapshot" || endedSession(first.sid)(e) {
			t.Errorf("resumed after %s, got %+v, want only what followed", ev.id, e)
		}
	}
	if got.id == "" {
		t.Errorf("the missed logout's event %+v has no id", got)
	}
}

func TestFeedStartsAgainFromAnAnnouncedSnapshotAfterARedisRestart(t *testing.T) {
	// Heartbeats keep the stream talking while the mirror notices the
	// restart and reloads, however long that takes on a busy machine.
	ts := startServerYAML(t, map[string]string{"TOKENGUARD_FEED_HEARTBEAT": "100ms"}, feederClient)
	f := subscribeFeed(t, ts.base, feeder, "")
	f.until(isReady)
	before := ts.session("alice")
	ts.logout(before)
	old, _ := f.until(endedSession(before.sid))

	// Redis goes away long enough for the mirror to notice (its shards go
	// stale: /readyz stops answering 200), then comes back empty. A restart
	// between two of the mirror's reads would go unnoticed, harmlessly:
	// entries the mirror keeps and Redis lost only refuse more.
	ts.redis.Stop()
	awaitCond(t, "/readyz to stop answering 200 while Redis is down", func() bool {
		resp, err := http.Get(ts.base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode != http.StatusOK
	})
	ts.redis.Restart()
	// The mirror reloads from Redis: the open stream says so with a fresh
	// snapshot, as a reset, then goes on.
	f.until(func(ev e2eEvent) bool { return ev.name == "snapshot" && ev.data["reset"] == true })
	f.until(isReady)
	awaitReadyz(t, ts.base)
	after := ts.session("bob")
	if r := ts.do(http.MethodPost, "/v1/logout", "Bearer "+after.token, "", nil); r.status != http.StatusNoContent {
		t.Fatalf("logout after the restart = %d %s, want 204", r.status, r.body)
	}
	f.until(endedSession(after.sid))

	// A position from before the restart cannot be resumed from.
	r := subscribeFeed(t, ts.base, feeder, old.id)
	if ev := r.next(); ev.name != "snapshot" || ev.data["reset"] != true {
		t.Errorf("resuming from %s after the restart: first event %+v, want a snapshot with reset true", old.id, ev)
	}
}

// feeder is the client of the fleet's and the servers' configurations
// allowed to follow the feed.
const feeder = "feeder:dev-feeder-secret"

// awaitFeed waits until base serves its feed: an instance answers 503
// until the mirror the feed is read from has loaded, which in strict mode
// /readyz does not wait for.
func awaitFeed(t *testing.T, base string) {
	t.Helper()
	awaitCond(t, base+" to serve the feed", func() bool {
		resp, err := http.DefaultClient.Do(feedRequest(t, context.Background(), http.MethodHead, base, feeder))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// snapshotHas reads a fresh stream up to its ready event and reports
// whether the snapshot named the ended session sid.
func (f *e2eFeed) snapshotHas(sid string) bool {
	f.t.Helper()
	if ev := f.next(); ev.name != "snapshot" || ev.data["reset"] != false {
		f.t.Fatalf("first event = %+v, want a snapshot that is no reset", ev)
	}
	ready, before := f.until(isReady)
	if ready.id == "" {
		f.t.Errorf("ready %+v has no id", ready)
	}
	return slices.ContainsFunc(before, endedSession(sid))
}

// feedFlow follows the feed of two instances of the fleet's topology, the
// fleet's b (mirror mode) and a third one in strict mode, while a writes:
// each subscriber gets a snapshot holding what a wrote before, then every
// logout made at a afterwards, from the change logs of their shards.
func (f *fleet) feedFlow() {
	t := f.t
	t.Helper()
	before := f.login(f.a, "feed-before")
	f.must(f.a, http.MethodPost, "/v1/logout", "Bearer "+before.token, "", http.StatusNoContent)
	// b has it once it refuses the token; the strict instance loads its
	// mirror after the logout.
	f.awaitVerify(f.b, before.token, http.StatusUnauthorized, "a logout at a reaches b")
	strict := f.start("strict", map[string]string{"TOKENGUARD_REVOCATION_MODE": "strict"})
	awaitFeed(t, strict.base)

	subs := map[string]*e2eFeed{}
	for _, in := range []*instance{f.b, strict} {
		subs[in.name] = subscribeFeed(t, in.base, feeder, "")
		if !subs[in.name].snapshotHas(before.sid) {
			t.Errorf("the snapshot of %s lacks the session ended before it", in.name)
		}
	}
	// Sessions of several users: their entries fall on several shards,
	// which on a Cluster live on different masters.
	var after []session
	for i := range 6 {
		s := f.login(f.a, fmt.Sprintf("feed-after-%d", i))
		f.must(f.a, http.MethodPost, "/v1/logout", "Bearer "+s.token, "", http.StatusNoContent)
		after = append(after, s)
	}
	for name, sub := range subs {
		for _, s := range after {
			if ev, _ := sub.until(endedSession(s.sid)); ev.id == "" {
				t.Errorf("the live event of %s's feed %+v has no id", name, ev)
			}
		}
	}
}

// feedWriter writes revocations to the server's Redis as another instance
// would: they reach the server's mirror, and its feed, through the change
// logs.
func (ts *testServer) feedWriter() *blacklist.Store {
	return blacklist.New(ts.rdb, blacklist.Config{Prefix: "tg:", Leeway: testLeeway, MaxTokenLifetime: testAccessTTL, Mode: blacklist.ModeStrict})
}

// endSessions ends n fresh sessions through w and returns their ids.
func endSessions(t *testing.T, w *blacklist.Store, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = randomHex()
	}
	if err := w.RevokeSessions(context.Background(), ids); err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestFeedClientFallenBehindTheBacklogGetsAFreshSnapshot(t *testing.T) {
	ts := startServerYAML(t, nil, feederClient)
	f := subscribeFeed(t, ts.base, feeder, "")
	f.until(isReady)
	seen := ts.session("alice")
	ts.logout(seen)
	last, _ := f.until(endedSession(seen.sid))
	f.stop() // the client goes away...

	// ...while more changes are made than the feed's backlog (4096) holds,
	// then one marker per shard: once a snapshot holds every marker, the
	// server has published every change before them.
	w := ts.feedWriter()
	missed := endSessions(t, w, 5000)
	var markers []string
	for sh := range keyspace.Shards {
		id := idInShards(func(s int) bool { return s == sh })
		if err := w.RevokeSession(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		markers = append(markers, id)
	}
	awaitCond(t, "the server to publish every change", func() bool {
		s := subscribeFeed(t, ts.base, feeder, "")
		defer s.stop()
		s.next() // the snapshot's announcement
		_, entries := s.until(isReady)
		for _, m := range markers {
			if !slices.ContainsFunc(entries, endedSession(m)) {
				return false
			}
		}
		return true
	})

	r := subscribeFeed(t, ts.base, feeder, last.id)
	if ev := r.next(); ev.name != "snapshot" || ev.data["reset"] != true {
		t.Fatalf("resuming from %s, more than the backlog behind: first event %+v, want a snapshot with reset true", last.id, ev)
	}
	ready, entries := r.until(isReady)
	if ready.data["resumed"] != false {
		t.Errorf("ready = %+v, want resumed false", ready)
	}
	for _, sid := range []string{seen.sid, missed[0], missed[len(missed)-1]} {
		if !slices.ContainsFunc(entries, endedSession(sid)) {
			t.Errorf("the fresh snapshot lacks session %s", sid)
		}
	}
}

// drainedFeed reads a feed stream as fast as it comes, keeping the ended
// sessions it names: a subscriber that always keeps up.
type drainedFeed struct {
	mu    sync.Mutex
	sids  map[string]bool
	ended bool
}

func (d *drainedFeed) has(sid string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sids[sid]
}

func (d *drainedFeed) over() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ended
}

// drainFeed follows the feed of base until the test ends.
func drainFeed(t *testing.T, base string) *drainedFeed {
	t.Helper()
	resp := openFeed(t, base)
	d := &drainedFeed{sids: map[string]bool{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var e struct {
				SID string `json:"sid"`
			}
			if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok && json.Unmarshal([]byte(line), &e) == nil && e.SID != "" {
				d.mu.Lock()
				d.sids[e.SID] = true
				d.mu.Unlock()
			}
		}
		d.mu.Lock()
		d.ended = true
		d.mu.Unlock()
	}()
	t.Cleanup(func() { resp.Body.Close(); <-done })
	return d
}

// openFeed opens the feed of base as the feeder, from a snapshot.
func openFeed(t *testing.T, base string) *http.Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(feedRequest(t, context.Background(), http.MethodGet, base, feeder))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("GET /v1/revocations/stream = %d, want 200", resp.StatusCode)
	}
	return resp
}

func TestFeedDisconnectsASubscriberThatStopsReadingAndKeepsTheOthers(t *testing.T) {
	ts := startServerYAML(t, nil, feederClient+"metrics:\n  listen: 127.0.0.1:0\n")
	m := metricsListening.FindStringSubmatch(ts.logs.String())
	if m == nil {
		t.Fatalf("no \"metrics listening\" line in the log:\n%s", ts.logs.String())
	}
	mgmt := "http://" + m[1]
	healthy := drainFeed(t, ts.base)
	stuck := openFeed(t, ts.base) // read no further than its headers
	t.Cleanup(func() { stuck.Body.Close() })

	// Revocations from another instance, acknowledged one batch after
	// another however stuck the subscriber is, until the socket's buffers
	// and the subscriber's 1,024 pending changes are full and it is
	// dropped. Each batch stays well under those 1,024 and is awaited at
	// the healthy subscriber, so that a subscriber that keeps reading is
	// never that far behind (a larger burst would drop it too).
	w := ts.feedWriter()
	var written []string
	for len(written) < 50_000 {
		batch := endSessions(t, w, 64)
		written = append(written, batch...)
		awaitCond(t, "the healthy subscriber to get the batch", func() bool { return healthy.has(batch[len(batch)-1]) || healthy.over() })
		if len(written)%1024 == 0 && sample(scrape(t, mgmt), "tokenguard_feed_slow_disconnects_total", nil) >= 1 {
			break
		}
	}
	awaitCond(t, "the slow subscriber to be dropped", func() bool {
		return sample(scrape(t, mgmt), "tokenguard_feed_slow_disconnects_total", nil) >= 1
	})
	t.Logf("the stuck subscriber was dropped after %d changes", len(written))
	// The other subscriber kept up and got every change.
	last := written[len(written)-1]
	awaitCond(t, "the healthy subscriber to get the last change", func() bool { return healthy.has(last) || healthy.over() })
	if healthy.over() {
		t.Fatal("the healthy subscriber's stream ended")
	}
	for _, sid := range written {
		if !healthy.has(sid) {
			t.Fatalf("the healthy subscriber missed session %s", sid)
		}
	}
	fams := scrape(t, mgmt)
	if got := sample(fams, "tokenguard_feed_slow_disconnects_total", nil); got != 1 {
		t.Errorf("slow disconnects = %v, want 1", got)
	}
	if got := sample(fams, "tokenguard_feed_subscribers", nil); got != 1 {
		t.Errorf("subscribers = %v, want 1 (the healthy one)", got)
	}

	// The dropped subscriber reads what was buffered, then its stream
	// ends; it resumes from the last id it got.
	var lastID string
	sc := bufio.NewScanner(stuck.Body)
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
			lastID = id
		}
	}
	if lastID == "" {
		t.Fatal("the dropped subscriber got no event id before its stream ended")
	}
	r := subscribeFeed(t, ts.base, feeder, lastID)
	if ready, _ := r.until(isReady); ready.id == "" {
		t.Errorf("resumed ready %+v has no id", ready)
	}
}
