package redistest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of three masters with one replica each, six
// Servers started with cluster-node-timeout 1000 (a replica takes over about
// two seconds after its master dies) and cluster-require-full-coverage no,
// so that the other masters go on serving their slots while one has none.
type Cluster struct {
	// Nodes are the six servers: 0 to 2 started as the masters, 3 to 5 as
	// the replicas of 0 to 2. Which is master changes with failovers.
	Nodes []*Server

	t testing.TB
}

// formTimeout bounds how long the nodes take to agree on the cluster: they
// exchange their view every 100 ms.
const formTimeout = 30 * time.Second

// busPort is the cluster bus port a node was started with.
func (s *Server) busPort() int {
	for i := 0; i+1 < len(s.args); i++ {
		if s.args[i] == "--cluster-port" {
			p, _ := strconv.Atoi(s.args[i+1])
			return p
		}
	}
	return s.port + 10000
}

// StartCluster starts and forms a cluster, from Go (CLUSTER MEET,
// ADDSLOTSRANGE, REPLICATE): no redis-cli needed. It returns once every node
// sees every slot served and every replica in sync, and stops the nodes when
// the test ends.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	bin := lookBinary(t)
	c := &Cluster{t: t}
	for range 6 {
		// The cluster bus gets a port of its own: the default, port+10000,
		// may be taken or beyond 65535.
		bus := freePort(t)
		s := newServer(t, bin, []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(bus),
			"--cluster-node-timeout", "1000",
			"--cluster-require-full-coverage", "no",
		})
		s.startFirst()
		t.Cleanup(s.Stop)
		c.Nodes = append(c.Nodes, s)
	}
	ctx := context.Background()
	ids := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		id, err := s.admin().ClusterMyID(ctx).Result()
		if err != nil {
			t.Fatalf("CLUSTER MYID on %s: %v", s, err)
		}
		ids[i] = id
	}
	first := c.Nodes[0].admin()
	for _, s := range c.Nodes[1:] {
		if err := first.Do(ctx, "cluster", "meet", "127.0.0.1", s.port, s.busPort()).Err(); err != nil {
			t.Fatalf("CLUSTER MEET %s: %v", s, err)
		}
	}
	const slots = 16384
	for i := range 3 {
		lo, hi := i*slots/3, (i+1)*slots/3-1
		if err := c.Nodes[i].admin().ClusterAddSlotsRange(ctx, lo, hi).Err(); err != nil {
			t.Fatalf("CLUSTER ADDSLOTSRANGE %d %d on %s: %v", lo, hi, c.Nodes[i], err)
		}
	}
	await(t, formTimeout, "every node to know the six nodes", func() error {
		for _, s := range c.Nodes {
			nodes, err := s.admin().ClusterNodes(ctx).Result()
			if err != nil {
				return err
			}
			if n := strings.Count(strings.TrimSpace(nodes), "\n") + 1; n != 6 || strings.Contains(nodes, "handshake") || strings.Contains(nodes, "noaddr") {
				return fmt.Errorf("%s sees:\n%s", s, nodes)
			}
		}
		return nil
	})
	for i := 3; i < 6; i++ {
		if err := c.Nodes[i].admin().ClusterReplicate(ctx, ids[i-3]).Err(); err != nil {
			t.Fatalf("CLUSTER REPLICATE on %s: %v", c.Nodes[i], err)
		}
	}
	c.AwaitHealthy()
	return c
}

// admin returns the server's client for administrative commands, made on
// first use and closed when the test ends.
func (s *Server) admin() *redis.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.adm == nil {
		s.adm = redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond, ReadTimeout: 2 * time.Second})
		c := s.adm
		s.t.Cleanup(func() { _ = c.Close() })
	}
	return s.adm
}

// Addrs returns the addresses of all six nodes, running or not.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		out[i] = s.Addr
	}
	return out
}

