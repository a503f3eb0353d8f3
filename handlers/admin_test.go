package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tokenguard/tokenguard/auth"
)

// Contract tests of the admin API: revocations and user logout (admin.go),
// users, bans and sessions (admin_users.go) and the audit trail
// (events.go).

func TestAdminRevokesOneTokenOrAWholeUser(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	a1, a2, a3, b1 := h.login("app", "alice", "one"), h.login("app", "alice", "two"), h.login("app", "alice", "three"), h.login("app", "bob", "one")

	r := h.do(http.MethodPost, "/v1/admin/revocations", "admin", "application/json", fmt.Sprintf(`{"token":%q}`, a1.token))
	if r.status != http.StatusNoContent {
		t.Fatalf("revoke by token = %d %s, want 204", r.status, r.body)
	}
	h.wantVerify(t, a1.token, http.StatusUnauthorized, "revoked by token")
	h.wantVerify(t, a2.token, http.StatusOK, "another token of the same user")
	h.wantTTL(t, "j", a1.claims.ID, a1.claims.ExpiresAt.Sub(h.now())+testLeeway)

	r = h.do(http.MethodPost, "/v1/admin/revocations", "admin", "application/json", fmt.Sprintf(`{"jti":%q,"exp":%d}`, a2.claims.ID, a2.claims.ExpiresAt.Unix()))
	if r.status != http.StatusNoContent {
		t.Fatalf("revoke by jti and exp = %d %s, want 204", r.status, r.body)
	}
	h.wantVerify(t, a2.token, http.StatusUnauthorized, "revoked by jti")
	h.wantTTL(t, "j", a2.claims.ID, a2.claims.ExpiresAt.Sub(h.now())+testLeeway)

	r = h.do(http.MethodPost, "/v1/admin/users/alice/logout", "admin", "", "")
	if r.status != http.StatusNoContent {
		t.Fatalf("admin user logout = %d %s, want 204", r.status, r.body)
	}
	h.wantVerify(t, a3.token, http.StatusUnauthorized, "every token of a user an admin logged out")
	h.wantRefresh(t, a3.refresh, http.StatusBadRequest, "every session of a user an admin logged out")
	h.wantVerify(t, b1.token, http.StatusOK, "bob is untouched")
	h.wantTTL(t, "u", "alice", testTTL+testLeeway)

	// An expired token needs no entry and is answered like a revocation.
	r = h.do(http.MethodPost, "/v1/admin/revocations", "admin", "application/json", `{"jti":"long-gone","exp":1000}`)
	if r.status != http.StatusNoContent {
		t.Errorf("revoke an expired jti = %d %s, want 204", r.status, r.body)
	}
	if keys := h.redis.Keys(); slices.ContainsFunc(keys, func(k string) bool { return strings.HasSuffix(k, ":j:long-gone") }) {
		t.Errorf("an expired token was written to Redis: %v", keys)
	}

	// A revocation by jti names no user: the token is not at hand. The
	// one of the expired jti is recorded too, though nothing was written.
	var got []string
	for _, e := range h.events("") {
		got = append(got, e.Type+" "+e.Subject)
		if e.Actor != "admin" {
			t.Errorf("event %+v, want the admin client as its actor", e)
		}
	}
	if want := []string{"admin_revocation ", "admin_logout alice", "admin_revocation ", "admin_revocation alice"}; !slices.Equal(got, want) {
		t.Errorf("events = %q, want %q", got, want)
	}
}

