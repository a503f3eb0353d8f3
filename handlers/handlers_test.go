package handlers

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
)

func TestServerFaultsAnswerAGeneric500AndLogTheCause(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		fault echo.HandlerFunc
	}{
		{"an unexpected error", func(echo.Context) error { return errors.New("disk on fire at 10.1.2.3") }},
		{"a panic in a handler", func(echo.Context) error { panic("boom") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{})
			// A route of the real instance that fails as told: the fault
			// goes through the same middleware and error handler as
			// every endpoint.
			h.e.GET("/test/fault", c.fault)
			tok, _ := h.issue(auth.IssueRequest{SessionID: "s"})
			r := h.exchange(t, h.newRequest(http.MethodGet, "/test/fault", "Bearer "+tok, "", ""), testRoute)
			if r.status != http.StatusInternalServerError {
				t.Errorf("status = %d, want 500", r.status)
			}
			if got, want := strings.TrimSpace(r.body), `{"error":"server_error","error_description":"internal error"}`; got != want {
				t.Errorf("body = %s, want %s (no internals leak)", got, want)
			}
			if !strings.Contains(h.logs.String(), "internal error") {
				t.Errorf("the cause was not logged: %q", h.logs.String())
			}
			if strings.Contains(h.logs.String(), tok) {
				t.Errorf("the token was logged")
			}
		})
	}
}

func TestRevokedAndUnavailableMapToTheirStatuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		state func(h *harness, c *auth.Claims) error
		want  int
	}{
		{"a revoked token", func(h *harness, c *auth.Claims) error {
			return h.store.RevokeToken(h.t.Context(), c.ID, c.ExpiresAt.Time)
		}, http.StatusUnauthorized},
		{"an ended session", func(h *harness, c *auth.Claims) error {
			return h.store.RevokeSession(h.t.Context(), c.SessionID)
		}, http.StatusUnauthorized},
		{"an unreachable store", func(h *harness, _ *auth.Claims) error {
			h.redis.SetError("LOADING the store is down")
			return nil
		}, http.StatusServiceUnavailable},
		{"a banned user", func(h *harness, c *auth.Claims) error {
			return h.store.Ban(h.t.Context(), c.Subject, blacklist.Ban{})
		}, http.StatusForbidden},
		{"a good token", func(*harness, *auth.Claims) error { return nil }, http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{})
			tok, claims := h.issue(auth.IssueRequest{SessionID: "s"})
			if err := c.state(h, claims); err != nil {
				t.Fatal(err)
			}
			r := h.do(http.MethodPost, "/v1/verify/anything", "Bearer "+tok, "", "")
			if r.status != c.want {
				t.Errorf("status = %d %s, want %d", r.status, r.body, c.want)
			}
		})
	}
}

// TestVerifyAnswersOnly200Or401WhateverTheProxyForwards: nginx turns any
// other status into a 500, so neither an unusual method nor a large body a
// proxy forwards may change the answer of the forward-auth check.
func TestVerifyAnswersOnly200Or401WhateverTheProxyForwards(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	tok, _ := h.issue(auth.IssueRequest{SessionID: "s"})
	big := strings.Repeat("x", 1<<20)
	for _, c := range []struct {
		name, method, path, body, token string
		want                            int
	}{
		{"PURGE with a good token", "PURGE", "/v1/verify", "", tok, http.StatusOK},
		{"LOCK below /v1/verify with a good token", "LOCK", "/v1/verify/dav/file", "", tok, http.StatusOK},
		{"MKCOL without a token", "MKCOL", "/v1/verify", "", "", http.StatusUnauthorized},
		{"a 1 MiB body with a good token", "POST", "/v1/verify", big, tok, http.StatusOK},
		{"a 1 MiB body without a token", "PUT", "/v1/verify/upload", big, "", http.StatusUnauthorized},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			if r := h.exchange(t, req, conforming); r.status != c.want {
				t.Errorf("status = %d %s, want %d", r.status, r.body, c.want)
			}
		})
	}
	// Elsewhere the limits stand.
	req := httptest.NewRequest(http.MethodPost, "/v1/sessions", strings.NewReader(big))
	if r := h.exchange(t, req, malformedRequest); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("POST /v1/sessions with 1 MiB = %d, want 413", r.status)
	}
	req = httptest.NewRequest("PURGE", "/v1/sessions", nil)
	if r := h.exchange(t, req, malformedRequest); r.status != http.StatusMethodNotAllowed {
		t.Errorf("PURGE /v1/sessions = %d, want 405", r.status)
	}
}

func TestUnknownRoutesAndMethodsGetAJSONError(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.wantClientErrors(t, []clientMistake{
		{"an unknown route", "GET", "/v1/nothing-here", "", "", ``, 404, "not_found"},
		{"a wrong method", "PUT", "/v1/sessions", "app", "", ``, 405, "method_not_allowed"},
		{"an unknown admin route without client credentials", "GET", "/v1/admin/nothing-here", "", "", ``, 401, "invalid_client"},
		{"an unknown admin route", "GET", "/v1/admin/nothing-here", "admin", "", ``, 404, "not_found"},
	})
}
