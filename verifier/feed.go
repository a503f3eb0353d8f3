package verifier

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/tokenguard/tokenguard/blacklist/state"
	"github.com/tokenguard/tokenguard/internal/keyspace"
)

// maxLine bounds one line of the feed; an entry is a few hundred bytes.
const maxLine = 64 << 10

// sweepInterval is how often entries that can refuse nothing more leave the
// state, as at tokenguard.
const sweepInterval = 10 * time.Second

// allShards lists every shard: the feed keeps them all current together.
var allShards = func() []int {
	s := make([]int, keyspace.Shards)
	for i := range s {
		s[i] = i
	}
	return s
}()

// Run keeps the revocation state current from tokenguard's feed until ctx
// ends: a snapshot first, then every change; after a dropped connection it
// resumes from the last position it applied (Last-Event-ID), and a fresh
// snapshot, when the feed sends one, replaces the whole state. It also
// drops expired entries. Its caller owns the goroutine; it returns nil when
// ctx ends.
func (v *Verifier) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		v.state.SweepEvery(ctx, sweepInterval, v.now, v.hold)
	}()
	// Log the start of an outage, not every attempt until it ends: an
	// attempt that reached "ready" ends one.
	failing := false
	for {
		readies := v.readies.Load()
		err := v.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		v.reconnects.Add(1)
		if v.readies.Load() != readies {
			failing = false
		}
		if !failing {
			v.log.WarnContext(ctx, "tokenguard revocation feed lost; reconnecting", "err", err, "retry", v.retry)
			failing = true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(v.retry):
		}
	}
}

// errNotOK reports a feed request tokenguard refused (wrong credentials,
// no permission feed, a tokenguard in strict mode).
var errNotOK = errors.New("revocation feed refused")

// event is one Server-Sent Event.
type event struct {
	id, name string
	data     []byte
}

// follow reads one connection of the feed until it fails or ctx ends. A
// connection silent for longer than maxStale (no change, no heartbeat) is
// dropped.
func (v *Verifier) follow(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.feedURL, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(v.id, v.sec)
	req.Header.Set("Accept", "text/event-stream")
	if p := v.position.Load(); p != nil {
		req.Header.Set("Last-Event-ID", *p)
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512)) // for the message only
		return fmt.Errorf("%w: %s: %s", errNotOK, resp.Status, bytes.TrimSpace(body))
	}
	idle := time.AfterFunc(v.maxStale, cancel)
	defer idle.Stop()

	r := bufio.NewReaderSize(resp.Body, maxLine)
	var ev event
	var sn *snapshot
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return errors.New("revocation feed: line too long")
		}
		if err != nil {
			return err
		}
		idle.Reset(v.maxStale)
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0:
			if ev.name != "" {
				if sn, err = v.dispatch(ev, sn); err != nil {
					return err
				}
			}
			ev = event{}
		case line[0] == ':':
			// A heartbeat: nothing happened since the last event.
			if sn == nil && v.loaded.Load() {
				v.state.Confirm(allShards, v.now())
			}
		default:
			name, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			switch string(name) {
			case "id":
				ev.id = string(value)
			case "event":
				ev.name = string(value)
			case "data":
				ev.data = append(ev.data, value...)
			}
		}
	}
}

// snapshot is a snapshot being received: the state it will replace the
// local one with once complete, and when it began.
type snapshot struct {
	fresh [keyspace.Shards]state.Entries
	at    time.Time
}

// decode turns an event's data into a state entry; ok is false for an
// entry that is not about tokenguard's own tokens (another issuer's, which
// the verifier never accepts) or of a kind it does not know.
func (v *Verifier) decode(data []byte) (state.Entry, bool, error) {
	var f state.FeedEntry
	if err := json.Unmarshal(data, &f); err != nil {
		return state.Entry{}, false, fmt.Errorf("revocation feed: malformed entry: %w", err)
	}
	if f.Issuer != v.issuer {
		return state.Entry{}, false, nil
	}
	e, ok := f.Entry()
	return e, ok, nil
}

// dispatch handles one event; sn is the snapshot being received, if any,
// and the one after the event is returned.
func (v *Verifier) dispatch(ev event, sn *snapshot) (*snapshot, error) {
	switch ev.name {
	case "snapshot":
		sn = &snapshot{at: v.now()}
		for i := range sn.fresh {
			sn.fresh[i] = state.NewEntries()
		}
		return sn, nil
	case "revocation":
		e, ok, err := v.decode(ev.data)
		if err != nil {
			return sn, err
		}
		if sn != nil {
			if ok {
				sn.fresh[keyspace.Shard(e.ID)].Apply(e)
			}
			return sn, nil
		}
		if ok {
			v.state.Apply(e)
		}
		v.applied.Add(1)
		v.state.Confirm(allShards, v.now())
		v.setPosition(ev.id)
		v.notify()
		return nil, nil
	case "ready":
		v.readies.Add(1)
		if sn != nil {
			v.state.Replace(&sn.fresh, allShards)
			v.state.Confirm(allShards, sn.at)
			v.snapshots.Add(1)
			v.loaded.Store(true)
		} else {
			v.state.Confirm(allShards, v.now())
		}
		v.setPosition(ev.id)
		v.notify()
		return nil, nil
	}
	return sn, nil
}

func (v *Verifier) setPosition(id string) {
	if id != "" {
		v.position.Store(&id)
	}
}