func TestAdminListsAndEndsAnyUsersSessions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	a1 := h.login("app", "alice", "laptop")
	b1 := h.login("app", "bob", "tablet")

	r := h.do(http.MethodGet, "/v1/admin/users/alice/sessions", "admin", "", "")
	if r.status != http.StatusOK || !strings.Contains(r.body, a1.sid) || strings.Contains(r.body, "current") {
		t.Errorf("admin list of alice = %d %s, want 200 with %s and no current flag", r.status, r.body, a1.sid)
	}
	if strings.Contains(r.body, b1.sid) {
		t.Errorf("admin list of alice = %s shows bob's session", r.body)
	}
	if r := h.do(http.MethodDelete, "/v1/admin/sessions/"+b1.sid, "admin", "", ""); r.status != http.StatusNoContent {
		t.Fatalf("admin DELETE of bob's session = %d %s, want 204", r.status, r.body)
	}
	h.wantVerify(t, b1.token, http.StatusUnauthorized, "a session an admin ended")
	h.wantRefresh(t, b1.refresh, http.StatusBadRequest, "a session an admin ended")
	h.wantVerify(t, a1.token, http.StatusOK, "alice is untouched")
	if r := h.do(http.MethodDelete, "/v1/admin/sessions/"+b1.sid, "admin", "", ""); r.status != http.StatusNotFound {
		t.Errorf("admin DELETE of an ended session = %d, want 404", r.status)
	}
}

func TestBanStopsEverythingAtOnceAndUnbanLetsNewSessionsIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	a1, a2 := h.login("app", "mallory", "laptop"), h.login("app", "mallory", "phone")
	b := h.login("app", "bob", "laptop")

	r := h.do(http.MethodPut, "/v1/admin/users/mallory/ban", "admin", "application/json", `{"reason":"spam"}`)
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
		r := h.verify("/v1/verify", s.token)
		if r.status != http.StatusForbidden || r.json(t)["error"] != "user_banned" {
			t.Errorf("verify of a banned user's token = %d %s, want 403 user_banned", r.status, r.body)
		}
		h.wantRefresh(t, s.refresh, http.StatusBadRequest, "a banned user's refresh token")
	}
	r = h.do(http.MethodPost, "/v1/sessions", "app", "application/json", `{"subject":"mallory"}`)
	if r.status != http.StatusForbidden || r.json(t)["error"] != "user_banned" {
		t.Errorf("new session for a banned user = %d %s, want 403 user_banned", r.status, r.body)
	}
	h.wantVerify(t, b.token, http.StatusOK, "another user is untouched")

	if r := h.do(http.MethodDelete, "/v1/admin/users/mallory/ban", "admin", "", ""); r.status != http.StatusNoContent {
		t.Fatalf("unban = %d %s, want 204", r.status, r.body)
	}
	if v := h.adminUser("mallory"); v["banned"] != false || v["ban"] != nil || v["revoked_before"] == nil {
		t.Errorf("user after unban = %v, want not banned, ban null, the cut-off kept", v)
	}
	for _, s := range []login{a1, a2} {
		h.wantVerify(t, s.token, http.StatusUnauthorized, "a token revoked by the ban stays revoked after the unban")
		h.wantRefresh(t, s.refresh, http.StatusBadRequest, "a refresh token revoked by the ban stays dead after the unban")
	}
	// A millisecond after the ban's cut-off, as in any real exchange.
	h.advance(time.Millisecond)
	fresh := h.login("app", "mallory", "laptop")
	h.wantVerify(t, fresh.token, http.StatusOK, "a session opened after the unban")
	h.mustRefresh(t, fresh.refresh)
	if v := h.adminUser("mallory"); v["sessions"] != 1.0 {
		t.Errorf("sessions after a new login = %v, want 1", v["sessions"])
	}

	var types []string
	for _, e := range h.events("mallory") {
		types = append(types, e.Type)
	}
	if want := []string{"unban", "ban"}; !slices.Equal(types, want) {
		t.Errorf("mallory's events = %v, want %v", types, want)
	}
}

