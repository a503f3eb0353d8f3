package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/syncbuf"
)

const adminSecret = "dev-admin-secret"

// adminEnv is the environment of an admin command against ts, as the
// admin client with the secret given.
func (ts *testServer) adminEnv(id, secret string) map[string]string {
	return map[string]string{"TOKENGUARD_URL": ts.base, "TOKENGUARD_CLIENT_ID": id, "TOKENGUARD_CLIENT_SECRET": secret}
}

// cliResult is what one command printed and its exit status.
type cliResult struct {
	stdout, stderr string
	status         int
}

// admin runs an admin command against ts as the admin client, as main
// would, and fails the test if the client secret shows up in its output.
func (ts *testServer) admin(args ...string) cliResult {
	ts.t.Helper()
	return ts.cliAs(ts.adminEnv("admin", adminSecret), args...)
}

func (ts *testServer) cliAs(env map[string]string, args ...string) cliResult {
	ts.t.Helper()
	out, errOut, status := runCLI(ts.t, context.Background(), env, args...)
	if secret := env["TOKENGUARD_CLIENT_SECRET"]; secret != "" && strings.Contains(out+errOut, secret) {
		ts.t.Errorf("tokenguard %s printed the client secret:\n%s\n%s", strings.Join(args, " "), out, errOut)
	}
	return cliResult{out, errOut, status}
}

// ok fails the test unless the command exited 0.
func (r cliResult) ok(t *testing.T, what string) cliResult {
	t.Helper()
	if r.status != 0 {
		t.Fatalf("%s exited %d, stderr %q; want 0", what, r.status, r.stderr)
	}
	return r
}

func decodeJSON(t *testing.T, what, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%s --json printed %q, not JSON: %v", what, s, err)
	}
}

func TestCLIBanRefusesTheUserAndUnbanLetsNewSessionsIn(t *testing.T) {
	ts := startServer(t)
	mallory := ts.session("mallory")

	r := ts.admin("ban", "mallory", "--reason", "abuse", "--duration", "1h").ok(t, "ban")
	for _, want := range []string{"banned          yes", "by admin: abuse", "sessions        0"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("ban printed:\n%s\nwant a line with %q", r.stdout, want)
		}
	}
	ts.wantVerify(mallory, http.StatusForbidden, "the banned user's token")

	var st struct {
		Subject string `json:"subject"`
		Banned  bool   `json:"banned"`
		Ban     struct {
			Reason string `json:"reason"`
			By     string `json:"by"`
			Until  string `json:"until"`
		} `json:"ban"`
	}
	decodeJSON(t, "user", ts.admin("user", "mallory", "--json").ok(t, "user --json").stdout, &st)
	if !st.Banned || st.Subject != "mallory" || st.Ban.Reason != "abuse" || st.Ban.By != "admin" || st.Ban.Until == "" {
		t.Errorf("user --json = %+v, want mallory banned by admin for abuse, with an end", st)
	}

	if r := ts.admin("unban", "mallory").ok(t, "unban"); !strings.Contains(r.stdout, "mallory is not banned") {
		t.Errorf("unban printed %q", r.stdout)
	}
	ts.wantVerify(mallory, http.StatusUnauthorized, "the ban ended the old session for good")
	ts.wantVerify(ts.session("mallory"), http.StatusOK, "a new session after unban")
	if r := ts.admin("unban", "mallory", "--json").ok(t, "unban --json"); r.stdout != "" {
		t.Errorf("unban --json printed %q, want nothing (the API answers 204)", r.stdout)
	}
}

func TestCLIRevokesOneTokenByTokenOrByID(t *testing.T) {
	ts := startServer(t)
	a, b, c := ts.session("alice"), ts.session("alice"), ts.session("alice")
	if r := ts.admin("revoke", "--token", a.token).ok(t, "revoke --token"); strings.Contains(r.stdout+r.stderr, a.token) {
		t.Errorf("revoke echoed the token it revoked: %q %q", r.stdout, r.stderr)
	}
	ts.admin("revoke", "--jti", b.jti, "--exp", fmt.Sprint(b.exp.Unix())).ok(t, "revoke --jti --exp")
	ts.wantVerify(a, http.StatusUnauthorized, "revoked by token")
	ts.wantVerify(b, http.StatusUnauthorized, "revoked by jti and exp")
	ts.wantVerify(c, http.StatusOK, "the third session is untouched")

	r := ts.admin("revoke", "--token", "not-a-token")
	if r.status != exitRefused || !strings.Contains(r.stderr, "the server answered 400 invalid_request") {
		t.Errorf("revoke of garbage = %d %q, want 1 with the API's error", r.status, r.stderr)
	}
}

