package handlers

import (
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

// countRequests counts every request by route, method and status, with the
// time it took. It answers an error itself (as Echo would after it), so
// that the status counted is the one sent.
func (h *handler) countRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := h.now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		route := c.Path()
		if !h.routes[route] {
			route = "" // a 404, or a 405 on a path no route owns
		}
		h.metrics.Request(route, c.Request().Method, c.Response().Status, h.now().Sub(start))
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