func TestABanWithADurationLapsesByItself(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	old := h.login("app", "mallory", "laptop")
	r := h.do(http.MethodPut, "/v1/admin/users/mallory/ban", "admin", "application/json", `{"duration":"1s","reason":"cool down"}`)
	if r.status != http.StatusOK {
		t.Fatalf("ban = %d %s, want 200", r.status, r.body)
	}
	ban, _ := r.json(t)["ban"].(map[string]any)
	if ban == nil || ban["until"] != testNow.Add(time.Second).Format(timestampLayout) {
		t.Fatalf("ban answer = %s, want an until one second on", r.body)
	}
	h.wantTTL(t, "b", "mallory", time.Second)
	login := func() int {
		return h.do(http.MethodPost, "/v1/sessions", "app", "application/json", `{"subject":"mallory"}`).status
	}
	if got := login(); got != http.StatusForbidden {
		t.Fatalf("new session during the ban = %d, want 403", got)
	}
	h.advance(time.Second - time.Millisecond)
	if got := login(); got != http.StatusForbidden {
		t.Fatalf("new session in the ban's last millisecond = %d, want 403", got)
	}
	h.advance(time.Millisecond)
	if got := login(); got != http.StatusCreated {
		t.Fatalf("new session once the ban has lapsed = %d, want 201", got)
	}
	if v := h.adminUser("mallory"); v["banned"] != false || v["ban"] != nil {
		t.Errorf("user after the lapse = %v, want not banned", v)
	}
	h.wantVerify(t, old.token, http.StatusUnauthorized, "a token the ban cut off stays dead after it lapses")
	h.wantRefresh(t, old.refresh, http.StatusBadRequest, "a session the ban ended stays dead after it lapses")
}

// adminEvents lists the audit trail through GET /v1/admin/events.
func (h *harness) adminEvents(t *testing.T, query string) (events []map[string]any, nextBefore string) {
	t.Helper()
	r := h.do(http.MethodGet, "/v1/admin/events"+query, "admin", "", "")
	if r.status != http.StatusOK {
		t.Fatalf("GET /v1/admin/events%s = %d %s, want 200", query, r.status, r.body)
	}
	var page struct {
		Events     []map[string]any `json:"events"`
		NextBefore string           `json:"next_before"`
	}
	if err := json.Unmarshal([]byte(r.body), &page); err != nil {
		t.Fatal(err)
	}
	return page.Events, page.NextBefore
}

func TestTheAuditTrailListsEveryKindNewestFirstInPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	a1, a2, a3 := h.login("app", "alice", "one"), h.login("app", "alice", "two"), h.login("app", "alice", "three")
	steps := []struct {
		method, path, auth, body string
	}{
		{"POST", "/v1/logout", "Bearer " + a1.token, ""},
		{"DELETE", "/v1/sessions/" + a3.sid, "Bearer " + a2.token, ""},
		{"DELETE", "/v1/admin/sessions/" + a2.sid, "admin", ""},
		{"POST", "/v1/admin/revocations", "admin", fmt.Sprintf(`{"token":%q}`, h.login("app", "alice", "four").token)},
		{"POST", "/v1/admin/users/alice/logout", "admin", ""},
		{"PUT", "/v1/admin/users/alice/ban", "admin", `{"duration":"1h","reason":"abuse"}`},
		{"DELETE", "/v1/admin/users/alice/ban", "admin", ""},
	}
	for _, s := range steps {
		if r := h.do(s.method, s.path, s.auth, "application/json", s.body); r.status >= 300 {
			t.Fatalf("%s %s = %d %s", s.method, s.path, r.status, r.body)
		}
	}
	h.login("app", "bob", "x")
	bobToken := h.login("app", "bob", "y")
	if r := h.do("POST", "/v1/logout?scope=others", "Bearer "+bobToken.token, "", ""); r.status != http.StatusNoContent {
		t.Fatalf("bob logout others = %d", r.status)
	}

	want := []string{"unban", "ban", "admin_logout", "admin_revocation", "admin_session_ended", "session_ended", "logout"}
	var got []string
	events, _ := h.adminEvents(t, "?subject=alice")
	for _, e := range events {
		got = append(got, fmt.Sprint(e["type"]))
		if e["actor"] == "" || e["time"] == nil || e["subject"] != "alice" {
			t.Errorf("event %v lacks an actor, a time or the subject", e)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("alice's events = %v, want %v", got, want)
	}
	all, _ := h.adminEvents(t, "")
	if len(all) != len(want)+1 || all[0]["type"] != "logout" || all[0]["reason"] != "others" || all[0]["subject"] != "bob" {
		t.Errorf("all events = %v, want bob's logout first, then alice's %d", all, len(want))
	}

	// Pages of three, following next_before.
	var paged []string
	before := ""
	for range 10 {
		page, next := h.adminEvents(t, "?subject=alice&limit=3"+before)
		for _, e := range page {
			paged = append(paged, fmt.Sprint(e["type"]))
		}
		if next == "" {
			break
		}
		before = "&before=" + url.QueryEscape(next)
	}
	if !slices.Equal(paged, want) {
		t.Errorf("paged events = %v, want %v", paged, want)
	}
}

