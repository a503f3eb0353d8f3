package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tokenguard/tokenguard/blacklist"
)

func TestReadyzNamesTheStaleShards(t *testing.T) {
	t.Parallel()
	unavailable := fmt.Errorf("%w: every revocation shard is stale", blacklist.ErrUnavailable)
	all := make([]int, 16)
	for i := range all {
		all[i] = i
	}
	for _, c := range []struct {
		name       string
		ready      error
		stale      []int
		wantStatus int
		wantBody   string
	}{
		{"every shard current: ready", nil, nil, 200, `{"status":"ready","stale_shards":[]}`},
		{"some shards stale: ready but degraded, naming them", nil, []int{3, 7}, 200, `{"status":"degraded","stale_shards":[3,7]}`},
		{"every shard stale: unavailable, naming them", unavailable, all, 503,
			`{"status":"unavailable","stale_shards":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15],"error":"temporarily_unavailable","error_description":"the revocation state cannot be confirmed; retry shortly"}`},
		{"strict mode with Redis down: the usual 503", unavailable, nil, 503,
			`{"error":"temporarily_unavailable","error_description":"the revocation state cannot be reached; retry shortly"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{
				ready:       func(context.Context) error { return c.ready },
				staleShards: func() []int { return c.stale },
			})
			r := h.do(http.MethodGet, "/readyz", "", "", "")
			if got := strings.TrimSpace(r.body); r.status != c.wantStatus || got != c.wantBody {
				t.Errorf("GET /readyz = %d %s, want %d %s", r.status, got, c.wantStatus, c.wantBody)
			}
			if c.wantStatus == 503 && r.header.Get("Retry-After") == "" {
				t.Errorf("a 503 without Retry-After")
			}
		})
	}
}

// TestReadyzFailingIsNotLoggedAsAnError: an orchestrator probing before the
// mirror has loaded (or while strict mode cannot reach Redis) gets its 503,
// and the log gets no ERROR line for it: that is the probe's answer, not a
// fault.
func TestReadyzFailingIsNotLoggedAsAnError(t *testing.T) {
	t.Parallel()
	loading := fmt.Errorf("%w: the revocation mirror has not loaded 16 of 16 shards yet", blacklist.ErrUnavailable)
	h := newHarness(t, harnessOptions{
		ready:       func(context.Context) error { return loading },
		staleShards: func() []int { return nil },
	})
	h.logs.Reset()
	r := h.do(http.MethodGet, "/readyz", "", "", "")
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("GET /readyz while loading = %d (Retry-After %q), want 503 with Retry-After", r.status, r.header.Get("Retry-After"))
	}
	logs := h.logs.String()
	if strings.Contains(logs, "level=ERROR") {
		t.Errorf("a /readyz 503 logged an ERROR line:\n%s", logs)
	}
	if !strings.Contains(logs, `msg="not ready"`) || !strings.Contains(logs, "level=INFO") {
		t.Errorf("a /readyz 503 logged no info line saying why:\n%s", logs)
	}
}
