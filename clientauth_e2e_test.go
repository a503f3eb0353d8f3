package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/tokenguard/tokenguard/internal/redistest"
)

// TestFailedClientAuthenticationIsLimitedAcrossInstances runs two instances
// on one redis-server: 20 wrong secrets of one client id, spread over both,
// lock it out at both, and the right secret is refused with 429 at either
// until the minute has passed. The lockout is audited once.
func TestFailedClientAuthenticationIsLimitedAcrossInstances(t *testing.T) {
	srv := redistest.Start(t)
	f := startFleet(t, fmt.Sprintf("  addrs: [%q]\n  dial_timeout: 500ms\n", srv.Addr))
	body := `{"subject":"alice"}`
	for i := range 20 {
		in := f.both()[i%2]
		f.must(in, http.MethodPost, "/v1/sessions", "app:wrong-secret-"+strconv.Itoa(i), body, http.StatusUnauthorized)
	}
	for _, in := range f.both() {
		req, err := http.NewRequest(http.MethodPost, in.base+"/v1/sessions", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("app", "dev-app-secret")
		req.Header.Set("Content-Type", "application/json")
		resp, err := f.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Error string `json:"error"`
		}
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || err != nil || got.Error != "too_many_requests" || resp.Header.Get("Retry-After") == "" {
			t.Errorf("the right secret at %s after 20 failures over both = %d %q (Retry-After %q), want 429 too_many_requests with Retry-After",
				in.name, resp.StatusCode, got.Error, resp.Header.Get("Retry-After"))
		}
	}
	// Another client goes on, at both.
	for _, in := range f.both() {
		f.must(in, http.MethodGet, "/v1/admin/users/alice", adminAuth, "", http.StatusOK)
	}
	var events struct {
		Events []struct {
			Type  string `json:"type"`
			Actor string `json:"actor"`
		} `json:"events"`
	}
	if err := json.Unmarshal(f.must(f.a, http.MethodGet, "/v1/admin/events", adminAuth, "", http.StatusOK), &events); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events.Events {
		if e.Type == "client_locked_out" && e.Actor == "app" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d client_locked_out events for app, want 1: %+v", n, events.Events)
	}
}
