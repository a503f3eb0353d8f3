package blacklist

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tokenguard/tokenguard/blacklist/state"
	"github.com/tokenguard/tokenguard/internal/keyspace"
)

// The feed tells subscribers (the revocation stream) of the mirror's state
// and of every change the mirror follows from the change logs, so that
// subscribers add no load on Redis. Positions are an in-process sequence
// number prefixed by an epoch: a random name that changes whenever the
// mirror reloads a shard from a snapshot (after an outage, a restarted
// Redis, a trimmed log), since the changes between the old state and the
// reloaded one are not in any log. A position of another epoch, or one
// older than the backlog, is served with a fresh snapshot.

var (
	// ErrNoFeed reports that the store keeps no mirror (strict mode
	// without Config.Feed), so it has no feed to subscribe to.
	ErrNoFeed = errors.New("the store keeps no revocation mirror to feed from")
	// ErrTooSlow ends a subscription whose subscriber fell more than its
	// buffer behind; it resumes from its last position.
	ErrTooSlow = errors.New("revocation feed subscriber too slow")
	// ErrResync ends every subscription when the mirror reloads a shard
	// from a snapshot; a resume then gets a fresh snapshot.
	ErrResync = errors.New("revocation mirror resynced")
)

// ChangeKind names what a Change revokes.
type ChangeKind string

// The kinds of change.
const (
	// ChangeToken is a revoked token: ID is its jti.
	ChangeToken ChangeKind = state.FeedToken
	// ChangeSession is an ended session: ID is its sid.
	ChangeSession ChangeKind = state.FeedSession
	// ChangeCutOff refuses every token of the user ID issued before At.
	ChangeCutOff ChangeKind = state.FeedCutOff
	// ChangeBan bans the user ID from At until Until (zero: until lifted).
	ChangeBan ChangeKind = state.FeedBan
	// ChangeUnban lifts the ban of the user ID.
	ChangeUnban ChangeKind = state.FeedUnban
)

// Change is one entry of the revocation state, as the feed tells it.
type Change struct {
	Kind ChangeKind
	// ID is the jti, session id or subject, as the store knows it (a
	// trusted issuer's qualified by the issuer).
	ID string
	// At is a cut-off's instant, or when a ban began.
	At time.Time
	// Until is when the entry stops refusing anything; zero means never
	// (an indefinite ban) or, for an unban, not applicable.
	Until time.Time
}

// Event is a change with its position in the feed.
type Event struct {
	// Position is what a subscriber resumes after.
	Position string
	Change
	// memo is shared by every copy of the event handed to subscribers.
	memo *memo
}

// memo holds an event's encoding once it is made.
type memo struct {
	once sync.Once
	b    []byte
}

// Encoded returns encode(e), made once for the event however many
// subscribers send it: with a thousand subscribers, encoding each change
// a thousand times would cost more than sending it. Every subscriber of a
// feed must pass the same encoding; the bytes are shared and must not be
// changed.
func (e Event) Encoded(encode func(Event) []byte) []byte {
	if e.memo == nil {
		return encode(e)
	}
	e.memo.once.Do(func() { e.memo.b = encode(e) })
	return e.memo.b
}

// Subscription is one subscriber's view of the feed: a snapshot or a
// replay, then the live changes on C. C is closed when the subscription
// ends; Err then says why.
type Subscription struct {
	// Snapshot holds the whole live state when the subscriber could not
	// resume (Resumed is false); nil otherwise.
	Snapshot []Change
	// Resumed says the subscriber resumed from its position: Replay holds
	// the changes it missed, and there is no Snapshot.
	Resumed bool
	// Replay holds the changes after the resume position, in order.
	Replay []Event
	// Position is the position of the snapshot's end (or of the replay's).
	Position string
	// C delivers the live changes, in order. Every subscriber gets the
	// same *Event: it must not be changed.
	C <-chan *Event

	f    *feed
	ch   chan *Event
	done chan struct{} // closed with ch
	err  error         // set under f.mu before ch is closed
}

// Done is closed when the subscription ends, as C is. A subscriber busy
// elsewhere (blocked writing to a client that stopped reading) watches it
// to learn at once that it was dropped, without reading C.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err says why C was closed: ErrTooSlow, ErrResync, or nil after Close.
func (s *Subscription) Err() error {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	return s.err
}

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription) Close() {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	s.f.end(s, nil)
}

// feed fans the mirror's changes out to subscribers.
type feed struct {
	mu      sync.Mutex
	epoch   string
	seq     uint64
	backlog []*Event // ring of the last changes; backlog[seq%len] is seq's
	buffer  int
	subs    map[*Subscription]struct{}
}

func newFeed(backlog, buffer int) *feed {
	return &feed{epoch: newEpoch(), backlog: make([]*Event, backlog), buffer: buffer, subs: map[*Subscription]struct{}{}}
}

func newEpoch() string { return strconv.FormatUint(rand.Uint64()>>16, 36) }

func (f *feed) position(seq uint64) string { return f.epoch + "-" + strconv.FormatUint(seq, 10) }

func (f *feed) subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// end removes sub and closes its channel with err. f.mu is held.
func (f *feed) end(sub *Subscription, err error) {
	if _, ok := f.subs[sub]; !ok {
		return
	}
	delete(f.subs, sub)
	sub.err = err
	close(sub.ch)
	close(sub.done)
}

