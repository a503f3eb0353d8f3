package signals

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/internal/keyspace"
)

// Metrics counts what the transmitter does. Every label comes from a
// fixed set: event type names, delivery methods, outcomes, reasons.
type Metrics interface {
	// EventQueued counts a SET appended to an outbox.
	EventQueued(eventType string)
	// EventDelivered counts a SET a receiver acknowledged (method push or
	// poll).
	EventDelivered(eventType, method string)
	// EventFailed counts a failed push attempt: outcome rejected (the
	// receiver refused the SET, which is dropped), status (another
	// answer), unreachable (no answer).
	EventFailed(eventType, outcome string)
	// EventsDropped counts n events dropped undelivered: reason retention,
	// disabled (a stream disabled or deleted with events waiting) or
	// store_error (Redis refused the enqueue).
	EventsDropped(reason string, n int)
}

type noMetrics struct{}

func (noMetrics) EventQueued(string)            {}
func (noMetrics) EventDelivered(string, string) {}
func (noMetrics) EventFailed(string, string)    {}
func (noMetrics) EventsDropped(string, int)     {}

// Defaults of Config.
const (
	DefaultRetention  = 24 * time.Hour
	defaultMinBackoff = time.Second
	defaultMaxBackoff = 5 * time.Minute
	defaultScan       = time.Second
	defaultPollWait   = 5 * time.Second
	pushTimeout       = 10 * time.Second
	leaseTTL          = 15 * time.Second
)

// Config holds the dependencies and settings of a Transmitter. Redis,
// Tokens and Audit are required.
type Config struct {
	Redis redis.UniversalClient
	// Prefix starts every key.
	Prefix string
	// Tokens signs the SETs and names our issuer.
	Tokens *auth.Service
	// Audit records the loss of events past the retention.
	Audit *audit.Log
	// Dev admits http receiver endpoints, and any host when AllowedHosts
	// is empty.
	Dev bool
	// AllowedHosts are events.allowed_receiver_hosts (CheckHostPatterns).
	AllowedHosts []string
	// Retention is how long an event waits for delivery; zero means
	// DefaultRetention.
	Retention time.Duration
	Logger    *slog.Logger
	Metrics   Metrics
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// Client pushes the SETs; nil means a client with a 10 s timeout. It
	// never follows a redirect, whichever is given.
	Client *http.Client
	// MinBackoff and MaxBackoff bound the wait between push attempts to a
	// failing receiver (1 s and 5 min when zero); PollWait is the longest
	// a poll without returnImmediately waits for events (5 s when zero);
	// Scan is how often streams are looked for (1 s when zero).
	MinBackoff, MaxBackoff, PollWait, Scan time.Duration
}

// Transmitter is the SSF transmitter: streams, outboxes and delivery.
type Transmitter struct {
	rdb        redis.UniversalClient
	keys       keyspace.Keys
	tokens     *auth.Service
	audit      *audit.Log
	dev        bool
	allowed    []string
	retention  time.Duration
	log        *slog.Logger
	metrics    Metrics
	now        func() time.Time
	client     *http.Client
	minBackoff time.Duration
	maxBackoff time.Duration
	pollWait   time.Duration
	scan       time.Duration
	sweepEvery time.Duration
	// instance names this process in the stream leases.
	instance string
	mu       sync.Mutex
	wakeCh   chan struct{}
}

