package blacklist

import "strconv"

// shards is the number of hash tags the keyspace is spread over. Every key
// of one user (cut-off, and later bans and sessions) carries the tag of the
// user's shard, so scripts that touch several of them run on one Redis
// Cluster slot, while the whole state still spreads over several slots.
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

// keyspace names the keys: <prefix>{<shard>}:<kind>:<id>.
type keyspace struct {
	prefix string
}

func (k keyspace) token(jti string) string      { return k.name('j', jti) }
func (k keyspace) session(sid string) string    { return k.name('s', sid) }
func (k keyspace) cutOff(subject string) string { return k.name('u', subject) }

func (k keyspace) name(kind byte, id string) string {
	b := make([]byte, 0, len(k.prefix)+len(id)+8)
	b = append(b, k.prefix...)
	b = append(b, '{')
	b = strconv.AppendInt(b, int64(Shard(id)), 10)
	b = append(b, '}', ':', kind, ':')
	b = append(b, id...)
	return string(b)
}
