package echoverifier_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/verifier"
	"github.com/tokenguard/tokenguard/verifier/echoverifier"
)

const issuer, audience = "https://tokenguard.test", "api"

// tokenguard serves a JWKS and a feed whose snapshot revokes the token
// with id revoked, and returns its URL and the Service behind the JWKS.
func tokenguard(t *testing.T, revoked func() string) (string, *auth.Service) {
	t.Helper()
	key, err := auth.GenerateEdDSAKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.New(auth.Config{Issuer: issuer, Audience: audience, AccessTTL: time.Hour, Keys: []*auth.Key{key}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		if err := json.NewEncoder(w).Encode(tokens.JWKS()); err != nil {
			t.Errorf("encode JWKS: %v", err)
		}
	})
	mux.HandleFunc("GET /v1/revocations/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "event: snapshot\ndata: {\"entries\":1}\n\nevent: revocation\ndata: {\"kind\":\"token\",\"iss\":%q,\"jti\":%q,\"until\":%q}\n\nid: e-0\nevent: ready\ndata: {}\n\n",
			issuer, revoked(), time.Now().Add(time.Hour).Format(time.RFC3339))
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush the feed: %v", err)
		}
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL, tokens
}

func TestEchoMiddlewareHandsOnClaimsAndRefusesAsVerifyDoes(t *testing.T) {
	var revokedJTI string
	ready := make(chan struct{})
	url, tokens := tokenguard(t, func() string { <-ready; return revokedJTI })
	good, _, err := tokens.Issue(auth.IssueRequest{Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	revoked, claims, err := tokens.Issue(auth.IssueRequest{Subject: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	revokedJTI = claims.ID
	close(ready)

	v, err := verifier.New(t.Context(), verifier.Config{URL: url, Issuer: issuer, Audience: audience, AccessTTL: time.Hour, ClientID: "feeder", ClientSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	loaded := v.Changed()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-loaded:
	case <-time.After(10 * time.Second): // a bound on a broken verifier
		t.Fatal("the verifier did not load the snapshot within 10s")
	}

	e := echo.New()
	e.Use(echoverifier.Middleware(v))
	e.GET("/", func(c echo.Context) error {
		claims, ok := echoverifier.Claims(c)
		inCtx, ok2 := verifier.Claims(c.Request().Context())
		if !ok || !ok2 || claims != inCtx {
			return c.String(http.StatusInternalServerError, "no claims")
		}
		return c.String(http.StatusOK, claims.Subject)
	})
	for _, tc := range []struct {
		name, authorization string
		status              int
		body, challenge     string
	}{
		{"a good token reaches the handler with its claims", "Bearer " + good, http.StatusOK, "alice", ""},
		{"no token is a 401 with a bare challenge", "", http.StatusUnauthorized, "", `Bearer realm="tokenguard"`},
		{"a revoked token is a 401 invalid_token", "Bearer " + revoked, http.StatusUnauthorized, "", `Bearer realm="tokenguard", error="invalid_token", error_description="token revoked: the token was revoked"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tc.authorization != "" {
				r.Header.Set("Authorization", tc.authorization)
			}
			w := httptest.NewRecorder()
			e.ServeHTTP(w, r)
			if w.Code != tc.status || w.Header().Get("WWW-Authenticate") != tc.challenge || (tc.body != "" && w.Body.String() != tc.body) {
				t.Errorf("answer = %d %q, challenge %q; want %d %q, challenge %q", w.Code, w.Body, w.Header().Get("WWW-Authenticate"), tc.status, tc.body, tc.challenge)
			}
		})
	}
}
