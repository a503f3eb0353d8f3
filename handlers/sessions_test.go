package handlers

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

	"github.com/tokenguard/tokenguard/sessions"
)

// Contract tests of POST /v1/sessions (sessions.go), the token endpoint
// (token.go) and the device list (devices.go).

func TestSessionsReturnARefreshTokenThatRotates(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	l := h.login("app", "alice", "laptop")
	r := h.refresh("app", l.refresh)
	if r.status != http.StatusOK {
		t.Fatalf("refresh = %d %s, want 200", r.status, r.body)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	var p tokenPair
	if err := json.Unmarshal([]byte(r.body), &p); err != nil {
		t.Fatal(err)
	}
	if p.TokenType != "Bearer" || p.ExpiresIn != int64(testTTL.Seconds()) || p.SessionID != l.sid || p.AccessToken == "" {
		t.Errorf("refresh answer = %s, want a Bearer token of session %s for %v", r.body, l.sid, testTTL)
	}
	if p.RefreshToken == "" || p.RefreshToken == l.refresh {
		t.Errorf("refresh_token = %q, want a new one", p.RefreshToken)
	}
	h.wantVerify(t, p.AccessToken, http.StatusOK, "the refreshed access token")
	claims, err := h.auth.Verify(t.Context(), p.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if claims.SessionID != l.sid || claims.Subject != "alice" || claims.Scope != "read write" || claims.ClientID != "app" {
		t.Errorf("refreshed claims = %+v, want the session's sid, sub, scope and client", claims)
	}
	if slices.ContainsFunc(h.redis.Keys(), func(k string) bool { return strings.Contains(k, p.RefreshToken) }) {
		t.Errorf("a key holds the refresh token")
	}
	if strings.Contains(h.logs.String(), p.RefreshToken) || strings.Contains(h.logs.String(), l.refresh) {
		t.Errorf("a refresh token appeared in the logs")
	}
}

// TestParallelRefreshesWithOneTokenGetOnePair fires many refreshes of the
// same refresh token at once, as several tabs do. Within the reuse window
// exactly one rotates and every answer carries the same new refresh token;
// the session is then one rotation on, and consistent: that token rotates
// again, and the original, now two rotations old, is a replay.
func TestParallelRefreshesWithOneTokenGetOnePair(t *testing.T) {
	t.Parallel()
	const n = 32
	h := newHarness(t, harnessOptions{})
	l := h.login("app", "alice", "laptop")
	answers := make([]reply, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			answers[i] = h.refresh("app", l.refresh)
		})
	}
	close(start)
	wg.Wait()

	pairs := make([]tokenPair, n)
	for i, r := range answers {
		if r.status != http.StatusOK {
			t.Fatalf("refresh %d = %d %s, want 200 for all (within the window)", i, r.status, r.body)
		}
		if err := json.Unmarshal([]byte(r.body), &pairs[i]); err != nil {
			t.Fatal(err)
		}
		if pairs[i].RefreshToken != pairs[0].RefreshToken {
			t.Fatalf("refresh %d got refresh token %q, refresh 0 got %q: want the same", i, pairs[i].RefreshToken, pairs[0].RefreshToken)
		}
	}
	for i, p := range pairs {
		if got := h.verify("/v1/verify", p.AccessToken).status; got != http.StatusOK {
			t.Errorf("access token %d = %d, want 200", i, got)
		}
	}
	if got := strings.Count(h.logs.String(), "rotated=true"); got != 1 {
		t.Errorf("%d refreshes rotated, want exactly 1", got)
	}
	if got := len(h.listSessions(l.token)); got != 1 {
		t.Errorf("the user has %d sessions after the race, want 1", got)
	}

	next := h.mustRefresh(t, pairs[0].RefreshToken)
	if next.RefreshToken == pairs[0].RefreshToken {
		t.Fatalf("the shared token did not rotate")
	}
	h.wantRefresh(t, l.refresh, http.StatusBadRequest, "the first token, two rotations old, is a replay")
	h.wantRefresh(t, next.RefreshToken, http.StatusBadRequest, "a replay ends the session")
	h.wantVerify(t, next.AccessToken, http.StatusUnauthorized, "a replay ends the session's access tokens at once")
	h.wantVerify(t, pairs[5].AccessToken, http.StatusUnauthorized, "a replay ends the session's access tokens at once")
}

