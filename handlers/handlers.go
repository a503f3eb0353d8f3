// Package handlers is tokenguard's HTTP layer: routes, middleware, request
// and response types, and the one mapping from errors to statuses. Each
// handler parses a request, calls a workflow of the users package and
// renders its result; what a logout, a ban or a revocation does is decided
// there, not here.
package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/clients"
	"github.com/tokenguard/tokenguard/internal/requestid"
	"github.com/tokenguard/tokenguard/lockout"
	"github.com/tokenguard/tokenguard/signals"
	"github.com/tokenguard/tokenguard/users"
)

// Config holds the dependencies and limits of the HTTP layer.
type Config struct {
	// Auth publishes the keys and metadata. Required.
	Auth *auth.Service
	// Users runs every workflow the endpoints expose. Required.
	Users *users.Service
	// Clients are the machine callers the client routes admit; nil admits
	// none.
	Clients *clients.Registry
	// Limiter limits failed client authentications per client id and per
	// address. Required.
	Limiter *lockout.Limiter
	// Ready reports whether the service can answer; it backs /readyz.
	// Required.
	Ready func(ctx context.Context) error
	// StaleShards, when not nil, lists the revocation shards whose users
	// cannot be answered normally; /readyz names them.
	StaleShards func() []int
	// BodyLimit caps request bodies, in bytes; zero means 64 KiB.
	BodyLimit int64
	Logger    *slog.Logger
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// Verify holds the forward-auth settings of /v1/verify.
	Verify VerifyConfig
	// Metrics is told of every request and of what only the HTTP layer
	// sees; nil counts nothing.
	Metrics Metrics
	// Feed serves /v1/revocations/stream; nil answers it 503
	// (feed_unavailable), as does a store that keeps no mirror (strict
	// mode with no client holding the feed permission).
	Feed Feed
	// FeedConfig holds the feed's settings.
	FeedConfig FeedConfig
	// Signals is the SSF transmitter behind /.well-known/ssf-configuration
	// and /ssf/...; nil serves none of them.
	Signals *signals.Transmitter
	// Console, when not nil, serves /console and every path under
	// /console/ (the admin console); it sees the client's address, as
	// the forwarded-for rules decide it, in the request's RemoteAddr.
	Console http.Handler
}

type handler struct {
	auth    *auth.Service
	users   *users.Service
	clients clientAuth
	ready   func(ctx context.Context) error
	stale   func() []int
	log     *slog.Logger
	now     func() time.Time
	metrics Metrics
	// routes are the patterns of the routes served (see observe).
	routes map[string]bool

	verifyCfg VerifyConfig
	feed      Feed
	feedCfg   FeedConfig
	signals   *signals.Transmitter
	// identityClaims are the configured email and groups claim names, the
	// ones the forward-auth check looks up in every token.
	identityClaims []string
}