func TestCLILogoutUserEndsEverySession(t *testing.T) {
	ts := startServer(t)
	a1, a2, b := ts.session("alice"), ts.session("alice"), ts.session("bob")
	if r := ts.admin("logout-user", "alice").ok(t, "logout-user"); !strings.Contains(r.stdout, "alice logged out everywhere") {
		t.Errorf("logout-user printed %q", r.stdout)
	}
	ts.wantVerify(a1, http.StatusUnauthorized, "alice's first session")
	ts.wantVerify(a2, http.StatusUnauthorized, "alice's second session")
	ts.wantVerify(b, http.StatusOK, "bob")

	r := ts.admin("logout-user", "alice", "--issuer", "https://unknown.example/")
	if r.status != exitRefused || !strings.Contains(r.stderr, "the server answered 400") {
		t.Errorf("logout-user with an issuer we do not trust = %d %q, want 1 and the API's refusal", r.status, r.stderr)
	}
}

func TestCLIListsSessionsAndEndsOne(t *testing.T) {
	ts := startServer(t)
	s1, s2 := ts.session("alice"), ts.session("alice")

	r := ts.admin("sessions", "alice").ok(t, "sessions")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "USER AGENT") {
		t.Fatalf("sessions printed:\n%s\nwant a header and two rows", r.stdout)
	}
	for _, s := range []session{s1, s2} {
		if !strings.Contains(r.stdout, s.sid) {
			t.Errorf("sessions lacks %s:\n%s", s.sid, r.stdout)
		}
	}
	if !strings.Contains(lines[1], "laptop") || !strings.Contains(lines[1], "192.0.2.7") {
		t.Errorf("a session row lacks its device and IP: %q", lines[1])
	}

	var list struct {
		Sessions []struct {
			ID       string `json:"id"`
			ClientID string `json:"client_id"`
		} `json:"sessions"`
	}
	decodeJSON(t, "sessions", ts.admin("sessions", "alice", "--json").ok(t, "sessions --json").stdout, &list)
	if len(list.Sessions) != 2 || list.Sessions[0].ClientID != "app" {
		t.Errorf("sessions --json = %+v, want alice's two sessions of the app client", list)
	}

	if r := ts.admin("end-session", "--", s1.sid).ok(t, "end-session"); !strings.Contains(r.stdout, "session "+s1.sid+" ended") {
		t.Errorf("end-session printed %q", r.stdout)
	}
	ts.wantVerify(s1, http.StatusUnauthorized, "the ended session's token")
	ts.wantVerify(s2, http.StatusOK, "the other session")

	r = ts.admin("end-session", "--", s1.sid)
	if r.status != exitRefused || !strings.Contains(r.stderr, "404 not_found: no such session") {
		t.Errorf("end-session of an ended session = %d %q, want 1 and the API's \"no such session\"", r.status, r.stderr)
	}
	if r := ts.admin("sessions", "nobody").ok(t, "sessions of a user without any"); !strings.Contains(r.stdout, "nobody has no live sessions") {
		t.Errorf("sessions of a user without any printed %q", r.stdout)
	}
}

func TestCLIShowsAndFollowsTheAuditTrail(t *testing.T) {
	ts := startServer(t)
	ts.admin("ban", "mallory", "--reason", "spam").ok(t, "ban")

	r := ts.admin("events", "--subject", "mallory").ok(t, "events")
	if !strings.HasPrefix(r.stdout, "TIME") || !strings.Contains(r.stdout, "ban") || !strings.Contains(r.stdout, "spam") {
		t.Errorf("events printed:\n%s\nwant a table with the ban", r.stdout)
	}
	var page struct {
		Events []struct {
			Type    string `json:"type"`
			Subject string `json:"subject"`
			Actor   string `json:"actor"`
		} `json:"events"`
	}
	decodeJSON(t, "events", ts.admin("events", "--subject", "mallory", "--json").ok(t, "events --json").stdout, &page)
	if len(page.Events) != 1 || page.Events[0].Type != "ban" || page.Events[0].Actor != "admin" {
		t.Errorf("events --json = %+v, want mallory's one ban by admin", page)
	}

	// --follow prints the newest page, then each new event once, until
	// interrupted (here, its context is cancelled as SIGINT would).
	for _, asJSON := range []bool{false, true} {
		t.Run(fmt.Sprintf("follow json=%t", asJSON), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			out := &syncbuf.Buffer{}
			done := make(chan int, 1)
			args := []string{"events", "--follow", "--interval", "100ms"}
			if asJSON {
				args = append(args, "--json")
			}
			go func() {
				var errOut strings.Builder
				err := run(ctx, args, func(k string) string { return ts.adminEnv("admin", adminSecret)[k] }, out, &errOut)
				done <- report(err, &errOut)
			}()
			awaitOutput(t, out, "mallory", "ban")
			subject := fmt.Sprintf("eve%t", asJSON)
			ts.admin("ban", subject, "--reason", "followed").ok(t, "ban")
			ts.admin("unban", subject).ok(t, "unban")
			awaitOutput(t, out, subject, "unban")
			cancel()
			if status := <-done; status != 0 {
				t.Errorf("events --follow exited %d when interrupted, want 0", status)
			}
			text := out.String()
			var rows []string
			for _, line := range strings.Split(text, "\n") {
				if strings.Contains(line, subject) {
					rows = append(rows, line)
				}
			}
			if len(rows) != 2 || strings.Contains(rows[0], "unban") || !strings.Contains(rows[0], "ban") || !strings.Contains(rows[1], "unban") {
				t.Errorf("events --follow printed %q for %s, want the ban then the unban, each once:\n%s", rows, subject, text)
			}
			if !asJSON {
				return
			}
			for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
				var e struct {
					ID   string `json:"id"`
					Type string `json:"type"`
				}
				if err := json.Unmarshal([]byte(line), &e); err != nil || e.ID == "" {
					t.Errorf("events --follow --json printed %q, want one event object per line", line)
				}
			}
		})
	}
}

