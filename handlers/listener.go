package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// Listener wraps the listener tokenguard serves plain HTTP on, so that the
// few errors net/http answers by itself carry the JSON error body like
// every other error. net/http parses the request line and headers before
// any handler, middleware or router runs; when that fails (a malformed
// %-escape as in GET /nope%zz, no Host, a malformed header, headers over
// MaxHeaderBytes, an unsupported Transfer-Encoding or HTTP version) it
// writes a fixed text/plain answer straight to the connection and closes
// it, and offers no hook to change it. The connections of this listener
// recognise that answer and write the JSON one in its place.
func Listener(ln net.Listener) net.Listener {
	return jsonErrorListener{ln}
}

type jsonErrorListener struct{ net.Listener }

func (l jsonErrorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return jsonErrorConn{c}, nil
}

type jsonErrorConn struct{ net.Conn }

// Write replaces net/http's own error answer; everything else passes as
// it is.
func (c jsonErrorConn) Write(p []byte) (int, error) {
	resp, ok := protocolError(p)
	if !ok {
		return c.Conn.Write(p)
	}
	if _, err := c.Conn.Write(resp); err != nil {
		return 0, err
	}
	return len(p), nil
}

// CloseWrite keeps the half-close net/http does after a 431, when the
// connection has one.
func (c jsonErrorConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// netHTTPErrorHeaders are the headers of every answer net/http writes
// itself (net/http/server.go, conn.serve), and of nothing else: a response
// from a handler carries Date or Content-Length between its status line and
// these, so a write is net/http's own answer exactly when its status line
// is followed by these headers alone.
const netHTTPErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// protocolError turns net/http's own error answer, written in one piece,
// into the JSON error shape with the same status; ok is false for any other
// write.
func protocolError(p []byte) (resp []byte, ok bool) {
	const proto = "HTTP/1.1 "
	if !bytes.HasPrefix(p, []byte(proto)) {
		return nil, false
	}
	statusLine, body, found := bytes.Cut(p, []byte(netHTTPErrorHeaders))
	if !found || bytes.Contains(statusLine, []byte("\r\n")) || len(statusLine) < len(proto)+3 {
		return nil, false
	}
	status, err := strconv.Atoi(string(statusLine[len(proto) : len(proto)+3]))
	if err != nil || status < 400 {
		return nil, false
	}
	out, err := json.Marshal(errorBody{Error: "invalid_request", Description: protocolErrorDescription(status, string(body))})
	if err != nil {
		return nil, false
	}
	out = append(out, '\n')
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	fmt.Fprintf(&b, "Cache-Control: no-store\r\nConnection: close\r\nContent-Length: %d\r\nContent-Type: %s\r\n\r\n", len(out), echo.MIMEApplicationJSON)
	b.Write(out)
	return b.Bytes(), true
}

// protocolErrorDescription explains net/http's answer: its own detail when
// it gives one ("400 Bad Request: missing required Host header"), and what
// a bare 400 means otherwise. Every one of these is caused by what the
// client sent, hence invalid_request even for the 5xx among them (501 for
// an unknown Transfer-Encoding, 505 for an HTTP version).
func protocolErrorDescription(status int, body string) string {
	if _, detail, ok := strings.Cut(body, ": "); ok {
		return "malformed request: " + detail
	}
	switch status {
	case http.StatusBadRequest:
		return "malformed request: the request line or a header cannot be parsed (such as a %-escape in the path that is not two hex digits)"
	case http.StatusRequestHeaderFieldsTooLarge:
		return "the request headers are too large"
	case http.StatusNotImplemented:
		return "unsupported transfer encoding; send the body with Content-Length or chunked"
	}
	return strings.ToLower(http.StatusText(status))
}
