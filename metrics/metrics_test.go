package metrics

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/internal/keyspace"
	"github.com/tokenguard/tokenguard/users"
)

// series counts the series of each family whose name starts with prefix.
func series(t *testing.T, m *Metrics, prefix string) map[string]int {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), prefix) {
			out[f.GetName()] = len(f.GetMetric())
		}
	}
	return out
}

func TestNewResolvesEveryCombinationOfTheWorkflowsEnumerations(t *testing.T) {
	m := New()
	want := map[string]int{
		"tokenguard_token_decisions_total":            len(users.Outcomes()),
		"tokenguard_revocations_total":                len(users.Revocations()) * len(users.Causes()),
		"tokenguard_sessions_opened_total":            1,
		"tokenguard_sessions_ended_total":             len(users.Causes()),
		"tokenguard_refreshes_total":                  len(users.RefreshOutcomes()),
		"tokenguard_backchannel_logouts_total":        len(users.BackchannelOutcomes()),
		"tokenguard_redis_command_errors_total":       len(redisCommands) + 1,
		"tokenguard_client_auth_failures_total":       1,
		"tokenguard_mirror_propagation_delay_seconds": 1,
		"tokenguard_feed_events_sent_total":           1,
		"tokenguard_feed_slow_disconnects_total":      1,
		"tokenguard_console_sign_ins_total":           len(consoleSignInOutcomes),
		"tokenguard_console_actions_total":            len(consoleActions) * len(consoleActionOutcomes),
	}
	if diff := cmp.Diff(want, series(t, m, "tokenguard_")); diff != "" {
		t.Errorf("series that exist before anything is counted (-want +got):\n%s", diff)
	}
	m.Decision(users.OutcomeCutOff)
	m.Revoked(users.RevocationBan, users.CauseBan, 1)
	m.SessionsEnded(users.CauseEvicted, 3)
	m.Refreshed(users.RefreshReuseDetected)
	m.BackchannelLogout(users.BackchannelReplayed)
	m.TokenMissing()
	for _, c := range []struct {
		metric, labels string
		want           float64
	}{
		{"tokenguard_token_decisions_total", `outcome="cut_off"`, 1},
		{"tokenguard_token_decisions_total", `outcome="missing"`, 1},
		{"tokenguard_revocations_total", `cause="ban",kind="ban"`, 1},
		{"tokenguard_sessions_ended_total", `cause="evicted"`, 3},
		{"tokenguard_refreshes_total", `outcome="reuse_detected"`, 1},
		{"tokenguard_backchannel_logouts_total", `outcome="replayed"`, 1},
	} {
		if got := valueOf(t, m, c.metric, c.labels); got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.metric, c.labels, got, c.want)
		}
	}
}

// valueOf reads one series from the exposition.
func valueOf(t *testing.T, m *Metrics, name, labels string) float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			var parts []string
			for _, l := range s.GetLabel() {
				parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			if strings.Join(parts, ",") != labels {
				continue
			}
			switch {
			case s.Counter != nil:
				return s.GetCounter().GetValue()
			case s.Gauge != nil:
				return s.GetGauge().GetValue()
			case s.Histogram != nil:
				return float64(s.GetHistogram().GetSampleCount())
			}
		}
	}
	t.Fatalf("no series %s{%s}", name, labels)
	return 0
}

func TestRequestLabelsAreBoundedWhateverTheClientSends(t *testing.T) {
	m := New()
	m.Request("/v1/verify", "GET", 200, time.Millisecond)
	m.Request("", "GET", 404, time.Millisecond)
	m.Request("/v1/sessions", "BREW", 405, time.Millisecond)
	m.Request("/v1/sessions", "X-"+strings.Repeat("A", 100), 405, time.Millisecond)
	m.Request("/v1/verify", "GET", 1000, time.Millisecond)
	for _, c := range []struct {
		labels string
		want   float64
	}{
		{`method="GET",route="/v1/verify",status="200"`, 1},
		{`method="GET",route="unmatched",status="404"`, 1},
		{`method="other",route="/v1/sessions",status="405"`, 2},
		{`method="GET",route="/v1/verify",status="0"`, 1},
	} {
		if got := valueOf(t, m, "tokenguard_http_requests_total", c.labels); got != c.want {
			t.Errorf("tokenguard_http_requests_total{%s} = %v, want %v", c.labels, got, c.want)
		}
	}
	if got := valueOf(t, m, "tokenguard_http_request_duration_seconds", `method="GET",route="/v1/verify"`); got != 2 {
		t.Errorf("duration samples of GET /v1/verify = %v, want 2", got)
	}
}

