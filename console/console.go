// Package console is the admin console served at /console/: a browser
// adapter over the same users workflows as the admin API. It parses a
// request, calls a workflow with the signed-in admin client as the actor
// (the workflow records the audit event), and renders JSON for the pages'
// script, which writes every value with textContent. The pages, script and
// style are embedded files: no build step, no CDN, nothing fetched at run
// time, and a Content-Security-Policy of default-src 'self' with no inline
// script or style.
//
// An admin signs in with the id and secret of a client holding the admin
// permission, under the same failed-authentication limits as every client
// authentication. The console session lives in Redis under a digest of its
// cookie's value, with an idle timeout; every state-changing request needs
// the session's CSRF token in a header and a same-origin request.
package console

import (
	"crypto/rand"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/clients"
	"github.com/tokenguard/tokenguard/lockout"
	"github.com/tokenguard/tokenguard/metrics"
	"github.com/tokenguard/tokenguard/users"
)

// Path is where the console is served; every route is under it.
const Path = "/console/"

// Metrics is what the console counts: sign-ins and actions (bounded label
// values, see metrics.Metrics.ConsoleSignIn) and failed client
// authentications, which a wrong secret at sign-in is.
type Metrics interface {
	ConsoleSignIn(outcome string)
	ConsoleAction(action, outcome string)
	ClientAuthFailed()
}

// Config holds the console's dependencies and settings.
type Config struct {
	// Users runs every workflow. Required.
	Users *users.Service
	// Clients authenticates the admins. Required.
	Clients *clients.Registry
	// Limiter limits failed sign-ins with every other client
	// authentication's counts. Required.
	Limiter *lockout.Limiter
	// Redis holds the console sessions. Required.
	Redis redis.UniversalClient
	// Prefix is the key prefix (redis.key_prefix).
	Prefix string
	// SessionTTL is the idle timeout of a console session. Required.
	SessionTTL time.Duration
	// Secure marks the session cookie Secure (outside dev mode).
	Secure bool
	// StaleAfter is revocation.max_staleness: the dashboard marks a shard
	// stale past it, as checks start failing then. Required.
	StaleAfter time.Duration
	// Figures reads the dashboard's figures; nil shows none.
	Figures func() (metrics.Figures, error)
	// Metrics counts sign-ins and actions; nil counts nothing.
	Metrics Metrics
	Logger  *slog.Logger
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

// Console serves the admin console. It is an http.Handler for the paths
// under Path; the address it limits failed sign-ins by is the request's
// RemoteAddr, which the mounting router sets to the client's address as it
// believes it (behind trusted proxies, the forwarded one).
type Console struct {
	users    *users.Service
	clients  *clients.Registry
	limiter  *lockout.Limiter
	sessions *sessionStore
	secure   bool
	figures  func() (metrics.Figures, error)
	stale    time.Duration
	metrics  Metrics
	log      *slog.Logger
	now      func() time.Time
	mux      *http.ServeMux
}

//go:embed assets
var assets embed.FS

// New returns the console, or an error naming a missing dependency.
func New(cfg Config) (*Console, error) {
	switch {
	case cfg.Users == nil:
		return nil, errors.New("console: Users is required")
	case cfg.Clients == nil:
		return nil, errors.New("console: Clients is required")
	case cfg.Limiter == nil:
		return nil, errors.New("console: Limiter is required")
	case cfg.Redis == nil:
		return nil, errors.New("console: Redis is required")
	case cfg.SessionTTL <= 0:
		return nil, errors.New("console: SessionTTL must be positive")
	case cfg.StaleAfter <= 0:
		return nil, errors.New("console: StaleAfter must be positive")
	}
	c := &Console{
		users:   cfg.Users,
		clients: cfg.Clients,
		limiter: cfg.Limiter,
		secure:  cfg.Secure,
		figures: cfg.Figures,
		stale:   cfg.StaleAfter,
		metrics: cfg.Metrics,
		log:     cfg.Logger,
		now:     cfg.Clock,
	}
	if c.metrics == nil {
		c.metrics = noMetrics{}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.sessions = newSessionStore(cfg.Redis, cfg.Prefix, cfg.SessionTTL)
	c.routes()
	return c, nil
}

type noMetrics struct{}

func (noMetrics) ConsoleSignIn(string)         {}
func (noMetrics) ConsoleAction(string, string) {}
func (noMetrics) ClientAuthFailed()            {}

// pages are the console's pages: the path under Path and the file that
// holds it. The pages hold no data: their script asks the API for it, as
// the signed-in admin.
var pages = map[string]string{
	"{$}":     "dashboard.html",
	"sign-in": "sign-in.html",
	"users":   "users.html",
	"user":    "user.html",
	"events":  "events.html",
}

func (c *Console) routes() {
	m := http.NewServeMux()
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded directory is part of the binary
	}
	for p, file := range pages {
		b, err := fs.ReadFile(static, file)
		if err != nil {
			panic(err) // the embedded pages are part of the binary
		}
		m.Handle("GET "+Path+p, c.page(b))
	}
	m.Handle("GET "+Path+"static/", http.StripPrefix(Path+"static/", staticFiles(static)))
	m.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Path, http.StatusMovedPermanently)
	})

	m.HandleFunc("POST "+Path+"api/sign-in", c.signIn)
	m.Handle("POST "+Path+"api/sign-out", c.change("sign_out", c.signOut))
	m.Handle("GET "+Path+"api/me", c.read(c.me))
	m.Handle("GET "+Path+"api/users", c.read(c.searchUsers))
	m.Handle("GET "+Path+"api/user", c.read(c.user))
	m.Handle("GET "+Path+"api/user/sessions", c.read(c.userSessions))
	m.Handle("GET "+Path+"api/events", c.read(c.events))
	m.Handle("GET "+Path+"api/dashboard", c.read(c.dashboard))
	m.Handle("POST "+Path+"api/sessions/end", c.change("end_session", c.endSession))
	m.Handle("POST "+Path+"api/user/logout", c.change("logout_everywhere", c.onUser(c.users.LogOutEverywhere)))
	m.Handle("POST "+Path+"api/user/ban", c.change("ban", c.ban))
	m.Handle("POST "+Path+"api/user/unban", c.change("unban", c.onUser(c.users.Unban)))
	c.mux = m
}

// ServeHTTP serves the console, every answer with its security headers.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// No inline script or style, no framing, no plugins, nothing from
	// elsewhere: an injected string can neither run nor load anything.
	h.Set("Content-Security-Policy", "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	// A request that matches no route would get ServeMux's text answer;
	// the console answers JSON like the rest of the service.
	if _, pattern := c.mux.Handler(r); pattern == "" {
		writeError(w, r, errNotFound)
		return
	}
	c.mux.ServeHTTP(w, r)
}

// page serves one embedded page, read once when the routes are made.
func (c *Console) page(b []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if _, err := w.Write(b); err != nil {
			c.log.DebugContext(r.Context(), "console: write page", "err", err)
		}
	})
}

// staticFiles serves the script and the style; nothing else of the
// directory (the pages are served at their own paths).
func staticFiles(static fs.FS) http.Handler {
	files := http.FileServerFS(static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "app.js", "style.css", "favicon.svg":
			files.ServeHTTP(w, r)
		default:
			writeError(w, r, errNotFound)
		}
	})
}

// randomToken is 256 random bits: a session's cookie value or its CSRF
// token.
func randomToken() string { return rand.Text() + rand.Text() }