// Client returns a cluster client, closed when the test ends.
func (c *Cluster) Client() *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	c.t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// AwaitHealthy waits until every node runs and sees the three slot ranges
// served, each by a master with a replica that is in sync.
func (c *Cluster) AwaitHealthy() {
	c.t.Helper()
	ctx := context.Background()
	await(c.t, formTimeout, "the cluster to be healthy", func() error {
		for _, s := range c.Nodes {
			if !s.Running() {
				return fmt.Errorf("%s is down", s)
			}
			ci, err := s.admin().ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			if infoField(ci, "cluster_state") != "ok" || infoField(ci, "cluster_slots_ok") != "16384" {
				return fmt.Errorf("%s: %s", s, ci)
			}
			nodes, err := s.admin().ClusterNodes(ctx).Result()
			if err != nil {
				return err
			}
			if err := threePairs(nodes); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		for _, s := range c.Nodes {
			r, err := s.admin().Info(ctx, "replication").Result()
			if err != nil {
				return err
			}
			if infoField(r, "role") != "slave" {
				continue
			}
			for _, m := range c.Nodes {
				if strconv.Itoa(m.port) == infoField(r, "master_port") {
					if err := replicating(ctx, s, m); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}

// threePairs checks a CLUSTER NODES reply for three masters serving slots,
// each with a replica, and no node seen as failing.
func threePairs(nodes string) error {
	masters := map[string]bool{}
	replicaOf := map[string]string{}
	for line := range strings.SplitSeq(strings.TrimSpace(nodes), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			return fmt.Errorf("odd CLUSTER NODES line %q", line)
		}
		flags := f[2]
		if strings.Contains(flags, "fail") || strings.Contains(flags, "handshake") || f[7] != "connected" {
			return fmt.Errorf("node %s is %s, %s", f[1], flags, f[7])
		}
		switch {
		case strings.Contains(flags, "master") && len(f) > 8:
			masters[f[0]] = true
		case strings.Contains(flags, "slave"):
			replicaOf[f[0]] = f[3]
		}
	}
	if len(masters) != 3 {
		return fmt.Errorf("%d masters serve slots, want 3:\n%s", len(masters), nodes)
	}
	covered := map[string]bool{}
	for _, m := range replicaOf {
		covered[m] = masters[m]
	}
	for m := range masters {
		if !covered[m] {
			return fmt.Errorf("master %s has no replica:\n%s", m, nodes)
		}
	}
	return nil
}

// MasterOf returns the node that serves key as master, as a running node
// sees it.
func (c *Cluster) MasterOf(key string) *Server {
	c.t.Helper()
	s, err := c.masterOf(context.Background(), c.running(), key)
	if err != nil {
		c.t.Fatalf("master of %q: %v", key, err)
	}
	return s
}

// AwaitFailover waits until every running node agrees that a running node
// other than old serves key as master, and returns that node.
func (c *Cluster) AwaitFailover(key string, old *Server) *Server {
	c.t.Helper()
	ctx := context.Background()
	var got *Server
	await(c.t, formTimeout, "a replica to take over from "+old.Addr, func() error {
		got = nil
		for _, s := range c.Nodes {
			if !s.Running() {
				continue
			}
			m, err := c.masterOf(ctx, s, key)
			if err != nil {
				return err
			}
			if m == old || !m.Running() || (got != nil && m != got) {
				return fmt.Errorf("%s sees %s as the master", s, m)
			}
			got = m
		}
		if got == nil {
			return errors.New("no node runs")
		}
		return nil
	})
	return got
}

func (c *Cluster) running() *Server {
	for _, s := range c.Nodes {
		if s.Running() {
			return s
		}
	}
	c.t.Fatalf("no cluster node runs")
	return nil
}

// masterOf asks node which node serves key as master.
func (c *Cluster) masterOf(ctx context.Context, node *Server, key string) (*Server, error) {
	addr, err := node.slotMaster(ctx, key)
	if err != nil {
		return nil, err
	}
	for _, s := range c.Nodes {
		if s.Addr == addr {
			return s, nil
		}
	}
	return nil, fmt.Errorf("%s is served by %s, not one of ours", key, addr)
}

// slotMaster asks s (CLUSTER SHARDS) for the address of the master that
// serves key's slot.
func (s *Server) slotMaster(ctx context.Context, key string) (string, error) {
	slot, err := s.admin().ClusterKeySlot(ctx, key).Result()
	if err != nil {
		return "", err
	}
	shards, err := s.admin().ClusterShards(ctx).Result()
	if err != nil {
		return "", err
	}
	for _, sh := range shards {
		for _, r := range sh.Slots {
			if r.Start > slot || slot > r.End {
				continue
			}
			for _, n := range sh.Nodes {
				if n.Role == "master" {
					return fmt.Sprintf("%s:%d", n.IP, n.Port), nil
				}
			}
		}
	}
	return "", fmt.Errorf("%s sees no master for slot %d", s, slot)
}

// ReplicaOf returns the running node that replicates master.
func (c *Cluster) ReplicaOf(master *Server) *Server {
	c.t.Helper()
	for _, s := range c.Nodes {
		if s == master || !s.Running() {
			continue
		}
		r, err := s.admin().Info(context.Background(), "replication").Result()
		if err != nil {
			c.t.Fatalf("INFO replication on %s: %v", s, err)
		}
		if infoField(r, "role") == "slave" && infoField(r, "master_port") == strconv.Itoa(master.port) {
			return s
		}
	}
	c.t.Fatalf("%s has no replica", master)
	return nil
}

// AwaitReplicaOf waits until s replicates master and a write to master
// is confirmed by WAIT: the replica is in sync and the master streams to it
// (which, after a first sync, waits for the replica's first acknowledgement,
// up to a second later).
func (s *Server) AwaitReplicaOf(master *Server) {
	s.t.Helper()
	await(s.t, formTimeout, s.Addr+" to replicate "+master.Addr, func() error {
		return replicating(context.Background(), s, master)
	})
}

func replicating(ctx context.Context, s, master *Server) error {
	r, err := s.admin().Info(ctx, "replication").Result()
	if err != nil {
		return err
	}
	if infoField(r, "role") != "slave" || infoField(r, "master_port") != strconv.Itoa(master.port) || infoField(r, "master_link_status") != "up" {
		return fmt.Errorf("replication: %s", r)
	}
	key, err := master.ownKey(ctx)
	if err != nil {
		return err
	}
	conn := master.admin().Conn()
	defer conn.Close()
	if err := conn.Set(ctx, key, "1", time.Second).Err(); err != nil {
		return err
	}
	if n, err := conn.Wait(ctx, 1, 200*time.Millisecond).Result(); err != nil || n < 1 {
		return fmt.Errorf("WAIT 1 on %s = %d, %v", master, n, err)
	}
	return nil
}

// ownKey returns a key that s takes writes for, outside tokenguard's
// prefixes: any key on a plain server, one of its slots' on a cluster node.
func (s *Server) ownKey(ctx context.Context) (string, error) {
	const key = "redistest:sync:{%d}"
	if on, err := info(ctx, s.admin(), "cluster", "cluster_enabled"); err != nil || on != "1" {
		return fmt.Sprintf(key, 0), err
	}
	for n := range 1000 {
		k := fmt.Sprintf(key, n)
		addr, err := s.slotMaster(ctx, k)
		if err != nil {
			return "", err
		}
		if addr == s.Addr {
			return k, nil
		}
	}
	return "", fmt.Errorf("%s serves no slot", s)
}

// infoField reads "field:value" from an INFO-style reply.
func infoField(s, field string) string {
	for line := range strings.SplitSeq(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}
