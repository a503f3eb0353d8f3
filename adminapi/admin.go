package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// User names a user: Subject alone is one of ours; with Issuer, the user of
// that trusted issuer with that sub.
type User struct {
	Subject string
	Issuer  string
}

func (u User) path(suffix string) (string, url.Values) {
	q := url.Values{}
	if u.Issuer != "" {
		q.Set("issuer", u.Issuer)
	}
	return "/v1/admin/users/" + url.PathEscape(u.Subject) + suffix, q
}

// Status is what the API shows of a user.
type Status struct {
	Subject  string `json:"subject"`
	Banned   bool   `json:"banned"`
	Ban      *Ban   `json:"ban"`
	Sessions int    `json:"sessions"`
	// RevokedBefore is the user's cut-off, nil when none is in force.
	RevokedBefore *time.Time `json:"revoked_before"`
	// JSON is the answer as the server sent it.
	JSON json.RawMessage `json:"-"`
}

// Ban is a ban in force. Until is nil for a ban without end.
type Ban struct {
	At     time.Time  `json:"at"`
	Until  *time.Time `json:"until"`
	Reason string     `json:"reason"`
	By     string     `json:"by"`
}

// Session is one live session of a user.
type Session struct {
	ID         string    `json:"id"`
	ClientID   string    `json:"client_id"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	DeviceName string    `json:"device_name"`
	// JSON is the session as the server sent it.
	JSON json.RawMessage `json:"-"`
}

// UnmarshalJSON keeps the server's JSON next to the decoded fields.
func (s *Session) UnmarshalJSON(b []byte) error {
	type plain Session
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*s = Session(p)
	s.JSON = append(json.RawMessage(nil), b...)
	return nil
}

// Event is one entry of the audit trail.
type Event struct {
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	Type      string    `json:"type"`
	Actor     string    `json:"actor"`
	Subject   string    `json:"subject"`
	SessionID string    `json:"session_id"`
	Reason    string    `json:"reason"`
	// JSON is the event as the server sent it.
	JSON json.RawMessage `json:"-"`
}

// UnmarshalJSON keeps the server's JSON next to the decoded fields.
func (e *Event) UnmarshalJSON(b []byte) error {
	type plain Event
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*e = Event(p)
	e.JSON = append(json.RawMessage(nil), b...)
	return nil
}

// EventQuery selects a page of the audit trail, newest first: Subject one
// user's (with Issuer, a trusted issuer's user), Limit events (zero: the
// server's default), those older than the event Before.
type EventQuery struct {
	Subject string
	Issuer  string
	Limit   int
	Before  string
}

// EventPage is a page of the audit trail, newest first. NextBefore, when
// not empty, is the Before of the next page.
type EventPage struct {
	Events     []Event `json:"events"`
	NextBefore string  `json:"next_before"`
	// JSON is the page as the server sent it.
	JSON json.RawMessage `json:"-"`
}

// RevokeToken revokes one access token, given whole.
func (c *Client) RevokeToken(ctx context.Context, token string) error {
	_, err := c.call(ctx, http.MethodPost, "/v1/admin/revocations", nil, map[string]string{"token": token})
	return err
}

// RevokeID revokes one token by its jti and expiry.
func (c *Client) RevokeID(ctx context.Context, jti string, exp time.Time) error {
	_, err := c.call(ctx, http.MethodPost, "/v1/admin/revocations", nil, map[string]any{"jti": jti, "exp": exp.Unix()})
	return err
}

// LogOut ends every session of the user and every token issued until now.
func (c *Client) LogOut(ctx context.Context, u User) error {
	p, q := u.path("/logout")
	_, err := c.call(ctx, http.MethodPost, p, q, nil)
	return err
}

// Ban bans the user for d, or until lifted when d is zero, and returns the
// user's status.
func (c *Client) Ban(ctx context.Context, u User, d time.Duration, reason string) (Status, error) {
	body := map[string]string{"reason": reason}
	if d != 0 {
		body["duration"] = d.String()
	}
	p, q := u.path("/ban")
	data, err := c.call(ctx, http.MethodPut, p, q, body)
	if err != nil {
		return Status{}, err
	}
	return decodeStatus("the ban", data)
}

// Unban lifts the user's ban, if any.
func (c *Client) Unban(ctx context.Context, u User) error {
	p, q := u.path("/ban")
	_, err := c.call(ctx, http.MethodDelete, p, q, nil)
	return err
}

// Status returns the user's ban, live sessions and cut-off.
func (c *Client) Status(ctx context.Context, u User) (Status, error) {
	p, q := u.path("")
	data, err := c.call(ctx, http.MethodGet, p, q, nil)
	if err != nil {
		return Status{}, err
	}
	return decodeStatus("the user", data)
}

func decodeStatus(what string, data []byte) (Status, error) {
	var st Status
	if err := decode(what, data, &st); err != nil {
		return Status{}, err
	}
	st.JSON = data
	return st, nil
}

// maxPages bounds how many pages Sessions follows, so that a server that
// keeps handing out cursors cannot keep the client busy for ever.
const maxPages = 1000

// Sessions returns every live session of the user, newest first. It follows
// next_before from page to page when the server pages the list, and reads
// the one answer when it does not.
func (c *Client) Sessions(ctx context.Context, u User) ([]Session, error) {
	p, q := u.path("/sessions")
	var all []Session
	seen := map[string]bool{}
	for range maxPages {
		data, err := c.call(ctx, http.MethodGet, p, q, nil)
		if err != nil {
			return nil, err
		}
		var page struct {
			Sessions   []Session `json:"sessions"`
			NextBefore string    `json:"next_before"`
		}
		if err := decode("the session list", data, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Sessions...)
		if page.NextBefore == "" || len(page.Sessions) == 0 {
			return all, nil
		}
		if seen[page.NextBefore] {
			return nil, fmt.Errorf("%w: the session list repeats the cursor %q", ErrBadAnswer, page.NextBefore)
		}
		seen[page.NextBefore] = true
		q.Set("before", page.NextBefore)
	}
	return nil, fmt.Errorf("%w: the session list goes on past %d pages", ErrBadAnswer, maxPages)
}

// EndSession ends one session by its id.
func (c *Client) EndSession(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("the session id is empty")
	}
	_, err := c.call(ctx, http.MethodDelete, "/v1/admin/sessions/"+url.PathEscape(id), nil, nil)
	return err
}

// Events returns one page of the audit trail.
func (c *Client) Events(ctx context.Context, eq EventQuery) (EventPage, error) {
	q := url.Values{}
	if eq.Subject != "" {
		q.Set("subject", eq.Subject)
	}
	if eq.Issuer != "" {
		q.Set("issuer", eq.Issuer)
	}
	if eq.Limit != 0 {
		q.Set("limit", strconv.Itoa(eq.Limit))
	}
	if eq.Before != "" {
		q.Set("before", eq.Before)
	}
	data, err := c.call(ctx, http.MethodGet, "/v1/admin/events", q, nil)
	if err != nil {
		return EventPage{}, err
	}
	var page EventPage
	if err := decode("the event list", data, &page); err != nil {
		return EventPage{}, err
	}
	page.JSON = data
	return page, nil
}
