package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// UnmatchedRoute is the route label of a request that matched no route.
const UnmatchedRoute = "unmatched"

// requestKey is one series of http_requests_total.
type requestKey struct {
	route, method string
	status        int
}

// httpSeries are the resolved series of one requestKey.
type httpSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// Request counts one HTTP request answered (handlers.Metrics): route is
// the pattern of the route it matched, empty for none; status is the
// status sent and elapsed the time it took.
func (m *Metrics) Request(route, method string, status int, elapsed time.Duration) {
	if route == "" {
		route = UnmatchedRoute
	}
	if status < 100 || status > 599 {
		status = 0
	}
	s := m.httpSeries.get(requestKey{route: route, method: knownMethod(method), status: status})
	s.requests.Inc()
	s.duration.Observe(elapsed.Seconds())
}

// knownMethod bounds the method label: the standard methods and the two
// WebDAV ones Echo routes, and "other" for anything a client makes up.
func knownMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace, "PROPFIND", "REPORT":
		return m
	}
	return otherLabel
}
