package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/redistest"
)

// TestOnSentinelTwoInstancesAgreeAndSurviveAFailover runs the core flow at
// two instances on a master with one replica and three Sentinels, then
// kills the master under load. Run it with -count=3 -v for the recovery
// times the README quotes.
func TestOnSentinelTwoInstancesAgreeAndSurviveAFailover(t *testing.T) {
	start := time.Now()
	g := redistest.StartSentinel(t)
	f := startFleet(t, fmt.Sprintf("  addrs: %s\n  master_name: %s\n  dial_timeout: 500ms\n  min_replicas_ack: 1\n", yamlList(g.Addrs()), g.Name))
	f.coreFlow()

	old := g.Master
	var promoted *redistest.Server
	f.survive(outage{
		lost:         func(int) bool { return true }, // one master holds every shard
		kill:         old.Stop,
		awaitElected: func() { promoted = g.AwaitFailover(old) },
		restore: func() {
			old.Restart("--replicaof", "127.0.0.1", promoted.Addr[strings.LastIndexByte(promoted.Addr, ':')+1:])
			g.AwaitHealthy()
		},
	})
	t.Logf("wall time %v", time.Since(start).Round(time.Millisecond))
}

// TestOnSentinelTheFeedSendsTheSnapshotThenChangesMadeElsewhere follows the
// revocation feed of a mirror-mode and a strict-mode instance on a master
// with one replica and three Sentinels while a third instance writes.
func TestOnSentinelTheFeedSendsTheSnapshotThenChangesMadeElsewhere(t *testing.T) {
	g := redistest.StartSentinel(t)
	f := startFleet(t, fmt.Sprintf("  addrs: %s\n  master_name: %s\n  dial_timeout: 500ms\n", yamlList(g.Addrs()), g.Name))
	f.feedFlow()
}
