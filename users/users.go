// Package users decides what happens to a user's access: accepting a
// presented token, opening and refreshing device sessions, logging out in
// each scope, ending one session, logging a user out everywhere, banning and
// unbanning, and revoking single tokens. Every surface that changes a user's
// access (the HTTP API, and the CLI, console, revocation feed and event push
// built on it) calls these workflows, so each rule is written once, here.
//
// Each workflow records its audit event exactly once, in the same place as
// the change it describes, and runs its writes to the end even when the
// caller goes away: several writes make one logout or ban, and a client that
// hangs up must not leave it half done. The package knows no HTTP.
package users

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/sessions"
)

var (
	// ErrInvalid reports input a workflow refuses; the error's text says
	// what is wrong and is meant for the caller.
	ErrInvalid = errors.New("invalid input")
	// ErrUnknownIssuer reports an issuer that is neither ours nor trusted.
	ErrUnknownIssuer = &invalidError{"issuer is neither ours nor a trusted issuer"}
	// ErrOtherClient reports a refresh token presented by a client other
	// than the one it was issued to.
	ErrOtherClient = errors.New("the refresh token was issued to another client")
	// ErrScope reports a token that lacks a scope the request requires;
	// the *ScopeError that wraps it says which.
	ErrScope = errors.New("insufficient scope")
)

// invalidError is a refusal whose text is the whole explanation.
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(format string, args ...any) error {
	return &invalidError{fmt.Sprintf(format, args...)}
}

// Config holds the dependencies of a Service. Every field but Logger and
// Clock is required.
type Config struct {
	// Tokens issues and verifies access tokens.
	Tokens *auth.Service
	// Revocations is the revocation state and its one decision.
	Revocations *blacklist.Store
	// Sessions keeps device sessions and their refresh tokens.
	Sessions *sessions.Store
	// Audit is the audit trail.
	Audit  *audit.Log
	Logger *slog.Logger
	// Metrics is told what the workflows decide; nil counts nothing.
	Metrics Metrics
	// Signals is told of every change to a user's access (see record);
	// nil tells no one.
	Signals Publisher
	// Clock returns the current time; nil means time.Now. Tests inject it.
	Clock func() time.Time
}

// Service runs the workflows.
type Service struct {
	tokens   *auth.Service
	rev      *blacklist.Store
	sessions *sessions.Store
	audit    *audit.Log
	log      *slog.Logger
	now      func() time.Time
	metrics  Metrics
	signals  Publisher
}

// New returns a Service, or an error naming the first missing dependency.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Tokens == nil:
		return nil, errors.New("users: Tokens is required")
	case cfg.Revocations == nil:
		return nil, errors.New("users: Revocations is required")
	case cfg.Sessions == nil:
		return nil, errors.New("users: Sessions is required")
	case cfg.Audit == nil:
		return nil, errors.New("users: Audit is required")
	}
	s := &Service{
		tokens:   cfg.Tokens,
		rev:      cfg.Revocations,
		sessions: cfg.Sessions,
		audit:    cfg.Audit,
		log:      cfg.Logger,
		now:      cfg.Clock,
		metrics:  cfg.Metrics,
		signals:  cfg.Signals,
	}
	if s.metrics == nil {
		s.metrics = noMetrics{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Authenticate is the one path by which a presented access token is
// accepted: signature and claims first (ours or a trusted issuer's), then
// the revocation decision. Every surface that takes a token goes through it
// (or through Authorize, which is it with a scope requirement), and each
// decision is counted once, here.
func (s *Service) Authenticate(ctx context.Context, raw string) (*auth.Claims, error) {
	return s.Authorize(ctx, raw, nil)
}

// Authorize is Authenticate, and then requires the token to hold every
// scope in required: each entry one or more space-separated scope tokens,
// as a proxy asks for them. A token that lacks one, or a requirement that
// is malformed, is refused with a *ScopeError.
func (s *Service) Authorize(ctx context.Context, raw string, required []string) (*auth.Claims, error) {
	claims, err := s.tokens.Verify(ctx, raw)
	if err == nil {
		err = s.rev.Check(ctx, s.revocationToken(claims))
	}
	if err == nil {
		err = requireScopes(claims.Scope, required)
	}
	s.metrics.Decision(decision(err))
	if err != nil {
		return nil, err
	}
	return claims, nil
}

// Inactive reports whether err, from Authenticate or a refresh-token
// lookup, says the token is no good, as opposed to its state being unknown.
func Inactive(err error) bool {
	return errors.Is(err, auth.ErrInvalidToken) || errors.Is(err, blacklist.ErrRevoked) || errors.Is(err, blacklist.ErrBanned)
}

// record appends an event to the audit trail, and tells Signals what the
// action did (change): it is the one funnel of every workflow's event, so
// every way a session or a user ends is told alike. ended lists the
// sessions the action ended besides e.SessionID. The action has already
// happened and been acknowledged by Redis, so a failure here does not undo
// it or fail the workflow: it is logged, with the event. A caller that
// hangs up does not stop the recording.
func (s *Service) record(ctx context.Context, e audit.Event, ended ...sessions.Session) {
	ctx = context.WithoutCancel(ctx)
	if err := s.audit.Record(ctx, e); err != nil {
		s.log.ErrorContext(ctx, "audit event not recorded", "type", e.Type, "actor", e.Actor, "sub", e.Subject, "sid", e.SessionID, "reason", e.Reason, "err", err)
	}
	if s.signals == nil {
		return
	}
	if c := change(e, ended); c.affects() {
		s.signals.Publish(ctx, c)
	}
}

// recordEnding puts a session the session store ended on its own authority
// (a replayed or revoked refresh token, the per-user cap) on the trail.
func (s *Service) recordEnding(ctx context.Context, sess sessions.Session, cause, actor string) {
	s.ended(endingCause(cause), 1)
	s.log.InfoContext(ctx, "session ended", "cause", cause, "sub", sess.Subject, "sid", sess.ID, "actor", actor)
	s.record(ctx, audit.Event{Type: cause, Actor: actor, Subject: sess.Subject, SessionID: sess.ID})
}

// ended counts n sessions ended for cause: each one's state is gone and its
// session revoked.
func (s *Service) ended(cause Cause, n int) {
	if n > 0 {
		s.metrics.SessionsEnded(cause, n)
		s.metrics.Revoked(RevocationSession, cause, n)
	}
}

// Events lists the audit trail, newest first.
func (s *Service) Events(ctx context.Context, q audit.Query) ([]audit.Event, error) {
	return s.audit.List(ctx, q)
}
