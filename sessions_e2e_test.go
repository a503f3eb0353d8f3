package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// login is one session with its refresh token.
type login struct {
	session
	refresh string
}

// login opens a session for subject from a named device, as the app client.
func (ts *testServer) login(subject, device string) login {
	ts.t.Helper()
	return ts.loginAs(appAuth, subject, device)
}

// loginAs opens a session as the given client ("id:secret").
func (ts *testServer) loginAs(client, subject, device string) login {
	ts.t.Helper()
	body := fmt.Sprintf(`{"subject":%q,"scope":"read write","device":{"name":%q,"ip":"192.0.2.7","user_agent":"curl/8"}}`, subject, device)
	r := ts.do(http.MethodPost, "/v1/sessions", client, "application/json", []byte(body))
	if r.status != http.StatusCreated {
		ts.t.Fatalf("POST /v1/sessions for %s = %d %s, want 201", subject, r.status, r.body)
	}
	var out struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		SessionID    string `json:"session_id"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		ts.t.Fatal(err)
	}
	if out.RefreshToken == "" {
		ts.t.Fatalf("session response %s has no refresh_token", r.body)
	}
	return login{session: session{token: out.AccessToken, sid: out.SessionID}, refresh: out.RefreshToken}
}

// tokenPair is a 200 answer of the token endpoint.
type tokenPair struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	SessionID    string `json:"session_id"`
}

// form posts a form to path; auth is "id:secret" for Basic or "".
func (ts *testServer) form(path, auth string, v url.Values) response {
	return ts.do(http.MethodPost, path, auth, "application/x-www-form-urlencoded", []byte(v.Encode()))
}

// refresh redeems a refresh token as the app client.
func (ts *testServer) refresh(rt string) response {
	return ts.form("/oauth2/token", appAuth, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

// mustRefresh redeems a refresh token and returns the new pair.
func (ts *testServer) mustRefresh(rt string) tokenPair {
	ts.t.Helper()
	r := ts.refresh(rt)
	if r.status != http.StatusOK {
		ts.t.Fatalf("refresh = %d %s, want 200", r.status, r.body)
	}
	var p tokenPair
	if err := json.Unmarshal(r.body, &p); err != nil {
		ts.t.Fatal(err)
	}
	return p
}

// wantRefresh checks the token endpoint's answer to a refresh token.
func (ts *testServer) wantRefresh(rt string, want int, why string) {
	ts.t.Helper()
	r := ts.refresh(rt)
	if r.status != want {
		ts.t.Errorf("refresh = %d %s, want %d: %s", r.status, r.body, want, why)
		return
	}
	if want == http.StatusBadRequest {
		if got := r.json(ts.t)["error"]; got != "invalid_grant" {
			ts.t.Errorf("refresh error = %v, want invalid_grant: %s", got, why)
		}
	}
}

func TestSessionsReturnARefreshTokenThatRotates(t *testing.T) {
	ts := startServer(t)
	l := ts.login("alice", "laptop")
	r := ts.refresh(l.refresh)
	if r.status != http.StatusOK {
		t.Fatalf("refresh = %d %s, want 200", r.status, r.body)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	var p tokenPair
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatal(err)
	}
	if p.TokenType != "Bearer" || p.ExpiresIn != int64(testAccessTTL.Seconds()) || p.SessionID != l.sid || p.AccessToken == "" {
		t.Errorf("refresh answer = %s, want a Bearer token of session %s for %v", r.body, l.sid, testAccessTTL)
	}
	if p.RefreshToken == "" || p.RefreshToken == l.refresh {
		t.Errorf("refresh_token = %q, want a new one", p.RefreshToken)
	}
	if got := ts.verifyStatus(p.AccessToken); got != http.StatusOK {
		t.Errorf("verify of the refreshed access token = %d, want 200", got)
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(p.AccessToken, claims); err != nil {
		t.Fatal(err)
	}
	if claims["sid"] != l.sid || claims["sub"] != "alice" || claims["scope"] != "read write" || claims["client_id"] != "app" {
		t.Errorf("refreshed claims = %v, want the session's sid, sub, scope and client", claims)
	}
	if keys := ts.rdb.Keys(t.Context(), "*").Val(); slices.ContainsFunc(keys, func(k string) bool { return strings.Contains(k, p.RefreshToken) }) {
		t.Errorf("a key holds the refresh token")
	}
	if strings.Contains(ts.logs.String(), p.RefreshToken) || strings.Contains(ts.logs.String(), l.refresh) {
		t.Errorf("a refresh token appeared in the logs")
	}
}

func TestLogoutScopesEndOnlyTheRightSessions(t *testing.T) {
	ts := startServer(t)
	cases := []struct {
		name  string
		query string
		// wantAlive says which of alice's three sessions survive a logout
		// from the second one.
		wantAlive [3]bool
	}{
		{"no scope ends only the caller's session", "", [3]bool{true, false, true}},
		{"local ends only the caller's session", "?scope=local", [3]bool{true, false, true}},
		{"others ends every session but the caller's", "?scope=others", [3]bool{false, true, false}},
		{"global ends every session of the user", "?scope=global", [3]bool{false, false, false}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			alice := fmt.Sprintf("alice-%d", i)
			a := []login{ts.login(alice, "laptop"), ts.login(alice, "phone"), ts.login(alice, "tablet")}
			b := ts.login(fmt.Sprintf("bob-%d", i), "laptop")

			r := ts.do(http.MethodPost, "/v1/logout"+c.query, "Bearer "+a[1].token, "", nil)
			if r.status != http.StatusNoContent {
				t.Fatalf("logout = %d %s, want 204", r.status, r.body)
			}
			for j, s := range a {
				wantVerify, wantRefresh := http.StatusOK, http.StatusOK
				if !c.wantAlive[j] {
					wantVerify, wantRefresh = http.StatusUnauthorized, http.StatusBadRequest
				}
				ts.wantVerify(s.session, wantVerify, fmt.Sprintf("access token of session %d", j))
				ts.wantRefresh(s.refresh, wantRefresh, fmt.Sprintf("refresh token of session %d", j))
			}
			ts.wantVerify(b.session, http.StatusOK, "another user is untouched")
			ts.wantRefresh(b.refresh, http.StatusOK, "another user is untouched")
		})
	}
	fresh := ts.login("alice-3", "laptop")
	ts.wantVerify(fresh.session, http.StatusOK, "a session opened right after a global logout")
}

// TestParallelRefreshesWithOneTokenGetOnePair fires many refreshes of the
// same refresh token at once, as several tabs do. Within the reuse window
// exactly one rotates and every answer carries the same new refresh token;
// the session is then one rotation on, and consistent: that token rotates
// again, and the original, now two rotations old, is a replay.
func TestParallelRefreshesWithOneTokenGetOnePair(t *testing.T) {
	const n = 32
	ts := startServer(t)
	l := ts.login("alice", "laptop")
	answers := make([]response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			answers[i] = ts.refresh(l.refresh)
		})
	}
	close(start)
	wg.Wait()

	pairs := make([]tokenPair, n)
	for i, r := range answers {
		if r.status != http.StatusOK {
			t.Fatalf("refresh %d = %d %s, want 200 for all (within the window)", i, r.status, r.body)
		}
		if err := json.Unmarshal(r.body, &pairs[i]); err != nil {
			t.Fatal(err)
		}
		if pairs[i].RefreshToken != pairs[0].RefreshToken {
			t.Fatalf("refresh %d got refresh token %q, refresh 0 got %q: want the same", i, pairs[i].RefreshToken, pairs[0].RefreshToken)
		}
	}
	for i, p := range pairs {
		if got := ts.verifyStatus(p.AccessToken); got != http.StatusOK {
			t.Errorf("access token %d = %d, want 200", i, got)
		}
	}
	if got := strings.Count(ts.logs.String(), "rotated=true"); got != 1 {
		t.Errorf("%d refreshes rotated, want exactly 1", got)
	}
	if got := len(ts.listSessions(l.token)); got != 1 {
		t.Errorf("the user has %d sessions after the race, want 1", got)
	}

	next := ts.mustRefresh(pairs[0].RefreshToken)
	if next.RefreshToken == pairs[0].RefreshToken {
		t.Fatalf("the shared token did not rotate")
	}
	ts.wantRefresh(l.refresh, http.StatusBadRequest, "the first token, two rotations old, is a replay")
	ts.wantRefresh(next.RefreshToken, http.StatusBadRequest, "a replay ends the session")
	ts.wantVerify(session{token: next.AccessToken}, http.StatusUnauthorized, "a replay ends the session's access tokens at once")
	ts.wantVerify(session{token: pairs[5].AccessToken}, http.StatusUnauthorized, "a replay ends the session's access tokens at once")
}

func TestTheReuseWindowRecoversThenAReplayEndsTheSession(t *testing.T) {
	ts := startServerWith(t, map[string]string{"TOKENGUARD_TOKENS_REFRESH_REUSE_WINDOW": "300ms"})
	l := ts.login("alice", "laptop")
	other := ts.login("alice", "phone")
	cur := ts.mustRefresh(l.refresh)

	// Inside the window the previous token gets the current one back, as
	// often as it is presented; after it, the same request is a replay.
	// Poll until the answer changes: the window's end is the event.
	deadline := time.Now().Add(10 * time.Second)
	recovered := 0
	for {
		r := ts.refresh(l.refresh)
		if r.status == http.StatusBadRequest {
			if got := r.json(t)["error"]; got != "invalid_grant" {
				t.Fatalf("replay error = %v, want invalid_grant", got)
			}
			break
		}
		if r.status != http.StatusOK {
			t.Fatalf("previous token inside the window = %d %s, want 200", r.status, r.body)
		}
		var p tokenPair
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		if p.RefreshToken != cur.RefreshToken {
			t.Fatalf("previous token inside the window got %q, want the current token %q", p.RefreshToken, cur.RefreshToken)
		}
		recovered++
		if time.Now().After(deadline) {
			t.Fatalf("the previous token still works after 10s; the window is 300ms")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if recovered == 0 {
		t.Errorf("the previous token never recovered the current one inside the window")
	}
	ts.wantRefresh(cur.RefreshToken, http.StatusBadRequest, "the current token of a session ended by a replay")
	ts.wantVerify(session{token: cur.AccessToken}, http.StatusUnauthorized, "access tokens of a session ended by a replay")
	ts.wantVerify(l.session, http.StatusUnauthorized, "access tokens of a session ended by a replay")
	ts.wantVerify(other.session, http.StatusOK, "the user's other session is not the replayed one")

	events := ts.events("?subject=alice")
	if len(events) == 0 || events[0]["type"] != "refresh_reuse" || events[0]["session_id"] != l.sid || events[0]["actor"] != "app" {
		t.Errorf("newest event of alice = %v, want a refresh_reuse of %s by app", first(events), l.sid)
	}
}

func first(list []map[string]any) map[string]any {
	if len(list) == 0 {
		return nil
	}
	return list[0]
}

// listSessions asks GET /v1/sessions with an access token.
func (ts *testServer) listSessions(token string) []map[string]any {
	ts.t.Helper()
	r := ts.do(http.MethodGet, "/v1/sessions", "Bearer "+token, "", nil)
	if r.status != http.StatusOK {
		ts.t.Fatalf("GET /v1/sessions = %d %s, want 200", r.status, r.body)
	}
	var out struct {
		Sessions []map[string]any `json:"sessions"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		ts.t.Fatal(err)
	}
	return out.Sessions
}