// New returns a Transmitter, or an error naming a missing dependency or a
// bad setting.
func New(cfg Config) (*Transmitter, error) {
	switch {
	case cfg.Redis == nil:
		return nil, errors.New("signals: Redis is required")
	case cfg.Tokens == nil:
		return nil, errors.New("signals: Tokens is required")
	case cfg.Audit == nil:
		return nil, errors.New("signals: Audit is required")
	}
	if err := CheckHostPatterns(cfg.AllowedHosts); err != nil {
		return nil, err
	}
	t := &Transmitter{
		rdb: cfg.Redis, keys: keyspace.New(cfg.Prefix), tokens: cfg.Tokens, audit: cfg.Audit,
		dev: cfg.Dev, allowed: slices.Clone(cfg.AllowedHosts), retention: cfg.Retention,
		log: cfg.Logger, metrics: cfg.Metrics, now: cfg.Clock,
		minBackoff: cfg.MinBackoff, maxBackoff: cfg.MaxBackoff, pollWait: cfg.PollWait, scan: cfg.Scan,
		instance: newID(), wakeCh: make(chan struct{}),
	}
	if t.retention <= 0 {
		t.retention = DefaultRetention
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if t.metrics == nil {
		t.metrics = noMetrics{}
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.minBackoff <= 0 {
		t.minBackoff = defaultMinBackoff
	}
	if t.maxBackoff < t.minBackoff {
		t.maxBackoff = max(defaultMaxBackoff, t.minBackoff)
	}
	if t.pollWait <= 0 {
		t.pollWait = defaultPollWait
	}
	if t.scan <= 0 {
		t.scan = defaultScan
	}
	t.sweepEvery = min(time.Minute, t.retention/10)
	client := cfg.Client
	if client == nil {
		client = &http.Client{Timeout: pushTimeout}
	}
	// A copy that never follows a redirect: the endpoint was checked, the
	// place it redirects to was not (SSRF).
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	t.client = &c
	return t, nil
}

// Issuer is the iss of every SET.
func (t *Transmitter) Issuer() string { return t.tokens.Issuer() }

// wake tells every waiting worker and poll that events were queued here.
func (t *Transmitter) wake() {
	t.mu.Lock()
	close(t.wakeCh)
	t.wakeCh = make(chan struct{})
	t.mu.Unlock()
}

// woken returns a channel closed at the next wake.
func (t *Transmitter) woken() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.wakeCh
}

// Request is what a receiver sends to create, update or replace a stream:
// nil fields are not given.
type Request struct {
	Method          *string
	EndpointURL     *string
	EventsRequested *[]string
	Description     *string
}

// apply sets the fields r gives on s, and for a replacement (full) resets
// the ones it does not give. It checks the result.
func (t *Transmitter) apply(s *Stream, r Request, full bool) error {
	if full {
		s.Method, s.EndpointURL, s.Requested, s.Description = "", "", nil, ""
	}
	if r.Method != nil {
		s.Method = *r.Method
	}
	if r.EndpointURL != nil {
		s.EndpointURL = *r.EndpointURL
	}
	if r.EventsRequested != nil {
		s.Requested = slices.Clone(*r.EventsRequested)
	}
	if r.Description != nil {
		s.Description = *r.Description
	}
	if full && r.EventsRequested == nil {
		s.Requested = slices.Clone(Supported)
	}
	switch s.Method {
	case MethodPush:
		if err := checkReceiver(s.EndpointURL, t.dev, t.allowed); err != nil {
			return err
		}
	case MethodPoll:
		if s.EndpointURL != "" && r.EndpointURL != nil {
			return invalid("delivery.endpoint_url is chosen by the transmitter for poll delivery")
		}
		s.EndpointURL = ""
	case "":
		return invalid("delivery.method is required")
	default:
		return invalid("delivery.method must be %s (push) or %s (poll)", MethodPush, MethodPoll)
	}
	if len(s.Requested) > len(Supported)*4 {
		return invalid("events_requested lists too many event types")
	}
	for _, typ := range s.Requested {
		if len(typ) > 256 || !utf8.ValidString(typ) {
			return invalid("events_requested holds a malformed event type")
		}
	}
	if len(s.Description) > maxDescriptionBytes || !utf8.ValidString(s.Description) {
		return invalid("description must be valid UTF-8 of at most %d bytes", maxDescriptionBytes)
	}
	return nil
}

// CreateStream creates a stream for client clientID (SSF 1.0 §8.1.1.1).
// Omitted events_requested means every supported type. A client holds at
// most MaxStreamsPerClient streams (ErrConflict beyond).
func (t *Transmitter) CreateStream(ctx context.Context, clientID string, r Request) (Stream, error) {
	s := Stream{ID: newID(), ClientID: clientID, Status: StatusEnabled, CreatedAt: t.now().UTC()}
	if err := t.apply(&s, r, true); err != nil {
		return Stream{}, err
	}
	mine, err := t.Streams(ctx, clientID)
	if err != nil {
		return Stream{}, err
	}
	if len(mine) >= MaxStreamsPerClient {
		return Stream{}, ErrConflict
	}
	if err := t.save(ctx, s, true); err != nil {
		return Stream{}, err
	}
	t.log.InfoContext(ctx, "ssf stream created", "stream_id", s.ID, "client_id", clientID, "method", s.Method)
	t.wake()
	return s, nil
}

// Stream returns a stream of clientID's; ErrNotFound for none, or for
// another client's.
func (t *Transmitter) Stream(ctx context.Context, clientID, id string) (Stream, error) {
	if id == "" || len(id) > 64 {
		return Stream{}, ErrNotFound
	}
	s, err := t.load(ctx, id)
	if err != nil {
		return Stream{}, err
	}
	if s.ClientID != clientID {
		return Stream{}, ErrNotFound
	}
	return s, nil
}

// Streams lists clientID's streams, oldest first.
func (t *Transmitter) Streams(ctx context.Context, clientID string) ([]Stream, error) {
	all, err := t.all(ctx)
	if err != nil {
		return nil, err
	}
	var mine []Stream
	for _, s := range all {
		if s.ClientID == clientID {
			mine = append(mine, s)
		}
	}
	slices.SortFunc(mine, func(a, b Stream) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return mine, nil
}

// UpdateStream changes the fields r gives (SSF 1.0 §8.1.1.3); full
// replaces the whole receiver-supplied configuration (§8.1.1.4).
func (t *Transmitter) UpdateStream(ctx context.Context, clientID, id string, r Request, full bool) (Stream, error) {
	s, err := t.Stream(ctx, clientID, id)
	if err != nil {
		return Stream{}, err
	}
	if err := t.apply(&s, r, full); err != nil {
		return Stream{}, err
	}
	if err := t.save(ctx, s, false); err != nil {
		return Stream{}, err
	}
	t.log.InfoContext(ctx, "ssf stream updated", "stream_id", s.ID, "client_id", clientID, "method", s.Method)
	t.wake()
	return s, nil
}

// DeleteStream deletes a stream and every event waiting in it
// (§8.1.1.5).
func (t *Transmitter) DeleteStream(ctx context.Context, clientID, id string) error {
	if _, err := t.Stream(ctx, clientID, id); err != nil {
		return err
	}
	n, err := t.backlog(ctx, id)
	if err != nil {
		return err
	}
	if err := t.remove(ctx, id); err != nil {
		return err
	}
	if n > 0 {
		t.metrics.EventsDropped("disabled", int(n))
	}
	t.log.InfoContext(ctx, "ssf stream deleted", "stream_id", id, "client_id", clientID, "dropped", n)
	return nil
}

// SetStatus sets a stream's status (§8.1.2.2): enabled delivers, paused
// holds events for later, disabled drops them and takes no more.
func (t *Transmitter) SetStatus(ctx context.Context, clientID, id, status, reason string) (Stream, error) {
	switch status {
	case StatusEnabled, StatusPaused, StatusDisabled:
	default:
		return Stream{}, invalid("status must be enabled, paused or disabled")
	}
	if len(reason) > maxDescriptionBytes || !utf8.ValidString(reason) {
		return Stream{}, invalid("reason must be valid UTF-8 of at most %d bytes", maxDescriptionBytes)
	}
	s, err := t.Stream(ctx, clientID, id)
	if err != nil {
		return Stream{}, err
	}
	s.Status, s.Reason = status, reason
	if err := t.save(ctx, s, false); err != nil {
		return Stream{}, err
	}
	if status == StatusDisabled {
		n, err := t.clear(ctx, id)
		if err != nil {
			return Stream{}, err
		}
		if n > 0 {
			t.metrics.EventsDropped("disabled", int(n))
		}
	}
	t.log.InfoContext(ctx, "ssf stream status set", "stream_id", id, "client_id", clientID, "status", status)
	t.wake()
	return s, nil
}

// Verify queues a verification event in a stream (§8.1.4.2), carrying
// state as the receiver gave it, behind every event already waiting.
func (t *Transmitter) Verify(ctx context.Context, clientID, id, state string) error {
	if len(state) > maxDescriptionBytes || !utf8.ValidString(state) {
		return invalid("state must be valid UTF-8 of at most %d bytes", maxDescriptionBytes)
	}
	s, err := t.Stream(ctx, clientID, id)
	if err != nil {
		return err
	}
	if s.Status == StatusDisabled {
		return invalid("the stream is disabled")
	}
	body := map[string]any{}
	if state != "" {
		body["state"] = state
	}
	ev := event{typ: TypeVerification, subID: map[string]any{"format": "opaque", "id": s.ID}, body: body}
	at := t.now()
	e, err := t.sign(s, ev, newID(), at)
	if err != nil {
		return err
	}
	ok, err := t.enqueue(ctx, s.ID, e)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotFound
	}
	t.metrics.EventQueued(e.typ)
	t.wake()
	return nil
}

// Backlog counts the events waiting in one of clientID's streams.
func (t *Transmitter) Backlog(ctx context.Context, clientID, id string) (int64, error) {
	if _, err := t.Stream(ctx, clientID, id); err != nil {
		return 0, err
	}
	return t.backlog(ctx, id)
}
