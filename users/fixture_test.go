package users

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/internal/testclock"
	"github.com/tokenguard/tokenguard/sessions"
)

const (
	testIssuer    = "https://tokenguard.test"
	testAudience  = "api.tokenguard.test"
	testTTL       = 5 * time.Minute
	testLeeway    = 30 * time.Second
	testIdle      = time.Hour
	testMaxAge    = 24 * time.Hour
	testRetention = 24 * time.Hour
	// foreignIssuer is the trusted issuer of every fixture: another
	// identity provider whose users may share our users' subs.
	foreignIssuer = "https://idp.test/"

	// app is the client that opens and refreshes sessions; console is the
	// admin client that bans, revokes and ends sessions.
	app     = "app"
	console = "console"
)

// fixture is the users service over the real stores on one Redis: our
// EdDSA key, a trusted issuer with a static Ed25519 key, strict revocation
// checks (every check reads Redis, so there is no mirror to wait for) and
// an injected clock. Its keys carry a prefix of its own, so that fixtures
// sharing a redis-server never see each other's state.
type fixture struct {
	users    *Service
	tokens   *auth.Service
	rev      *blacklist.Store
	sessions *sessions.Store
	audit    *audit.Log
	// rdb is the fixture's own client: hooks added to it reach no other
	// fixture.
	rdb        *redis.Client
	prefix     string
	clock      *testclock.Clock
	foreignKey ed25519.PrivateKey
}

// options vary a fixture.
type options struct {
	// maxPerUser caps each user's sessions; zero means no cap.
	maxPerUser int
	// metrics is told what the workflows decide; nil counts nothing.
	metrics Metrics
	// signals is told of every change; nil tells no one.
	signals Publisher
}

