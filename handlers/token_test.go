package handlers

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// clientToken obtains an access token for client itself through the
// client_credentials grant, failing the test unless the answer is 200.
func (h *harness) clientToken(t *testing.T, client, scope string) clientTokenResponse {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	r := h.form("/oauth2/token", client, form)
	if r.status != http.StatusOK {
		t.Fatalf("client_credentials for %s = %d %s, want 200", client, r.status, r.body)
	}
	var out clientTokenResponse
	if err := json.Unmarshal([]byte(r.body), &out); err != nil {
		t.Fatal(err)
	}
	if out.TokenType != "Bearer" || out.AccessToken == "" || out.ExpiresIn != int64(testTTL.Seconds()) {
		t.Fatalf("client token response %s lacks a token, type or expiry", r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Cache-Control = %q, want no-store", r.header.Get("Cache-Control"))
	}
	return out
}

func TestTheClientCredentialsGrantIssuesAVerifiableRevocableTokenOfTheClient(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	tok := h.clientToken(t, "app", "")
	if tok.Scope != "sessions revoke introspect" {
		t.Errorf("scope = %q, want every permission of the client", tok.Scope)
	}
	claims, err := h.auth.Verify(t.Context(), tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Subject != "app" || claims.ClientID != "app" || claims.SessionID != "" || !claims.ClientToken() {
		t.Errorf("claims sub %q client_id %q sid %q client token %v, want the client's own token", claims.Subject, claims.ClientID, claims.SessionID, claims.ClientToken())
	}
	if got := h.verify("/v1/verify", tok.AccessToken); got.status != http.StatusOK || got.header.Get("X-Auth-Request-User") != "app" {
		t.Fatalf("verify = %d user %q, want 200 for app", got.status, got.header.Get("X-Auth-Request-User"))
	}
	in := h.form("/oauth2/introspect", "gateway", url.Values{"token": {tok.AccessToken}}).json(t)
	if in["active"] != true || in["sub"] != "app" || in["client_id"] != "app" {
		t.Errorf("introspection = %v, want active, sub and client_id app", in)
	}
	if r := h.form("/oauth2/revoke", "other", url.Values{"token": {tok.AccessToken}}); r.status != http.StatusOK {
		t.Fatalf("revoke = %d %s, want 200", r.status, r.body)
	}
	h.wantVerify(t, tok.AccessToken, http.StatusUnauthorized, "after RFC 7009 revocation")
}

func TestTheClientCredentialsGrantLimitsScopeToTheClientsPermissions(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	if got := h.clientToken(t, "app", "introspect").Scope; got != "introspect" {
		t.Errorf("scope = %q, want introspect", got)
	}
	form := "application/x-www-form-urlencoded"
	for _, c := range []struct {
		name, client, body string
		status             int
		code               string
	}{
		{"a permission the client lacks", "app", "grant_type=client_credentials&scope=admin", 400, "invalid_scope"},
		{"a malformed scope", "app", "grant_type=client_credentials&scope=a%20%20b", 400, "invalid_scope"},
		{"a wrong secret", "app:wrong", "grant_type=client_credentials", 401, "invalid_client"},
		{"no credentials", "", "grant_type=client_credentials", 401, "invalid_client"},
		{"an unknown grant", "app", "grant_type=password", 400, "unsupported_grant_type"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := h.exchange(t, h.newRequest(http.MethodPost, "/oauth2/token", c.client, form, c.body), malformedRequest)
			if r.status != c.status || r.json(t)["error"] != c.code {
				t.Errorf("= %d %s, want %d %s", r.status, r.body, c.status, c.code)
			}
		})
	}
}

func TestAClientsTokenAndAUserNamedLikeTheClientNeverShareRevocations(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	user := h.login("other", "app", "laptop") // a user whose subject is the client id "app"
	tok := h.clientToken(t, "app", "")

	// The user "app" logs out everywhere: the client's token lives on.
	if r := h.do(http.MethodPost, "/v1/logout?scope=global", "Bearer "+user.token, "", ""); r.status != http.StatusNoContent {
		t.Fatalf("global logout = %d %s", r.status, r.body)
	}
	h.wantVerify(t, user.token, http.StatusUnauthorized, "the user's own global logout")
	h.wantVerify(t, tok.AccessToken, http.StatusOK, "a user named like the client logged out everywhere")

	// An admin bans the user "app": still not the client.
	if r := h.do(http.MethodPut, "/v1/admin/users/app/ban", "admin", "application/json", `{"reason":"spam"}`); r.status != http.StatusOK {
		t.Fatalf("ban = %d %s", r.status, r.body)
	}
	h.wantVerify(t, tok.AccessToken, http.StatusOK, "a user named like the client was banned")
	if r := h.do(http.MethodDelete, "/v1/admin/users/app/ban", "admin", "", ""); r.status != http.StatusNoContent {
		t.Fatalf("unban = %d %s", r.status, r.body)
	}

	// The client's token logs out everywhere: a new user session of "app"
	// lives on, the client's token dies.
	h.advance(time.Second) // past the user's cut-off
	fresh := h.login("other", "app", "phone")
	if r := h.do(http.MethodPost, "/v1/logout?scope=global", "Bearer "+tok.AccessToken, "", ""); r.status != http.StatusNoContent {
		t.Fatalf("global logout with the client token = %d %s", r.status, r.body)
	}
	h.wantVerify(t, tok.AccessToken, http.StatusUnauthorized, "the client's own global logout")
	h.wantVerify(t, fresh.token, http.StatusOK, "the client named like the user logged out everywhere")
}
