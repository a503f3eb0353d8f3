// Package signals is tokenguard's Shared Signals Framework (SSF 1.0)
// transmitter: it tells other systems (SaaS apps, identity providers,
// services not written in Go) the moment a session or a user's access
// ends, as CAEP and RISC events in Security Event Tokens (RFC 8417) signed
// with our signing key.
//
// It holds the event model (what a users.Change becomes), the streams that
// receivers configure (kept in Redis), each stream's durable outbox (a
// Redis stream of signed SETs not yet delivered, oldest first), push
// delivery (RFC 8935: one worker per stream, backoff with jitter, never a
// redirect followed) and poll delivery (RFC 8936), and the rules on
// receiver endpoints. It knows no Echo: handlers is its HTTP adapter.
//
// Delivery is at least once and in order per stream: an event leaves its
// outbox only once a receiver acknowledged it (202 to a push, an ack in a
// poll), so a restart of tokenguard or a receiver down for hours loses
// nothing, up to the configured retention; past it, the stream's oldest
// events are dropped, counted, audited and the stream marked.
package signals

import (
	"crypto/rand"
	"errors"
	"fmt"
)

// Delivery methods (SSF 1.0 §7.1.1, RFC 8935, RFC 8936).
const (
	MethodPush = "urn:ietf:rfc:8935"
	MethodPoll = "urn:ietf:rfc:8936"
)

// Event types.
const (
	// TypeSessionRevoked is CAEP 1.0 §3.1: a session ended; about a
	// whole user when the subject names no session.
	TypeSessionRevoked = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	// TypeAccountDisabled is RISC §2.2: the user was banned.
	TypeAccountDisabled = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
	// TypeAccountEnabled is RISC §2.3: the user's ban was lifted.
	TypeAccountEnabled = "https://schemas.openid.net/secevent/risc/event-type/account-enabled"
	// TypeVerification is SSF 1.0 §8.1.4.1: sent on a receiver's request.
	TypeVerification = "https://schemas.openid.net/secevent/ssf/event-type/verification"
)

// Supported lists the event types a stream can deliver (events_supported).
var Supported = []string{TypeSessionRevoked, TypeAccountDisabled, TypeAccountEnabled, TypeVerification}

// typeNames are the metric label of each event type: a fixed set.
var typeNames = map[string]string{
	TypeSessionRevoked:  "session_revoked",
	TypeAccountDisabled: "account_disabled",
	TypeAccountEnabled:  "account_enabled",
	TypeVerification:    "verification",
}

// Stream statuses (SSF 1.0 §8.1.2).
const (
	StatusEnabled  = "enabled"
	StatusPaused   = "paused"
	StatusDisabled = "disabled"
)

var (
	// ErrNotFound reports a stream that does not exist, or is another
	// client's: the two are answered alike.
	ErrNotFound = errors.New("signals: no such stream")
	// ErrInvalid reports input the transmitter refuses; the error's text
	// says what is wrong and is meant for the caller.
	ErrInvalid = errors.New("signals: invalid input")
	// ErrConflict reports a stream that cannot be created: the client or
	// the deployment has as many as allowed.
	ErrConflict = errors.New("signals: too many streams")
	// ErrUnavailable reports that the streams or outboxes could not be
	// read or written.
	ErrUnavailable = errors.New("signals: event store unavailable")
)

// invalidError is a refusal whose text is the whole explanation.
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(format string, args ...any) error {
	return &invalidError{fmt.Sprintf(format, args...)}
}

func unavailable(err error) error { return fmt.Errorf("%w: %v", ErrUnavailable, err) }

// newID returns at least 128 random bits as text (crypto/rand.Text): stream
// ids, jti and txn values.
func newID() string { return rand.Text() }
