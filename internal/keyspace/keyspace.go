// Package keyspace names every Redis key tokenguard writes. The layout is a
// convention that several packages and every running instance must agree
// on, so it is written here once, and nowhere else builds a key name.
//
// <p> is the configured prefix (redis.key_prefix), which has no braces; <n>
// is the shard (Shard, 0 to 15) of the id in the key, or of the user for a
// user's keys. Each key carries its shard as a Redis Cluster hash tag, so
// the keys of one user share one slot and scripts that touch several of
// them work on Cluster, while the state as a whole spreads over 16 slots.
//
//	key                                   type    written by  holds
//	<p>{<n>}:j:<jti>                      string  blacklist   a revoked token: "1", TTL until its expiry
//	<p>{<n>}:s:<sid>                      string  blacklist   an ended session: "1", TTL as long as its tokens can live
//	<p>{<n>}:u:<subject>                  string  blacklist   a user's cut-off, unix µs
//	<p>{<n>}:b:<subject>                  string  blacklist   a ban, as JSON; no TTL when indefinite
//	<p>{<n>}:log                          stream  blacklist   the shard's last 2 minutes of changes, numbered, which every mirror follows
//	<p>{<n>}:session:<sid>                hash    sessions    a device session and its refresh-token state
//	<p>{<n>}:rt-history:<sid>             string  sessions    8-byte fingerprints of the session's refresh tokens
//	<p>{<n>}:rt-grace:<sid>               string  sessions    the reuse window's salt, alive only during the window
//	<p>{<n>}:user-sessions:<b64 subject>  zset    sessions    the user's session ids by creation time
//	<p>events                             stream  audit       every audit event
//	<p>{<n>}:events:<b64 subject>         stream  audit       one user's audit events
//	<p>{<n>}:auth-fails:<digest>          zset    lockout     recent failed authentications of one id or address
//	<p>{<n>}:auth-lock:<digest>           string  lockout     a lockout of that id or address, TTL until it ends
//	<p>{<n>}:seen-msg:<digest>            string  blacklist   a received logout token's (issuer-qualified) jti, TTL while it is accepted
//	<p>ssf-streams                        set     signals     the ids of every SSF event stream
//	<p>{<n>}:ssf-stream:<id>              string  signals     an SSF event stream's configuration, as JSON
//	<p>{<n>}:ssf-outbox:<id>              stream  signals     the stream's signed events not yet delivered, oldest first
//	<p>{<n>}:ssf-lease:<id>               string  signals     which instance pushes the stream's events now, TTL a few seconds
//	<p>{<n>}:console-session:<digest>     string  console     an admin's console session, as JSON; TTL the idle timeout
//
// The first four are the revocation entries. A mirror loads them with a SCAN
// for SnapshotPattern (<p>{*}:?:*) and reads the kind and the id back with
// ParseEntry, so no other key may ever match that pattern, whatever the ids
// and subjects in it hold. Every other sharded key is built by one function,
// named, which guarantees it: its kind has two letters or more, and a '}'
// never appears in what follows it (subjects are written in base64url, and
// a session id, base64url by construction, has any '}' escaped). A new key
// kind (a rate limiter, an event outbox, console sessions) is a method here
// built on named or global, and the tests then check it like the others.
package keyspace

import (
	"crypto/sha256"
	"encoding/base64"
	"strconv"
)

// Shards is the number of hash tags the keys are spread over.
const Shards = 16

// Shard returns the shard, 0 to Shards-1, that id's keys live in.
func Shard(id string) int {
	// FNV-1a, inlined so that the revocation check does not allocate.
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return int(h % Shards)
}

// The kinds of revocation entry, as they appear in the entry keys and in the
// change logs.
const (
	KindRevokedToken = 'j' // a revoked jti
	KindEndedSession = 's' // an ended session
	KindCutOff       = 'u' // a user's cut-off
	KindBan          = 'b' // a banned user
)

// Keys builds the key names under one prefix. The zero value is not useful;
// use New.
type Keys struct {
	prefix string
}

// New returns the key names under prefix, which must not hold braces (the
// configuration refuses them) lest the hash tags and SnapshotPattern break.
func New(prefix string) Keys { return Keys{prefix: prefix} }

// Entry names the revocation entry of kind for id (a jti, a session id or a
// subject), in id's shard: <p>{<n>}:<kind>:<id>.
func (k Keys) Entry(kind byte, id string) string {
	b := make([]byte, 0, len(k.prefix)+len(id)+8)
	b = k.tag(b, Shard(id))
	b = append(b, ':', kind, ':')
	b = append(b, id...)
	return string(b)
}

// ChangeLog names the change log of a shard: <p>{<n>}:log.
func (k Keys) ChangeLog(shard int) string {
	return string(append(k.tag(nil, shard), ":log"...))
}

// SnapshotPattern is the SCAN pattern that matches every revocation entry
// and no other key of ours.
func (k Keys) SnapshotPattern() string { return k.prefix + "{*}:?:*" }