func TestTheReuseWindowRecoversThenAReplayEndsTheSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	l := h.login("app", "alice", "laptop")
	other := h.login("app", "alice", "phone")
	cur := h.mustRefresh(t, l.refresh)

	// Inside the window the previous token gets the current one back, as
	// often as it is presented, up to the window's last millisecond; from
	// its end on, the same request is a replay.
	for _, wait := range []time.Duration{0, 0, time.Second, testReuse - time.Second - time.Millisecond} {
		h.advance(wait)
		r := h.refresh("app", l.refresh)
		if r.status != http.StatusOK {
			t.Fatalf("previous token %v after its rotation (inside the window) = %d %s, want 200", h.now().Sub(testNow), r.status, r.body)
		}
		var p tokenPair
		if err := json.Unmarshal([]byte(r.body), &p); err != nil {
			t.Fatal(err)
		}
		if p.RefreshToken != cur.RefreshToken {
			t.Fatalf("previous token inside the window got %q, want the current token %q", p.RefreshToken, cur.RefreshToken)
		}
	}
	h.advance(time.Millisecond)
	h.wantRefresh(t, l.refresh, http.StatusBadRequest, "the previous token once the window has passed is a replay")
	h.wantRefresh(t, cur.RefreshToken, http.StatusBadRequest, "the current token of a session ended by a replay")
	h.wantVerify(t, cur.AccessToken, http.StatusUnauthorized, "access tokens of a session ended by a replay")
	h.wantVerify(t, l.token, http.StatusUnauthorized, "access tokens of a session ended by a replay")
	h.wantVerify(t, other.token, http.StatusOK, "the user's other session is not the replayed one")

	if ev := h.events("alice"); len(ev) == 0 || ev[0].Type != "refresh_reuse" || ev[0].SessionID != l.sid || ev[0].Actor != "app" {
		t.Errorf("events of alice = %+v, want a refresh_reuse of %s by app first", ev, l.sid)
	}
}

func TestDevicesListAndEndOnlyTheUsersOwnSessions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	a1, a2 := h.login("app", "alice", "laptop"), h.login("app", "alice", "phone")
	b1 := h.login("app", "bob", "tablet")

	list := h.listSessions(a1.token)
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
		r := h.do(http.MethodDelete, "/v1/sessions/"+id, "Bearer "+a1.token, "", "")
		if r.status != http.StatusNotFound || r.json(t)["error"] != "not_found" {
			t.Errorf("DELETE /v1/sessions/%s as alice = %d %s, want 404 not_found", id, r.status, r.body)
		}
	}
	h.wantVerify(t, b1.token, http.StatusOK, "bob's session after alice tried to end it")
	h.wantRefresh(t, b1.refresh, http.StatusOK, "bob's session after alice tried to end it")

	if r := h.do(http.MethodDelete, "/v1/sessions/"+a2.sid, "Bearer "+a1.token, "", ""); r.status != http.StatusNoContent {
		t.Fatalf("DELETE own other session = %d %s, want 204", r.status, r.body)
	}
	h.wantVerify(t, a2.token, http.StatusUnauthorized, "the device alice ended")
	h.wantRefresh(t, a2.refresh, http.StatusBadRequest, "the device alice ended")
	h.wantVerify(t, a1.token, http.StatusOK, "the device alice ended it from")
	if got := len(h.listSessions(a1.token)); got != 1 {
		t.Errorf("alice has %d sessions after ending one, want 1", got)
	}
}

func TestOpeningOneSessionTooManyEndsTheOldest(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{maxPerUser: 2})
	// A second between logins: which session is the oldest must be clear.
	s1 := h.login("app", "alice", "one")
	h.advance(time.Second)
	s2 := h.login("app", "alice", "two")
	h.advance(time.Second)
	s3 := h.login("app", "alice", "three")
	h.wantVerify(t, s1.token, http.StatusUnauthorized, "the oldest session, evicted")
	h.wantRefresh(t, s1.refresh, http.StatusBadRequest, "the oldest session, evicted")
	h.wantVerify(t, s2.token, http.StatusOK, "the second session")
	h.wantVerify(t, s3.token, http.StatusOK, "the newest session")
	if ev := h.events("alice"); len(ev) == 0 || ev[0].Type != "session_evicted" || ev[0].SessionID != s1.sid {
		t.Errorf("events of alice = %+v, want the eviction of %s first", ev, s1.sid)
	}
}

