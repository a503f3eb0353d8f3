package handlers

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tokenguard/tokenguard/clients"
)

func TestOAuthClientAuthentication(t *testing.T) {
	t.Parallel()
	// A secret with characters that form-urlencoding changes.
	const secret = "s3cr+t %/:é"
	cs := clientAuth{registry: newRegistry(t,
		clients.Entry{ID: "app", Secret: secret},
		clients.Entry{ID: "a/b", Secret: "x"},
	)}
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
	}
	enc := url.QueryEscape
	cases := []struct {
		name       string
		authz      string
		form       url.Values
		wantClient string
		wantStatus int // 0: success
		wantCode   string
	}{
		{"Basic with the id and secret form-urlencoded", basic("app", enc(secret)), nil, "app", 0, ""},
		{"Basic with a form-urlencoded id", basic(enc("a/b"), "x"), nil, "a/b", 0, ""},
		{"client_secret_post", "", url.Values{"client_id": {"app"}, "client_secret": {secret}}, "app", 0, ""},
		{"Basic with the matching client_id also in the form", basic("app", enc(secret)), url.Values{"client_id": {"app"}}, "app", 0, ""},
		{"Basic with the secret not form-urlencoded", basic("app", secret), nil, "", 401, "invalid_client"},
		{"Basic with a broken escape", basic("app", "%zz"), nil, "", 401, "invalid_client"},
		{"Basic with a wrong secret", basic("app", "nope"), nil, "", 401, "invalid_client"},
		{"Basic for an unknown client", basic("ghost", enc(secret)), nil, "", 401, "invalid_client"},
		{"an Authorization header that is not Basic", "Bearer abc", nil, "", 401, "invalid_client"},
		{"no credentials at all", "", nil, "", 401, "invalid_client"},
		{"client_id without client_secret", "", url.Values{"client_id": {"app"}}, "", 401, "invalid_client"},
		{"client_secret_post with a wrong secret", "", url.Values{"client_id": {"app"}, "client_secret": {"nope"}}, "", 401, "invalid_client"},
		{"both Basic and client_secret", basic("app", enc(secret)), url.Values{"client_secret": {secret}}, "", 400, "invalid_request"},
		{"Basic with another client_id in the form", basic("app", enc(secret)), url.Values{"client_id": {"other"}}, "", 400, "invalid_request"},
		{"client_id given twice", "", url.Values{"client_id": {"app", "app"}, "client_secret": {secret}}, "", 400, "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(c.form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if c.authz != "" {
				r.Header.Set("Authorization", c.authz)
			}
			got, err := cs.authenticateOAuth(r)
			if c.wantStatus == 0 {
				if err != nil || got.ID != c.wantClient {
					t.Fatalf("authenticateOAuth = %q, %v; want %q", got.ID, err, c.wantClient)
				}
				return
			}
			var api *apiError
			if !errors.As(err, &api) {
				t.Fatalf("authenticateOAuth = %q, %v; want an apiError", got.ID, err)
			}
			if api.status != c.wantStatus || api.code != c.wantCode {
				t.Errorf("authenticateOAuth = %d %s, want %d %s", api.status, api.code, c.wantStatus, c.wantCode)
			}
		})
	}
}

// newRegistry builds the client registry of a test, in dev mode so that the
// secrets can be given in clear text.
func newRegistry(t testing.TB, entries ...clients.Entry) *clients.Registry {
	t.Helper()
	r, err := clients.New(clients.Config{Clients: entries, Dev: true})
	if err != nil {
		t.Fatal(err)
	}
	return r
}
