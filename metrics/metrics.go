// Package metrics holds tokenguard's Prometheus metrics: the counters,
// histograms and collectors, their registry (one per Metrics, never the
// global one) and the /metrics handler. The packages it counts for do not
// import Prometheus: each defines the small interface or callback it needs
// (users.Metrics, handlers.Metrics, blacklist.Config.OnApplied,
// redisconn.Config.CommandFailed, plain Stats), and main hands them a
// *Metrics.
//
// Every label value comes from a fixed set: enumerated constants, Echo's
// route patterns, a list of known methods and Redis commands, HTTP status
// codes and shard numbers. None carries a subject, a session id, a jti, a
// token or an address. The label combinations on the hot path (every
// decision, every HTTP route) are resolved once, so that counting a request
// allocates nothing.
package metrics

import (
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tokenguard/tokenguard/users"
)

// Namespace starts the name of every metric of tokenguard's own.
const Namespace = "tokenguard"

// Metrics is the service's metrics and their registry. Its methods are safe
// for concurrent use. The zero value is not usable; call New.
type Metrics struct {
	reg *prometheus.Registry

	// The counters of the users package's enumerations, indexed by their
	// values (revocations by kind, then cause).
	decisions     []prometheus.Counter
	revocations   [][]prometheus.Counter
	sessionsOpen  prometheus.Counter
	sessionsEnded []prometheus.Counter
	refreshes     []prometheus.Counter
	backchannel   []prometheus.Counter

	requests     *prometheus.CounterVec
	durations    *prometheus.HistogramVec
	httpSeries   lazy[requestKey, httpSeries]
	clientAuth   prometheus.Counter
	rateLimited  *prometheus.CounterVec
	limitScopes  lazy[string, prometheus.Counter]
	propagation  prometheus.Histogram
	redisErrors  map[string]prometheus.Counter
	redisUnknown prometheus.Counter
	feedEvents   prometheus.Counter
	feedSlow     prometheus.Counter
	signals      *signalMetrics
	consoleIn    map[string]prometheus.Counter
	consoleDo    map[string]prometheus.Counter
}