// New returns the Echo instance serving every route, or an error naming a
// missing dependency: a route must never find one missing at request time.
func New(cfg Config) (*echo.Echo, error) {
	switch {
	case cfg.Auth == nil:
		return nil, errors.New("handlers: Auth is required")
	case cfg.Users == nil:
		return nil, errors.New("handlers: Users is required")
	case cfg.Ready == nil:
		return nil, errors.New("handlers: Ready is required")
	case cfg.Limiter == nil:
		return nil, errors.New("handlers: Limiter is required")
	}
	h := &handler{
		auth:    cfg.Auth,
		users:   cfg.Users,
		clients: clientAuth{registry: cfg.Clients, limiter: cfg.Limiter},
		ready:   cfg.Ready,
		stale:   cfg.StaleShards,
		log:     cfg.Logger,
		now:     cfg.Clock,
		metrics: cfg.Metrics,

		verifyCfg: cfg.Verify,
		feed:      cfg.Feed,
		feedCfg:   cfg.FeedConfig,
		signals:   cfg.Signals,
	}
	h.feedCfg.Heartbeat = heartbeatOrDefault(h.feedCfg.Heartbeat)
	if h.metrics == nil {
		h.metrics = noMetrics{}
	}
	for _, n := range []string{cfg.Verify.EmailClaim, cfg.Verify.GroupsClaim} {
		if n != "" {
			h.identityClaims = append(h.identityClaims, n)
		}
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	limit := cfg.BodyLimit
	if limit <= 0 {
		limit = 64 << 10
	}

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = h.handleError
	// Forwarded-for headers are trusted only from the configured proxies.
	e.IPExtractor = ipExtractor(cfg.Verify.TrustedProxies)
	e.Pre(h.beforeRouting)
	e.Use(h.observe, h.recoverPanics, limitBody(limit))

	// HEAD answers wherever GET does, with the same status and headers
	// and no body (net/http drops the body of an answer to HEAD).
	read := []string{http.MethodGet, http.MethodHead}
	e.Match(read, "/healthz", h.healthz)
	e.Match(read, "/readyz", h.readyz)

	e.Any("/v1/verify", h.verify)
	e.Any("/v1/verify/*", h.verify)
	e.Match(read, jwksPath, h.jwks)
	e.Match(read, "/openapi.json", newOpenAPIDocument().serve)
	for _, p := range metadataPaths(h.auth.Issuer()) {
		e.Match(read, p, h.metadata)
	}
	e.POST(introspectionEndpoint, h.introspect)
	e.POST(revocationEndpoint, h.revokeToken)
	e.POST("/v1/logout", h.logout)
	e.POST("/v1/sessions", h.createSession, h.requireClient(clients.PermSessions))
	e.Match(read, "/v1/sessions", h.listOwnSessions)
	e.DELETE("/v1/sessions/:id", h.endOwnSession)
	e.POST("/oauth2/token", h.token)
	e.POST(backchannelLogoutPath, h.backchannelLogout)

	e.Match(read, "/v1/revocations/stream", h.revocationStream, h.requireClient(clients.PermFeed))

	if h.signals != nil {
		for _, p := range wellKnownPaths(ssfMetadataPath, h.auth.Issuer()) {
			e.Match(read, p, h.ssfConfiguration)
		}
		e.POST(ssfConfigurationPath, h.createStream, h.requireEvents)
		e.Match(read, ssfConfigurationPath, h.readStream, h.requireEvents)
		e.PATCH(ssfConfigurationPath, h.updateStream, h.requireEvents)
		e.PUT(ssfConfigurationPath, h.updateStream, h.requireEvents)
		e.DELETE(ssfConfigurationPath, h.deleteStream, h.requireEvents)
		e.Match(read, ssfStatusPath, h.readStatus, h.requireEvents)
		e.POST(ssfStatusPath, h.setStatus, h.requireEvents)
		e.POST(ssfVerificationPath, h.verifyStream, h.requireEvents)
		e.POST(ssfPollPath+":id", h.poll, h.requireEvents)
	}

	admin := e.Group("/v1/admin", h.requireClient(clients.PermAdmin))
	admin.POST("/revocations", h.revoke)
	admin.POST("/users/:subject/logout", h.logoutUser)
	admin.Match(read, "/users/:subject", h.adminUser)
	admin.Match(read, "/users/:subject/sessions", h.adminUserSessions)
	admin.PUT("/users/:subject/ban", h.ban)
	admin.DELETE("/users/:subject/ban", h.unban)
	admin.DELETE("/sessions/:id", h.adminEndSession)
	admin.Match(read, "/events", h.listEvents)
	if cfg.Console != nil {
		console := mount(cfg.Console)
		e.Any("/console", console)
		e.Any("/console/*", console)
	}
	h.routes = routePatterns(e)
	return e, nil
}

// mount serves a plain net/http handler under Echo's middleware (request
// id, metrics, logs, body limit), with the request's RemoteAddr set to the
// client's address as Echo's IP extractor decides it (the forwarded one
// only from a trusted proxy), so that the handler limits by the same
// address as the client routes.
func mount(next http.Handler) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request().Clone(c.Request().Context())
		r.RemoteAddr = net.JoinHostPort(c.RealIP(), "0")
		next.ServeHTTP(c.Response(), r)
		return nil
	}
}

func (h *handler) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readiness is the body of /readyz: status "ready", "degraded" (200: the
// users of the stale shards get on_store_failure's answer, everyone else is
// answered, and another instance, sharing the same Redis, would do no
// better) or "unavailable" (503: no user can be answered).
type readiness struct {
	Status      string `json:"status"`
	StaleShards []int  `json:"stale_shards"`
	Error       string `json:"error,omitempty"`
	Description string `json:"error_description,omitempty"`
}

// errNotReady is /readyz's answer when the revocation state cannot be read.
var errNotReady = &apiError{http.StatusServiceUnavailable, "temporarily_unavailable", "the revocation state cannot be reached; retry shortly"}

func (h *handler) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	err := h.ready(ctx)
	body := readiness{Status: "ready", StaleShards: []int{}}
	if h.stale != nil {
		if s := h.stale(); len(s) > 0 {
			body.Status, body.StaleShards = "degraded", s
		}
	}
	if err == nil {
		return c.JSON(http.StatusOK, body)
	}
	if len(body.StaleShards) == 0 {
		// Strict mode with Redis down, or the mirror's first load ending
		// between the two questions above. A probe asking before the
		// service is ready is expected (at start-up, every orchestrator
		// does): not an error of this request, so logged at info.
		h.log.InfoContext(ctx, "not ready", "err", err)
		return errNotReady
	}
	body.Status = "unavailable"
	body.Error, body.Description = "temporarily_unavailable", "the revocation state cannot be confirmed; retry shortly"
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("Retry-After", "1")
	return c.JSON(http.StatusServiceUnavailable, body)
}

// beforeRouting is the one middleware that runs before Echo routes a
// request: it routes every method on the forward-auth check
// (anyMethodOnVerify), then gives the request its id (setRequestID) before
// anything else runs. One, not one per step: Echo builds its middleware
// chain again for every request, one allocation per middleware, and
// /v1/verify is the hot path.
func (h *handler) beforeRouting(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		anyMethodOnVerify(c.Request())
		h.setRequestID(c)
		return next(c)
	}
}

// setRequestID gives the request its id: the one a trusted proxy sent in
// X-Request-Id when well-formed (so that its log lines and ours share it),
// a fresh one otherwise. Anyone else's is ignored: a client must not be
// able to choose, or collide with, the id under which its requests are
// logged. The id is echoed in the answer and carried in the request's
// context, where the log handler finds it.
func (h *handler) setRequestID(c echo.Context) {
	r := c.Request()
	id := r.Header.Get(requestid.Header)
	if !requestid.Valid(id) || !h.fromTrustedProxy(r) {
		id = requestid.New()
	}
	c.Response().Header().Set(requestid.Header, id)
	c.SetRequest(r.WithContext(requestid.NewContext(r.Context(), id)))
}
