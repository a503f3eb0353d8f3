// Package adminapi is a client of tokenguard's admin HTTP API (/v1/admin/…),
// authenticated as a client that holds the admin permission. It is an HTTP
// client and nothing else: it reaches no store and decides nothing, so that
// a command line tool built on it does exactly what the API does, with the
// server's checks, audit events and answers.
package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

var (
	// ErrUnreachable is returned when the server cannot be reached or does
	// not answer in time.
	ErrUnreachable = errors.New("server unreachable")
	// ErrBadAnswer is returned when a success answer is not what the API
	// sends: a proxy in the way, or the wrong server.
	ErrBadAnswer = errors.New("unexpected answer")
)

// Error is an answer other than success: its status and the API's error
// body, {"error": …, "error_description": …}. Code and Description are empty
// when the body was not the API's (a proxy's error page, say).
type Error struct {
	Status      int
	Code        string
	Description string
}

func (e *Error) Error() string {
	switch {
	case e.Code != "" && e.Description != "":
		return fmt.Sprintf("the server answered %d %s: %s", e.Status, e.Code, e.Description)
	case e.Code != "":
		return fmt.Sprintf("the server answered %d %s", e.Status, e.Code)
	}
	return fmt.Sprintf("the server answered %d %s", e.Status, strings.ToLower(http.StatusText(e.Status)))
}

// maxBody bounds what is read of an answer: an admin list is at most a few
// hundred entries.
const maxBody = 8 << 20

// Config says which server to talk to, as whom.
type Config struct {
	// URL is the server's base URL, such as http://127.0.0.1:8080.
	// Required; it must not carry credentials.
	URL string
	// ClientID and ClientSecret authenticate the calls (HTTP Basic).
	// Required.
	ClientID     string
	ClientSecret string
	// Timeout bounds each call; zero means 10 seconds.
	Timeout time.Duration
	// Trace, when not nil, is told of every call once it is answered: the
	// method, the URL (which holds no credential) and the status, 0 when
	// there was no answer. It never sees a secret or a body.
	Trace func(method, url string, status int, took time.Duration)
}

// Client calls the admin API of one server.
type Client struct {
	base   *url.URL
	id     string
	secret string
	http   *http.Client
	trace  func(method, url string, status int, took time.Duration)
}

// New returns a client, or an error naming what is missing or wrong in cfg.
// The errors never repeat the secret, nor the URL (which could hold one).
func New(cfg Config) (*Client, error) {
	switch {
	case cfg.URL == "":
		return nil, errors.New("the server URL is missing")
	case cfg.ClientID == "":
		return nil, errors.New("the client id is missing")
	case cfg.ClientSecret == "":
		return nil, errors.New("the client secret is missing")
	}
	base, err := url.Parse(cfg.URL)
	switch {
	case err != nil || base.Host == "" || (base.Scheme != "http" && base.Scheme != "https"):
		return nil, errors.New("the server URL must be an absolute http or https URL, such as http://127.0.0.1:8080")
	case base.User != nil:
		return nil, errors.New("the server URL must not carry credentials: give them as the client id and secret")
	case base.RawQuery != "" || base.Fragment != "":
		return nil, errors.New("the server URL must not have a query or a fragment")
	}
	base.Path = strings.TrimSuffix(base.Path, "/")
	base.RawPath = ""
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Client{
		base:   base,
		id:     cfg.ClientID,
		secret: cfg.ClientSecret,
		trace:  cfg.Trace,
		http: &http.Client{
			Timeout: timeout,
			// A redirect is answered as it is: following it could carry
			// the credentials somewhere the operator did not name.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// call sends one request and returns the answer's body when its status is
// 2xx; any other status is an *Error, and no answer at all ErrUnreachable.
// path segments are escaped by the caller.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, body any) ([]byte, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	// The admin routes take HTTP Basic as it is (not form-encoded first,
	// as the OAuth endpoints do).
	req.SetBasicAuth(c.id, c.secret)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.traced(method, u, 0, start)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	c.traced(method, u, resp.StatusCode, start)
	if err != nil {
		return nil, fmt.Errorf("%w: reading the answer: %v", ErrUnreachable, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		apiErr := &Error{Status: resp.StatusCode}
		var eb struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(data, &eb) == nil {
			apiErr.Code, apiErr.Description = eb.Error, eb.Description
		}
		return nil, apiErr
	}
	return data, nil
}

func (c *Client) traced(method string, u url.URL, status int, start time.Time) {
	if c.trace != nil {
		c.trace(method, u.String(), status, time.Since(start))
	}
}

// decode unmarshals an answer, naming the call when it is not what the API
// sends.
func decode(what string, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: the answer to %s is not the API's JSON: %v", ErrBadAnswer, what, err)
	}
	return nil
}
