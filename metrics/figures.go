package metrics

import (
	"fmt"
	"math"
	"strconv"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Figures are the present values of the metrics a dashboard shows, read
// from the registry in-process: the same counters /metrics serves, so the
// console and Prometheus never disagree. Counters are totals since start;
// rates are the reader's business (two readings and their times).
type Figures struct {
	// At is when the figures were read.
	At time.Time
	// Decisions is tokenguard_token_decisions_total by outcome.
	Decisions map[string]float64
	// Revocations is tokenguard_revocations_total, every kind and cause.
	Revocations float64
	// Sessions opened and ended (every cause).
	SessionsOpened, SessionsEnded float64
	// MirrorEntries is tokenguard_mirror_entries by kind; empty without a
	// mirror (strict mode).
	MirrorEntries map[string]float64
	// ShardStaleness is tokenguard_mirror_shard_staleness_seconds by
	// shard (+Inf before a shard's first load); nil without a mirror.
	ShardStaleness []float64
	// RedisErrors is tokenguard_redis_command_errors_total, every command.
	RedisErrors float64
	// RedisConnections and RedisIdleConnections are the pool's gauges.
	RedisConnections, RedisIdleConnections float64
	// ClientAuthFailures is tokenguard_client_auth_failures_total.
	ClientAuthFailures float64
}

// Figures reads the dashboard's figures from the registry.
func (m *Metrics) Figures() (Figures, error) {
	families, err := m.reg.Gather()
	if err != nil {
		return Figures{}, fmt.Errorf("metrics: gather: %w", err)
	}
	f := Figures{At: time.Now(), Decisions: map[string]float64{}, MirrorEntries: map[string]float64{}}
	for _, fam := range families {
		for _, s := range fam.GetMetric() {
			v := value(s)
			switch fam.GetName() {
			case Namespace + "_token_decisions_total":
				f.Decisions[label(s, "outcome")] += v
			case Namespace + "_revocations_total":
				f.Revocations += v
			case Namespace + "_sessions_opened_total":
				f.SessionsOpened += v
			case Namespace + "_sessions_ended_total":
				f.SessionsEnded += v
			case Namespace + "_mirror_entries":
				f.MirrorEntries[label(s, "kind")] += v
			case Namespace + "_mirror_shard_staleness_seconds":
				shard, err := strconv.Atoi(label(s, "shard"))
				if err != nil || shard < 0 || shard > 1<<10 {
					continue
				}
				for len(f.ShardStaleness) <= shard {
					f.ShardStaleness = append(f.ShardStaleness, math.Inf(1))
				}
				f.ShardStaleness[shard] = v
			case Namespace + "_redis_command_errors_total":
				f.RedisErrors += v
			case Namespace + "_redis_pool_connections":
				f.RedisConnections = v
			case Namespace + "_redis_pool_idle_connections":
				f.RedisIdleConnections = v
			case Namespace + "_client_auth_failures_total":
				f.ClientAuthFailures += v
			}
		}
	}
	return f, nil
}

// value is a counter's or a gauge's value.
func value(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return m.GetGauge().GetValue()
}

// label is the value of the label name of m, empty when it has none.
func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
