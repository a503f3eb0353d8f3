// Package verifier lets a Go service verify tokenguard's access tokens
// itself, offline, and still refuse the revoked ones. It verifies a token
// with tokenguard's own rules (package auth, fed by tokenguard's JWKS) and
// judges it with tokenguard's own revocation decision (package
// blacklist/state), against a local copy of the revocation state that the
// revocation feed (GET /v1/revocations/stream) keeps current. A check makes
// no network call.
//
// It compiles in neither Echo, go-redis nor Prometheus: Middleware serves
// net/http, package verifier/echoverifier serves Echo, and Stats gives
// plain numbers for whatever metrics the embedding service keeps.
package verifier

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist/state"
)

var (
	// ErrRevoked reports a token revoked at tokenguard: the token, its
	// session or its user (see state.ErrRevoked).
	ErrRevoked = state.ErrRevoked
	// ErrBanned reports a token of a banned user: a 403, not a 401.
	ErrBanned = state.ErrBanned
	// ErrUnavailable reports that the revocation state is not known well
	// enough to answer (not loaded yet, or older than MaxStaleness while
	// failing closed): the token is refused.
	ErrUnavailable = state.ErrUnavailable
	// ErrInvalidToken reports a token that does not verify (see
	// auth.ErrInvalidToken).
	ErrInvalidToken = auth.ErrInvalidToken
	// ErrConfig reports a Config that New cannot use.
	ErrConfig = errors.New("verifier: bad config")
)

// Defaults, those of a tokenguard left at its own defaults.
const (
	// DefaultAccessTTL is tokenguard's default tokens.access_ttl.
	DefaultAccessTTL = 15 * time.Minute
	// DefaultLeeway is tokenguard's default tokens.leeway.
	DefaultLeeway = 30 * time.Second
	// DefaultMaxStaleness is how long the local state may go without
	// hearing from the feed; it must exceed tokenguard's feed.heartbeat
	// (15s by default), which is how often an idle feed speaks.
	DefaultMaxStaleness = 20 * time.Second
	// DefaultVerifiedCacheSize is how many verified tokens are remembered.
	DefaultVerifiedCacheSize = 10000
	// DefaultRetry is the pause before reconnecting to the feed.
	DefaultRetry = time.Second
)

// Config configures a Verifier. URL, Issuer, Audience, ClientID and
// ClientSecret are required; the rest have defaults.
type Config struct {
	// URL is tokenguard's base URL, e.g. "https://auth.example.com": the
	// JWKS is read from URL/.well-known/jwks.json and the feed from
	// URL/v1/revocations/stream.
	URL string
	// Issuer and Audience are tokenguard's issuer and audience settings.
	Issuer, Audience string
	// AccessTTL and Leeway are tokenguard's tokens.access_ttl and
	// tokens.leeway; zero means tokenguard's defaults.
	AccessTTL, Leeway time.Duration
	// ClientID and ClientSecret are the credentials of a tokenguard
	// client with the permission feed.
	ClientID, ClientSecret string
	// MaxStaleness is how long the local state may go without hearing
	// from the feed (a change, a heartbeat) before checks fail: the same
	// policy as tokenguard's revocation.max_staleness. Zero means
	// DefaultMaxStaleness. A feed silent for this long is also dropped and
	// dialled again.
	MaxStaleness time.Duration
	// FailOpen answers from a stale (or never loaded) state instead of
	// refusing, as tokenguard's revocation.on_store_failure: open.
	FailOpen bool
	// VerifiedCacheSize is how many verified tokens skip the signature
	// check when presented again; zero means DefaultVerifiedCacheSize,
	// negative turns the cache off.
	VerifiedCacheSize int
	// Retry is the pause before reconnecting to the feed; zero means
	// DefaultRetry.
	Retry time.Duration
	// HTTPClient makes the feed's requests; nil means a
	// client of its own. It must not set a Timeout: the feed is one long
	// response.
	HTTPClient *http.Client
	// Logger receives connection trouble; nil discards it.
	Logger *slog.Logger
	// Clock returns the current time; nil means time.Now. Tests inject it.
	Clock func() time.Time
}

// Verifier verifies tokenguard's access tokens and keeps the revocation
// state current. Build it with New, run Run in a goroutine, and call Verify
// (or use Middleware) from any number of goroutines.
type Verifier struct {
	tokens   *auth.Service
	state    *state.Mirror
	issuer   string
	maxStale time.Duration
	failOpen bool
	hold     time.Duration // how long a cut-off is kept: tokens' lifetime plus the leeway
	now      func() time.Time
	log      *slog.Logger
	client   *http.Client
	feedURL  string
	id, sec  string
	retry    time.Duration

	// loaded is set once the first snapshot is in.
	loaded atomic.Bool
	// position is the feed position of the last change applied.
	position atomic.Pointer[string]

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change to the state

	applied, snapshots, reconnects atomic.Int64
	// readies counts the "ready" events: connections that got going.
	readies atomic.Int64
}

