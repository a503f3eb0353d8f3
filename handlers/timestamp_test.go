package handlers

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"testing"
	"time"
)

// oneTimeFormat is the one shape of a time in an answer (timestampLayout).
var oneTimeFormat = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$`)

// timeFields walks a JSON answer and returns the names of the members
// whose value reads as a time in any RFC 3339 form, failing the test for
// each one not in the one format.
func timeFields(t *testing.T, view, body string) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("%s: %q is not JSON: %v", view, body, err)
	}
	var names []string
	var walk func(name string, v any)
	walk = func(name string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, m := range v {
				walk(k, m)
			}
		case []any:
			for _, m := range v {
				walk(name, m)
			}
		case string:
			if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
				return
			}
			if !oneTimeFormat.MatchString(v) {
				t.Errorf("%s: %s = %q, want RFC 3339 in UTC with milliseconds", view, name, v)
			}
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	walk("", v)
	sort.Strings(names)
	return names
}

func TestEveryTimeInEveryAnswerHasTheOneFormat(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	// Times with digits below the millisecond, which must not show.
	h.advance(123456789 * time.Nanosecond)
	alice := h.login("app", "alice", "laptop")
	h.advance(987654321 * time.Nanosecond)
	h.login("app", "alice", "phone")
	if r := h.do(http.MethodPost, "/v1/admin/users/alice/logout", "admin", "", ""); r.status != http.StatusNoContent {
		t.Fatalf("logout-everywhere = %d %s, want 204", r.status, r.body)
	}
	h.advance(5 * time.Millisecond)
	alice = h.login("app", "alice", "laptop")
	h.login("app", "alice", "phone")

	views := []struct {
		name   string
		method string
		target string
		auth   string
		body   string
		want   []string
	}{
		{"a user's own sessions", http.MethodGet, "/v1/sessions", "Bearer " + alice.token, "",
			[]string{"created_at", "expires_at", "last_used_at"}},
		{"an admin's list of a user's sessions", http.MethodGet, "/v1/admin/users/alice/sessions", "admin", "",
			[]string{"created_at", "expires_at", "last_used_at"}},
		{"a ban's answer", http.MethodPut, "/v1/admin/users/alice/ban", "admin", `{"duration":"90m","reason":"spam"}`,
			[]string{"at", "revoked_before", "until"}},
		{"an admin's view of a user", http.MethodGet, "/v1/admin/users/alice", "admin", "",
			[]string{"at", "revoked_before", "until"}},
		{"the audit trail", http.MethodGet, "/v1/admin/events?subject=alice", "admin", "",
			[]string{"time"}},
	}
	for _, v := range views {
		ct := ""
		if v.body != "" {
			ct = "application/json"
		}
		r := h.do(v.method, v.target, v.auth, ct, v.body)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %s %s = %d %s, want 200", v.name, v.method, v.target, r.status, r.body)
		}
		if got := timeFields(t, v.name, r.body); !slices.Equal(got, v.want) {
			t.Errorf("%s: times found in %v, want in %v: %s", v.name, got, v.want, r.body)
		}
	}
}

func TestCursorsAreNotTimes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.login("app", "alice", "laptop")
	h.advance(time.Second)
	h.login("app", "alice", "phone")
	for _, target := range []string{"/v1/admin/users/alice/sessions?limit=1", "/v1/admin/events?limit=1"} {
		if target == "/v1/admin/events?limit=1" {
			// Two events on the trail (which ends alice's sessions).
			h.do(http.MethodPut, "/v1/admin/users/alice/ban", "admin", "application/json", `{"reason":"spam"}`)
			h.do(http.MethodDelete, "/v1/admin/users/alice/ban", "admin", "", "")
		}
		r := h.do(http.MethodGet, target, "admin", "", "")
		next, _ := r.json(t)["next_before"].(string)
		if next == "" {
			t.Fatalf("GET %s = %s, want a next_before", target, r.body)
		}
		if _, err := time.Parse(time.RFC3339Nano, next); err == nil {
			t.Errorf("GET %s: next_before %q reads as a time; cursors stay opaque", target, next)
		}
		if r := h.do(http.MethodGet, target+"&before="+next, "admin", "", ""); r.status != http.StatusOK {
			t.Errorf("GET %s&before=%s = %d %s, want the next page", target, next, r.status, r.body)
		}
	}
}
