package main

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
)

func TestRefreshTokensAreIntrospectedAndRevokedThroughTheOAuthEndpoints(t *testing.T) {
	ts := startServerYAML(t, nil, oauthClients+"  - {id: spa, secret: spa-secret-1, permissions: [sessions, introspect, revoke]}\n")
	l := ts.loginAs("spa:spa-secret-1", "alice", "phone")

	got := ts.postForm("/oauth2/introspect", "spa:spa-secret-1", url.Values{"token": {l.refresh}}).json(t)
	if got["active"] != true || got["token_use"] != "refresh_token" || got["sub"] != "alice" || got["client_id"] != "spa" || got["sid"] != l.sid {
		t.Errorf("introspection of a live refresh token by its own client = %v, want active, token_use refresh_token, of alice, client spa, sid %s", got, l.sid)
	}
	if got := ts.postForm("/oauth2/introspect", "gateway:gateway-secret-1", url.Values{"token": {l.refresh}}).json(t); len(got) != 1 || got["active"] != false {
		t.Errorf("introspection of spa's refresh token by another client = %v, want exactly {\"active\": false}", got)
	}

	if r := ts.postForm("/oauth2/revoke", "spa:spa-secret-1", url.Values{"token": {l.refresh}, "token_type_hint": {"access_token"}}); r.status != http.StatusOK {
		t.Fatalf("RFC 7009 revocation of the refresh token (with a wrong hint) = %d %s, want 200", r.status, r.body)
	}
	if got := ts.verifyStatus(l.token); got != http.StatusUnauthorized {
		t.Errorf("the session's access token after its refresh token was revoked: verify = %d, want 401", got)
	}
	if r := ts.form("/oauth2/token", "spa:spa-secret-1", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {l.refresh}}); r.status != http.StatusBadRequest {
		t.Errorf("refresh with the revoked refresh token = %d %s, want 400 invalid_grant", r.status, r.body)
	}
	if got := ts.postForm("/oauth2/introspect", "spa:spa-secret-1", url.Values{"token": {l.refresh}}).json(t); len(got) != 1 || got["active"] != false {
		t.Errorf("introspection of the revoked refresh token = %v, want exactly {\"active\": false}", got)
	}
}

func TestAnotherIssuersUserCannotTouchOurUserOfTheSameName(t *testing.T) {
	provider := newIDP(t, "k1")
	iss := provider.url + "/"
	ts := startServerYAML(t, nil, fmt.Sprintf(`trusted_issuers:
  - issuer: %q
    jwks_url: %q
    audience: api
    algorithms: [RS256]
`, iss, provider.url+"/.well-known/jwks.json"))
	ours := ts.login("alice", "laptop")
	theirs := provider.token("k1", "alice", nil)

	if got := ts.listSessions(theirs); len(got) != 0 {
		t.Errorf("the provider's alice lists %d sessions, want none (ours are not theirs): %v", len(got), got)
	}
	if r := ts.do(http.MethodDelete, "/v1/sessions/"+ours.sid, "Bearer "+theirs, "", nil); r.status != http.StatusNotFound {
		t.Errorf("the provider's alice ending our alice's session = %d, want 404", r.status)
	}
	if r := ts.do(http.MethodPost, "/v1/logout?scope=global", "Bearer "+theirs, "", nil); r.status != http.StatusNoContent {
		t.Fatalf("global logout of the provider's alice = %d %s, want 204", r.status, r.body)
	}
	ts.wantVerify(ours.session, http.StatusOK, "our alice after the provider's alice logged out everywhere")
	ts.wantRefresh(ours.refresh, http.StatusOK, "our alice's refresh token after the provider's alice logged out everywhere")
	if got := ts.do(http.MethodGet, "/v1/verify", "Bearer "+theirs, "", nil).status; got != http.StatusUnauthorized {
		t.Errorf("the provider's token after its user's global logout = %d, want 401", got)
	}
}