// New returns the metrics, registered on a registry of their own together
// with the Go runtime's and the process's collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	decisions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "token_decisions_total",
		Help: "Decisions on presented access tokens, by outcome: allowed, or why refused (missing, invalid, expired, revoked_token, session_ended, cut_off, banned, scope, unavailable, error).",
	}, []string{"outcome"})
	revocations := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "revocations_total",
		Help: "Revocation entries written, by kind (token, session, user cut-off, ban) and cause.",
	}, []string{"kind", "cause"})
	m.sessionsOpen = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "sessions_opened_total",
		Help: "Device sessions opened.",
	})
	ended := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "sessions_ended_total",
		Help: "Device sessions ended, by cause (sessions that lapse unused are not counted).",
	}, []string{"cause"})
	refreshes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "refreshes_total",
		Help: "Refresh-token redemptions, by outcome (rotated, reuse_window, reuse_detected, refused, failed).",
	}, []string{"outcome"})
	backchannel := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "backchannel_logouts_total",
		Help: "Back-channel logouts received from trusted issuers, by outcome (session_ended, user_logged_out, invalid, replayed, failed).",
	}, []string{"outcome"})
	// Every combination is resolved now: the enumerations are small, and a
	// series that exists from the start at zero makes rate() and alerts
	// work from the first scrape.
	m.decisions = resolve(decisions, users.Outcomes())
	m.sessionsEnded = resolve(ended, users.Causes())
	m.refreshes = resolve(refreshes, users.RefreshOutcomes())
	m.backchannel = resolve(backchannel, users.BackchannelOutcomes())
	for _, kind := range users.Revocations() {
		m.revocations = append(m.revocations, resolve(revocations.MustCurryWith(prometheus.Labels{"kind": kind.String()}), users.Causes()))
	}

	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "http_requests_total",
		Help: "HTTP requests answered, by route pattern (\"" + UnmatchedRoute + "\" for none), method and status.",
	}, []string{"route", "method", "status"})
	m.durations = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "http_request_duration_seconds",
		Help:    "Time to answer HTTP requests, by route pattern and method.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"route", "method"})
	m.httpSeries.make = func(k requestKey) httpSeries {
		return httpSeries{
			requests: m.requests.WithLabelValues(k.route, k.method, strconv.Itoa(k.status)),
			duration: m.durations.WithLabelValues(k.route, k.method),
		}
	}
	m.clientAuth = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "client_auth_failures_total",
		Help: "Failed client authentications (wrong or missing client credentials).",
	})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "rate_limited_total",
		Help: "Requests refused by a rate limit, by the limit's scope.",
	}, []string{"scope"})
	m.limitScopes = lazy[string, prometheus.Counter]{
		max: maxLimitScopes, overflow: otherLabel,
		make: func(scope string) prometheus.Counter { return m.rateLimited.WithLabelValues(scope) },
	}
	m.propagation = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "mirror_propagation_delay_seconds",
		Help:    "Time from a change's commit in Redis to its application in this instance's revocation mirror (includes clock skew between this host and Redis).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	redisErrors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "redis_command_errors_total",
		Help: "Redis commands that failed (not counting nil replies, NOSCRIPT and callers that went away), by command.",
	}, []string{"command"})
	m.redisErrors = make(map[string]prometheus.Counter, len(redisCommands))
	for _, c := range redisCommands {
		m.redisErrors[c] = redisErrors.WithLabelValues(c)
	}
	m.redisUnknown = redisErrors.WithLabelValues(otherLabel)
	m.feedEvents = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "feed_events_sent_total",
		Help: "Events sent to subscribers of the revocation feed (snapshot entries, changes and markers; not heartbeats).",
	})
	m.feedSlow = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "feed_slow_disconnects_total",
		Help: "Revocation feed subscribers disconnected for falling too far behind.",
	})

	signIns := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "console_sign_ins_total",
		Help: "Sign-ins to the admin console, by outcome (success, failure, forbidden, locked_out, unavailable).",
	}, []string{"outcome"})
	m.consoleIn = resolveNames(signIns, consoleSignInOutcomes)
	actions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "console_actions_total",
		Help: "Actions taken in the admin console, by action (end_session, logout_everywhere, ban, unban, sign_out) and outcome (done, refused, failed).",
	}, []string{"action", "outcome"})
	m.consoleDo = map[string]prometheus.Counter{}
	for _, a := range consoleActions {
		for _, o := range consoleActionOutcomes {
			m.consoleDo[a+" "+o] = actions.WithLabelValues(a, o)
		}
	}

	m.reg.MustRegister(
		decisions, revocations, m.sessionsOpen, ended, refreshes, backchannel,
		m.requests, m.durations, m.clientAuth, m.rateLimited,
		m.propagation, redisErrors, m.feedEvents, m.feedSlow,
		signIns, actions,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.signals = newSignalMetrics(m.reg)
	return m
}

