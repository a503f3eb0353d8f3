package redistest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Sentinel is a master with one replica, watched by three Sentinels (quorum
// two) that fail over after one second without an answer.
type Sentinel struct {
	// Master and Replica are the data servers as started; which is master
	// changes with failovers.
	Master, Replica *Server
	// Sentinels are the three redis-server --sentinel processes.
	Sentinels []*Server
	// Name is the master's name as the Sentinels know it.
	Name string

	t       testing.TB
	mu      sync.Mutex
	clients map[*Server]*redis.SentinelClient
}

// StartSentinel starts the group and returns once every Sentinel knows the
// master, its replica and the two other Sentinels, so that a failover can
// be voted. Everything stops when the test ends.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	bin := lookBinary(t)
	g := &Sentinel{t: t, Name: "tokenguard", clients: map[*Server]*redis.SentinelClient{}}
	g.Master = newServer(t, bin, nil)
	g.Master.startFirst()
	t.Cleanup(g.Master.Stop)
	g.Replica = newServer(t, bin, []string{"--replicaof", "127.0.0.1", fmt.Sprint(g.Master.port)})
	g.Replica.startFirst()
	t.Cleanup(g.Replica.Stop)
	g.Replica.AwaitReplicaOf(g.Master)
	// Each Sentinel is told its own id and those of the others, and the
	// replica: left to discover them, they take seconds.
	var ids []string
	for i := range 3 {
		s := newServer(t, bin, []string{"--sentinel"})
		s.conf = filepath.Join(s.dir, "sentinel.conf")
		g.Sentinels = append(g.Sentinels, s)
		ids = append(ids, fmt.Sprintf("%040x", i+1))
	}
	for i, s := range g.Sentinels {
		conf := fmt.Sprintf("sentinel myid %[3]s\n"+
			"sentinel monitor %[1]s 127.0.0.1 %[2]d 2\n"+
			"sentinel down-after-milliseconds %[1]s 1000\n"+
			"sentinel failover-timeout %[1]s 10000\n"+
			"sentinel parallel-syncs %[1]s 1\n"+
			"sentinel known-replica %[1]s 127.0.0.1 %[4]d\n", g.Name, g.Master.port, ids[i], g.Replica.port)
		for j, o := range g.Sentinels {
			if j != i {
				conf += fmt.Sprintf("sentinel known-sentinel %s 127.0.0.1 %d %s\n", g.Name, o.port, ids[j])
			}
		}
		if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		s.start()
		t.Cleanup(s.Stop)
	}
	ctx := context.Background()
	await(t, formTimeout, "the Sentinels to know each other and the replica", func() error {
		for _, s := range g.Sentinels {
			m, err := g.sentinel(s).Master(ctx, g.Name).Result()
			if err != nil {
				return err
			}
			if m["num-other-sentinels"] != "2" || m["num-slaves"] != "1" || m["flags"] != "master" {
				return fmt.Errorf("%s: %v", s, m)
			}
		}
		return nil
	})
	return g
}

// sentinel returns the Sentinel client of s, made on first use and closed
// when the test ends.
func (g *Sentinel) sentinel(s *Server) *redis.SentinelClient {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, ok := g.clients[s]
	if !ok {
		c = redis.NewSentinelClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
		g.clients[s] = c
		g.t.Cleanup(func() { _ = c.Close() })
	}
	return c
}

// Addrs returns the Sentinels' addresses.
func (g *Sentinel) Addrs() []string {
	out := make([]string, len(g.Sentinels))
	for i, s := range g.Sentinels {
		out[i] = s.Addr
	}
	return out
}

// AwaitHealthy waits until every Sentinel names the same master, which
// says it is one, and the other data server replicates it in sync; it
// returns the master. Which server that is does not matter: a starved
// master may have been failed over once more.
func (g *Sentinel) AwaitHealthy() *Server {
	g.t.Helper()
	ctx := context.Background()
	var got *Server
	await(g.t, formTimeout, "the Sentinel group to be healthy", func() error {
		got = nil
		for _, s := range g.Sentinels {
			addr, err := g.sentinel(s).GetMasterAddrByName(ctx, g.Name).Result()
			if err != nil {
				return err
			}
			m := g.data(addr)
			if m == nil || (got != nil && m != got) {
				return fmt.Errorf("%s names %v", s, addr)
			}
			got = m
		}
		replica := g.Master
		if got == g.Master {
			replica = g.Replica
		}
		if role, err := info(ctx, got.admin(), "replication", "role"); role != "master" {
			return fmt.Errorf("%s has role %q (%v)", got, role, err)
		}
		return replicating(ctx, replica, got)
	})
	return got
}

// data returns the data server at addr (host, port), or nil.
func (g *Sentinel) data(addr []string) *Server {
	for _, d := range []*Server{g.Master, g.Replica} {
		if len(addr) == 2 && d.Addr == addr[0]+":"+addr[1] {
			return d
		}
	}
	return nil
}

// AwaitFailover waits until every Sentinel names a master other than old,
// and that server says it is a master; it returns it.
func (g *Sentinel) AwaitFailover(old *Server) *Server {
	g.t.Helper()
	ctx := context.Background()
	var got *Server
	await(g.t, formTimeout, "the Sentinels to promote a replica of "+old.Addr, func() error {
		got = nil
		for _, s := range g.Sentinels {
			addr, err := g.sentinel(s).GetMasterAddrByName(ctx, g.Name).Result()
			if err != nil {
				return err
			}
			m := g.data(addr)
			if m == nil || m == old || (got != nil && m != got) {
				return fmt.Errorf("%s names %v", s, addr)
			}
			got = m
		}
		if role, err := info(ctx, got.admin(), "replication", "role"); role != "master" {
			return fmt.Errorf("%s has role %q (%v)", got, role, err)
		}
		return nil
	})
	return got
}
