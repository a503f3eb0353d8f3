package blacklist

import "strconv"

// shards is the number of hash tags the keyspace is spread over. Every key
// of one user (cut-off, ban, and the sessions kept elsewhere) carries the tag
// of the user's shard, so scripts that touch several of them run on one
// Redis Cluster slot, while the whole state still spreads over 16 slots.
const shards = 16

// Shard returns the shard, 0 to 15, that id's keys live in.
func Shard(id string) int {
	// FNV-1a, inlined so that the hot path does not allocate.
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return int(h % shards)
}

// The kinds of entry, as they appear in keys and in the change log.
const (
	kindToken   = 'j' // a revoked jti; value: expiry, unix seconds
	kindSession = 's' // an ended session; value: expiry, unix seconds
	kindCutOff  = 'u' // a user cut-off; value: the cut-off time, unix µs
	kindBan     = 'b' // a banned user; value: the ban as JSON
)

// keyspace names the keys: <prefix>{<shard>}:<kind>:<id>, and each shard's
// change log <prefix>{<shard>}:log.
type keyspace struct {
	prefix string
}

func (k keyspace) token(jti string) string      { return k.name(kindToken, jti) }
func (k keyspace) session(sid string) string    { return k.name(kindSession, sid) }
func (k keyspace) cutOff(subject string) string { return k.name(kindCutOff, subject) }
func (k keyspace) ban(subject string) string    { return k.name(kindBan, subject) }

func (k keyspace) name(kind byte, id string) string {
	b := make([]byte, 0, len(k.prefix)+len(id)+8)
	b = k.tag(b, Shard(id))
	b = append(b, ':', kind, ':')
	b = append(b, id...)
	return string(b)
}

// log names the change log of a shard.
func (k keyspace) log(shard int) string {
	return string(append(k.tag(nil, shard), ":log"...))
}

// pattern matches every entry key, for the snapshot's SCAN.
func (k keyspace) pattern() string { return k.prefix + "{*}:?:*" }

func (k keyspace) tag(b []byte, shard int) []byte {
	b = append(b, k.prefix...)
	b = append(b, '{')
	b = strconv.AppendInt(b, int64(shard), 10)
	return append(b, '}')
}

// parseKey splits an entry key into its kind and id.
func (k keyspace) parseKey(key string) (kind byte, id string, ok bool) {
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
