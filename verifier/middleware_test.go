package verifier_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/testclock"
	"github.com/tokenguard/tokenguard/verifier"
)

// protected is a handler behind v's middleware that answers with the
// subject of the claims it found in its context.
func protected(v *verifier.Verifier) http.Handler {
	return v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, ok := verifier.Claims(r.Context())
		if !ok {
			http.Error(w, "no claims", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, claims.Subject)
	}))
}

type answer struct {
	status                int
	body, challenge, code string
	retryAfter            string
}

func call(t *testing.T, h http.Handler, authorization string) answer {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	body, err := io.ReadAll(w.Result().Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: w.Code, body: string(body), challenge: w.Header().Get("WWW-Authenticate"), retryAfter: w.Header().Get("Retry-After")}
	if w.Code != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(body, &e); err != nil {
			t.Errorf("refusal body %q is not the JSON error: %v", body, err)
		}
		a.code = e.Error
	}
	return a
}

func TestMiddlewareAnswersAsVerifyDoes(t *testing.T) {
	clock := testclock.New(time.Now())
	f := newFakeTokenguard(t, clock.Now)
	v := newVerifier(t, f, clock.Now, nil)
	run(t, v)
	h := protected(v)
	good, _ := f.issue("alice", "sid-a")
	revoked, revokedJTI := f.issue("bob", "sid-b")
	banned, _ := f.issue("dave", "sid-d")
	c := f.conn()

	if a := call(t, h, "Bearer "+good); a.status != http.StatusServiceUnavailable || a.code != "temporarily_unavailable" || a.retryAfter != "1" {
		t.Errorf("before the snapshot: %+v, want 503 temporarily_unavailable, Retry-After 1", a)
	}
	send(t, v, c, snapshot("e-0", revocation("", "token", "jti", revokedJTI, clock.Now().Add(ttl)),
		event("", "revocation", fmt.Sprintf(`{"kind":"ban","iss":%q,"sub":"dave","at":%q}`, issuer, clock.Now().Format(time.RFC3339)))))

	for _, tc := range []struct {
		name          string
		authorization string
		status        int
		code          string
		challenge     string // a prefix
	}{
		{"a good token reaches the handler with its claims", "Bearer " + good, http.StatusOK, "", ""},
		{"no token is a 401 with a bare challenge", "", http.StatusUnauthorized, "invalid_token", `Bearer realm="tokenguard"`},
		{"another scheme is a 401 invalid_token", "Basic Zm9vOmJhcg==", http.StatusUnauthorized, "invalid_token", `Bearer realm="tokenguard", error="invalid_token", error_description="the Authorization header must use the Bearer scheme"`},
		{"a forged token is a 401 invalid_token", "Bearer " + good[:len(good)-4] + "AAAA", http.StatusUnauthorized, "invalid_token", `Bearer realm="tokenguard", error="invalid_token"`},
		{"a revoked token is a 401 invalid_token", "Bearer " + revoked, http.StatusUnauthorized, "invalid_token", `Bearer realm="tokenguard", error="invalid_token", error_description="token revoked`},
		{"a banned user's token is a 403", "Bearer " + banned, http.StatusForbidden, "user_banned", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, h, tc.authorization)
			if a.status != tc.status || a.code != tc.code || !strings.HasPrefix(a.challenge, tc.challenge) || (tc.challenge == "") != (a.challenge == "") {
				t.Errorf("answer = %+v, want status %d, error %q, challenge %q", a, tc.status, tc.code, tc.challenge)
			}
			if tc.status == http.StatusOK && a.body != "alice" {
				t.Errorf("handler answered %q, want the subject alice from the claims", a.body)
			}
		})
	}
	if a := call(t, h, ""); a.challenge != `Bearer realm="tokenguard"` {
		t.Errorf("challenge without a token = %q, want exactly Bearer realm=\"tokenguard\"", a.challenge)
	}
}

// BenchmarkVerifyWarm is a check inside an embedding service: a token
// already in the verified-token cache, checked against the local state.
// The target is at most 1µs and no allocation.
func BenchmarkVerifyWarm(b *testing.B) {
	clock := testclock.New(time.Now())
	f := newFakeTokenguard(b, clock.Now)
	v := newVerifier(b, f, clock.Now, nil)
	run(b, v)
	send(b, v, f.conn(), snapshot("e-0"))
	tok, _ := f.issue("alice", "sid-a")
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil {
		b.Fatalf("Verify = %v, want nil", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
