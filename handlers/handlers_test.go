package handlers

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
)

// fakeState is a revocation state that fails the way it is told to.
type fakeState struct {
	checkErr error
	panics   bool
}

func (f *fakeState) Check(context.Context, blacklist.Token) error {
	if f.panics {
		panic("boom")
	}
	return f.checkErr
}
func (f *fakeState) RevokeToken(context.Context, string, time.Time) error { return nil }
func (f *fakeState) RevokeSession(context.Context, string) error          { return nil }
func (f *fakeState) CutOff(context.Context, string, time.Time) error      { return nil }

func newTestHandler(t *testing.T, state RevocationState) (http.Handler, *auth.Service, *bytes.Buffer) {
	t.Helper()
	key, err := auth.GenerateEdDSAKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.New(auth.Config{Issuer: "iss", Audience: "aud", AccessTTL: time.Minute, Keys: []*auth.Key{key}})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	e := New(Config{Auth: svc, Revocations: state, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	return e, svc, &logs
}

func TestServerFaultsAnswerAGeneric500AndLogTheCause(t *testing.T) {
	cases := []struct {
		name  string
		state *fakeState
	}{
		{"an unexpected error from the store", &fakeState{checkErr: errors.New("disk on fire at 10.1.2.3")}},
		{"a panic in a handler", &fakeState{panics: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, svc, logs := newTestHandler(t, c.state)
			tok, _, err := svc.Issue(auth.IssueRequest{Subject: "alice", SessionID: "s"})
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodGet, "/v1/verify", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusInternalServerError {
				t.Errorf("status = %d, want 500", rec.Code)
			}
			if got, want := strings.TrimSpace(rec.Body.String()), `{"error":"server_error","error_description":"internal error"}`; got != want {
				t.Errorf("body = %s, want %s (no internals leak)", got, want)
			}
			if !strings.Contains(logs.String(), "internal error") {
				t.Errorf("the cause was not logged: %q", logs.String())
			}
			if strings.Contains(logs.String(), tok) {
				t.Errorf("the token was logged")
			}
		})
	}
}

func TestRevokedAndUnavailableMapToTheirStatuses(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"a revoked token", blacklist.ErrRevoked, http.StatusUnauthorized},
		{"an unreachable store", blacklist.ErrUnavailable, http.StatusServiceUnavailable},
		{"a banned user", blacklist.ErrBanned, http.StatusForbidden},
		{"a good token", nil, http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, svc, _ := newTestHandler(t, &fakeState{checkErr: c.err})
			tok, _, err := svc.Issue(auth.IssueRequest{Subject: "alice", SessionID: "s"})
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodPost, "/v1/verify/anything", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != c.want {
				t.Errorf("status = %d, want %d", rec.Code, c.want)
			}
		})
	}
}

// TestVerifyAnswersOnly200Or401WhateverTheProxyForwards: nginx turns any
// other status into a 500, so neither an unusual method nor a large body a
// proxy forwards may change the answer of the forward-auth check.
func TestVerifyAnswersOnly200Or401WhateverTheProxyForwards(t *testing.T) {
	h, svc, _ := newTestHandler(t, &fakeState{})
	tok, _, err := svc.Issue(auth.IssueRequest{Subject: "alice", SessionID: "s"})
	if err != nil {
		t.Fatal(err)
	}
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
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != c.want {
				t.Errorf("status = %d %s, want %d", rec.Code, rec.Body, c.want)
			}
		})
	}
	// Elsewhere the limits stand.
	req := httptest.NewRequest(http.MethodPost, "/v1/sessions", strings.NewReader(big))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("POST /v1/sessions with 1 MiB = %d, want 413", rec.Code)
	}
	req = httptest.NewRequest("PURGE", "/v1/sessions", nil)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("PURGE /v1/sessions = %d, want 405", rec.Code)
	}
}