// publish records a change and hands it to every subscriber, never
// waiting: a subscriber whose buffer is full is dropped. The event is made
// once and shared, so that a subscriber's buffer holds pointers only.
func (f *feed) publish(c Change) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	ev := &Event{Position: f.position(f.seq), Change: c, memo: &memo{}}
	f.backlog[f.seq%uint64(len(f.backlog))] = ev
	for sub := range f.subs {
		select {
		case sub.ch <- ev:
		default:
			f.end(sub, ErrTooSlow)
		}
	}
}

// reset starts a new epoch: the positions handed out so far can no longer
// be resumed from, and every subscriber is ended.
func (f *feed) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.epoch, f.seq = newEpoch(), 0
	clear(f.backlog)
	for sub := range f.subs {
		f.end(sub, ErrResync)
	}
}

// resumable returns the sequence number after which position can be
// resumed, or false. f.mu is held.
func (f *feed) resumable(position string) (uint64, bool) {
	epoch, num, ok := strings.Cut(position, "-")
	if !ok || epoch != f.epoch {
		return 0, false
	}
	seq, err := strconv.ParseUint(num, 10, 64)
	if err != nil || seq > f.seq || f.seq-seq > uint64(len(f.backlog)) {
		return 0, false
	}
	return seq, true
}

// Subscribe subscribes to the revocation feed. after is the position the
// subscriber last saw ("" for none): when the feed still holds every
// change since, the subscription replays them; otherwise it starts with a
// snapshot of the whole state. Every change is delivered at least once
// from there (a change racing the snapshot may be in both, and applying
// one twice is harmless). The subscriber must Close it. It fails with
// ErrNoFeed when the store keeps no mirror (strict mode without
// Config.Feed), and with ErrUnavailable until the mirror has loaded every
// shard.
func (s *Store) Subscribe(after string) (*Subscription, error) {
	if s.mirror == nil {
		return nil, ErrNoFeed
	}
	if _, unloaded := s.mirror.Stale(0, 0); unloaded > 0 {
		return nil, fmt.Errorf("%w: the revocation mirror is not loaded yet", ErrUnavailable)
	}
	f := s.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan *Event, f.buffer)
	sub := &Subscription{C: ch, f: f, ch: ch, done: make(chan struct{}), Position: f.position(f.seq)}
	if seq, ok := f.resumable(after); ok {
		sub.Resumed = true
		for n := seq + 1; n <= f.seq; n++ {
			sub.Replay = append(sub.Replay, *f.backlog[n%uint64(len(f.backlog))])
		}
	} else {
		// Every change published so far was applied to the mirror first,
		// so the snapshot holds them all.
		sub.Snapshot = s.mirror.changes(s.longest + s.leeway)
	}
	f.subs[sub] = struct{}{}
	return sub, nil
}

// publish tells the feed of an entry the mirror applied from a change log.
func (s *Store) publish(e state.Entry) {
	if c, ok := changeOf(e, s.longest+s.leeway); ok {
		s.feed.publish(c)
	}
}

// changeOf spells a decoded entry as a Change; hold is how long a cut-off
// is kept. ok is false for an entry of unknown kind.
func changeOf(e state.Entry, hold time.Duration) (c Change, ok bool) {
	switch e.Kind {
	case keyspace.KindRevokedToken:
		return Change{Kind: ChangeToken, ID: e.ID, Until: time.Unix(e.Value, 0).UTC()}, true
	case keyspace.KindEndedSession:
		return Change{Kind: ChangeSession, ID: e.ID, Until: time.Unix(e.Value, 0).UTC()}, true
	case keyspace.KindCutOff:
		at := time.UnixMicro(e.Value).UTC()
		return Change{Kind: ChangeCutOff, ID: e.ID, At: at, Until: at.Add(hold)}, true
	case keyspace.KindBan:
		if e.Ban == nil {
			return Change{Kind: ChangeUnban, ID: e.ID}, true
		}
		c := Change{Kind: ChangeBan, ID: e.ID, At: e.Ban.At.UTC()}
		if !e.Ban.Until.IsZero() {
			c.Until = e.Ban.Until.UTC()
		}
		return c, true
	}
	return Change{}, false
}

// changes copies the whole state as changes; hold is how long a cut-off
// is kept.
func (m *mirror) changes(hold time.Duration) []Change {
	var out []Change
	m.Range(func(e state.Entry) {
		if c, ok := changeOf(e, hold); ok {
			out = append(out, c)
		}
	})
	return out
}

// FeedCurrent reports whether the mirror the feed is served from, in either
// mode, holds every change: each shard confirmed within max_staleness.
// While it does not, the feed's handler refuses new subscribers and its
// streams withhold their heartbeats, so that a subscriber that counts what
// it hears as confirmation (the embedded verifier) goes stale no later than
// this instance plus its own bound, rather than trusting a stale instance.
// (A stream already open that the mirror's reload resets gets the reloaded
// snapshot at once: that is what it needs to catch up.)
func (s *Store) FeedCurrent() bool {
	if s.mirror == nil {
		return false
	}
	stale, _ := s.mirror.Stale(s.now().UnixNano(), s.maxStale)
	return len(stale) == 0
}

// FeedSubscribers counts the subscribers of the feed now.
func (s *Store) FeedSubscribers() int {
	if s.mirror == nil {
		return 0
	}
	return s.feed.subscribers()
}
