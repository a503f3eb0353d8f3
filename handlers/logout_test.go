package handlers

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Contract tests of POST /v1/logout (logout.go).

func TestLogoutLocalEndsOnlyThatSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	a1, a2, b1 := h.login("app", "alice", "laptop"), h.login("app", "alice", "phone"), h.login("app", "bob", "laptop")
	for _, s := range []login{a1, a2, b1} {
		h.wantVerify(t, s.token, http.StatusOK, "fresh session")
	}

	r := h.do(http.MethodPost, "/v1/logout", "Bearer "+a1.token, "", "")
	if r.status != http.StatusNoContent {
		t.Fatalf("logout = %d %s, want 204", r.status, r.body)
	}
	h.wantVerify(t, a1.token, http.StatusUnauthorized, "the logged-out session")
	h.wantVerify(t, a2.token, http.StatusOK, "alice's other session survives a local logout")
	h.wantVerify(t, b1.token, http.StatusOK, "bob is untouched")
	// A session entry lives as long as a token of it issued right now.
	h.wantTTL(t, "s", a1.sid, testTTL+testLeeway)

	if r := h.do(http.MethodPost, "/v1/logout", "Bearer "+a1.token, "", ""); r.status != http.StatusUnauthorized {
		t.Errorf("second logout with the dead token = %d, want 401", r.status)
	}
	if ev := h.events("alice"); len(ev) != 1 || ev[0].Type != "logout" || ev[0].Reason != "local" || ev[0].SessionID != a1.sid || ev[0].Actor != "app" {
		t.Errorf("events of alice = %+v, want one local logout of %s by app", ev, a1.sid)
	}
}

func TestLogoutGlobalEndsEverySessionOfTheUserAndANewLoginWorksAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	a1, a2, b1 := h.login("app", "alice", "laptop"), h.login("app", "alice", "phone"), h.login("app", "bob", "laptop")

	r := h.do(http.MethodPost, "/v1/logout?scope=global", "Bearer "+a2.token, "", "")
	if r.status != http.StatusNoContent {
		t.Fatalf("logout global = %d %s, want 204", r.status, r.body)
	}
	h.wantVerify(t, a1.token, http.StatusUnauthorized, "alice's other session after a global logout")
	h.wantVerify(t, a2.token, http.StatusUnauthorized, "the session that logged out globally")
	h.wantVerify(t, b1.token, http.StatusOK, "bob is untouched")
	h.wantTTL(t, "u", "alice", testTTL+testLeeway)

	// A millisecond after the cut-off, within the same second: a token's
	// iat is in whole seconds, and the new session must not die with the
	// old ones.
	h.advance(time.Millisecond)
	fresh := h.login("app", "alice", "laptop")
	h.wantVerify(t, fresh.token, http.StatusOK, "a session opened right after the cut-off")
}

func TestLogoutScopesEndOnlyTheRightSessions(t *testing.T) {
	t.Parallel()
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
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{})
			a := []login{h.login("app", "alice", "laptop"), h.login("app", "alice", "phone"), h.login("app", "alice", "tablet")}
			b := h.login("app", "bob", "laptop")

			r := h.do(http.MethodPost, "/v1/logout"+c.query, "Bearer "+a[1].token, "", "")
			if r.status != http.StatusNoContent {
				t.Fatalf("logout = %d %s, want 204", r.status, r.body)
			}
			for j, s := range a {
				wantVerify, wantRefresh := http.StatusOK, http.StatusOK
				if !c.wantAlive[j] {
					wantVerify, wantRefresh = http.StatusUnauthorized, http.StatusBadRequest
				}
				h.wantVerify(t, s.token, wantVerify, fmt.Sprintf("access token of session %d", j))
				h.wantRefresh(t, s.refresh, wantRefresh, fmt.Sprintf("refresh token of session %d", j))
			}
			h.wantVerify(t, b.token, http.StatusOK, "another user is untouched")
			h.wantRefresh(t, b.refresh, http.StatusOK, "another user is untouched")

			h.advance(time.Millisecond)
			fresh := h.login("app", "alice", "laptop")
			h.wantVerify(t, fresh.token, http.StatusOK, "a session opened right after the logout")
		})
	}
}

func TestBadLogoutRequestsGetAClearJSONError(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	s := h.login("app", "alice", "laptop")
	h.wantClientErrors(t, []clientMistake{
		{"logout with an unknown scope", "POST", "/v1/logout?scope=everything", "Bearer " + s.token, "", ``, 400, "invalid_request"},
		{"logout with scope all", "POST", "/v1/logout?scope=all", "Bearer " + s.token, "", ``, 400, "invalid_request"},
		{"logout without a token", "POST", "/v1/logout", "", "", ``, 401, "invalid_token"},
		{"logout with Basic instead of Bearer", "POST", "/v1/logout", "app", "", ``, 401, "invalid_token"},
	})
	h.wantVerify(t, s.token, http.StatusOK, "nothing above may have hurt a good session")
}

// TestATrustedIssuersTokenNeverEndsOurSessionBySid is the adversarial
// review's case: our session ids are no secret (X-Auth-Session, refresh
// tokens), and a trusted issuer's token whose sid equals one of them, sent
// to POST /v1/logout, ended that session. Its sid is its issuer's, not
// ours.
func TestATrustedIssuersTokenNeverEndsOurSessionBySid(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	victim := h.login("app", "alice", "laptop")
	theirs := h.foreign("mallory", func(c jwt.MapClaims) { c["sid"] = victim.sid })
	for _, scope := range []string{"others", "local"} {
		if r := h.do(http.MethodPost, "/v1/logout?scope="+scope, "Bearer "+theirs, "", ""); r.status != http.StatusNoContent {
			t.Fatalf("their logout (%s) = %d %s, want 204", scope, r.status, r.body)
		}
	}
	h.wantVerify(t, victim.token, http.StatusOK, "our session after a trusted issuer's logout with its sid")
	h.wantRefresh(t, victim.refresh, http.StatusOK, "our session's refresh token after a trusted issuer's logout with its sid")
	h.wantVerify(t, theirs, http.StatusUnauthorized, "their token after their own local logout")

	// And ending our session leaves their session of the same sid alone.
	other := h.login("app", "bob", "phone")
	theirs2 := h.foreign("mallory", func(c jwt.MapClaims) { c["sid"] = other.sid; c["n"] = 2 })
	if r := h.do(http.MethodPost, "/v1/logout", "Bearer "+other.token, "", ""); r.status != http.StatusNoContent {
		t.Fatalf("our logout = %d %s, want 204", r.status, r.body)
	}
	h.wantVerify(t, theirs2, http.StatusOK, "their token whose sid is that of a session of ours that ended")
}
