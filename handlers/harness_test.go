package handlers

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/clients"
	"github.com/tokenguard/tokenguard/config"
	"github.com/tokenguard/tokenguard/internal/requestid"
	"github.com/tokenguard/tokenguard/internal/syncbuf"
	"github.com/tokenguard/tokenguard/internal/testclock"
	"github.com/tokenguard/tokenguard/lockout"
	"github.com/tokenguard/tokenguard/metrics"
	"github.com/tokenguard/tokenguard/sessions"
	"github.com/tokenguard/tokenguard/signals"
	"github.com/tokenguard/tokenguard/users"
)

const (
	testIssuer  = "https://tokenguard.test"
	idpIssuer   = "https://idp.test/"
	testTTL     = 10 * time.Minute
	testLeeway  = 30 * time.Second
	testIdle    = time.Hour
	testMaxAge  = 24 * time.Hour
	testPrefix  = "tg:"
	testRetains = 24 * time.Hour
	testReuse   = 10 * time.Second
)

// testNow is where every harness clock starts, on a whole second so that
// remaining lifetimes come out in whole seconds.
var testNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// harness is the HTTP layer as tokenguard serves it: the real Echo instance
// over the real workflows and stores on miniredis, with our EdDSA key, a
// trusted issuer with a static Ed25519 key, clients for each permission and
// a clock the test moves. Redis failures are made with h.redis.SetError.
// Everything counts into h.metrics, as served.
type harness struct {
	t        testing.TB
	e        *echo.Echo
	auth     *auth.Service
	users    *users.Service
	store    *blacklist.Store
	sessions *sessions.Store
	audit    *audit.Log
	metrics  *metrics.Metrics
	redis    *miniredis.Miniredis
	idpKey   ed25519.PrivateKey
	// rsa is our RS256 signing key "rs1" with harnessOptions.rsa, for
	// tests that sign tokens of their own with it; nil otherwise.
	rsa   *rsa.PrivateKey
	logs  *syncbuf.Buffer
	clock *testclock.Clock
	// limiter limits failed client authentications, with the defaults of
	// config (client_auth).
	limiter *lockout.Limiter
	// api is the OpenAPI document every exchange is held to (serve).
	api *apiDoc
	// signals is the SSF transmitter.
	signals *signals.Transmitter
}

type harnessOptions struct {
	verify VerifyConfig
	// mirror checks revocations from the local mirror, as served by
	// default, instead of asking Redis every time.
	mirror bool
	// strictFeed keeps, in strict mode, a mirror for the revocation feed
	// alone, as main does when some client holds the feed permission.
	strictFeed bool
	// ready and staleShards, when not nil, replace the store's readiness
	// and its list of stale shards behind /readyz.
	ready       func(context.Context) error
	staleShards func() []int
	// maxPerUser caps each user's sessions; zero means no cap.
	maxPerUser int
	// rsa signs with a fresh 2048-bit RS256 key "rs1", as a production
	// configuration does, instead of the EdDSA key "k1".
	rsa bool
	// feedBuffer and feedBacklog size the revocation feed (blacklist's
	// defaults when zero); heartbeat is its heartbeat interval.
	feedBuffer, feedBacklog int
	heartbeat               time.Duration
	// verifiedCache sizes the cache of verified tokens (config's
	// tokens.verified_cache_size); zero turns it off.
	verifiedCache int
	// infoLogs logs at info level, as main does, instead of debug: the
	// forward-auth decision and the request lines of the hot path are then
	// not written.
	infoLogs bool
	// console is served under /console (see Config.Console).
	console http.Handler
	// feedCurrent, when not nil, replaces the store's answer to whether
	// the feed's state is current.
	feedCurrent func() bool
}

// gatedFeed is the store's feed with another say on whether it is current.
type gatedFeed struct {
	*blacklist.Store
	current func() bool
}

func (g gatedFeed) FeedCurrent() bool { return g.current() }

func (h *harness) now() time.Time { return h.clock.Now() }

// advance lets d pass for everyone: the clock of the workflows and stores,
// and the TTLs of the keys in miniredis.
func (h *harness) advance(d time.Duration) {
	h.clock.Advance(d)
	h.redis.FastForward(d)
}

