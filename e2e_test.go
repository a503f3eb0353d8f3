package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestLoginVerifyLogoutLocalEndsOnlyThatSession(t *testing.T) {
	ts := startServer(t)
	a1, a2, b1 := ts.session("alice"), ts.session("alice"), ts.session("bob")
	for _, s := range []session{a1, a2, b1} {
		ts.wantVerify(s, http.StatusOK, "fresh session")
	}

	r := ts.do(http.MethodPost, "/v1/logout", "Bearer "+a1.token, "", nil)
	if r.status != http.StatusNoContent {
		t.Fatalf("logout = %d %s, want 204", r.status, r.body)
	}
	ts.wantVerify(a1, http.StatusUnauthorized, "the logged-out session")
	ts.wantVerify(a2, http.StatusOK, "alice's other session survives a local logout")
	ts.wantVerify(b1, http.StatusOK, "bob is untouched")
	// A session entry lives as long as a token of it issued right now.
	ts.wantTTLNear("tg:{*}:s:"+a1.sid, time.Now().Add(testAccessTTL))

	if r := ts.do(http.MethodPost, "/v1/logout", "Bearer "+a1.token, "", nil); r.status != http.StatusUnauthorized {
		t.Errorf("second logout with the dead token = %d, want 401", r.status)
	}
}

func TestStoreOutageAnswers503AndRecovers(t *testing.T) {
	for _, mode := range []string{"strict", "mirror"} {
		t.Run(mode, func(t *testing.T) {
			ts := startServerWith(t, map[string]string{
				"TOKENGUARD_REVOCATION_MODE":          mode,
				"TOKENGUARD_REVOCATION_MAX_STALENESS": "300ms",
			})
			s := ts.session("alice")
			ts.redis.Stop()

			// A revocation is never acknowledged without Redis.
			for _, c := range []struct{ name, path, auth, body string }{
				{"logout", "/v1/logout", "Bearer " + s.token, ""},
				{"admin revocation", "/v1/admin/revocations", adminAuth, fmt.Sprintf(`{"jti":%q,"exp":%d}`, s.jti, s.exp.Unix())},
			} {
				r := ts.do("POST", c.path, c.auth, "application/json", []byte(c.body))
				if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
					t.Errorf("%s with Redis down = %d %s (Retry-After %q), want 503 with Retry-After", c.name, r.status, r.body, r.header.Get("Retry-After"))
				}
			}
			// Checks fail closed: at once in strict mode, once the mirror
			// is older than revocation.max_staleness in mirror mode.
			awaitStatus(t, ts, "/v1/verify", "Bearer "+s.token, http.StatusServiceUnavailable)
			awaitStatus(t, ts, "/readyz", "", http.StatusServiceUnavailable)
			if r := ts.do("GET", "/v1/verify", "Bearer "+s.token, "", nil); r.header.Get("Retry-After") == "" {
				t.Errorf("verify 503 without Retry-After")
			}
			if r := ts.do("GET", "/healthz", "", "", nil); r.status != http.StatusOK {
				t.Errorf("healthz with Redis down = %d, want 200 (the process is alive)", r.status)
			}

			ts.redis.Restart()
			awaitStatus(t, ts, "/readyz", "", http.StatusOK)
			ts.wantVerify(s, http.StatusOK, "after the outage")
		})
	}
}

// awaitStatus polls path until it answers want, failing after 10s. It
// awaits a state change the server makes; it measures no time.
func awaitStatus(t *testing.T, ts *testServer, path, auth string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := ts.do("GET", path, auth, "", nil)
		if r.status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s still %d %s after 10s, want %d", path, r.status, r.body, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMalformedRequestsGetTheJSONErrorShape: net/http answers a request
// line it cannot parse before any handler runs; the binary still answers
// in JSON, and HEAD works where GET does.
func TestMalformedRequestsGetTheJSONErrorShape(t *testing.T) {
	ts := startServer(t)
	for _, c := range []struct {
		request   string
		want      int
		wantError string
	}{
		{"GET /nope%zz HTTP/1.1\r\nHost: t\r\n\r\n", http.StatusBadRequest, "invalid_request"},
		{"GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", http.StatusNotFound, "not_found"},
		{"HEAD /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", http.StatusOK, ""},
	} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(ts.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, c.request); err != nil {
			t.Fatal(err)
		}
		method, _, _ := strings.Cut(c.request, " ")
		resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
		if err != nil {
			t.Fatalf("%.30q: %v", c.request, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != c.want {
			t.Errorf("%.30q = %d %s, want %d", c.request, resp.StatusCode, body, c.want)
		}
		if c.wantError == "" {
			continue
		}
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Error != c.wantError || e.Description == "" || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%.30q: body %q (%s, %v), want a JSON %s error with a description", c.request, body, resp.Header.Get("Content-Type"), err, c.wantError)
		}
	}
}