// awaitOutput waits until out holds a line with every one of want.
func awaitOutput(t *testing.T, out *syncbuf.Buffer, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, line := range strings.Split(out.String(), "\n") {
			found := true
			for _, w := range want {
				found = found && strings.Contains(line, w)
			}
			if found {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("output still has no line with %q after 10s:\n%s", want, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCLIFailuresSayWhyAndExitByKind: wrong credentials, a client without
// the permission, an unknown user, a server that cannot be reached and a
// store that is down each exit with their documented status and the API's
// error_description, and the secret never shows, not even with -v.
func TestCLIFailuresSayWhyAndExitByKind(t *testing.T) {
	ts := startServerWith(t, map[string]string{"TOKENGUARD_REVOCATION_MODE": "strict"})
	const wrong = "wrong-secret-0123456789"
	for _, c := range []struct {
		name       string
		env        map[string]string
		args       []string
		wantStatus int
		want       string
	}{
		{"a wrong secret", ts.adminEnv("admin", wrong), []string{"user", "alice"}, exitRefused, "401 invalid_client: client authentication failed"},
		{"a wrong secret, verbose", ts.adminEnv("admin", wrong), []string{"user", "alice", "-v"}, exitRefused, "-> 401"},
		{"a client without the admin permission", ts.adminEnv("app", "dev-app-secret"), []string{"ban", "alice", "--reason", "x"}, exitRefused, "403 access_denied"},
		{"a server that is not there", map[string]string{"TOKENGUARD_URL": "http://127.0.0.1:1", "TOKENGUARD_CLIENT_ID": "admin", "TOKENGUARD_CLIENT_SECRET": adminSecret}, []string{"user", "alice", "-v"}, exitUnavailable, "server unreachable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := ts.cliAs(c.env, c.args...)
			if r.status != c.wantStatus || !strings.Contains(r.stderr, c.want) {
				t.Errorf("%v = %d %q, want %d and %q", c.args, r.status, r.stderr, c.wantStatus, c.want)
			}
			if r.stdout != "" {
				t.Errorf("a failure printed %q on stdout, want nothing", r.stdout)
			}
		})
	}

	ts.redis.Stop()
	r := ts.admin("ban", "alice", "--reason", "x")
	if r.status != exitUnavailable || !strings.Contains(r.stderr, "503 temporarily_unavailable") {
		t.Errorf("ban with Redis down = %d %q, want 3 and the API's 503", r.status, r.stderr)
	}
	if r := ts.cliAs(map[string]string{"TOKENGUARD_LISTEN": strings.TrimPrefix(ts.base, "http://")}, "healthcheck"); r.status != exitRefused || !strings.Contains(r.stderr, "answered 503") {
		t.Errorf("healthcheck with Redis down in strict mode = %d %q, want 1 and the 503", r.status, r.stderr)
	}
}

func TestHealthcheckPassesOnlyWhenReady(t *testing.T) {
	ts := startServer(t)
	addr := strings.TrimPrefix(ts.base, "http://")
	r := ts.cliAs(nil, "healthcheck", "-url", ts.base+"/readyz")
	if r.status != 0 || !strings.Contains(r.stdout, `"status":"ready"`) {
		t.Errorf("healthcheck -url = %d %q %q, want 0 and the readiness", r.status, r.stdout, r.stderr)
	}
	// Without -url, the address comes from the configuration, here
	// TOKENGUARD_LISTEN over the committed config.yaml.
	if r := ts.cliAs(map[string]string{"TOKENGUARD_LISTEN": addr}, "healthcheck"); r.status != 0 {
		t.Errorf("healthcheck from TOKENGUARD_LISTEN = %d %q, want 0", r.status, r.stderr)
	}
	if r := ts.cliAs(nil, "healthcheck", "-url", "http://127.0.0.1:1/readyz"); r.status != exitRefused {
		t.Errorf("healthcheck of nothing = %d %q, want 1 (never 2 or 3: Docker reserves 2)", r.status, r.stderr)
	}
	if r := ts.cliAs(nil, "healthcheck", "-url", ts.base+"/nope"); r.status != exitRefused || !strings.Contains(r.stderr, "answered 404") {
		t.Errorf("healthcheck of a 404 = %d %q, want 1", r.status, r.stderr)
	}
}
