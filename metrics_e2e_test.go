package main

import (
	"bytes"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches and parses the exposition at url, as Prometheus does.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	r := doRequest(t, url, http.MethodGet, "/metrics", "", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s/metrics = %d %s, want 200", url, r.status, r.body)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	return families
}

// sample sums the series of a family whose labels include want (all of
// them when want is empty): a counter's or gauge's value, a histogram's
// count.
func sample(families map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	var sum float64
	f := families[name]
	if f == nil {
		return 0
	}
next:
	for _, m := range f.GetMetric() {
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				found = found || (l.GetName() == k && l.GetValue() == v)
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

var metricsListening = regexp.MustCompile(`msg="metrics listening" addr=(\S+)`)

// TestTheBinaryServesMetricsOnItsOwnListenerOnly starts the real service
// with metrics.listen, runs a login, checks and a logout through the
// public port, and scrapes the management port: the counters say what
// happened, the mirror reports each change's propagation, the Redis pool
// and the Go runtime are there, and an outage shows as Redis errors and
// mirror resyncs. /metrics is not served on the public port, nor the API
// on the management port.
func TestTheBinaryServesMetricsOnItsOwnListenerOnly(t *testing.T) {
	ts := startServerYAML(t, nil, "metrics:\n  listen: 127.0.0.1:0\n")
	m := metricsListening.FindStringSubmatch(ts.logs.String())
	if m == nil {
		t.Fatalf("no \"metrics listening\" line in the log:\n%s", ts.logs.String())
	}
	mgmt := "http://" + m[1]
	if strings.Contains(ts.logs.String(), "METRICS WITHOUT AUTHENTICATION") {
		t.Errorf("a loopback metrics listener was warned about as exposed")
	}

	if r := ts.do(http.MethodGet, "/metrics", "", "", nil); r.status != http.StatusNotFound {
		t.Errorf("GET /metrics on the public port = %d, want 404", r.status)
	}
	if r := doRequest(t, mgmt, http.MethodGet, "/healthz", "", "", nil); r.status != http.StatusNotFound {
		t.Errorf("GET /healthz on the metrics port = %d, want 404: the API is not served there", r.status)
	}

	s := ts.session("alice")
	ts.wantVerify(s, http.StatusOK, "a fresh session")
	if r := ts.do(http.MethodPost, "/v1/logout", "Bearer "+s.token, "", nil); r.status != http.StatusNoContent {
		t.Fatalf("logout = %d %s", r.status, r.body)
	}
	ts.wantVerify(s, http.StatusUnauthorized, "logged out")

	// The session's end comes back to this instance's mirror through the
	// change log, and its propagation is observed.
	var families map[string]*dto.MetricFamily
	deadline := time.Now().Add(10 * time.Second)
	for {
		families = scrape(t, mgmt)
		if sample(families, "tokenguard_mirror_propagation_delay_seconds", nil) >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no propagation delay observed 10s after a logout")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"tokenguard_sessions_opened_total", nil, 1},
		{"tokenguard_token_decisions_total", map[string]string{"outcome": "allowed"}, 2}, // the check and the logout
		{"tokenguard_token_decisions_total", map[string]string{"outcome": "session_ended"}, 1},
		{"tokenguard_sessions_ended_total", map[string]string{"cause": "logout_local"}, 1},
		{"tokenguard_revocations_total", map[string]string{"kind": "session", "cause": "logout_local"}, 1},
		{"tokenguard_http_requests_total", map[string]string{"route": "/v1/sessions", "method": "POST", "status": "201"}, 1},
		{"tokenguard_http_requests_total", map[string]string{"route": "/v1/verify", "method": "GET"}, 2},
		{"tokenguard_http_requests_total", map[string]string{"route": "unmatched", "status": "404"}, 1},
		{"tokenguard_mirror_entries", map[string]string{"kind": "session"}, 1},
		{"tokenguard_mirror_shard_staleness_seconds", map[string]string{"shard": "15"}, -1}, // present
	} {
		got := sample(families, c.name, c.labels)
		if c.want < 0 {
			if families[c.name] == nil || len(families[c.name].GetMetric()) != 16 {
				t.Errorf("%s: want one series per shard", c.name)
			}
			continue
		}
		if got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, name := range []string{"tokenguard_redis_pool_connections", "tokenguard_redis_pool_hits_total", "go_goroutines", "process_resident_memory_bytes"} {
		if sample(families, name, nil) <= 0 {
			t.Errorf("%s = %v, want a positive figure", name, sample(families, name, nil))
		}
	}

	// An outage: commands fail, the mirror resyncs.
	ts.redis.Stop()
	awaitStatus(t, ts, "/readyz", "", http.StatusServiceUnavailable)
	families = scrape(t, mgmt)
	if got := sample(families, "tokenguard_redis_command_errors_total", nil); got < 1 {
		t.Errorf("redis_command_errors_total during an outage = %v, want some", got)
	}
	if got := sample(families, "tokenguard_mirror_resyncs_total", map[string]string{"cause": "store_error"}); got < 1 {
		t.Errorf("mirror_resyncs_total{cause=store_error} during an outage = %v, want some", got)
	}
	ts.redis.Restart()
	awaitStatus(t, ts, "/readyz", "", http.StatusOK)
}
