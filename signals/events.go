package signals

import (
	"context"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/users"
)

// event is one security event about one subject, before it is addressed
// to a stream and signed.
type event struct {
	typ   string
	subID map[string]any
	body  map[string]any
}

// userSubject is the SSF subject (SSF 1.0 §3.2.1, format iss_sub) of the
// user known as name: our users with our issuer, a trusted issuer's with
// that issuer, so that two issuers' users "42" never look alike. ok is
// false for a client's own name (the client_credentials grant), which no
// receiver knows as a user.
func (t *Transmitter) userSubject(name string) (map[string]any, bool) {
	if _, isClient := users.ClientOf(name); isClient {
		return nil, false
	}
	iss, sub := users.SplitSubject(name)
	if iss == "" {
		iss = t.tokens.Issuer()
	}
	return map[string]any{"format": "iss_sub", "iss": iss, "sub": sub}, true
}

// initiator is CAEP's initiating_entity of an audit event's action.
func initiator(typ string) string {
	switch typ {
	case audit.TypeLogout, audit.TypeSessionEnded:
		return "user"
	case "refresh_reuse", "evicted":
		return "policy"
	}
	return "admin"
}

// events turns one change into the events it makes: session-revoked for
// each session ended (a complex subject: the user and the session) and for
// a user-wide cut-off (the user alone), account-disabled for a ban and
// account-enabled for an unban.
func (t *Transmitter) events(c users.Change, at time.Time) []event {
	user, ok := t.userSubject(c.Event.Subject)
	if !ok {
		return nil
	}
	caep := func() map[string]any {
		return map[string]any{
			"event_timestamp":   at.Unix(),
			"initiating_entity": initiator(c.Event.Type),
			"reason_admin":      map[string]string{"en": c.Event.Type},
		}
	}
	var out []event
	for _, sid := range c.Sessions {
		out = append(out, event{typ: TypeSessionRevoked, body: caep(), subID: map[string]any{
			"format":  "complex",
			"user":    user,
			"session": map[string]any{"format": "opaque", "id": sid},
		}})
	}
	if c.CutOff {
		out = append(out, event{typ: TypeSessionRevoked, subID: user, body: caep()})
	}
	if c.Disabled {
		out = append(out, event{typ: TypeAccountDisabled, subID: user, body: map[string]any{}})
	}
	if c.Enabled {
		out = append(out, event{typ: TypeAccountEnabled, subID: user, body: map[string]any{}})
	}
	return out
}

// sign makes the SET of ev for stream s (RFC 8417 §2.2, SSF 1.0 §4): typ
// secevent+jwt, iss, aud (the stream's client), a fresh jti, iat, txn,
// sub_id and the one event.
func (t *Transmitter) sign(s Stream, ev event, txn string, at time.Time) (entry, error) {
	jti := newID()
	set, err := t.tokens.SignSET(jwt.MapClaims{
		"iss":    t.tokens.Issuer(),
		"aud":    s.ClientID,
		"jti":    jti,
		"iat":    at.Unix(),
		"txn":    txn,
		"sub_id": ev.subID,
		"events": map[string]any{ev.typ: ev.body},
	})
	if err != nil {
		return entry{}, err
	}
	return entry{jti: jti, typ: typeNames[ev.typ], set: set}, nil
}

// Publish tells every stream that takes them the events of one change
// (users.Publisher): each event signed for each stream and appended to its
// outbox, sharing one txn. It waits for Redis only, never for a receiver;
// a failure is logged and counted, since the change itself has happened.
func (t *Transmitter) Publish(ctx context.Context, c users.Change) {
	at := t.now()
	evs := t.events(c, at)
	if len(evs) == 0 {
		return
	}
	streams, err := t.all(ctx)
	if err != nil {
		t.log.ErrorContext(ctx, "ssf events not queued", "type", c.Event.Type, "sub", c.Event.Subject, "err", err)
		t.metrics.EventsDropped("store_error", len(evs))
		return
	}
	txn := newID()
	var batch []queued
	for _, s := range streams {
		for _, ev := range evs {
			if !s.delivers(ev.typ) {
				continue
			}
			e, err := t.sign(s, ev, txn, at)
			if err != nil {
				t.log.ErrorContext(ctx, "ssf event not signed", "stream_id", s.ID, "event", typeNames[ev.typ], "err", err)
				t.metrics.EventsDropped("store_error", 1)
				continue
			}
			batch = append(batch, queued{stream: s.ID, entry: e})
		}
	}
	if t.enqueueAll(ctx, batch, txn) > 0 {
		t.wake()
	}
}

// queued is a signed SET bound for a stream's outbox.
type queued struct {
	stream string
	entry  entry
}

// enqueueAll appends each SET to its stream's outbox in one pipeline (one
// round trip, whatever the number of streams; on Cluster one per master),
// in order, and returns how many were queued.
func (t *Transmitter) enqueueAll(ctx context.Context, batch []queued, txn string) int {
	if len(batch) == 0 {
		return 0
	}
	cmds := make([]*redis.Cmd, len(batch))
	_, err := t.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, q := range batch {
			cmds[i] = enqueueScript.EvalSha(ctx, p, []string{t.keys.SignalStream(q.stream), t.keys.SignalOutbox(q.stream)}, q.entry.jti, q.entry.typ, q.entry.set)
		}
		return nil
	})
	n := 0
	for i, q := range batch {
		ok, cerr := cmds[i].Int()
		queued := ok == 1
		if redis.HasErrorPrefix(cerr, "NOSCRIPT") {
			// A Redis that has not seen the script yet (a restart, a new
			// master): enqueue loads it, in order, once per entry.
			queued, cerr = t.enqueue(ctx, q.stream, q.entry)
		}
		switch {
		case cerr != nil:
			t.log.ErrorContext(ctx, "ssf event not queued", "stream_id", q.stream, "event", q.entry.typ, "err", errors.Join(err, cerr))
			t.metrics.EventsDropped("store_error", 1)
		case queued:
			n++
			t.metrics.EventQueued(q.entry.typ)
			t.log.DebugContext(ctx, "ssf event queued", "stream_id", q.stream, "event", q.entry.typ, "jti", q.entry.jti, "txn", txn)
		}
		// Not queued: the stream was deleted or disabled meanwhile.
	}
	return n
}
