package metrics

import (
	"math"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/internal/keyspace"
)

// WatchMirror reports the revocation mirror's state, read from stats at
// every scrape: blacklist.Store.Stats, or anything that describes a mirror
// the same way. Nothing is reported while stats says there is no mirror
// (strict mode).
func (m *Metrics) WatchMirror(stats func() blacklist.Stats) error {
	return m.reg.Register(newMirrorCollector(stats))
}

// mirrorCollector turns blacklist.Stats into metrics when scraped, so that
// blacklist stays free of Prometheus and nothing runs between scrapes.
type mirrorCollector struct {
	stats     func() blacklist.Stats
	entries   *prometheus.Desc
	staleness *prometheus.Desc
	resyncs   *prometheus.Desc
	feedSubs  *prometheus.Desc
	shards    [keyspace.Shards]string
}

func newMirrorCollector(stats func() blacklist.Stats) *mirrorCollector {
	c := &mirrorCollector{
		stats: stats,
		entries: prometheus.NewDesc(Namespace+"_mirror_entries",
			"Revocation entries held in this instance's mirror, by kind (token, session, user cut-off, ban).",
			[]string{"kind"}, nil),
		staleness: prometheus.NewDesc(Namespace+"_mirror_shard_staleness_seconds",
			"Seconds since each shard of the mirror last confirmed it held every change (+Inf before its first load); checks of its tokens fail past revocation.max_staleness.",
			[]string{"shard"}, nil),
		resyncs: prometheus.NewDesc(Namespace+"_mirror_resyncs_total",
			"Times a group of the mirror's shards was loaded again from a snapshot, by cause (store_error, fell_behind).",
			[]string{"cause"}, nil),
		feedSubs: prometheus.NewDesc(Namespace+"_feed_subscribers",
			"Subscribers of the revocation feed (/v1/revocations/stream) on this instance.",
			nil, nil),
	}
	for i := range c.shards {
		c.shards[i] = strconv.Itoa(i)
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *mirrorCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.entries
	ch <- c.staleness
	ch <- c.resyncs
	ch <- c.feedSubs
}

// Collect implements prometheus.Collector.
func (c *mirrorCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	if !st.Mirror {
		return
	}
	for _, e := range []struct {
		kind string
		n    int
	}{{"token", st.Tokens}, {"session", st.Sessions}, {"user", st.CutOffs}, {"ban", st.Bans}} {
		ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(e.n), e.kind)
	}
	for i, confirmed := range st.Shards {
		age := math.Inf(1)
		if !confirmed.IsZero() {
			age = max(st.At.Sub(confirmed).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(c.staleness, prometheus.GaugeValue, age, c.shards[i])
	}
	ch <- prometheus.MustNewConstMetric(c.resyncs, prometheus.CounterValue, float64(st.ResyncsAfterError), "store_error")
	ch <- prometheus.MustNewConstMetric(c.resyncs, prometheus.CounterValue, float64(st.ResyncsFellBehind), "fell_behind")
	ch <- prometheus.MustNewConstMetric(c.feedSubs, prometheus.GaugeValue, float64(st.FeedSubscribers))
}