// TestAdminBodiesAreReadExactlyAsWritten: field names match exactly and
// appear once, so that a revocation or a ban is never read two ways.
func TestAdminBodiesAreReadExactlyAsWritten(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	b := h.login("app", "bob", "laptop")
	exp := h.now().Add(time.Minute).Unix()
	h.wantBodiesRefused(t, http.MethodPost, "/v1/admin/revocations", "admin", []bodyMistake{
		{"a jti in upper case", fmt.Sprintf(`{"JTI":"j1","exp":%d}`, exp), `unknown field "JTI"`},
		{"an exp in title case", fmt.Sprintf(`{"jti":"j1","Exp":%d}`, exp), `unknown field "Exp"`},
		{"a token in title case", fmt.Sprintf(`{"Token":%q}`, b.token), `unknown field "Token"`},
		{"a token given twice", fmt.Sprintf(`{"token":"garbage","token":%q}`, b.token), `duplicate field "token"`},
		{"a jti given twice", fmt.Sprintf(`{"jti":"j1","jti":"j2","exp":%d}`, exp), `duplicate field "jti"`},
	})
	h.wantBodiesRefused(t, http.MethodPut, "/v1/admin/users/bob/ban", "admin", []bodyMistake{
		{"a reason in title case", `{"Reason":"spam"}`, `unknown field "Reason"`},
		{"a duration folded in Unicode", `{"duration":"1h","duraſion":"2h"}`, `unknown field "duraſion"`},
		{"a duration given twice", `{"duration":"1h","duration":"2h"}`, `duplicate field "duration"`},
	})
	h.wantVerify(t, b.token, http.StatusOK, "bob after the refused revocations and bans")
	if v := h.adminUser("bob"); v["banned"] != false {
		t.Errorf("bob after the refused bans = %v, want not banned", v)
	}
	if keys := h.redis.Keys(); slices.ContainsFunc(keys, func(k string) bool { return strings.Contains(k, ":j:") }) {
		t.Errorf("revocation entries after only refused bodies: %v", keys)
	}
}