// Registry is where the metrics are registered, for tests and for
// collectors of other parts.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition formats. Errors
// gathering them are logged to log.
func (m *Metrics) Handler(log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// Decision counts a decision on a presented access token (users.Metrics).
func (m *Metrics) Decision(o users.Outcome) { m.decisions[o].Inc() }

// Revoked counts revocation entries written (users.Metrics).
func (m *Metrics) Revoked(kind users.Revocation, cause users.Cause, n int) {
	m.revocations[kind][cause].Add(float64(n))
}

// SessionOpened counts a session opened (users.Metrics).
func (m *Metrics) SessionOpened() { m.sessionsOpen.Inc() }

// SessionsEnded counts sessions ended (users.Metrics).
func (m *Metrics) SessionsEnded(cause users.Cause, n int) { m.sessionsEnded[cause].Add(float64(n)) }

// Refreshed counts a refresh's outcome (users.Metrics).
func (m *Metrics) Refreshed(o users.RefreshOutcome) { m.refreshes[o].Inc() }

// BackchannelLogout counts a received back-channel logout's outcome
// (users.Metrics).
func (m *Metrics) BackchannelLogout(o users.BackchannelOutcome) { m.backchannel[o].Inc() }

// TokenMissing counts a request to an endpoint that takes a token which
// carried none (handlers.Metrics): the decision "missing".
func (m *Metrics) TokenMissing() { m.Decision(users.OutcomeMissing) }

// ClientAuthFailed counts a failed client authentication
// (handlers.Metrics).
func (m *Metrics) ClientAuthFailed() { m.clientAuth.Inc() }

// maxLimitScopes bounds the scopes of rate_limited_total; any scope beyond
// the first ones seen counts as "other".
const maxLimitScopes = 16

// RateLimited counts a request refused by the rate limit of scope (a fixed
// name chosen by the limiter, such as "client" or "ip", never the key it
// limits).
func (m *Metrics) RateLimited(scope string) { m.limitScopes.get(scope).Inc() }

// FeedSent counts n events sent to revocation feed subscribers
// (handlers.Metrics).
func (m *Metrics) FeedSent(n int) { m.feedEvents.Add(float64(n)) }

// FeedSlowDisconnect counts a feed subscriber disconnected for falling
// behind (handlers.Metrics).
func (m *Metrics) FeedSlowDisconnect() { m.feedSlow.Inc() }

// MirrorApplied observes the propagation delay of one change applied to
// the revocation mirror (blacklist.Config.OnApplied).
func (m *Metrics) MirrorApplied(delay time.Duration) { m.propagation.Observe(delay.Seconds()) }

// The label values of the console's counters; anything else counts as
// "other".
var (
	consoleSignInOutcomes = []string{"success", "failure", "forbidden", "locked_out", "unavailable", otherLabel}
	consoleActions        = []string{"end_session", "logout_everywhere", "ban", "unban", "sign_out", otherLabel}
	consoleActionOutcomes = []string{"done", "refused", "failed", otherLabel}
)

// ConsoleSignIn counts a sign-in to the admin console by its outcome
// (console.Metrics).
func (m *Metrics) ConsoleSignIn(outcome string) {
	c, ok := m.consoleIn[outcome]
	if !ok {
		c = m.consoleIn[otherLabel]
	}
	c.Inc()
}

// ConsoleAction counts an action taken in the admin console by the action
// and its outcome (console.Metrics).
func (m *Metrics) ConsoleAction(action, outcome string) {
	c, ok := m.consoleDo[action+" "+outcome]
	if !ok {
		c = m.consoleDo[otherLabel+" "+otherLabel]
	}
	c.Inc()
}

// resolveNames returns the counter of each label value of a one-label
// vector.
func resolveNames(vec *prometheus.CounterVec, values []string) map[string]prometheus.Counter {
	out := make(map[string]prometheus.Counter, len(values))
	for _, v := range values {
		out[v] = vec.WithLabelValues(v)
	}
	return out
}

// otherLabel stands for any value outside a label's known set.
const otherLabel = "other"

// resolve returns the counter of each value of an enumeration whose values
// run from zero, indexed by the value, labelled with its String.
func resolve[E interface {
	~uint8
	String() string
}](vec *prometheus.CounterVec, values []E) []prometheus.Counter {
	out := make([]prometheus.Counter, len(values))
	for _, v := range values {
		out[v] = vec.WithLabelValues(v.String())
	}
	return out
}

// lazy resolves the series of a key the first time it is seen and keeps it
// in a map that readers load without a lock: after the first request of
// each kind, finding a series costs a map lookup and allocates nothing. Its
// keys must come from a bounded set; max, when set, caps them all the
// same: once max keys are in, any new key counts as overflow.
type lazy[K comparable, V any] struct {
	make     func(K) V
	max      int
	overflow K

	mu sync.Mutex
	m  atomic.Pointer[map[K]V]
}

func (l *lazy[K, V]) get(k K) V {
	if m := l.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var old map[K]V
	if p := l.m.Load(); p != nil {
		old = *p
	}
	if v, ok := old[k]; ok {
		return v
	}
	if l.max > 0 && len(old) >= l.max {
		k = l.overflow
		if v, ok := old[k]; ok {
			return v
		}
	}
	next := make(map[K]V, len(old)+1)
	for key, v := range old {
		next[key] = v
	}
	v := l.make(k)
	next[k] = v
	l.m.Store(&next)
	return v
}