func TestAnotherIssuersUserCannotTouchOurUserOfTheSameName(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	ours := h.login("app", "alice", "laptop")
	theirs := h.foreign("alice", nil)

	if got := h.listSessions(theirs); len(got) != 0 {
		t.Errorf("the trusted issuer's alice lists %d sessions, want none (ours are not theirs): %v", len(got), got)
	}
	if r := h.do(http.MethodDelete, "/v1/sessions/"+ours.sid, "Bearer "+theirs, "", ""); r.status != http.StatusNotFound {
		t.Errorf("the trusted issuer's alice ending our alice's session = %d, want 404", r.status)
	}
	if r := h.do(http.MethodPost, "/v1/logout?scope=global", "Bearer "+theirs, "", ""); r.status != http.StatusNoContent {
		t.Fatalf("global logout of the trusted issuer's alice = %d %s, want 204", r.status, r.body)
	}
	h.wantVerify(t, ours.token, http.StatusOK, "our alice after the trusted issuer's alice logged out everywhere")
	h.wantRefresh(t, ours.refresh, http.StatusOK, "our alice's refresh token after the trusted issuer's alice logged out everywhere")
	h.wantVerify(t, theirs, http.StatusUnauthorized, "the trusted issuer's token after its user's global logout")
}

func TestBadSessionRequestsGetAClearJSONErrorNever5xx(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	s := h.login("app", "alice", "laptop")
	json := "application/json"
	big := `{"subject":"` + strings.Repeat("x", 70<<10) + `"}`
	h.wantClientErrors(t, []clientMistake{
		{"opening a session without client credentials", "POST", "/v1/sessions", "", json, `{"subject":"a"}`, 401, "invalid_client"},
		{"opening a session with a wrong secret", "POST", "/v1/sessions", "app:wrong", json, `{"subject":"a"}`, 401, "invalid_client"},
		{"opening a session as an unknown client", "POST", "/v1/sessions", "ghost:app-secret", json, `{"subject":"a"}`, 401, "invalid_client"},
		{"opening a session without the permission", "POST", "/v1/sessions", "admin", json, `{"subject":"a"}`, 403, "access_denied"},
		{"a body that is not JSON", "POST", "/v1/sessions", "app", "text/plain", `subject=a`, 415, "invalid_request"},
		{"malformed JSON", "POST", "/v1/sessions", "app", json, `{"subject":`, 400, "invalid_request"},
		{"an unknown field", "POST", "/v1/sessions", "app", json, `{"subject":"a","admin":true}`, 400, "invalid_request"},
		{"two JSON objects", "POST", "/v1/sessions", "app", json, `{"subject":"a"}{"subject":"b"}`, 400, "invalid_request"},
		{"an empty body", "POST", "/v1/sessions", "app", json, ``, 400, "invalid_request"},
		{"a JSON array", "POST", "/v1/sessions", "app", json, `[1,2]`, 400, "invalid_request"},
		{"a wrong field type", "POST", "/v1/sessions", "app", json, `{"subject":42}`, 400, "invalid_request"},
		{"a body over the limit", "POST", "/v1/sessions", "app", json, big, 413, "invalid_request"},
		{"no subject", "POST", "/v1/sessions", "app", json, `{"scope":"read"}`, 400, "invalid_request"},
		{"a subject with a control character", "POST", "/v1/sessions", "app", json, `{"subject":"a\u0000b"}`, 400, "invalid_request"},
		{"a reserved extra claim", "POST", "/v1/sessions", "app", json, `{"subject":"a","claims":{"sub":"root"}}`, 400, "invalid_request"},
		{"a reserved extra claim in other case", "POST", "/v1/sessions", "app", json, `{"subject":"a","claims":{"SID":"x"}}`, 400, "invalid_request"},
		{"a malformed scope", "POST", "/v1/sessions", "app", json, `{"subject":"a","scope":"read  \"write\""}`, 400, "invalid_request"},
		{"a device IP that is not an IP", "POST", "/v1/sessions", "app", json, `{"subject":"a","device":{"ip":"not-an-ip"}}`, 400, "invalid_request"},
	})
	h.wantVerify(t, s.token, http.StatusOK, "nothing above may have hurt a good session")
	if got := h.adminUser("a")["sessions"]; got != 0.0 {
		t.Errorf("user a has %v sessions after only refused logins, want 0", got)
	}
}