// Clients of the harness; each one's secret is its id + "-secret".
var testClients = []struct {
	id    string
	perms []string
}{
	{"gateway", []string{clients.PermIntrospect}},
	{"app", []string{clients.PermSessions, clients.PermRevoke, clients.PermIntrospect}},
	{"other", []string{clients.PermSessions, clients.PermRevoke, clients.PermIntrospect}},
	{"admin", []string{clients.PermAdmin}},
	{"feeder", []string{clients.PermFeed}},
	{"receiver", []string{clients.PermEvents}},
	{"receiver2", []string{clients.PermEvents}},
	{"nobody", nil},
}

func newHarness(t testing.TB, opts harnessOptions) *harness {
	t.Helper()
	clk := testclock.New(testNow)
	own, rsaKey := ownKey(t, opts.rsa)
	pub, idpKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "idp.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	idp, err := auth.NewTrustedIssuer(t.Context(), auth.TrustedIssuerConfig{Issuer: idpIssuer, Audience: "api", Algorithms: []string{"EdDSA"}, PublicKeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.New(auth.Config{
		Issuer: testIssuer, Audience: "api", AccessTTL: testTTL, Leeway: testLeeway,
		Keys: []*auth.Key{own}, Clock: clk.Now, TrustedIssuers: []*auth.TrustedIssuer{idp},
		VerifiedCacheSize: opts.verifiedCache,
	})
	if err != nil {
		t.Fatal(err)
	}
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	logs := &syncbuf.Buffer{}
	// As main builds it: every record made with a request's context
	// carries its id.
	level := slog.LevelDebug
	if opts.infoLogs {
		level = slog.LevelInfo
	}
	log := slog.New(requestid.NewHandler(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level})))
	mode := blacklist.ModeStrict
	if opts.mirror {
		mode = blacklist.ModeMirror
	}
	m := metrics.New()
	store := blacklist.New(rdb, blacklist.Config{
		Prefix: testPrefix, Leeway: testLeeway, MaxTokenLifetime: testTTL, LongestTokenLifetime: svc.LongestLifetime(),
		Clock: clk.Now, Mode: mode, Logger: log, OnApplied: m.MirrorApplied,
		FeedBuffer: opts.feedBuffer, FeedBacklog: opts.feedBacklog, Feed: opts.strictFeed,
	})
	if err := m.WatchMirror(store.Stats); err != nil {
		t.Fatal(err)
	}
	if opts.mirror || opts.strictFeed {
		runMirror(t, store)
	}
	sess := sessions.New(rdb, sessions.Config{
		Prefix: testPrefix, RefreshTTL: testIdle, MaxAge: testMaxAge, ReuseWindow: testReuse,
		MaxPerUser: opts.maxPerUser, AccessTokenLife: testTTL + testLeeway, Revoker: store, Clock: clk.Now, Logger: log,
	})
	// The trail keeps real time: miniredis stamps stream ids with it.
	trail := audit.New(rdb, audit.Config{Prefix: testPrefix, Retention: testRetains})
	// The SSF transmitter in dev mode (http receivers): its delivery runs
	// only in tests that start it (runSignals).
	tx, err := signals.New(signals.Config{Redis: rdb, Prefix: testPrefix, Tokens: svc, Audit: trail, Dev: true, Logger: log, Metrics: m, Clock: clk.Now, PollWait: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	us, err := users.New(users.Config{Tokens: svc, Revocations: store, Sessions: sess, Audit: trail, Logger: log, Clock: clk.Now, Metrics: m, Signals: tx})
	if err != nil {
		t.Fatal(err)
	}
	var list []clients.Entry
	for _, c := range testClients {
		list = append(list, clients.Entry{ID: c.id, Secret: c.id + "-secret", Permissions: c.perms})
	}
	registry, err := clients.New(clients.Config{Clients: list, Dev: true})
	if err != nil {
		t.Fatal(err)
	}
	limiter := newLimiter(t, rdb, trail, clk, log)
	var feed Feed = store
	if opts.feedCurrent != nil {
		feed = gatedFeed{store, opts.feedCurrent}
	}
	ready, staleShards := store.Ready, store.StaleShards
	if opts.ready != nil {
		ready = opts.ready
	}
	if opts.staleShards != nil {
		staleShards = opts.staleShards
	}
	e, err := New(Config{
		Auth:        svc,
		Users:       us,
		Clients:     registry,
		Limiter:     limiter,
		Ready:       ready,
		StaleShards: staleShards,
		Logger:      log,
		Clock:       clk.Now,
		Verify:      opts.verify,
		Metrics:     m,
		Feed:        feed,
		FeedConfig:  FeedConfig{Heartbeat: opts.heartbeat},
		Signals:     tx,
		Console:     opts.console,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{signals: tx, t: t, e: e, auth: svc, users: us, store: store, sessions: sess, audit: trail, redis: mr, idpKey: idpKey, rsa: rsaKey, logs: logs, clock: clk, limiter: limiter, api: openAPI(t), metrics: m}
}

// newLimiter limits failed client authentications as tokenguard does by
// default (config's client_auth), on rdb.
func newLimiter(t testing.TB, rdb redis.UniversalClient, trail *audit.Log, clk *testclock.Clock, log *slog.Logger) *lockout.Limiter {
	t.Helper()
	def := config.Default().ClientAuth
	l, err := lockout.New(rdb, lockout.Config{
		Name: "client", Prefix: testPrefix,
		MaxPerID: def.FailuresPerClient, MaxPerIP: def.FailuresPerIP, Window: def.Window,
		Audit: trail, IDEvent: audit.TypeClientLockedOut, IPEvent: audit.TypeClientIPLockedOut,
		Logger: log, Clock: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// ownKey is our signing key: EdDSA "k1", or with withRSA an RS256 "rs1"
// loaded from a PEM file as configured keys are, returned with its private
// half.
func ownKey(t testing.TB, withRSA bool) (*auth.Key, *rsa.PrivateKey) {
	t.Helper()
	if !withRSA {
		k, err := auth.GenerateEdDSAKey("k1")
		if err != nil {
			t.Fatal(err)
		}
		return k, nil
	}
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "rs256.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := auth.LoadKey(auth.KeyConfig{ID: "rs1", Alg: "RS256", PrivateKeyFile: file})
	if err != nil {
		t.Fatal(err)
	}
	return k, priv
}

// runMirror follows Redis until the test ends and waits until the mirror
// is loaded.
func runMirror(t testing.TB, store *blacklist.Store) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- store.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("mirror: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	// Strict mode is ready while Redis answers: wait for the mirror
	// itself (kept for the feed) to load too.
	for store.Ready(ctx) != nil || store.Stats().Confirmed.IsZero() {
		if time.Now().After(deadline) {
			t.Fatalf("the mirror is not ready after 10s: %v", store.Ready(ctx))
		}
		time.Sleep(time.Millisecond)
	}
}

// issue returns one of our access tokens, for alice unless said otherwise,
// without a session.
func (h *harness) issue(req auth.IssueRequest) (string, *auth.Claims) {
	h.t.Helper()
	if req.Subject == "" {
		req.Subject = "alice"
	}
	tok, claims, err := h.auth.Issue(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok, claims
}

// foreign returns a token of the trusted issuer, without jti, as many
// providers send them.
func (h *harness) foreign(sub string, edit func(jwt.MapClaims)) string {
	h.t.Helper()
	now := h.now()
	c := jwt.MapClaims{"iss": idpIssuer, "sub": sub, "aud": "api", "exp": now.Add(time.Hour).Unix(), "iat": now.Add(-time.Minute).Unix(), "scope": "read"}
	if edit != nil {
		edit(c)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SignedString(h.idpKey)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// login is a session opened through POST /v1/sessions.
type login struct {
	token   string
	refresh string
	sid     string
	claims  *auth.Claims
}

// login opens a session of subject as client (Basic), with the device name
// given, through the real endpoint, and fails the test unless it is 201.
func (h *harness) login(client, subject, device string) login {
	h.t.Helper()
	body := `{"subject":` + quote(subject) + `,"scope":"read write","claims":{"tenant":"t1"},"device":{"name":` + quote(device) + `,"ip":"192.0.2.7","user_agent":"curl/8"}}`
	r := h.do(http.MethodPost, "/v1/sessions", client, "application/json", body)
	if r.status != http.StatusCreated {
		h.t.Fatalf("POST /v1/sessions as %s for %q = %d %s, want 201", client, subject, r.status, r.body)
	}
	var out tokenPair
	if err := json.Unmarshal([]byte(r.body), &out); err != nil {
		h.t.Fatal(err)
	}
	if out.TokenType != "Bearer" || out.AccessToken == "" || out.RefreshToken == "" || out.SessionID == "" || out.ExpiresIn != int64(testTTL.Seconds()) {
		h.t.Fatalf("session response %s lacks a token, type, expiry or session id", r.body)
	}
	claims, err := h.auth.Verify(h.t.Context(), out.AccessToken)
	if err != nil {
		h.t.Fatalf("the access token just issued does not verify: %v", err)
	}
	return login{token: out.AccessToken, refresh: out.RefreshToken, sid: out.SessionID, claims: claims}
}

// tokenPair is the body of a 201 from POST /v1/sessions or a 200 from the
// token endpoint, read as a client reads it.
type tokenPair struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	SessionID    string `json:"session_id"`
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

type reply struct {
	status int
	header http.Header
	body   string
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// serve sends r through the real Echo instance. It is the one way every
// harness request is sent, and it holds each exchange to the OpenAPI
// document (openapi_test.go): a request or an answer the document does not
// describe fails the harness's test, naming the operation and why.
func (h *harness) serve(r *http.Request) reply {
	h.t.Helper()
	return h.exchange(h.t, r, conforming)
}

// exchange is serve for a test that says how much of the exchange the
// document must describe (malformedRequest for a test of bad input) and
// which test a difference fails: a subtest on a shared harness passes its
// own.
func (h *harness) exchange(t testing.TB, r *http.Request, c conformance) reply {
	t.Helper()
	sent := h.api.capture(t, r, c)
	rec := httptest.NewRecorder()
	h.e.ServeHTTP(rec, r)
	got := reply{rec.Code, rec.Header(), rec.Body.String()}
	h.api.check(t, sent, got)
	return got
}

// do sends a request. auth is "Bearer <token>", a client id (Basic with
// its harness secret), "id:secret" (Basic as given), or "" for none.
func (h *harness) do(method, target, auth, contentType, body string) reply {
	h.t.Helper()
	return h.doFrom("192.0.2.1", method, target, auth, contentType, body)
}

// doFrom is do from the address ip, instead of httptest's 192.0.2.1.
func (h *harness) doFrom(ip, method, target, auth, contentType, body string) reply {
	h.t.Helper()
	r := h.newRequest(method, target, auth, contentType, body)
	r.RemoteAddr = net.JoinHostPort(ip, "40000")
	return h.serve(r)
}

// newRequest builds the request do sends.
func (h *harness) newRequest(method, target, auth, contentType, body string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	switch {
	case strings.HasPrefix(auth, "Bearer "):
		r.Header.Set("Authorization", auth)
	case strings.Contains(auth, ":"):
		id, secret, _ := strings.Cut(auth, ":")
		r.SetBasicAuth(id, secret)
	case auth != "":
		r.SetBasicAuth(auth, auth+"-secret")
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

// verify asks /v1/verify (path and query as given) with a bearer token.
func (h *harness) verify(target, token string) reply {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return h.serve(r)
}

// form posts a form as client (Basic, "" for none).
func (h *harness) form(path, client string, form url.Values) reply {
	return h.do(http.MethodPost, path, client, "application/x-www-form-urlencoded", form.Encode())
}

// events returns the audit trail, newest first, as the workflows wrote it.
func (h *harness) events(subject string) []audit.Event {
	h.t.Helper()
	list, err := h.audit.List(h.t.Context(), audit.Query{Subject: subject, Limit: 500})
	if err != nil {
		h.t.Fatal(err)
	}
	return list
}

// refresh redeems a refresh token at the token endpoint as client.
func (h *harness) refresh(client, rt string) reply {
	return h.form("/oauth2/token", client, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

// mustRefresh redeems a refresh token as the app client and returns the new
// pair, failing the test unless the answer is 200.
func (h *harness) mustRefresh(t *testing.T, rt string) tokenPair {
	t.Helper()
	r := h.refresh("app", rt)
	if r.status != http.StatusOK {
		t.Fatalf("refresh = %d %s, want 200", r.status, r.body)
	}
	var p tokenPair
	if err := json.Unmarshal([]byte(r.body), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// wantRefresh checks the token endpoint's answer to a refresh token
// presented by the app client: a 400 must be invalid_grant.
func (h *harness) wantRefresh(t *testing.T, rt string, want int, why string) {
	t.Helper()
	r := h.refresh("app", rt)
	if r.status != want {
		t.Errorf("refresh = %d %s, want %d: %s", r.status, r.body, want, why)
		return
	}
	if want == http.StatusBadRequest {
		if got := r.json(t)["error"]; got != "invalid_grant" {
			t.Errorf("refresh error = %v, want invalid_grant: %s", got, why)
		}
	}
}

// wantVerify checks the answer of /v1/verify to an access token.
func (h *harness) wantVerify(t *testing.T, token string, want int, why string) {
	t.Helper()
	if got := h.verify("/v1/verify", token).status; got != want {
		t.Errorf("verify = %d, want %d: %s", got, want, why)
	}
}

// keyOf finds the key of one revocation entry: kind j (a token), s (a
// session), u (a user's cut-off) or b (a ban), of id.
func (h *harness) keyOf(kind, id string) string {
	h.t.Helper()
	for _, k := range h.redis.Keys() {
		if strings.HasSuffix(k, ":"+kind+":"+id) {
			return k
		}
	}
	h.t.Fatalf("no %s entry for %s in %v", kind, id, h.redis.Keys())
	return ""
}

// wantTTL checks the TTL of a revocation entry. The clock stands still
// unless a test moves it, so TTLs are exact.
func (h *harness) wantTTL(t *testing.T, kind, id string, want time.Duration) {
	t.Helper()
	if got := h.redis.TTL(h.keyOf(kind, id)); got != want {
		t.Errorf("TTL of the %s entry of %s = %v, want %v", kind, id, got, want)
	}
}

// revocationEntry matches the keys of revoked tokens, ended sessions and
// cut-offs.
var revocationEntry = regexp.MustCompile(`^tg:\{[0-9]+\}:[jsu]:`)

// wantNoEntryBeyond fails if a revocation entry (a ban aside) lives longer
// than limit, or has no TTL.
func (h *harness) wantNoEntryBeyond(t *testing.T, limit time.Duration) {
	t.Helper()
	n := 0
	for _, k := range h.redis.Keys() {
		if !revocationEntry.MatchString(k) {
			continue
		}
		n++
		if ttl := h.redis.TTL(k); ttl <= 0 || ttl > limit+time.Second {
			t.Errorf("%q lives %v, want at most %v", k, ttl, limit)
		}
	}
	if n == 0 {
		t.Errorf("no revocation entry at all: the check proves nothing")
	}
}

// listSessions asks GET /v1/sessions with an access token.
func (h *harness) listSessions(token string) []map[string]any {
	h.t.Helper()
	r := h.do(http.MethodGet, "/v1/sessions", "Bearer "+token, "", "")
	if r.status != http.StatusOK {
		h.t.Fatalf("GET /v1/sessions = %d %s, want 200", r.status, r.body)
	}
	var out struct {
		Sessions []map[string]any `json:"sessions"`
	}
	if err := json.Unmarshal([]byte(r.body), &out); err != nil {
		h.t.Fatal(err)
	}
	return out.Sessions
}

// adminUser fetches GET /v1/admin/users/{subject} as the admin client.
func (h *harness) adminUser(subject string) map[string]any {
	h.t.Helper()
	r := h.do(http.MethodGet, "/v1/admin/users/"+subject, "admin", "", "")
	if r.status != http.StatusOK {
		h.t.Fatalf("GET /v1/admin/users/%s = %d %s, want 200", subject, r.status, r.body)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		h.t.Fatal(err)
	}
	return m
}

// signRS256 signs any header and claims with our RS256 key (harnessOptions.rsa).
func (h *harness) signRS256(header map[string]any, claims jwt.MapClaims) string {
	h.t.Helper()
	if h.rsa == nil {
		h.t.Fatal("signRS256 needs harnessOptions{rsa: true}")
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(h.rsa)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// clientMistake is a bad request and the documented 4xx it must get; auth
// is as for harness.do.
type clientMistake struct {
	name, method, path, auth, contentType, body string
	wantStatus                                  int
	wantError                                   string
}

// wantClientErrors sends each mistake and checks its status and JSON error
// body, which must explain itself; a 401 invalid_client must also carry a
// Basic challenge. It is the one refusal runner of the package. Its
// requests are bad input on purpose, so the OpenAPI document is held only
// to their answers (malformedRequest).
func (h *harness) wantClientErrors(t *testing.T, cases []clientMistake) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.exchange(t, h.newRequest(c.method, c.path, c.auth, c.contentType, c.body), malformedRequest)
			if r.status != c.wantStatus {
				t.Errorf("status = %d %s, want %d", r.status, r.body, c.wantStatus)
			}
			m := r.json(t)
			if got := m["error"]; got != c.wantError {
				t.Errorf("error = %v, want %q", got, c.wantError)
			}
			if d, _ := m["error_description"].(string); d == "" {
				t.Errorf("error_description is empty; a client mistake deserves an explanation")
			}
			if c.wantStatus == http.StatusUnauthorized && c.wantError == "invalid_client" && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("WWW-Authenticate = %q, want a Basic challenge", r.header.Get("WWW-Authenticate"))
			}
		})
	}
}

// bodyMistake is a JSON body an endpoint must refuse with 400
// invalid_request, and what its description must say: the problem and the
// field it is about.
type bodyMistake struct {
	name, body, wantDescription string
}

// wantBodiesRefused sends each body as JSON to method path as client and
// checks the 400 invalid_request and its description. The bodies are bad
// input on purpose (a field name in another case, a name given twice), so
// the OpenAPI document is held only to their answers (malformedRequest).
func (h *harness) wantBodiesRefused(t *testing.T, method, path, client string, cases []bodyMistake) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.exchange(t, h.newRequest(method, path, client, "application/json", c.body), malformedRequest)
			if r.status != http.StatusBadRequest {
				t.Fatalf("status = %d %s, want 400", r.status, r.body)
			}
			m := r.json(t)
			if got := m["error"]; got != "invalid_request" {
				t.Errorf("error = %v, want invalid_request", got)
			}
			if d, _ := m["error_description"].(string); !strings.Contains(d, c.wantDescription) {
				t.Errorf("error_description = %q, want it to contain %q", d, c.wantDescription)
			}
		})
	}
}

// listen serves the harness's Echo from a real HTTP server on loopback,
// through the Listener tokenguard serves with, and returns its address:
// the answers net/http writes itself (to a request line it cannot parse)
// and what HEAD puts on the wire never reach httptest.NewRecorder.
// maxHeaderBytes zero keeps net/http's default.
func (h *harness) listen(t *testing.T, maxHeaderBytes int) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(h.e)
	srv.Listener = Listener(srv.Listener)
	srv.Config.MaxHeaderBytes = maxHeaderBytes
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// wireReply is one answer read off a connection: rest holds whatever the
// server sent after the answer until it closed the connection.
type wireReply struct {
	status int
	header http.Header
	body   []byte
	rest   []byte
}

// exchange writes request to addr as it is, on a connection of its own,
// and reads one answer to it. The request should end its headers with
// Connection: close, so that rest is everything else the server sent.
func exchange(t *testing.T, addr, request string) wireReply {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A bound on a broken exchange, never a synchronisation.
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	method, _, _ := strings.Cut(request, " ")
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading the answer to %.40q: %v", request, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(br) // ends at the server's close (or a reset)
	return wireReply{resp.StatusCode, resp.Header, body, rest}
}

// basicAuth is the Authorization header of a harness client.
func basicAuth(client string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(client+":"+client+"-secret"))
}