func TestBadAdminInputGetsTheDocumented4xx(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	b := h.login("app", "bob", "laptop")
	jsonCT := "application/json"
	long := strings.Repeat("x", 256)
	h.wantClientErrors(t, []clientMistake{
		// Revocations and user logout.
		{"revoking with both token and jti", "POST", "/v1/admin/revocations", "admin", jsonCT, `{"token":"x","jti":"y","exp":1}`, 400, "invalid_request"},
		{"revoking a jti without exp", "POST", "/v1/admin/revocations", "admin", jsonCT, `{"jti":"y"}`, 400, "invalid_request"},
		{"revoking garbage", "POST", "/v1/admin/revocations", "admin", jsonCT, `{"token":"garbage"}`, 400, "invalid_request"},
		{"revoking nothing", "POST", "/v1/admin/revocations", "admin", jsonCT, `{}`, 400, "invalid_request"},
		{"an admin call by the app client", "POST", "/v1/admin/users/alice/logout", "app", "", ``, 403, "access_denied"},
		{"an admin call without credentials", "POST", "/v1/admin/users/alice/logout", "", "", ``, 401, "invalid_client"},
		// Users, bans and sessions.
		{"a ban by the app client", "PUT", "/v1/admin/users/bob/ban", "app", jsonCT, `{}`, 403, "access_denied"},
		{"a ban without credentials", "PUT", "/v1/admin/users/bob/ban", "", jsonCT, `{}`, 401, "invalid_client"},
		{"a ban without a body", "PUT", "/v1/admin/users/bob/ban", "admin", jsonCT, ``, 400, "invalid_request"},
		{"a ban that is not JSON", "PUT", "/v1/admin/users/bob/ban", "admin", "text/plain", `ban`, 415, "invalid_request"},
		{"a ban with an unknown field", "PUT", "/v1/admin/users/bob/ban", "admin", jsonCT, `{"days":3}`, 400, "invalid_request"},
		{"a ban for forever", "PUT", "/v1/admin/users/bob/ban", "admin", jsonCT, `{"duration":"forever"}`, 400, "invalid_request"},
		{"a ban for a negative time", "PUT", "/v1/admin/users/bob/ban", "admin", jsonCT, `{"duration":"-1h"}`, 400, "invalid_request"},
		{"a ban for no time", "PUT", "/v1/admin/users/bob/ban", "admin", jsonCT, `{"duration":"0s"}`, 400, "invalid_request"},
		{"a ban for a hundred years", "PUT", "/v1/admin/users/bob/ban", "admin", jsonCT, `{"duration":"876000h"}`, 400, "invalid_request"},
		{"a ban for a number", "PUT", "/v1/admin/users/bob/ban", "admin", jsonCT, `{"duration":3600}`, 400, "invalid_request"},
		{"a ban with a control character in the reason", "PUT", "/v1/admin/users/bob/ban", "admin", jsonCT, `{"reason":"a\u0007b"}`, 400, "invalid_request"},
		{"a ban with a reason too long", "PUT", "/v1/admin/users/bob/ban", "admin", jsonCT, `{"reason":"` + strings.Repeat("r", 600) + `"}`, 400, "invalid_request"},
		{"a user with a subject too long", "GET", "/v1/admin/users/" + long, "admin", "", ``, 400, "invalid_request"},
		{"an unban with a subject too long", "DELETE", "/v1/admin/users/" + long + "/ban", "admin", "", ``, 400, "invalid_request"},
		{"an admin end of an unknown session", "DELETE", "/v1/admin/sessions/AAAAAAAAAAAAAAAAAAAAAA", "admin", "", ``, 404, "not_found"},
		{"an admin end of a malformed session id", "DELETE", "/v1/admin/sessions/x", "admin", "", ``, 404, "not_found"},
		// The audit trail.
		{"events with limit 0", "GET", "/v1/admin/events?limit=0", "admin", "", ``, 400, "invalid_request"},
		{"events with limit 501", "GET", "/v1/admin/events?limit=501", "admin", "", ``, 400, "invalid_request"},
		{"events with a word for a limit", "GET", "/v1/admin/events?limit=many", "admin", "", ``, 400, "invalid_request"},
		{"events before garbage", "GET", "/v1/admin/events?before=yesterday", "admin", "", ``, 400, "invalid_request"},
		{"events before an id out of range", "GET", "/v1/admin/events?before=99999999999999999999-0", "admin", "", ``, 400, "invalid_request"},
		{"events of a subject too long", "GET", "/v1/admin/events?subject=" + long, "admin", "", ``, 400, "invalid_request"},
		{"events by the app client", "GET", "/v1/admin/events", "app", "", ``, 403, "access_denied"},
	})
	// None of the refused bans or logouts took effect.
	h.wantVerify(t, b.token, http.StatusOK, "bob after the refused bans")
	if v := h.adminUser("bob"); v["banned"] != false || v["sessions"] != 1.0 {
		t.Errorf("bob after the refused bans = %v, want not banned, his one session", v)
	}
	if ev := h.events(""); len(ev) != 0 {
		t.Errorf("audit events after only refused requests = %+v, want none", ev)
	}
}

