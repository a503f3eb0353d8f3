package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/auth"
)

// serveJWKS publishes s's JWKS as tokenguard does, and returns its URL.
func serveJWKS(t *testing.T, s *auth.Service) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(s.JWKS()); err != nil {
			t.Errorf("encode JWKS: %v", err)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/.well-known/jwks.json"
}

func newRemote(t *testing.T, url string, clock func() time.Time) *auth.Service {
	t.Helper()
	r, err := auth.NewRemote(t.Context(), auth.RemoteConfig{
		Issuer: testIssuer, Audience: testAudience, AccessTTL: testTTL, Leeway: testLeeway,
		JWKSURL: url, Clock: clock, VerifiedCacheSize: 16,
	})
	if err != nil {
		t.Fatalf("NewRemote = %v, want no error", err)
	}
	return r
}

func TestRemoteVerifiesByTheRulesOfTheIssuingService(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := fixedClock(now)
	tk := loadTestKey(t, "k1", "ES256", false)
	other := loadTestKey(t, "k2", "ES256", false)
	local := newTestService(t, clock, tk.key)
	remote := newRemote(t, serveJWKS(t, local), clock)

	issued, _, err := local.Issue(auth.IssueRequest{Subject: "alice", SessionID: "sid-1"})
	if err != nil {
		t.Fatal(err)
	}
	with := func(edit func(h, c map[string]any)) string {
		h, c := validHeader(tk), validClaims(now)
		edit(h, c)
		return forge(t, h, c, tk.method, tk.signer)
	}
	for _, c := range []struct {
		name  string
		token string
		want  error
	}{
		{"a token the service issued is accepted", issued, nil},
		{"a token of another typ is refused", with(func(h, _ map[string]any) { h["typ"] = "JWT" }), auth.ErrInvalidToken},
		{"a token for another audience is refused", with(func(_, c map[string]any) { c["aud"] = "else" }), auth.ErrInvalidToken},
		{"a token of another issuer is refused", with(func(_, c map[string]any) { c["iss"] = "https://else" }), auth.ErrInvalidToken},
		{"an expired token is refused", with(func(_, c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() }), auth.ErrExpired},
		{"a token without jti is refused", with(func(_, c map[string]any) { delete(c, "jti") }), auth.ErrInvalidToken},
		{"a token without iat is refused", with(func(_, c map[string]any) { delete(c, "iat") }), auth.ErrInvalidToken},
		{"a token living longer than the access TTL is refused", with(func(_, c map[string]any) { c["exp"] = now.Add(2 * testTTL).Unix() }), auth.ErrInvalidToken},
		{"a token with a crit header is refused", with(func(h, _ map[string]any) { h["crit"] = []string{"b64"} }), auth.ErrInvalidToken},
		{"a token naming an unknown kid is refused", with(func(h, _ map[string]any) { h["kid"] = "nope" }), auth.ErrInvalidToken},
		{"a token signed by a key not in the JWKS is refused", forge(t, validHeader(tk), validClaims(now), other.method, other.signer), auth.ErrSignature},
		{"a token whose alg differs from its key's is refused", with(func(h, _ map[string]any) { h["alg"] = "RS256" }), auth.ErrInvalidToken},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, lerr := local.Verify(context.Background(), c.token)
			_, rerr := remote.Verify(context.Background(), c.token)
			if !errors.Is(rerr, c.want) || (rerr == nil) != (c.want == nil) {
				t.Errorf("remote Verify = %v, want %v", rerr, c.want)
			}
			if !errors.Is(lerr, c.want) || (lerr == nil) != (rerr == nil) {
				t.Errorf("local Verify = %v, remote Verify = %v: want both %v", lerr, rerr, c.want)
			}
		})
	}
}

func TestRemoteRefusesToIssueAndBadConfig(t *testing.T) {
	tk := loadTestKey(t, "k1", "EdDSA", false)
	url := serveJWKS(t, newTestService(t, time.Now, tk.key))
	r := newRemote(t, url, time.Now)
	if _, _, err := r.Issue(auth.IssueRequest{Subject: "alice"}); !errors.Is(err, auth.ErrConfig) {
		t.Errorf("Issue on a remote service = %v, want ErrConfig", err)
	}
	for name, cfg := range map[string]auth.RemoteConfig{
		"no JWKS URL": {Issuer: testIssuer, Audience: testAudience, AccessTTL: testTTL},
		"HMAC pinned": {Issuer: testIssuer, Audience: testAudience, AccessTTL: testTTL, JWKSURL: url, Algorithms: []string{"HS256"}},
		"no TTL":      {Issuer: testIssuer, Audience: testAudience, JWKSURL: url},
	} {
		if _, err := auth.NewRemote(t.Context(), cfg); !errors.Is(err, auth.ErrConfig) {
			t.Errorf("NewRemote with %s = %v, want ErrConfig", name, err)
		}
	}
}

func TestRemoteFetchesTheJWKSAgainOnAnUnknownKIDRateLimited(t *testing.T) {
	old := loadTestKey(t, "k1", "ES256", false)
	rotated := loadTestKey(t, "k2", "EdDSA", false)
	var mu sync.Mutex
	published := newTestService(t, time.Now, old.key)
	var fetches atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if err := json.NewEncoder(w).Encode(published.JWKS()); err != nil {
			t.Errorf("encode JWKS: %v", err)
		}
	}))
	t.Cleanup(srv.Close)
	r, err := auth.NewRemote(t.Context(), auth.RemoteConfig{
		Issuer: testIssuer, Audience: testAudience, AccessTTL: testTTL, Leeway: testLeeway,
		JWKSURL: srv.URL, UnknownKIDInterval: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	// tokenguard rotates: k2 signs, k1 only verifies.
	next := newTestService(t, time.Now, rotated.key, loadTestKey(t, "k1b", "ES256", true).key)
	mu.Lock()
	published = next
	mu.Unlock()
	tok, _, err := next.Issue(auth.IssueRequest{Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	before := fetches.Load()
	if _, err := r.Verify(context.Background(), tok); err != nil {
		t.Errorf("Verify of a token signed by a key published after start = %v, want nil (fetched on its unknown kid)", err)
	}
	if got := fetches.Load() - before; got != 1 {
		t.Errorf("JWKS fetches for the unknown kid = %d, want 1", got)
	}
	h, c := validHeader(old), validClaims(time.Now())
	h["kid"] = "k-unknown"
	forged := forge(t, h, c, old.method, old.signer)
	before = fetches.Load()
	for range 5 {
		if _, err := r.Verify(context.Background(), forged); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("Verify of a token naming an unknown kid = %v, want ErrInvalidToken", err)
		}
	}
	if got := fetches.Load() - before; got > 1 {
		t.Errorf("JWKS fetches for 5 tokens with an unknown kid = %d, want at most 1 (rate limited)", got)
	}
}