// New checks cfg and fetches tokenguard's JWKS (a failure is logged, and
// the fetch retried on the first token). The JWKS is refreshed in the
// background until ctx ends. The revocation state stays empty, and checks
// fail with ErrUnavailable, until Run has loaded it.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	for name, v := range map[string]string{"URL": cfg.URL, "Issuer": cfg.Issuer, "Audience": cfg.Audience, "ClientID": cfg.ClientID, "ClientSecret": cfg.ClientSecret} {
		if v == "" {
			return nil, fmt.Errorf("%w: %s is required", ErrConfig, name)
		}
	}
	if cfg.MaxStaleness < 0 || cfg.AccessTTL < 0 || cfg.Leeway < 0 || cfg.Retry < 0 {
		return nil, fmt.Errorf("%w: durations must not be negative", ErrConfig)
	}
	base := strings.TrimSuffix(cfg.URL, "/")
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cacheSize := cfg.VerifiedCacheSize
	switch {
	case cacheSize == 0:
		cacheSize = DefaultVerifiedCacheSize
	case cacheSize < 0:
		cacheSize = 0
	}
	ttl := cmp.Or(cfg.AccessTTL, DefaultAccessTTL)
	leeway := cmp.Or(cfg.Leeway, DefaultLeeway)
	tokens, err := auth.NewRemote(ctx, auth.RemoteConfig{
		Issuer:            cfg.Issuer,
		Audience:          cfg.Audience,
		AccessTTL:         ttl,
		Leeway:            leeway,
		JWKSURL:           base + "/.well-known/jwks.json",
		VerifiedCacheSize: cacheSize,
		Clock:             cfg.Clock,
		Logger:            log,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			ResponseHeaderTimeout: 10 * time.Second,
			IdleConnTimeout:       90 * time.Second,
		}}
	}
	now := cfg.Clock
	if now == nil {
		now = time.Now
	}
	return &Verifier{
		tokens:   tokens,
		state:    state.NewMirror(),
		issuer:   cfg.Issuer,
		maxStale: cmp.Or(cfg.MaxStaleness, DefaultMaxStaleness),
		failOpen: cfg.FailOpen,
		hold:     ttl + leeway,
		now:      now,
		log:      log,
		client:   client,
		feedURL:  base + "/v1/revocations/stream",
		id:       cfg.ClientID,
		sec:      cfg.ClientSecret,
		retry:    cmp.Or(cfg.Retry, DefaultRetry),
		changed:  make(chan struct{}),
	}, nil
}

// Verify checks token and returns its claims: nil error only for a token
// tokenguard would accept now, as far as the local state knows. Errors
// wrap ErrInvalidToken (401), ErrRevoked (401), ErrBanned (403) or
// ErrUnavailable (503). A token seen before costs no signature check and
// no allocation. The claims are shared: callers must not modify them.
func (v *Verifier) Verify(ctx context.Context, token string) (*auth.Claims, error) {
	claims, err := v.tokens.Verify(ctx, token)
	if err != nil {
		return nil, err
	}
	t := state.Token{ID: claims.ID, SessionID: claims.SessionID, Subject: claims.Subject, IssuedAt: claims.IssuedAtPrecise()}
	now := v.now()
	facts, err := v.state.Lookup(t, now.UnixNano(), v.maxStale)
	if err != nil && !(v.failOpen && errors.Is(err, ErrUnavailable)) {
		return nil, err
	}
	if err := facts.Decide(t, now); err != nil {
		return nil, err
	}
	return claims, nil
}

// Ready reports whether checks can be answered: not before the first
// snapshot from the feed is in, and not while the state is older than
// MaxStaleness and failing closed. An embedding service reports it on its
// readiness endpoint.
func (v *Verifier) Ready() error {
	if !v.loaded.Load() {
		return fmt.Errorf("%w: the revocation state has not loaded from the feed yet", ErrUnavailable)
	}
	if stale, _ := v.state.Stale(v.now().UnixNano(), v.maxStale); len(stale) > 0 && !v.failOpen {
		return fmt.Errorf("%w: the revocation state has not heard from the feed within %v", ErrUnavailable, v.maxStale)
	}
	return nil
}

// Changed returns a channel closed at the next change to the revocation
// state (a change applied, a snapshot swapped in). Call it again for the
// change after that.
func (v *Verifier) Changed() <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.changed
}

func (v *Verifier) notify() {
	v.mu.Lock()
	defer v.mu.Unlock()
	close(v.changed)
	v.changed = make(chan struct{})
}

// Stats describes the verifier's revocation state in plain numbers, for
// the embedding service's metrics.
type Stats struct {
	// Loaded says the first snapshot is in.
	Loaded bool
	// Tokens, Sessions, CutOffs and Bans count the entries of each kind.
	Tokens, Sessions, CutOffs, Bans int
	// Applied counts the changes applied from the feed, snapshots aside.
	Applied int64
	// Snapshots counts the snapshots swapped in.
	Snapshots int64
	// Reconnects counts the times the feed was dialled again.
	Reconnects int64
	// Confirmed is when the state last heard from the feed; zero before.
	Confirmed time.Time
	// Position is the feed position the verifier resumes after.
	Position string
}

// Stats reports on the verifier.
func (v *Verifier) Stats() Stats {
	st := Stats{
		Loaded:     v.loaded.Load(),
		Applied:    v.applied.Load(),
		Snapshots:  v.snapshots.Load(),
		Reconnects: v.reconnects.Load(),
		Confirmed:  v.state.Confirmed(0),
	}
	st.Tokens, st.Sessions, st.CutOffs, st.Bans = v.state.Count()
	if p := v.position.Load(); p != nil {
		st.Position = *p
	}
	return st
}