// TestALocalSubjectSpelledLikeATrustedIssuersUserIsSomeoneElse is the
// adversarial review's case: POST /v1/sessions accepts the subject
// "https://idp.test/#77", which used to be the very name of the trusted
// issuer's user 77, so that the local user's global logout and ban reached
// them. They are two users.
func TestALocalSubjectSpelledLikeATrustedIssuersUserIsSomeoneElse(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	lookalike := h.login("app", idpIssuer+"#77", "laptop")
	theirs := h.foreign("77", nil)
	h.wantVerify(t, theirs, http.StatusOK, "their user 77 to begin with")

	if r := h.do(http.MethodPost, "/v1/logout?scope=global", "Bearer "+lookalike.token, "", ""); r.status != http.StatusNoContent {
		t.Fatalf("the local user's global logout = %d %s, want 204", r.status, r.body)
	}
	h.wantVerify(t, lookalike.token, http.StatusUnauthorized, "the local user after their global logout")
	h.wantVerify(t, theirs, http.StatusOK, "their user 77 after the local lookalike's global logout")

	escaped := url.PathEscape(idpIssuer + "#77")
	if r := h.do(http.MethodPut, "/v1/admin/users/"+escaped+"/ban", "admin", "application/json", `{"reason":"spam"}`); r.status != http.StatusOK {
		t.Fatalf("ban of the local user = %d %s, want 200", r.status, r.body)
	}
	h.wantVerify(t, theirs, http.StatusOK, "their user 77 after a ban of the local lookalike")
	if r := h.do(http.MethodGet, "/v1/admin/users/77?issuer="+url.QueryEscape(idpIssuer), "admin", "", ""); r.status != http.StatusOK || r.json(t)["banned"] != false {
		t.Errorf("their user 77 after a ban of the local lookalike = %d %s, want not banned", r.status, r.body)
	}

	// And the other way round.
	if r := h.do(http.MethodDelete, "/v1/admin/users/"+escaped+"/ban", "admin", "", ""); r.status != http.StatusNoContent {
		t.Fatalf("unban of the local user = %d %s, want 204", r.status, r.body)
	}
	h.advance(time.Second) // past the cut-off the ban made
	local := h.login("app", idpIssuer+"#77", "phone")
	if r := h.do(http.MethodPut, "/v1/admin/users/77/ban?issuer="+url.QueryEscape(idpIssuer), "admin", "application/json", `{}`); r.status != http.StatusOK {
		t.Fatalf("ban of their user 77 = %d %s, want 200", r.status, r.body)
	}
	h.wantVerify(t, theirs, http.StatusForbidden, "their user 77 after their ban")
	h.wantVerify(t, local.token, http.StatusOK, "the local lookalike after a ban of their user 77")
	h.wantRefresh(t, local.refresh, http.StatusOK, "the local lookalike's refresh token after a ban of their user 77")
	h.login("app", idpIssuer+"#77", "tablet") // the local user may still log in
}

