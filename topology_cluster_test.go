package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/redistest"
)

// TestOnAClusterTwoInstancesAgreeAndSurviveAMasterFailover runs the core
// flow at two instances on a 3-master, 3-replica Cluster, then kills the
// master of shard 0 under load. Run it with -count=3 -v for the recovery
// times the README quotes.
func TestOnAClusterTwoInstancesAgreeAndSurviveAMasterFailover(t *testing.T) {
	start := time.Now()
	cl := redistest.StartCluster(t)
	f := startFleet(t, fmt.Sprintf("  addrs: %s\n  dial_timeout: 500ms\n  min_replicas_ack: 1\n", yamlList(cl.Addrs())))
	f.coreFlow()

	logKey := func(sh int) string { return fmt.Sprintf("tg:{%d}:log", sh) }
	victim := cl.MasterOf(logKey(0))
	var lost [16]bool
	for sh := range lost {
		lost[sh] = cl.MasterOf(logKey(sh)) == victim
	}
	f.survive(outage{
		lost:         func(sh int) bool { return lost[sh] },
		kill:         victim.Stop,
		awaitElected: func() { cl.AwaitFailover(logKey(0), victim) },
		restore: func() {
			victim.Restart() // it rejoins as a replica of the new master
			cl.AwaitHealthy()
		},
	})
	t.Logf("wall time %v", time.Since(start).Round(time.Millisecond))
}

// TestOnAClusterTheFeedSendsTheSnapshotThenChangesMadeElsewhere follows
// the revocation feed of a mirror-mode and a strict-mode instance on a
// 3-master, 3-replica Cluster while a third instance writes.
func TestOnAClusterTheFeedSendsTheSnapshotThenChangesMadeElsewhere(t *testing.T) {
	cl := redistest.StartCluster(t)
	f := startFleet(t, fmt.Sprintf("  addrs: %s\n  dial_timeout: 500ms\n", yamlList(cl.Addrs())))
	f.feedFlow()
}