// newFixture builds a fixture on the Redis behind shared.
func newFixture(t *testing.T, shared *redis.Client, opt options) *fixture {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: shared.Options().Addr})
	t.Cleanup(func() { _ = rdb.Close() })

	sum := sha256.Sum256([]byte(t.Name()))
	f := &fixture{
		rdb:    rdb,
		prefix: "t" + hex.EncodeToString(sum[:6]) + ":",
		// The clock starts at the real time (with a sub-second part)
		// because Redis expires keys and trims the audit streams on its
		// own clock, which must agree with ours on what is recent; it
		// starts on a whole microsecond, the precision of every stored time.
		clock: testclock.New(time.Now().Round(0).Truncate(time.Microsecond)),
	}

	key, err := auth.GenerateEdDSAKey("test-key")
	if err != nil {
		t.Fatalf("auth.GenerateEdDSAKey: %v", err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("generate the trusted issuer's key: %v", err)
	}
	f.foreignKey = priv
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatalf("marshal the trusted issuer's key: %v", err)
	}
	pemFile := filepath.Join(t.TempDir(), "idp.pem")
	if err := os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatalf("write the trusted issuer's key: %v", err)
	}
	idp, err := auth.NewTrustedIssuer(t.Context(), auth.TrustedIssuerConfig{
		Issuer:        foreignIssuer,
		Audience:      testAudience,
		Algorithms:    []string{"EdDSA"},
		PublicKeyFile: pemFile,
	})
	if err != nil {
		t.Fatalf("auth.NewTrustedIssuer: %v", err)
	}
	f.tokens, err = auth.New(auth.Config{
		Issuer:         testIssuer,
		Audience:       testAudience,
		AccessTTL:      testTTL,
		Leeway:         testLeeway,
		Keys:           []*auth.Key{key},
		Clock:          f.clock.Now,
		TrustedIssuers: []*auth.TrustedIssuer{idp},
	})
	if err != nil {
		t.Fatalf("auth.New: %v", err)
	}
	f.rev = blacklist.New(rdb, blacklist.Config{
		Prefix:               f.prefix,
		Leeway:               testLeeway,
		MaxTokenLifetime:     testTTL,
		LongestTokenLifetime: f.tokens.LongestLifetime(),
		Clock:                f.clock.Now,
		Mode:                 blacklist.ModeStrict,
	})
	f.sessions = sessions.New(rdb, sessions.Config{
		Prefix:          f.prefix,
		RefreshTTL:      testIdle,
		MaxAge:          testMaxAge,
		MaxPerUser:      opt.maxPerUser,
		AccessTokenLife: testTTL + testLeeway,
		Revoker:         f.rev,
		Clock:           f.clock.Now,
	})
	f.audit = audit.New(rdb, audit.Config{Prefix: f.prefix, Retention: testRetention, Clock: f.clock.Now})
	f.users, err = New(Config{
		Tokens:      f.tokens,
		Revocations: f.rev,
		Sessions:    f.sessions,
		Audit:       f.audit,
		Clock:       f.clock.Now,
		Metrics:     opt.metrics,
		Signals:     opt.signals,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return f
}

// miniFixture is a fixture on a miniredis of its own, for tests that are
// about something other than the stores.
func miniFixture(t *testing.T) *fixture {
	t.Helper()
	return miniFixtureWith(t, options{})
}

// miniFixtureWith is miniFixture with options.
func miniFixtureWith(t *testing.T, opt options) *fixture {
	t.Helper()
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	return newFixture(t, c, opt)
}

// open opens a session of our user subject for the app client.
func (f *fixture) open(t *testing.T, subject string) Issued {
	t.Helper()
	is, err := f.users.OpenSession(t.Context(), Open{
		Subject:  subject,
		ClientID: app,
		Scope:    "read write",
		Device:   sessions.Device{Name: "phone", IP: "192.0.2.1", UserAgent: "test"},
	})
	if err != nil {
		t.Fatalf("OpenSession(%q): %v", subject, err)
	}
	return is
}

// bare issues an access token of our user subject that belongs to no
// session, as the client-credentials grant does.
func (f *fixture) bare(t *testing.T, subject string) string {
	t.Helper()
	tok, _, err := f.tokens.Issue(auth.IssueRequest{Subject: subject, ClientID: app})
	if err != nil {
		t.Fatalf("Issue(%q): %v", subject, err)
	}
	return tok
}

// foreign signs an access token of the trusted issuer for its user sub,
// with extra claims (a sid, say).
func (f *fixture) foreign(t *testing.T, sub string, extra jwt.MapClaims) string {
	t.Helper()
	now := f.clock.Now()
	claims := jwt.MapClaims{
		"iss":       foreignIssuer,
		"sub":       sub,
		"aud":       testAudience,
		"iat":       now.Unix(),
		"exp":       now.Add(testTTL).Unix(),
		"jti":       rand.Text(),
		"client_id": "idp-app",
	}
	for k, v := range extra {
		claims[k] = v
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(f.foreignKey)
	if err != nil {
		t.Fatalf("sign a trusted issuer's token: %v", err)
	}
	return tok
}

// claims authenticates a token the test expects to be accepted.
func (f *fixture) claims(t *testing.T, token string) *auth.Claims {
	t.Helper()
	c, err := f.users.Authenticate(t.Context(), token)
	if err != nil {
		t.Fatalf("Authenticate: %v, want the token accepted", err)
	}
	return c
}

// verdict is what Authenticate says of an access token, in a word.
func (f *fixture) verdict(t *testing.T, token string) string {
	t.Helper()
	_, err := f.users.Authenticate(t.Context(), token)
	return verdictOf(err)
}

func verdictOf(err error) string {
	switch {
	case err == nil:
		return "accepted"
	case errors.Is(err, blacklist.ErrBanned):
		return "banned"
	case errors.Is(err, blacklist.ErrRevoked):
		return "revoked"
	case errors.Is(err, auth.ErrInvalidToken):
		return "invalid"
	}
	return "error: " + err.Error()
}

// status is what Status says of a user, which the test expects to read.
func (f *fixture) status(t *testing.T, subject string) Status {
	t.Helper()
	st, err := f.users.Status(t.Context(), subject)
	if err != nil {
		t.Fatalf("Status(%q): %v", subject, err)
	}
	return st
}

// refreshable says whether a refresh token is live ("live" or "dead"), as
// introspection sees it, without redeeming it.
func (f *fixture) refreshable(t *testing.T, raw string) string {
	t.Helper()
	_, ok, err := f.users.RefreshToken(t.Context(), raw)
	switch {
	case err != nil:
		return "error: " + err.Error()
	case ok:
		return "live"
	}
	return "dead"
}

// sessionIDs lists the ids of a user's live sessions, sorted.
func (f *fixture) sessionIDs(t *testing.T, subject string) []string {
	t.Helper()
	page, err := f.users.Sessions(t.Context(), subject, sessions.PageRequest{Limit: 500})
	if err != nil {
		t.Fatalf("Sessions(%q): %v", subject, err)
	}
	if page.Next != "" {
		t.Fatalf("Sessions(%q) has more than one page", subject)
	}
	ids := make([]string, 0, len(page.Sessions))
	for _, s := range page.Sessions {
		ids = append(ids, s.ID)
	}
	slices.Sort(ids)
	return ids
}

// events returns the whole audit trail, oldest first, with the ids and
// times that Record assigns left out.
func (f *fixture) events(t *testing.T) []audit.Event {
	t.Helper()
	list, err := f.users.Events(t.Context(), audit.Query{Limit: 1000})
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	slices.Reverse(list)
	for i := range list {
		list[i].ID, list[i].Time = "", time.Time{}
	}
	return list
}

// eventsSince returns the events recorded after the first n.
func (f *fixture) eventsSince(t *testing.T, n int) []audit.Event {
	t.Helper()
	all := f.events(t)
	if len(all) < n {
		t.Fatalf("the audit trail shrank from %d to %d events", n, len(all))
	}
	return all[n:]
}

// refuses calls call and fails t unless it is refused with want and
// changes nothing: Redis holds what it held before and no audit event was
// recorded. what names the call in the failure.
func (f *fixture) refuses(t *testing.T, what string, want error, call func() error) {
	t.Helper()
	f.changesNothing(t, what, func() {
		if err := call(); !errors.Is(err, want) {
			t.Fatalf("%s: %v, want %v", what, err, want)
		}
	})
}

// changesNothing runs call, which checks what it returns, and fails t
// unless Redis holds what it held before and no audit event was recorded
// meanwhile. what names the call in the failure.
func (f *fixture) changesNothing(t *testing.T, what string, call func()) {
	t.Helper()
	before, n := f.state(t), len(f.events(t))
	call()
	if diff := cmp.Diff(f.state(t), before); diff != "" {
		t.Errorf("Redis after %s (-got +want):\n%s", what, diff)
	}
	if got := f.eventsSince(t, n); len(got) != 0 {
		t.Errorf("events %+v after %s, want none", got, what)
	}
}

// state returns every key of the fixture with its type and contents (not
// its TTL), for telling that a call changed nothing.
func (f *fixture) state(t *testing.T) map[string]string {
	t.Helper()
	ctx := t.Context()
	keys, err := f.rdb.Keys(ctx, f.prefix+"*").Result()
	if err != nil {
		t.Fatalf("KEYS: %v", err)
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		typ, err := f.rdb.Type(ctx, k).Result()
		if err != nil {
			t.Fatalf("TYPE %s: %v", k, err)
		}
		var v any
		switch typ {
		case "string":
			v, err = f.rdb.Get(ctx, k).Result()
		case "hash":
			v, err = f.rdb.HGetAll(ctx, k).Result()
		case "zset":
			v, err = f.rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
		case "stream":
			v, err = f.rdb.XRange(ctx, k, "-", "+").Result()
		default:
			t.Fatalf("key %s has type %s, which state does not read", k, typ)
		}
		if err != nil {
			t.Fatalf("read %s: %v", k, err)
		}
		out[strings.TrimPrefix(k, f.prefix)] = fmt.Sprintf("%s %v", typ, v)
	}
	return out
}

// dropSessionState deletes a session's state behind the store's back, as
// its expiry would.
func (f *fixture) dropSessionState(t *testing.T, sid string) {
	t.Helper()
	keys, err := f.rdb.Keys(t.Context(), f.prefix+"*:session:"+sid).Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("find the state of session %s: %v, %d keys", sid, err, len(keys))
	}
	if err := f.rdb.Del(t.Context(), keys[0]).Err(); err != nil {
		t.Fatalf("DEL %s: %v", keys[0], err)
	}
}

// onScript is a hook for the moment between two steps of a workflow. It
// runs before just before the first Lua script with a key containing marker
// goes to Redis, and after once such a script has succeeded; each at most
// once. Either stands for something that happens meanwhile: another request
// landing, or the caller going away.
type onScript struct {
	marker        string
	before, after func(ctx context.Context)
	onceB, onceA  sync.Once
}

func (h *onScript) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *onScript) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (h *onScript) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		match := h.matches(cmd)
		if match && h.before != nil {
			h.onceB.Do(func() { h.before(ctx) })
		}
		err := next(ctx, cmd)
		if match && err == nil && h.after != nil {
			h.onceA.Do(func() { h.after(ctx) })
		}
		return err
	}
}

// matches reports whether cmd runs a script on a key containing marker.
func (h *onScript) matches(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "eval", "evalsha", "eval_ro", "evalsha_ro":
	default:
		return false
	}
	args := cmd.Args()
	if len(args) < 3 {
		return false
	}
	n, ok := args[2].(int)
	if !ok {
		return false
	}
	for _, k := range args[3:min(len(args), 3+n)] {
		if s, ok := k.(string); ok && strings.Contains(s, h.marker) {
			return true
		}
	}
	return false
}

// tally is a Metrics that remembers the decisions and the back-channel
// logouts it is told of.
type tally struct {
	noMetrics
	decided     record[Outcome]
	backchannel record[BackchannelOutcome]
}

func (m *tally) Decision(o Outcome) { m.decided.add(o) }

func (m *tally) BackchannelLogout(o BackchannelOutcome) { m.backchannel.add(o) }

// record is a list of what a Metrics is told of, safe for concurrent use.
type record[T any] struct {
	mu   sync.Mutex
	seen []T
}

func (r *record[T]) add(v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, v)
}

func (r *record[T]) list() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

func (r *record[T]) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = nil
}