func TestRateLimitScopesAndRedisCommandsAreCapped(t *testing.T) {
	m := New()
	for i := range 40 {
		m.RateLimited(fmt.Sprintf("scope-%d", i))
	}
	if got := series(t, m, "tokenguard_rate_limited_total")["tokenguard_rate_limited_total"]; got != maxLimitScopes+1 {
		t.Errorf("rate_limited_total has %d series after 40 scopes, want %d and other", got, maxLimitScopes)
	}
	if got := valueOf(t, m, "tokenguard_rate_limited_total", `scope="other"`); got != 40-maxLimitScopes {
		t.Errorf("rate_limited_total{scope=other} = %v, want %d", got, 40-maxLimitScopes)
	}
	m.RedisCommandFailed("evalsha")
	m.RedisCommandFailed("lpush")
	m.RedisCommandFailed("made up")
	if got := valueOf(t, m, "tokenguard_redis_command_errors_total", `command="evalsha"`); got != 1 {
		t.Errorf("redis_command_errors_total{command=evalsha} = %v, want 1", got)
	}
	if got := valueOf(t, m, "tokenguard_redis_command_errors_total", `command="other"`); got != 2 {
		t.Errorf("redis_command_errors_total{command=other} = %v, want 2", got)
	}
}

func TestCountingOnTheHotPathAllocatesNothing(t *testing.T) {
	m := New()
	m.Request("/v1/verify", "GET", 200, time.Millisecond) // the first request of its kind resolves its series
	if n := testing.AllocsPerRun(1000, func() {
		m.Decision(users.OutcomeAllowed)
		m.Request("/v1/verify", "GET", 200, time.Millisecond)
	}); n != 0 {
		t.Errorf("a decision and a request allocate %v times, want 0", n)
	}
}

func TestTheMirrorIsReportedFromItsStatsAtEveryScrape(t *testing.T) {
	m := New()
	now := time.Unix(1_900_000_000, 0)
	st := blacklist.Stats{}
	if err := m.WatchMirror(func() blacklist.Stats { return st }); err != nil {
		t.Fatal(err)
	}
	if err := m.WatchMirror(func() blacklist.Stats { return st }); err == nil {
		t.Error("a second WatchMirror succeeded, want an error: the mirror is reported once")
	}
	if diff := cmp.Diff(map[string]int{"tokenguard_mirror_propagation_delay_seconds": 1}, series(t, m, "tokenguard_mirror_")); diff != "" {
		t.Errorf("strict mode (no mirror) reports more than the empty propagation histogram (-want +got):\n%s", diff)
	}

	st = blacklist.Stats{Mirror: true, Tokens: 5, Sessions: 4, CutOffs: 3, Bans: 2, ResyncsAfterError: 7, ResyncsFellBehind: 1, At: now}
	for i := range st.Shards {
		st.Shards[i] = now.Add(-time.Duration(i) * time.Second)
	}
	st.Shards[keyspace.Shards-1] = time.Time{} // not loaded yet
	for _, c := range []struct {
		metric, labels string
		want           float64
	}{
		{"tokenguard_mirror_entries", `kind="token"`, 5},
		{"tokenguard_mirror_entries", `kind="session"`, 4},
		{"tokenguard_mirror_entries", `kind="user"`, 3},
		{"tokenguard_mirror_entries", `kind="ban"`, 2},
		{"tokenguard_mirror_shard_staleness_seconds", `shard="0"`, 0},
		{"tokenguard_mirror_shard_staleness_seconds", `shard="3"`, 3},
		{"tokenguard_mirror_resyncs_total", `cause="store_error"`, 7},
		{"tokenguard_mirror_resyncs_total", `cause="fell_behind"`, 1},
	} {
		if got := valueOf(t, m, c.metric, c.labels); got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.metric, c.labels, got, c.want)
		}
	}
	if got := valueOf(t, m, "tokenguard_mirror_shard_staleness_seconds", `shard="15"`); !math.IsInf(got, 1) {
		t.Errorf("staleness of a shard never loaded = %v, want +Inf", got)
	}

	m.MirrorApplied(3 * time.Millisecond)
	m.MirrorApplied(200 * time.Millisecond)
	if got := testutil.CollectAndCount(m.propagation); got != 1 {
		t.Errorf("the propagation histogram has %d series, want 1", got)
	}
	if got := valueOf(t, m, "tokenguard_mirror_propagation_delay_seconds", ""); got != 2 {
		t.Errorf("propagation delays observed = %v, want 2", got)
	}
}

func TestTheRedisPoolIsReportedFromItsStatsAtEveryScrape(t *testing.T) {
	m := New()
	st := &redis.PoolStats{Hits: 10, Misses: 2, Timeouts: 1, WaitCount: 3, WaitDurationNs: int64(1500 * time.Millisecond), TotalConns: 4, IdleConns: 3, StaleConns: 5, PendingRequests: 1}
	if err := m.WatchRedisPool(func() *redis.PoolStats { return st }); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		metric string
		want   float64
	}{
		{"tokenguard_redis_pool_connections", 4},
		{"tokenguard_redis_pool_idle_connections", 3},
		{"tokenguard_redis_pool_pending_requests", 1},
		{"tokenguard_redis_pool_hits_total", 10},
		{"tokenguard_redis_pool_misses_total", 2},
		{"tokenguard_redis_pool_timeouts_total", 1},
		{"tokenguard_redis_pool_waits_total", 3},
		{"tokenguard_redis_pool_wait_seconds_total", 1.5},
		{"tokenguard_redis_pool_stale_connections_total", 5},
	} {
		if got := valueOf(t, m, c.metric, ""); got != c.want {
			t.Errorf("%s = %v, want %v", c.metric, got, c.want)
		}
	}
}