// TestSessionBodiesAreReadExactlyAsWritten: an app's own validator and
// tokenguard must never read one body two ways, so field names match
// exactly (no case or Unicode folding) and no name appears twice, at any
// depth, claims included.
func TestSessionBodiesAreReadExactlyAsWritten(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.wantBodiesRefused(t, http.MethodPost, "/v1/sessions", "app", []bodyMistake{
		{"a field name in upper case", `{"SUBJECT":"x"}`, `unknown field "SUBJECT"`},
		{"a field name in title case", `{"Subject":"x"}`, `unknown field "Subject"`},
		{"a field name that folds to subject in Unicode", `{"ſubject":"x"}`, `unknown field "ſubject"`},
		{"claims given again as Claims", `{"subject":"x","claims":{"tenant":"t1"},"Claims":{"role":"admin"}}`, `unknown field "Claims"`},
		{"a device field in upper case", `{"subject":"x","device":{"NAME":"laptop"}}`, `unknown field "device.NAME"`},
		{"an unknown field", `{"subject":"x","admin":true}`, `unknown field "admin"`},
		{"the subject twice", `{"subject":"y","subject":"x"}`, `duplicate field "subject"`},
		{"the subject twice, once escaped", `{"subject":"y","\u0073ubject":"x"}`, `duplicate field "subject"`},
		{"claims twice", `{"subject":"x","claims":{"tenant":"t1"},"claims":{"role":"admin"}}`, `duplicate field "claims"`},
		{"a claim twice", `{"subject":"x","claims":{"role":"user","role":"admin"}}`, `duplicate field "claims.role"`},
		{"a name twice inside a claim", `{"subject":"x","claims":{"org":{"id":1,"id":2}}}`, `duplicate field "claims.org.id"`},
		{"a device field twice", `{"subject":"x","device":{"name":"a","name":"b"}}`, `duplicate field "device.name"`},
		{"a subject that is not UTF-8", "{\"subject\":\"x\xff\"}", "invalid UTF-8"},
		{"null instead of an object", `null`, "must be a JSON object"},
		{"a second object after the first", `{"subject":"x"} {"subject":"y"}`, "exactly one JSON object"},
	})
	for _, subject := range []string{"x", "y"} {
		if got := h.adminUser(subject)["sessions"]; got != 0.0 {
			t.Errorf("user %s has %v sessions after only refused bodies, want 0", subject, got)
		}
	}
}

// TestSessionClaimsAreIssuedExactlyAsGiven: extra claims are re-issued on
// every refresh from what the app sent, so they must come out as given:
// an integer beyond float64's precision, a decimal's trailing zero, an
// escaped string, a nested object.
func TestSessionClaimsAreIssuedExactlyAsGiven(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	want := map[string]string{
		"account": `9007199254740993`,
		"amount":  `12.50`,
		"name":    `"\u00e9l\u00e8ve"`,
		"org":     `{"id":"o1","tags":["a","b"],"seats":100000000000000000001}`,
	}
	body := `{"subject":"alice","claims":{"account":9007199254740993,"amount":12.50,"name":"\u00e9l\u00e8ve","org":{"id":"o1", "tags":["a","b"], "seats":100000000000000000001}}}`
	r := h.do(http.MethodPost, "/v1/sessions", "app", "application/json", body)
	if r.status != http.StatusCreated {
		t.Fatalf("POST /v1/sessions = %d %s, want 201", r.status, r.body)
	}
	var first tokenPair
	if err := json.Unmarshal([]byte(r.body), &first); err != nil {
		t.Fatal(err)
	}
	refreshed := h.mustRefresh(t, first.RefreshToken)
	for name, token := range map[string]string{"the first token": first.AccessToken, "the refreshed token": refreshed.AccessToken} {
		claims, err := h.auth.Verify(t.Context(), token)
		if err != nil {
			t.Fatal(err)
		}
		extra, err := claims.Extra("account", "amount", "name", "org")
		if err != nil {
			t.Fatal(err)
		}
		for claim, raw := range want {
			if got := string(extra[claim]); got != raw {
				t.Errorf("%s: claim %s = %s, want %s as given", name, claim, got, raw)
			}
		}
	}
}