// events lists the audit trail as the admin client.
func (ts *testServer) events(query string) []map[string]any {
	ts.t.Helper()
	r := ts.do(http.MethodGet, "/v1/admin/events"+query, adminAuth, "", nil)
	if r.status != http.StatusOK {
		ts.t.Fatalf("GET /v1/admin/events%s = %d %s, want 200", query, r.status, r.body)
	}
	var out struct {
		Events []map[string]any `json:"events"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		ts.t.Fatal(err)
	}
	return out.Events
}

func TestDevicesListAndEndOnlyTheUsersOwnSessions(t *testing.T) {
	ts := startServer(t)
	a1, a2 := ts.login("alice", "laptop"), ts.login("alice", "phone")
	b1 := ts.login("bob", "tablet")

	list := ts.listSessions(a1.token)
	if len(list) != 2 {
		t.Fatalf("alice's sessions = %v, want 2", list)
	}
	byID := map[string]map[string]any{}
	for _, s := range list {
		byID[s["id"].(string)] = s
	}
	if _, ok := byID[b1.sid]; ok {
		t.Fatalf("alice's device list shows bob's session")
	}
	for _, c := range []struct {
		sid, device string
		current     bool
	}{{a1.sid, "laptop", true}, {a2.sid, "phone", false}} {
		s := byID[c.sid]
		if s == nil {
			t.Fatalf("alice's list lacks session %s", c.sid)
		}
		if s["device_name"] != c.device || s["ip"] != "192.0.2.7" || s["user_agent"] != "curl/8" || s["current"] != c.current || s["client_id"] != "app" {
			t.Errorf("session %s = %v, want device %s, ip, user agent, current %v", c.sid, s, c.device, c.current)
		}
		for _, k := range []string{"created_at", "last_used_at", "expires_at"} {
			if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(s[k])); err != nil {
				t.Errorf("session %s: %s = %v, want an RFC 3339 time", c.sid, k, s[k])
			}
		}
	}

	// Another user's session, a made-up one and a malformed one all look
	// alike: 404, and nothing happens to bob.
	for _, id := range []string{b1.sid, "AAAAAAAAAAAAAAAAAAAAAA", "not-an-id", "%2F..%2F"} {
		r := ts.do(http.MethodDelete, "/v1/sessions/"+id, "Bearer "+a1.token, "", nil)
		if r.status != http.StatusNotFound || r.json(t)["error"] != "not_found" {
			t.Errorf("DELETE /v1/sessions/%s as alice = %d %s, want 404 not_found", id, r.status, r.body)
		}
	}
	ts.wantVerify(b1.session, http.StatusOK, "bob's session after alice tried to end it")
	ts.wantRefresh(b1.refresh, http.StatusOK, "bob's session after alice tried to end it")

	if r := ts.do(http.MethodDelete, "/v1/sessions/"+a2.sid, "Bearer "+a1.token, "", nil); r.status != http.StatusNoContent {
		t.Fatalf("DELETE own other session = %d %s, want 204", r.status, r.body)
	}
	ts.wantVerify(a2.session, http.StatusUnauthorized, "the device alice ended")
	ts.wantRefresh(a2.refresh, http.StatusBadRequest, "the device alice ended")
	ts.wantVerify(a1.session, http.StatusOK, "the device alice ended it from")
	if got := len(ts.listSessions(a1.token)); got != 1 {
		t.Errorf("alice has %d sessions after ending one, want 1", got)
	}

	// The admin view of the same.
	r := ts.do(http.MethodGet, "/v1/admin/users/alice/sessions", adminAuth, "", nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), a1.sid) || strings.Contains(string(r.body), "current") {
		t.Errorf("admin list of alice = %d %s, want 200 with %s and no current flag", r.status, r.body, a1.sid)
	}
	if r := ts.do(http.MethodDelete, "/v1/admin/sessions/"+b1.sid, adminAuth, "", nil); r.status != http.StatusNoContent {
		t.Fatalf("admin DELETE of bob's session = %d %s, want 204", r.status, r.body)
	}
	ts.wantVerify(b1.session, http.StatusUnauthorized, "a session an admin ended")
	if r := ts.do(http.MethodDelete, "/v1/admin/sessions/"+b1.sid, adminAuth, "", nil); r.status != http.StatusNotFound {
		t.Errorf("admin DELETE of an ended session = %d, want 404", r.status)
	}
}

func TestOpeningOneSessionTooManyEndsTheOldest(t *testing.T) {
	ts := startServerWith(t, map[string]string{"TOKENGUARD_SESSIONS_MAX_PER_USER": "2"})
	s1, s2, s3 := ts.login("alice", "one"), ts.login("alice", "two"), ts.login("alice", "three")
	ts.wantVerify(s1.session, http.StatusUnauthorized, "the oldest session, evicted")
	ts.wantRefresh(s1.refresh, http.StatusBadRequest, "the oldest session, evicted")
	ts.wantVerify(s2.session, http.StatusOK, "the second session")
	ts.wantVerify(s3.session, http.StatusOK, "the newest session")
	if events := ts.events("?subject=alice"); len(events) == 0 || events[0]["type"] != "session_evicted" || events[0]["session_id"] != s1.sid {
		t.Errorf("newest event = %v, want the eviction of %s", first(events), s1.sid)
	}
}

// adminUser fetches GET /v1/admin/users/{subject}.
func (ts *testServer) adminUser(subject string) map[string]any {
	ts.t.Helper()
	r := ts.do(http.MethodGet, "/v1/admin/users/"+subject, adminAuth, "", nil)
	if r.status != http.StatusOK {
		ts.t.Fatalf("GET /v1/admin/users/%s = %d %s, want 200", subject, r.status, r.body)
	}
	return r.json(ts.t)
}

func TestBanStopsEverythingAtOnceAndUnbanLetsNewSessionsIn(t *testing.T) {
	ts := startServer(t)
	a1, a2 := ts.login("mallory", "laptop"), ts.login("mallory", "phone")
	b := ts.login("bob", "laptop")

	r := ts.do(http.MethodPut, "/v1/admin/users/mallory/ban", adminAuth, "application/json", []byte(`{"reason":"spam"}`))
	if r.status != http.StatusOK {
		t.Fatalf("ban = %d %s, want 200", r.status, r.body)
	}
	v := r.json(t)
	ban, _ := v["ban"].(map[string]any)
	if v["banned"] != true || ban == nil || ban["reason"] != "spam" || ban["by"] != "admin" || ban["until"] != nil || v["sessions"] != 0.0 || v["revoked_before"] == nil {
		t.Errorf("ban answer = %s, want banned by admin for spam until lifted, no sessions, a cut-off", r.body)
	}

	// The very next requests: the ban is in force everywhere.
	for _, s := range []login{a1, a2} {
		r := ts.do(http.MethodGet, "/v1/verify", "Bearer "+s.token, "", nil)
		if r.status != http.StatusForbidden || r.json(t)["error"] != "user_banned" {
			t.Errorf("verify of a banned user's token = %d %s, want 403 user_banned", r.status, r.body)
		}
		ts.wantRefresh(s.refresh, http.StatusBadRequest, "a banned user's refresh token")
	}
	r = ts.do(http.MethodPost, "/v1/sessions", appAuth, "application/json", []byte(`{"subject":"mallory"}`))
	if r.status != http.StatusForbidden || r.json(t)["error"] != "user_banned" {
		t.Errorf("new session for a banned user = %d %s, want 403 user_banned", r.status, r.body)
	}
	ts.wantVerify(b.session, http.StatusOK, "another user is untouched")

	if r := ts.do(http.MethodDelete, "/v1/admin/users/mallory/ban", adminAuth, "", nil); r.status != http.StatusNoContent {
		t.Fatalf("unban = %d %s, want 204", r.status, r.body)
	}
	if v := ts.adminUser("mallory"); v["banned"] != false || v["ban"] != nil || v["revoked_before"] == nil {
		t.Errorf("user after unban = %v, want not banned, ban null, the cut-off kept", v)
	}
	for _, s := range []login{a1, a2} {
		ts.wantVerify(s.session, http.StatusUnauthorized, "a token revoked by the ban stays revoked after the unban")
		ts.wantRefresh(s.refresh, http.StatusBadRequest, "a refresh token revoked by the ban stays dead after the unban")
	}
	fresh := ts.login("mallory", "laptop")
	ts.wantVerify(fresh.session, http.StatusOK, "a session opened after the unban")
	ts.mustRefresh(fresh.refresh)
	if v := ts.adminUser("mallory"); v["sessions"] != 1.0 {
		t.Errorf("sessions after a new login = %v, want 1", v["sessions"])
	}

	var types []string
	for _, e := range ts.events("?subject=mallory") {
		types = append(types, fmt.Sprint(e["type"]))
	}
	if want := []string{"unban", "ban"}; !slices.Equal(types, want) {
		t.Errorf("mallory's events = %v, want %v", types, want)
	}
}

func TestABanWithADurationLapsesByItself(t *testing.T) {
	ts := startServer(t)
	old := ts.login("mallory", "laptop")
	r := ts.do(http.MethodPut, "/v1/admin/users/mallory/ban", adminAuth, "application/json", []byte(`{"duration":"1s","reason":"cool down"}`))
	if r.status != http.StatusOK {
		t.Fatalf("ban = %d %s, want 200", r.status, r.body)
	}
	ban, _ := r.json(t)["ban"].(map[string]any)
	if ban == nil || ban["until"] == nil {
		t.Fatalf("ban answer = %s, want an until", r.body)
	}
	if r := ts.do(http.MethodPost, "/v1/sessions", appAuth, "application/json", []byte(`{"subject":"mallory"}`)); r.status != http.StatusForbidden {
		t.Fatalf("new session during the ban = %d, want 403", r.status)
	}
	// Await the lapse: logins are refused until the ban ends by itself.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := ts.do(http.MethodPost, "/v1/sessions", appAuth, "application/json", []byte(`{"subject":"mallory"}`))
		if r.status == http.StatusCreated {
			break
		}
		if r.status != http.StatusForbidden || time.Now().After(deadline) {
			t.Fatalf("new session while awaiting the lapse = %d %s, want 403 then 201 within 10s", r.status, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v := ts.adminUser("mallory"); v["banned"] != false || v["ban"] != nil {
		t.Errorf("user after the lapse = %v, want not banned", v)
	}
	ts.wantVerify(old.session, http.StatusUnauthorized, "a token the ban cut off stays dead after it lapses")
	ts.wantRefresh(old.refresh, http.StatusBadRequest, "a session the ban ended stays dead after it lapses")
}

func TestTheAuditTrailListsEveryKindNewestFirstInPages(t *testing.T) {
	ts := startServer(t)
	a1, a2, a3 := ts.login("alice", "one"), ts.login("alice", "two"), ts.login("alice", "three")
	steps := []struct {
		method, path, auth, body string
	}{
		{"POST", "/v1/logout", "Bearer " + a1.token, ""},
		{"DELETE", "/v1/sessions/" + a3.sid, "Bearer " + a2.token, ""},
		{"DELETE", "/v1/admin/sessions/" + a2.sid, adminAuth, ""},
		{"POST", "/v1/admin/revocations", adminAuth, fmt.Sprintf(`{"token":%q}`, ts.login("alice", "four").token)},
		{"POST", "/v1/admin/users/alice/logout", adminAuth, ""},
		{"PUT", "/v1/admin/users/alice/ban", adminAuth, `{"duration":"1h","reason":"abuse"}`},
		{"DELETE", "/v1/admin/users/alice/ban", adminAuth, ""},
	}
	for _, s := range steps {
		if r := ts.do(s.method, s.path, s.auth, "application/json", []byte(s.body)); r.status >= 300 {
			t.Fatalf("%s %s = %d %s", s.method, s.path, r.status, r.body)
		}
	}
	ts.login("bob", "x")
	bobToken := ts.login("bob", "y")
	if r := ts.do("POST", "/v1/logout?scope=others", "Bearer "+bobToken.token, "", nil); r.status != http.StatusNoContent {
		t.Fatalf("bob logout others = %d", r.status)
	}

	want := []string{"unban", "ban", "admin_logout", "admin_revocation", "admin_session_ended", "session_ended", "logout"}
	var got []string
	for _, e := range ts.events("?subject=alice") {
		got = append(got, fmt.Sprint(e["type"]))
		if e["actor"] == "" || e["time"] == nil || e["subject"] != "alice" {
			t.Errorf("event %v lacks an actor, a time or the subject", e)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("alice's events = %v, want %v", got, want)
	}
	all := ts.events("")
	if len(all) != len(want)+1 || all[0]["type"] != "logout" || all[0]["reason"] != "others" || all[0]["subject"] != "bob" {
		t.Errorf("all events = %v, want bob's logout first, then alice's %d", all, len(want))
	}

	// Pages of three, following next_before.
	var paged []string
	before := ""
	for range 10 {
		r := ts.do(http.MethodGet, "/v1/admin/events?subject=alice&limit=3"+before, adminAuth, "", nil)
		if r.status != http.StatusOK {
			t.Fatalf("page = %d %s", r.status, r.body)
		}
		var page struct {
			Events     []map[string]any `json:"events"`
			NextBefore string           `json:"next_before"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Events {
			paged = append(paged, fmt.Sprint(e["type"]))
		}
		if page.NextBefore == "" {
			break
		}
		before = "&before=" + url.QueryEscape(page.NextBefore)
	}
	if !slices.Equal(paged, want) {
		t.Errorf("paged events = %v, want %v", paged, want)
	}
}

