// Package handlers is tokenguard's HTTP layer: routes, middleware, request
// and response types, and the one mapping from errors to statuses. It reaches
// the revocation state only through the RevocationState interface.
package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
)

// RevocationState is what the handlers need of the revocation state.
type RevocationState interface {
	// Check is the one decision whether a verified token is still good.
	Check(ctx context.Context, t blacklist.Token) error
	RevokeToken(ctx context.Context, id string, exp time.Time) error
	RevokeSession(ctx context.Context, sessionID string) error
	CutOff(ctx context.Context, subject string, at time.Time) error
}

// Config holds the dependencies and limits of the HTTP layer.
type Config struct {
	Auth        *auth.Service
	Revocations RevocationState
	Clients     []Client
	// Ready reports whether the service can answer; it backs /readyz.
	Ready func(ctx context.Context) error
	// BodyLimit caps request bodies, in bytes.
	BodyLimit int64
	Logger    *slog.Logger
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

type handler struct {
	auth    *auth.Service
	rev     RevocationState
	clients clients
	ready   func(ctx context.Context) error
	log     *slog.Logger
	now     func() time.Time
}

// New returns the Echo instance serving every route.
func New(cfg Config) *echo.Echo {
	h := &handler{
		auth:    cfg.Auth,
		rev:     cfg.Revocations,
		clients: newClients(cfg.Clients),
		ready:   cfg.Ready,
		log:     cfg.Logger,
		now:     cfg.Clock,
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.ready == nil {
		h.ready = func(context.Context) error { return nil }
	}
	limit := cfg.BodyLimit
	if limit <= 0 {
		limit = 64 << 10
	}

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = h.handleError
	// Forwarded-for headers are not trusted until proxies are configured.
	e.IPExtractor = echo.ExtractIPDirect()
	e.Use(h.recoverPanics, h.logRequests, limitBody(limit))

	e.GET("/healthz", h.healthz)
	e.GET("/readyz", h.readyz)

	e.Any("/v1/verify", h.verify)
	e.Any("/v1/verify/*", h.verify)
	e.POST("/v1/logout", h.logout)
	e.POST("/v1/sessions", h.createSession, h.requireClient(permSessions))

	admin := e.Group("/v1/admin", h.requireClient(permAdmin))
	admin.POST("/revocations", h.revoke)
	admin.POST("/users/:subject/logout", h.logoutUser)
	return e
}

func (h *handler) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (h *handler) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := h.ready(ctx); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
