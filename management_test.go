package main

import (
	"bytes"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/tokenguard/tokenguard/config"
)

func TestOnlyALoopbackMetricsListenerGoesWithoutAWarning(t *testing.T) {
	for _, c := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:9090", true},
		{"127.0.0.2:9090", true},
		{"[::1]:9090", true},
		{"0.0.0.0:9090", false},
		{"[::]:9090", false},
		{"192.0.2.10:9090", false},
	} {
		a, err := net.ResolveTCPAddr("tcp", c.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := loopback(a); got != c.want {
			t.Errorf("loopback(%s) = %v, want %v", c.addr, got, c.want)
		}
	}
}

func TestServeMetricsServesOnlyMetricsAndNothingWhenOff(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	stop, err := serveMetrics("", http.NotFoundHandler(), config.Default().HTTP, log)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if logs.Len() != 0 {
		t.Errorf("serveMetrics with no address logged %q, want nothing: it serves nothing", logs.String())
	}

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("metrics here")) })
	stop, err = serveMetrics("127.0.0.1:0", handler, config.Default().HTTP, log)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	m := metricsListening.FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no \"metrics listening\" line in %q", logs.String())
	}
	base := "http://" + m[1]
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/metrics", http.StatusOK},
		{http.MethodPost, "/metrics", http.StatusMethodNotAllowed},
		{http.MethodGet, "/", http.StatusNotFound},
		{http.MethodGet, "/v1/verify", http.StatusNotFound},
	} {
		if r := doRequest(t, base, c.method, c.path, "", "", nil); r.status != c.want {
			t.Errorf("%s %s = %d, want %d", c.method, c.path, r.status, c.want)
		}
	}

	// A port already taken stops start-up, naming the setting.
	if _, err := serveMetrics(m[1], handler, config.Default().HTTP, log); err == nil || !strings.Contains(err.Error(), "metrics.listen") {
		t.Errorf("serveMetrics on a taken port = %v, want an error naming metrics.listen", err)
	}
}
