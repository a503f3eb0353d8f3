package handlers

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestTheConsoleIsMountedUnderTheMiddlewareWithTheClientsAddress: the
// console (a plain net/http handler) gets /console and everything under
// /console/, counted under one bounded route label, with a request id, and
// sees the client's address as the forwarded-for rules decide it, the
// address its failed sign-ins are limited by.
func TestTheConsoleIsMountedUnderTheMiddlewareWithTheClientsAddress(t *testing.T) {
	t.Parallel()
	var seen []string
	console := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.URL.Path+" from "+r.RemoteAddr)
		w.WriteHeader(http.StatusTeapot)
	})
	h := newHarness(t, harnessOptions{console: console, verify: VerifyConfig{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}}})
	before := h.counters()
	for _, c := range []struct{ path, peer, forwarded string }{
		{"/console", "192.0.2.7:4000", ""},
		{"/console/api/sign-in", "192.0.2.7:4000", "198.51.100.1"},
		{"/console/users", "10.0.0.1:4000", "198.51.100.2"},
	} {
		req := httptest.NewRequest(http.MethodPost, c.path, nil)
		req.RemoteAddr = c.peer
		if c.forwarded != "" {
			req.Header.Set("X-Forwarded-For", c.forwarded)
		}
		rec := httptest.NewRecorder()
		h.e.ServeHTTP(rec, req)
		if rec.Code != http.StatusTeapot || rec.Header().Get("X-Request-Id") == "" {
			t.Errorf("POST %s = %d (request id %q), want the console's 418 with a request id", c.path, rec.Code, rec.Header().Get("X-Request-Id"))
		}
	}
	want := []string{
		"/console from 192.0.2.7:0",
		// An untrusted peer's X-Forwarded-For is ignored.
		"/console/api/sign-in from 192.0.2.7:0",
		"/console/users from 198.51.100.2:0",
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("what the console saw (-want +got):\n%s", diff)
	}
	moved := h.moved(before)
	if moved[`tokenguard_http_requests_total{method="POST",route="/console",status="418"}`] != 1 ||
		moved[`tokenguard_http_requests_total{method="POST",route="/console/*",status="418"}`] != 2 {
		t.Errorf("counted %v, want one /console and two /console/* requests", moved)
	}
}