func TestBadSessionInputGetsTheDocumented4xx(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	l := h.login("app", "alice", "laptop")
	form := "application/x-www-form-urlencoded"
	jsonCT := "application/json"
	refresh := "grant_type=refresh_token&refresh_token=" + url.QueryEscape(l.refresh)
	h.wantClientErrors(t, []clientMistake{
		// The token endpoint (RFC 6749 §5.2).
		{"a refresh without client credentials", "POST", "/oauth2/token", "", form, refresh, 401, "invalid_client"},
		{"a refresh with a wrong client secret", "POST", "/oauth2/token", "app:wrong", form, refresh, 401, "invalid_client"},
		{"a refresh with a wrong client_secret_post", "POST", "/oauth2/token", "", form, refresh + "&client_id=app&client_secret=wrong", 401, "invalid_client"},
		{"a refresh with Basic and client_secret both", "POST", "/oauth2/token", "app", form, refresh + "&client_secret=app-secret", 400, "invalid_request"},
		{"a refresh as JSON", "POST", "/oauth2/token", "app", jsonCT, `{"grant_type":"refresh_token"}`, 400, "invalid_request"},
		{"a refresh without grant_type", "POST", "/oauth2/token", "app", form, "refresh_token=x", 400, "invalid_request"},
		{"a password grant", "POST", "/oauth2/token", "app", form, "grant_type=password&username=a&password=b", 400, "unsupported_grant_type"},
		{"a refresh without refresh_token", "POST", "/oauth2/token", "app", form, "grant_type=refresh_token", 400, "invalid_request"},
		{"a refresh with refresh_token twice", "POST", "/oauth2/token", "app", form, refresh + "&refresh_token=x", 400, "invalid_request"},
		{"a refresh with a malformed form", "POST", "/oauth2/token", "app", form, "grant_type=%zz", 400, "invalid_request"},
		{"a garbage refresh token", "POST", "/oauth2/token", "app", form, "grant_type=refresh_token&refresh_token=garbage", 400, "invalid_grant"},
		{"an unknown refresh token", "POST", "/oauth2/token", "app", form, "grant_type=refresh_token&refresh_token=" + l.sid + ".0." + strings.Repeat("A", 43), 400, "invalid_grant"},
		{"a huge refresh token", "POST", "/oauth2/token", "app", form, "grant_type=refresh_token&refresh_token=" + strings.Repeat("A", 3000), 400, "invalid_grant"},
		{"a refresh by a client without the sessions permission", "POST", "/oauth2/token", "admin", form, refresh, 400, "unauthorized_client"},
		{"a refresh for a wider scope", "POST", "/oauth2/token", "app", form, refresh + "&scope=admin", 400, "invalid_scope"},
		{"a refresh body over the limit", "POST", "/oauth2/token", "app", form, refresh + "&x=" + strings.Repeat("y", 70<<10), 413, "invalid_request"},
		{"a GET of the token endpoint", "GET", "/oauth2/token", "app", "", ``, 405, "method_not_allowed"},
		// Devices.
		{"a device list without a token", "GET", "/v1/sessions", "", "", ``, 401, "invalid_token"},
		{"a device list with a bad token", "GET", "/v1/sessions", "Bearer nonsense", "", ``, 401, "invalid_token"},
		{"ending a device without a token", "DELETE", "/v1/sessions/" + l.sid, "", "", ``, 401, "invalid_token"},
	})
	// Nothing above rotated or ended alice's session.
	h.wantVerify(t, l.token, http.StatusOK, "after the bad requests")
	p := h.mustRefresh(t, l.refresh)

	// The RFC 6749 alternatives that are not mistakes.
	r := h.form("/oauth2/token", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {p.RefreshToken}, "client_id": {"app"}, "client_secret": {"app-secret"}, "scope": {"read"}})
	if r.status != http.StatusOK {
		t.Fatalf("client_secret_post with a narrower scope = %d %s, want 200", r.status, r.body)
	}
	var narrowed tokenPair
	if err := json.Unmarshal([]byte(r.body), &narrowed); err != nil {
		t.Fatal(err)
	}
	claims, err := h.auth.Verify(t.Context(), narrowed.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Scope != "read" {
		t.Errorf("scope of the narrowed token = %v, want read", claims.Scope)
	}
}

