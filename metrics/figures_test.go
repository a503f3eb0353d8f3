package metrics

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/users"
)

// TestFiguresReadTheSameCountersAsMetrics: the console's dashboard and
// /metrics read one registry, so they never disagree.
func TestFiguresReadTheSameCountersAsMetrics(t *testing.T) {
	m := New()
	now := time.Now()
	st := blacklist.Stats{Mirror: true, At: now, Tokens: 4, Sessions: 2, CutOffs: 1, Bans: 1}
	st.Shards[3] = now.Add(-1500 * time.Millisecond)
	if err := m.WatchMirror(func() blacklist.Stats { return st }); err != nil {
		t.Fatal(err)
	}
	if err := m.WatchRedisPool(func() *redis.PoolStats { return &redis.PoolStats{TotalConns: 5, IdleConns: 2} }); err != nil {
		t.Fatal(err)
	}
	m.Decision(users.OutcomeAllowed)
	m.Decision(users.OutcomeAllowed)
	m.Decision(users.OutcomeBanned)
	m.Revoked(users.RevocationBan, users.CauseBan, 1)
	m.Revoked(users.RevocationSession, users.CauseBan, 2)
	m.SessionOpened()
	m.SessionsEnded(users.CauseBan, 2)
	m.ClientAuthFailed()
	m.RedisCommandFailed("get")

	f, err := m.Figures()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.Decisions["allowed"], testutil.ToFloat64(m.decisions[users.OutcomeAllowed]); got != want || got != 2 {
		t.Errorf("allowed decisions %v, the counter says %v, want 2", got, want)
	}
	if f.Decisions["banned"] != 1 || f.Decisions["expired"] != 0 || len(f.Decisions) != len(users.Outcomes()) {
		t.Errorf("decisions %v, want every outcome, banned 1", f.Decisions)
	}
	got := []float64{f.Revocations, f.SessionsOpened, f.SessionsEnded, f.ClientAuthFailures, f.RedisErrors, f.RedisConnections, f.RedisIdleConnections}
	if diff := cmp.Diff([]float64{3, 1, 2, 1, 1, 5, 2}, got); diff != "" {
		t.Errorf("revocations, sessions opened/ended, auth failures, redis errors, connections, idle (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]float64{"token": 4, "session": 2, "user": 1, "ban": 1}, f.MirrorEntries); diff != "" {
		t.Errorf("mirror entries (-want +got):\n%s", diff)
	}
	if len(f.ShardStaleness) != 16 || f.ShardStaleness[3] != 1.5 || !math.IsInf(f.ShardStaleness[0], 1) {
		t.Errorf("staleness %v, want 16 shards, shard 3 at 1.5 s, the others +Inf (never loaded)", f.ShardStaleness)
	}
}

func TestConsoleCountersKeepTheirLabelsBounded(t *testing.T) {
	m := New()
	m.ConsoleSignIn("success")
	m.ConsoleSignIn("a made-up outcome")
	m.ConsoleAction("ban", "done")
	m.ConsoleAction("drop tables", "done")
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"sign-ins success", testutil.ToFloat64(m.consoleIn["success"]), 1},
		{"sign-ins other", testutil.ToFloat64(m.consoleIn[otherLabel]), 1},
		{"ban done", testutil.ToFloat64(m.consoleDo["ban done"]), 1},
		{"other other", testutil.ToFloat64(m.consoleDo["other other"]), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if n := series(t, m, "tokenguard_console_")["tokenguard_console_actions_total"]; n != len(consoleActions)*len(consoleActionOutcomes) {
		t.Errorf("console_actions_total has %d series, want only the %d known combinations", n, len(consoleActions)*len(consoleActionOutcomes))
	}
}
