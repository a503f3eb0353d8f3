package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
)

func TestReadyzNamesTheStaleShards(t *testing.T) {
	key, err := auth.GenerateEdDSAKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.New(auth.Config{Issuer: "iss", Audience: "aud", AccessTTL: time.Minute, Keys: []*auth.Key{key}})
	if err != nil {
		t.Fatal(err)
	}
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
			e := New(Config{
				Auth:        svc,
				Revocations: &fakeState{},
				Logger:      slog.New(slog.DiscardHandler),
				Ready:       func(context.Context) error { return c.ready },
				StaleShards: func() []int { return c.stale },
			})
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if got := strings.TrimSpace(rec.Body.String()); rec.Code != c.wantStatus || got != c.wantBody {
				t.Errorf("GET /readyz = %d %s, want %d %s", rec.Code, got, c.wantStatus, c.wantBody)
			}
			if c.wantStatus == 503 && rec.Header().Get("Retry-After") == "" {
				t.Errorf("a 503 without Retry-After")
			}
		})
	}
}