// TestSessionListsArePaged: the user's and the admin's session lists come a
// page at a time (?limit=, default 50, at most 500; ?before= the
// next_before of the previous page), newest first, with no next_before on
// the last page, and a login between pages shifts nothing.
func TestSessionListsArePaged(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	var all []string
	var token string
	for i := range 53 {
		l := h.login("app", "alice", fmt.Sprintf("device %d", i))
		all = append(all, l.sid)
		token = l.token
		if i%10 == 0 {
			h.advance(time.Millisecond)
		}
	}
	type page struct {
		Sessions []struct {
			ID        string    `json:"id"`
			CreatedAt time.Time `json:"created_at"`
		} `json:"sessions"`
		NextBefore *string `json:"next_before"`
	}
	get := func(t *testing.T, auth, path string) page {
		t.Helper()
		r := h.do(http.MethodGet, path, auth, "", "")
		if r.status != http.StatusOK {
			t.Fatalf("GET %s = %d %s, want 200", path, r.status, r.body)
		}
		var p page
		if err := json.Unmarshal([]byte(r.body), &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, list := range []struct{ name, auth, path string }{
		{"the user's own list", "Bearer " + token, "/v1/sessions"},
		{"the admin's list", "admin", "/v1/admin/users/alice/sessions"},
	} {
		var between login
		t.Run(list.name, func(t *testing.T) {
			first := get(t, list.auth, list.path)
			if len(first.Sessions) != 50 || first.NextBefore == nil || *first.NextBefore == "" {
				t.Fatalf("first page without limit = %d sessions, next_before %v; want 50 and a next_before", len(first.Sessions), first.NextBefore)
			}
			rest := get(t, list.auth, list.path+"?before="+url.QueryEscape(*first.NextBefore))
			if len(rest.Sessions) != len(all)-50 || rest.NextBefore != nil {
				t.Errorf("second page = %d sessions, next_before %v; want the %d left and no next_before", len(rest.Sessions), rest.NextBefore, len(all)-50)
			}
			// Sessions of one millisecond come in the order of their ids:
			// the order to expect is that of one page of them all.
			var want []string
			for _, s := range get(t, list.auth, list.path+"?limit=500").Sessions {
				want = append(want, s.ID)
			}
			if !slices.Equal(sorted(want), sorted(all)) {
				t.Fatalf("one page of 500 lists %v, want the sessions %v", want, all)
			}

			var got []string
			var last time.Time
			path := list.path + "?limit=20"
			for pages := 0; ; pages++ {
				if pages == 1 {
					between = h.login("app", "alice", "a login between pages") // newer than every page
				}
				p := get(t, list.auth, path)
				for _, s := range p.Sessions {
					if !last.IsZero() && s.CreatedAt.After(last) {
						t.Errorf("session %s created %v after the one before it (%v): want newest first", s.ID, s.CreatedAt, last)
					}
					last = s.CreatedAt
					got = append(got, s.ID)
				}
				if p.NextBefore == nil {
					break
				}
				if pages > 5 {
					t.Fatalf("more than 5 pages of 20 for 53 sessions")
				}
				path = list.path + "?limit=20&before=" + url.QueryEscape(*p.NextBefore)
			}
			if !slices.Equal(got, want) {
				t.Errorf("pages of 20 list %v, want the %d sessions that existed, each once, newest first: %v", got, len(want), want)
			}
		})
		if between.sid != "" {
			all = append(all, between.sid)
		}
	}
	var cases []clientMistake
	for _, list := range []struct{ auth, path string }{{"Bearer " + token, "/v1/sessions"}, {"admin", "/v1/admin/users/alice/sessions"}} {
		for _, q := range []string{"limit=0", "limit=501", "limit=-1", "limit=ten", "before=not-a-cursor", "before=1." + all[0] + "x"} {
			cases = append(cases, clientMistake{name: list.path + "?" + q, method: http.MethodGet, path: list.path + "?" + q, auth: list.auth, wantStatus: http.StatusBadRequest, wantError: "invalid_request"})
		}
	}
	h.wantClientErrors(t, cases)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestASessionWhoseTokenVerificationWouldRefuseIsRefused is the
// adversarial review's case: 32 claims of 1.5 KB made a 64,786-byte access
// token that /v1/verify refuses as too large, and each refresh issued
// another. Such a session is refused at once, naming the limit, and
// nothing is stored.
func TestASessionWhoseTokenVerificationWouldRefuseIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	claims := map[string]string{}
	for i := range 32 {
		claims[fmt.Sprintf("c%d", i)] = strings.Repeat("x", 1536)
	}
	body, err := json.Marshal(map[string]any{"subject": "alice", "claims": claims})
	if err != nil {
		t.Fatal(err)
	}
	before := len(h.redis.Keys())
	r := h.do(http.MethodPost, "/v1/sessions", "app", "application/json", string(body))
	if r.status != http.StatusBadRequest {
		t.Fatalf("POST /v1/sessions with 48 KB of claims = %d (%d bytes), want 400", r.status, len(r.body))
	}
	if e := r.json(t); e["error"] != "invalid_request" || !strings.Contains(fmt.Sprint(e["error_description"]), "8192") {
		t.Errorf("error = %s, want invalid_request naming the limit of 8192 bytes", r.body)
	}
	if after := len(h.redis.Keys()); after != before {
		t.Errorf("keys %d → %d: a refused session left state behind", before, after)
	}
	if r := h.do(http.MethodGet, "/v1/admin/users/alice/sessions", "admin", "", ""); !strings.Contains(r.body, `"sessions":[]`) {
		t.Errorf("alice's sessions = %s, want none", r.body)
	}
}

// TestARefreshThatCannotIssueAUsableTokenIsRefused: a session stored before
// claims were bounded (as an upgrade finds it) is refused at the token
// endpoint, naming the limit, rather than handed another unusable token.
func TestARefreshThatCannotIssueAUsableTokenIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	id, err := sessions.NewID("alice")
	if err != nil {
		t.Fatal(err)
	}
	rt, _, err := h.sessions.Open(t.Context(), sessions.Session{ID: id, Subject: "alice", ClientID: "app", Claims: map[string]any{"pad": strings.Repeat("x", 9000)}})
	if err != nil {
		t.Fatal(err)
	}
	r := h.refresh("app", rt)
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "8192") || strings.Contains(r.body, "access_token") {
		t.Errorf("refresh = %d %.200s, want 400 naming the limit of 8192 bytes, and no token", r.status, r.body)
	}
}