// ShardSnapshotPattern is SnapshotPattern narrowed to one shard's entries,
// for scanning the one Cluster master that serves the shard.
func (k Keys) ShardSnapshotPattern(shard int) string {
	return string(append(k.tag(nil, shard), ":?:*"...))
}

// ParseEntry splits a revocation entry's key into its kind and id; ok is
// false for a key that does not have an entry's shape.
func (k Keys) ParseEntry(key string) (kind byte, id string, ok bool) {
	if len(key) < len(k.prefix) || key[:len(k.prefix)] != k.prefix {
		return 0, "", false
	}
	rest := key[len(k.prefix):]
	// {n}:k:id
	end := 0
	for end < len(rest) && rest[end] != '}' {
		end++
	}
	if len(rest) < end+4 || rest[0] != '{' || rest[end+1] != ':' || rest[end+3] != ':' {
		return 0, "", false
	}
	return rest[end+2], rest[end+4:], true
}

// Session names the hash of a device session, in its shard (which is its
// user's).
func (k Keys) Session(sid string) string { return k.named("session", sid, sid) }

// RefreshHistory names the fingerprints of every refresh token a session
// was issued.
func (k Keys) RefreshHistory(sid string) string { return k.named("rt-history", sid, sid) }

// RefreshGrace names the salt of a session's refresh-token reuse window.
func (k Keys) RefreshGrace(sid string) string { return k.named("rt-grace", sid, sid) }

// UserSessions names the index of a user's sessions, in the user's shard.
func (k Keys) UserSessions(subject string) string {
	return k.named("user-sessions", subject, b64(subject))
}

// AuthFailures names the recent failed authentications of who: what a
// limiter counts them by, such as "client:app" or "client-ip:192.0.2.7". It
// and AuthLockout of the same who share a shard. who comes from the
// network and may be long or hostile, so the key holds a digest of it (128
// bits of SHA-256, base64url), never who itself.
func (k Keys) AuthFailures(who string) string { return k.named("auth-fails", who, digest(who)) }

// AuthLockout names the lockout of who (see AuthFailures).
func (k Keys) AuthLockout(who string) string { return k.named("auth-lock", who, digest(who)) }

// SeenMessage names the mark of a message acted upon once, a received
// back-channel logout token by its jti qualified by its issuer, so that a
// replay is refused. The id comes from another system and may be long, so
// the key holds a digest of it (as AuthFailures does).
func (k Keys) SeenMessage(id string) string { return k.named("seen-msg", id, digest(id)) }

// ConsoleSession names an admin's console session, found by the value of
// its cookie. The key holds a digest of the value (see AuthFailures),
// never the value itself: what Redis holds, a dump or a replica included,
// opens no session.
func (k Keys) ConsoleSession(cookie string) string {
	return k.named("console-session", cookie, digest(cookie))
}

// Events names the stream of every audit event.
func (k Keys) Events() string { return k.global("events") }

// UserEvents names the stream of one user's audit events, in the user's
// shard.
func (k Keys) UserEvents(subject string) string {
	return k.named("events", subject, b64(subject))
}

// SignalStreams names the set of every SSF event stream's id.
func (k Keys) SignalStreams() string { return k.global("ssf-streams") }

// SignalStream names an SSF event stream's configuration, in the stream's
// shard (stream ids are base64url, chosen by tokenguard).
func (k Keys) SignalStream(id string) string { return k.named("ssf-stream", id, id) }

// SignalOutbox names the outbox of an SSF event stream: its events not yet
// delivered, in the stream's shard so that one script can check the
// stream and append to its outbox.
func (k Keys) SignalOutbox(id string) string { return k.named("ssf-outbox", id, id) }

// SignalLease names the lease by which one instance at a time pushes an
// SSF event stream's events, so that they leave in order.
func (k Keys) SignalLease(id string) string { return k.named("ssf-lease", id, id) }

// named is <p>{<shard of owner>}:<kind>:<id>, the shape of every sharded key
// that is not a revocation entry. kind has at least two letters, so the
// text after the hash tag cannot be ":?:", and a '}' in id is escaped (as
// %7D, with '%' as %25), so no later '}' can start a match of
// SnapshotPattern either.
func (k Keys) named(kind, owner, id string) string {
	b := make([]byte, 0, len(k.prefix)+len(kind)+len(id)+8)
	b = k.tag(b, Shard(owner))
	b = append(b, ':')
	b = append(b, kind...)
	b = append(b, ':')
	for i := 0; i < len(id); i++ {
		switch c := id[i]; c {
		case '}':
			b = append(b, "%7D"...)
		case '%':
			b = append(b, "%25"...)
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

// global is <p><name>, a key outside every shard; with no brace in it, it
// cannot match SnapshotPattern.
func (k Keys) global(name string) string { return k.prefix + name }

func (k Keys) tag(b []byte, shard int) []byte {
	b = append(b, k.prefix...)
	b = append(b, '{')
	b = strconv.AppendInt(b, int64(shard), 10)
	return append(b, '}')
}

// b64 writes a subject in base64url, which has neither '}' nor ':'.
func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// digest is 128 bits of the SHA-256 of s in base64url: a short, fixed-size
// name for a string of any length.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}
