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