// A session opened without a device, or with part of one, shows only the
// device fields it was given: none are shown empty.
func TestASessionWithoutADeviceShowsNoDeviceFields(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	open := func(body string) tokenPair {
		t.Helper()
		r := h.do(http.MethodPost, "/v1/sessions", "app", "application/json", body)
		if r.status != http.StatusCreated {
			t.Fatalf("POST /v1/sessions %s = %d %s, want 201", body, r.status, r.body)
		}
		var p tokenPair
		if err := json.Unmarshal([]byte(r.body), &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bare := open(`{"subject":"carol"}`)
	named := open(`{"subject":"carol","device":{"name":"laptop"}}`)
	want := map[string][]string{
		bare.SessionID:  nil,
		named.SessionID: {"device_name"},
	}
	lists := map[string]reply{
		"own":   h.do(http.MethodGet, "/v1/sessions", "Bearer "+bare.AccessToken, "", ""),
		"admin": h.do(http.MethodGet, "/v1/admin/users/carol/sessions", "admin", "", ""),
	}
	for name, r := range lists {
		var list struct{ Sessions []map[string]any }
		if err := json.Unmarshal([]byte(r.body), &list); err != nil || r.status != http.StatusOK {
			t.Fatalf("%s list = %d %s (%v), want 200", name, r.status, r.body, err)
		}
		if len(list.Sessions) != 2 {
			t.Fatalf("%s list = %s, want 2 sessions", name, r.body)
		}
		for _, s := range list.Sessions {
			var got []string
			for _, k := range []string{"device_name", "ip", "user_agent"} {
				if _, ok := s[k]; ok {
					got = append(got, k)
				}
			}
			if id := s["id"].(string); !slices.Equal(got, want[id]) {
				t.Errorf("%s list: session %s shows device fields %v, want %v: %v", name, id, got, want[id], s)
			}
		}
	}
}