func TestBadSessionInputGetsTheDocumented4xx(t *testing.T) {
	ts := startServer(t)
	l := ts.login("alice", "laptop")
	form := "application/x-www-form-urlencoded"
	jsonCT := "application/json"
	refresh := "grant_type=refresh_token&refresh_token=" + url.QueryEscape(l.refresh)
	long := strings.Repeat("x", 256)
	cases := []clientMistake{
		// The token endpoint (RFC 6749 §5.2).
		{"a refresh without client credentials", "POST", "/oauth2/token", "", form, refresh, 401, "invalid_client"},
		{"a refresh with a wrong client secret", "POST", "/oauth2/token", "app:wrong", form, refresh, 401, "invalid_client"},
		{"a refresh with a wrong client_secret_post", "POST", "/oauth2/token", "", form, refresh + "&client_id=app&client_secret=wrong", 401, "invalid_client"},
		{"a refresh with Basic and client_secret both", "POST", "/oauth2/token", appAuth, form, refresh + "&client_secret=dev-app-secret", 400, "invalid_request"},
		{"a refresh as JSON", "POST", "/oauth2/token", appAuth, jsonCT, `{"grant_type":"refresh_token"}`, 400, "invalid_request"},
		{"a refresh without grant_type", "POST", "/oauth2/token", appAuth, form, "refresh_token=x", 400, "invalid_request"},
		{"a password grant", "POST", "/oauth2/token", appAuth, form, "grant_type=password&username=a&password=b", 400, "unsupported_grant_type"},
		{"a refresh without refresh_token", "POST", "/oauth2/token", appAuth, form, "grant_type=refresh_token", 400, "invalid_request"},
		{"a refresh with refresh_token twice", "POST", "/oauth2/token", appAuth, form, refresh + "&refresh_token=x", 400, "invalid_request"},
		{"a refresh with a malformed form", "POST", "/oauth2/token", appAuth, form, "grant_type=%zz", 400, "invalid_request"},
		{"a garbage refresh token", "POST", "/oauth2/token", appAuth, form, "grant_type=refresh_token&refresh_token=garbage", 400, "invalid_grant"},
		{"an unknown refresh token", "POST", "/oauth2/token", appAuth, form, "grant_type=refresh_token&refresh_token=" + l.sid + ".0." + strings.Repeat("A", 43), 400, "invalid_grant"},
		{"a huge refresh token", "POST", "/oauth2/token", appAuth, form, "grant_type=refresh_token&refresh_token=" + strings.Repeat("A", 3000), 400, "invalid_grant"},
		{"a refresh by a client without the sessions permission", "POST", "/oauth2/token", adminAuth, form, refresh, 400, "unauthorized_client"},
		{"a refresh for a wider scope", "POST", "/oauth2/token", appAuth, form, refresh + "&scope=admin", 400, "invalid_scope"},
		{"a refresh body over the limit", "POST", "/oauth2/token", appAuth, form, refresh + "&x=" + strings.Repeat("y", 5000), 413, "invalid_request"},
		{"a GET of the token endpoint", "GET", "/oauth2/token", appAuth, "", ``, 405, "method_not_allowed"},
		// Devices.
		{"a device list without a token", "GET", "/v1/sessions", "", "", ``, 401, "invalid_token"},
		{"a device list with a bad token", "GET", "/v1/sessions", "Bearer nonsense", "", ``, 401, "invalid_token"},
		{"ending a device without a token", "DELETE", "/v1/sessions/" + l.sid, "", "", ``, 401, "invalid_token"},
		{"logout with scope all", "POST", "/v1/logout?scope=all", "Bearer " + l.token, "", ``, 400, "invalid_request"},
		// Admin.
		{"a ban by the app client", "PUT", "/v1/admin/users/bob/ban", appAuth, jsonCT, `{}`, 403, "access_denied"},
		{"a ban without credentials", "PUT", "/v1/admin/users/bob/ban", "", jsonCT, `{}`, 401, "invalid_client"},
		{"a ban without a body", "PUT", "/v1/admin/users/bob/ban", adminAuth, jsonCT, ``, 400, "invalid_request"},
		{"a ban that is not JSON", "PUT", "/v1/admin/users/bob/ban", adminAuth, "text/plain", `ban`, 415, "invalid_request"},
		{"a ban with an unknown field", "PUT", "/v1/admin/users/bob/ban", adminAuth, jsonCT, `{"days":3}`, 400, "invalid_request"},
		{"a ban for forever", "PUT", "/v1/admin/users/bob/ban", adminAuth, jsonCT, `{"duration":"forever"}`, 400, "invalid_request"},
		{"a ban for a negative time", "PUT", "/v1/admin/users/bob/ban", adminAuth, jsonCT, `{"duration":"-1h"}`, 400, "invalid_request"},
		{"a ban for no time", "PUT", "/v1/admin/users/bob/ban", adminAuth, jsonCT, `{"duration":"0s"}`, 400, "invalid_request"},
		{"a ban for a hundred years", "PUT", "/v1/admin/users/bob/ban", adminAuth, jsonCT, `{"duration":"876000h"}`, 400, "invalid_request"},
		{"a ban for a number", "PUT", "/v1/admin/users/bob/ban", adminAuth, jsonCT, `{"duration":3600}`, 400, "invalid_request"},
		{"a ban with a control character in the reason", "PUT", "/v1/admin/users/bob/ban", adminAuth, jsonCT, `{"reason":"a\u0007b"}`, 400, "invalid_request"},
		{"a ban with a reason too long", "PUT", "/v1/admin/users/bob/ban", adminAuth, jsonCT, `{"reason":"` + strings.Repeat("r", 600) + `"}`, 400, "invalid_request"},
		{"a user with a subject too long", "GET", "/v1/admin/users/" + long, adminAuth, "", ``, 400, "invalid_request"},
		{"an unban with a subject too long", "DELETE", "/v1/admin/users/" + long + "/ban", adminAuth, "", ``, 400, "invalid_request"},
		{"an admin end of an unknown session", "DELETE", "/v1/admin/sessions/AAAAAAAAAAAAAAAAAAAAAA", adminAuth, "", ``, 404, "not_found"},
		{"an admin end of a malformed session id", "DELETE", "/v1/admin/sessions/x", adminAuth, "", ``, 404, "not_found"},
		{"events with limit 0", "GET", "/v1/admin/events?limit=0", adminAuth, "", ``, 400, "invalid_request"},
		{"events with limit 501", "GET", "/v1/admin/events?limit=501", adminAuth, "", ``, 400, "invalid_request"},
		{"events with a word for a limit", "GET", "/v1/admin/events?limit=many", adminAuth, "", ``, 400, "invalid_request"},
		{"events before garbage", "GET", "/v1/admin/events?before=yesterday", adminAuth, "", ``, 400, "invalid_request"},
		{"events before an id out of range", "GET", "/v1/admin/events?before=99999999999999999999-0", adminAuth, "", ``, 400, "invalid_request"},
		{"events of a subject too long", "GET", "/v1/admin/events?subject=" + long, adminAuth, "", ``, 400, "invalid_request"},
		{"events by the app client", "GET", "/v1/admin/events", appAuth, "", ``, 403, "access_denied"},
	}
	ts.wantClientErrors(t, cases)
	// Nothing above rotated or ended alice's session.
	ts.wantVerify(l.session, http.StatusOK, "after the bad requests")
	p := ts.mustRefresh(l.refresh)

	// The RFC 6749 alternatives that are not mistakes.
	r := ts.form("/oauth2/token", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {p.RefreshToken}, "client_id": {"app"}, "client_secret": {"dev-app-secret"}, "scope": {"read"}})
	if r.status != http.StatusOK {
		t.Fatalf("client_secret_post with a narrower scope = %d %s, want 200", r.status, r.body)
	}
	var narrowed tokenPair
	if err := json.Unmarshal(r.body, &narrowed); err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(narrowed.AccessToken, claims); err != nil {
		t.Fatal(err)
	}
	if claims["scope"] != "read" {
		t.Errorf("scope of the narrowed token = %v, want read", claims["scope"])
	}
}
