package handlers

import (
	"log/slog"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// Metrics is told what only the HTTP layer sees; the workflows count their
// own decisions (users.Metrics). Every value it is given is bounded: a
// route pattern, a method, a status, a fixed scope name. Its methods must
// be safe for concurrent use and cheap: Request runs on every request.
type Metrics interface {
	// Request counts a request answered: route is the pattern of the route
	// it matched, empty for none; status is the status sent.
	Request(route, method string, status int, elapsed time.Duration)
	// TokenMissing counts a request to an endpoint that takes a token which
	// carried no bearer token.
	TokenMissing()
	// ClientAuthFailed counts a failed client authentication.
	ClientAuthFailed()
	// RateLimited counts a request refused by the rate limit of scope, a
	// fixed name chosen by the limiter (never the key it limits).
	RateLimited(scope string)
	// FeedSent counts n events sent to revocation feed subscribers.
	FeedSent(n int)
	// FeedSlowDisconnect counts a feed subscriber disconnected for
	// falling too far behind.
	FeedSlowDisconnect()
}

// noMetrics counts nothing, for a Config without Metrics.
type noMetrics struct{}

func (noMetrics) Request(string, string, int, time.Duration) {}
func (noMetrics) TokenMissing()                              {}
func (noMetrics) ClientAuthFailed()                          {}
func (noMetrics) RateLimited(string)                         {}
func (noMetrics) FeedSent(int)                               {}
func (noMetrics) FeedSlowDisconnect()                        {}

// observe counts every request by route, method and status, with the time
// it took, and logs one line for it: method, route, status, duration. It
// answers an error itself (as Echo would after it), so that the status
// counted and logged is the one sent. The query string is left out of the
// log, since a careless client may put a token in it. Verification and
// probes log at debug level: they are the hot path. Counting and logging
// share one middleware, one clock reading either side and one error
// answer: Echo rebuilds its chain for every request, one allocation per
// middleware.
func (h *handler) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := h.now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		elapsed := h.now().Sub(start)
		route := c.Path()
		if !h.routes[route] {
			route = "" // a 404, or a 405 on a path no route owns
		}
		h.metrics.Request(route, c.Request().Method, c.Response().Status, elapsed)

		level := slog.LevelInfo
		if p := c.Path(); p == "/healthz" || p == "/readyz" || strings.HasPrefix(p, "/v1/verify") {
			level = slog.LevelDebug
		}
		if ctx := c.Request().Context(); h.log.Enabled(ctx, level) {
			h.log.Log(ctx, level, "request",
				"method", c.Request().Method,
				"route", c.Path(),
				"status", c.Response().Status,
				"duration_ms", float64(elapsed.Microseconds())/1000,
				"remote_ip", c.RealIP())
		}
		return nil
	}
}

// routePatterns is the set of the route patterns of e, which alone may
// label a request.
func routePatterns(e *echo.Echo) map[string]bool {
	out := map[string]bool{}
	for _, r := range e.Routes() {
		out[r.Path] = true
	}
	return out
}