// TestAdminShowsATrustedIssuersUserAsSubjectAndIssuer: the user and the
// audit trail name a trusted issuer's user by the plain sub and a separate
// issuer, and our own users exactly as before.
func TestAdminShowsATrustedIssuersUserAsSubjectAndIssuer(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	issuer := "?issuer=" + url.QueryEscape(idpIssuer)
	theirs := h.foreign("77", func(c jwt.MapClaims) { c["sid"] = "idp-s1" })
	if r := h.do(http.MethodPost, "/v1/logout", "Bearer "+theirs, "", ""); r.status != http.StatusNoContent {
		t.Fatalf("their user's logout = %d %s, want 204", r.status, r.body)
	}
	r := h.do(http.MethodPut, "/v1/admin/users/77/ban"+issuer, "admin", "application/json", `{"reason":"spam"}`)
	if r.status != http.StatusOK {
		t.Fatalf("ban = %d %s, want 200", r.status, r.body)
	}
	for what, r := range map[string]reply{"the ban's answer": r, "GET the user": h.do(http.MethodGet, "/v1/admin/users/77"+issuer, "admin", "", "")} {
		v := r.json(t)
		if v["subject"] != "77" || v["issuer"] != idpIssuer || v["banned"] != true {
			t.Errorf("%s = %s, want subject 77, issuer %s, banned", what, r.body, idpIssuer)
		}
	}
	// Ours: the fields as before, and no issuer.
	h.login("app", "77", "laptop")
	ours := h.do(http.MethodGet, "/v1/admin/users/77", "admin", "", "").json(t)
	if _, ok := ours["issuer"]; ok || ours["subject"] != "77" || ours["banned"] != false || ours["sessions"] != float64(1) {
		t.Errorf("our user 77 = %v, want subject 77, not banned, 1 session, and no issuer", ours)
	}

	summary := func(events []map[string]any) []string {
		var out []string
		for _, e := range events {
			out = append(out, fmt.Sprintf("%v %v %v %v", e["type"], e["subject"], e["issuer"], e["session_id"]))
		}
		return out
	}
	want := []string{"ban 77 " + idpIssuer + " <nil>", "logout 77 " + idpIssuer + " idp-s1"}
	if got, _ := h.adminEvents(t, ""); !slices.Equal(summary(got), want) {
		t.Errorf("events = %q, want %q", summary(got), want)
	}
	if got, _ := h.adminEvents(t, "?subject=77&issuer="+url.QueryEscape(idpIssuer)); !slices.Equal(summary(got), want) {
		t.Errorf("their user's events = %q, want %q", summary(got), want)
	}
	if got, _ := h.adminEvents(t, "?subject=77"); len(got) != 0 {
		t.Errorf("our user 77's events = %q, want none (theirs are not ours)", summary(got))
	}
	for query, status := range map[string]int{
		"?issuer=" + url.QueryEscape(idpIssuer):                     http.StatusBadRequest,
		"?subject=77&issuer=" + url.QueryEscape("https://unknown/"): http.StatusBadRequest,
		"?subject=77&issuer=" + url.QueryEscape(testIssuer):         http.StatusOK,
	} {
		if r := h.do(http.MethodGet, "/v1/admin/events"+query, "admin", "", ""); r.status != status {
			t.Errorf("GET /v1/admin/events%s = %d %s, want %d", query, r.status, r.body, status)
		}
	}
}

// TestAdminRevocationByJTIIsBoundedByTheLongestTokenLife: an exp beyond
// the latest a token tokenguard accepts can expire would write an entry
// that outlives every token (the review saw one for 292 years).
func TestAdminRevocationByJTIIsBoundedByTheLongestTokenLife(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	now := h.now().Unix()
	ours, theirs := int64((testTTL + testLeeway).Seconds()), int64((auth.DefaultMaxTokenLifetime + testLeeway).Seconds())
	for _, c := range []struct {
		name, body string
		want       int
	}{
		{"an exp in the year 5138", `{"jti":"x","exp":99999999999}`, http.StatusBadRequest},
		{"an exp a second beyond access_ttl + leeway", fmt.Sprintf(`{"jti":"x","exp":%d}`, now+ours+1), http.StatusBadRequest},
		{"an exp at access_ttl + leeway", fmt.Sprintf(`{"jti":"x","exp":%d}`, now+ours), http.StatusNoContent},
		{"a trusted issuer's exp a second beyond its max_token_lifetime + leeway", fmt.Sprintf(`{"jti":"y","exp":%d,"issuer":%q}`, now+theirs+1, idpIssuer), http.StatusBadRequest},
		{"a trusted issuer's exp at its max_token_lifetime + leeway", fmt.Sprintf(`{"jti":"y","exp":%d,"issuer":%q}`, now+theirs, idpIssuer), http.StatusNoContent},
		{"an issuer neither ours nor trusted", fmt.Sprintf(`{"jti":"z","exp":%d,"issuer":"https://unknown.test/"}`, now+60), http.StatusBadRequest},
	} {
		r := h.do(http.MethodPost, "/v1/admin/revocations", "admin", "application/json", c.body)
		if r.status != c.want {
			t.Errorf("%s: POST /v1/admin/revocations = %d %s, want %d", c.name, r.status, r.body, c.want)
			continue
		}
		if r.status == http.StatusBadRequest && !strings.Contains(r.body, `"error":"invalid_request"`) {
			t.Errorf("%s: body %s, want the JSON error shape", c.name, r.body)
		}
	}
	h.wantNoEntryBeyond(t, auth.DefaultMaxTokenLifetime+2*testLeeway)
}
