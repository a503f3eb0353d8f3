// Package requestid carries the id of the HTTP request being served in its
// context, and adds it to every log record written with that context, so
// that the request log, the error logs and the domain's lines of one
// request can be found together. The HTTP layer sets the id; the log
// handler main builds reads it; the packages in between only pass ctx to
// the slog *Context methods.
package requestid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
)

// Header is the HTTP header that carries a request's id, from a trusted
// proxy in and back to the client out.
const Header = "X-Request-Id"

// MaxLen bounds an id accepted from a proxy: long enough for a UUID, a
// 32-hex nginx $request_id or a trace header value, short enough for a log
// line.
const MaxLen = 128

type key struct{}

// NewContext returns ctx carrying the request id id.
func NewContext(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, key{}, id)
}

// FromContext returns the request id ctx carries, or "" when it carries
// none.
func FromContext(ctx context.Context) string {
	id, _ := ctx.Value(key{}).(string)
	return id
}

// New returns a fresh id: 128 random bits in hex, as nginx's $request_id,
// so that ids from both look alike in the logs.
func New() string {
	var b [16]byte
	// crypto/rand.Read never fails (it panics if the system's source
	// does, which no caller could handle).
	_, _ = rand.Read(b[:])
	var out [32]byte
	hex.Encode(out[:], b[:])
	return string(out[:]) // one allocation, not EncodeToString's two
}

// Valid reports whether s is an id worth keeping: 1 to MaxLen characters
// among letters, digits and - _ . : + / =, which covers UUIDs, hex,
// base64 and trace headers and keeps control characters, spaces and
// quotes out of the logs and the response header.
func Valid(s string) bool {
	if len(s) == 0 || len(s) > MaxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '+', c == '/', c == '=':
		default:
			return false
		}
	}
	return true
}

// handler adds the request id of a record's context to the record.
type handler struct{ next slog.Handler }

// NewHandler returns a slog.Handler that adds a request_id attribute to
// every record whose context carries one, then hands it to next.
func NewHandler(next slog.Handler) slog.Handler {
	return handler{next: next}
}

func (h handler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	if id := FromContext(ctx); id != "" {
		r = r.Clone()
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.next.Handle(ctx, r)
}

func (h handler) WithAttrs(as []slog.Attr) slog.Handler {
	return handler{next: h.next.WithAttrs(as)}
}

func (h handler) WithGroup(name string) slog.Handler {
	return handler{next: h.next.WithGroup(name)}
}
