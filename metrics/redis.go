package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// redisCommands are the commands tokenguard and go-redis send; errors of
// any other command count as "other".
var redisCommands = []string{
	"client", "cluster", "config", "del", "eval", "evalsha", "exists", "get",
	"getex", "hello", "hgetall", "info", "pexpire", "ping", "pttl", "scan", "script",
	"sentinel", "set", "wait", "xadd", "xrange", "xread", "xrevrange",
	"zadd", "zrange", "zrem", "zrevrange",
}

// RedisCommandFailed counts a failed Redis command by its name
// (redisconn.Config.CommandFailed).
func (m *Metrics) RedisCommandFailed(command string) {
	if c, ok := m.redisErrors[command]; ok {
		c.Inc()
		return
	}
	m.redisUnknown.Inc()
}

// WatchRedisPool reports the Redis client's connection pool, read from
// stats at every scrape (redis.UniversalClient.PoolStats).
func (m *Metrics) WatchRedisPool(stats func() *redis.PoolStats) error {
	return m.reg.Register(newPoolCollector(stats))
}

// poolCollector turns the pool's figures into metrics when scraped.
type poolCollector struct {
	stats func() *redis.PoolStats
	descs []poolFigure
}

// poolFigure is one figure of redis.PoolStats as a metric.
type poolFigure struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(*redis.PoolStats) float64
}

func newPoolCollector(stats func() *redis.PoolStats) *poolCollector {
	figure := func(name, help string, typ prometheus.ValueType, value func(*redis.PoolStats) float64) poolFigure {
		return poolFigure{prometheus.NewDesc(Namespace+"_redis_pool_"+name, help, nil, nil), typ, value}
	}
	return &poolCollector{stats: stats, descs: []poolFigure{
		figure("connections", "Connections in the Redis client's pool.", prometheus.GaugeValue,
			func(s *redis.PoolStats) float64 { return float64(s.TotalConns) }),
		figure("idle_connections", "Idle connections in the Redis client's pool.", prometheus.GaugeValue,
			func(s *redis.PoolStats) float64 { return float64(s.IdleConns) }),
		figure("pending_requests", "Requests waiting for a connection from the pool.", prometheus.GaugeValue,
			func(s *redis.PoolStats) float64 { return float64(s.PendingRequests) }),
		figure("hits_total", "Times a free connection was found in the pool.", prometheus.CounterValue,
			func(s *redis.PoolStats) float64 { return float64(s.Hits) }),
		figure("misses_total", "Times no free connection was found in the pool.", prometheus.CounterValue,
			func(s *redis.PoolStats) float64 { return float64(s.Misses) }),
		figure("timeouts_total", "Times waiting for a connection from the pool timed out.", prometheus.CounterValue,
			func(s *redis.PoolStats) float64 { return float64(s.Timeouts) }),
		figure("waits_total", "Times a request waited for a connection from the pool.", prometheus.CounterValue,
			func(s *redis.PoolStats) float64 { return float64(s.WaitCount) }),
		figure("wait_seconds_total", "Time spent waiting for connections from the pool.", prometheus.CounterValue,
			func(s *redis.PoolStats) float64 { return float64(s.WaitDurationNs) / 1e9 }),
		figure("stale_connections_total", "Stale connections removed from the pool.", prometheus.CounterValue,
			func(s *redis.PoolStats) float64 { return float64(s.StaleConns) }),
	}}
}

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range c.descs {
		ch <- f.desc
	}
}

// Collect implements prometheus.Collector.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	if st == nil {
		return
	}
	for _, f := range c.descs {
		ch <- prometheus.MustNewConstMetric(f.desc, f.typ, f.value(st))
	}
}
