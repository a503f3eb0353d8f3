package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/clients"
	"github.com/tokenguard/tokenguard/lockout"
	"github.com/tokenguard/tokenguard/sessions"
	"github.com/tokenguard/tokenguard/users"
)

// bodyLimit bounds a console request's body: the largest, a ban, is a
// subject, an issuer, a duration and a reason.
const bodyLimit = 8 << 10

// apiError is an error the admin is meant to see, with its status and the
// code and description of the JSON body, the shape of every error of the
// service.
type apiError struct {
	status      int
	code        string
	description string
}

func (e *apiError) Error() string { return e.code + ": " + e.description }

var (
	errNotFound    = &apiError{http.StatusNotFound, "not_found", "not found"}
	errNoSession   = &apiError{http.StatusNotFound, "not_found", "no such session"}
	errBadClient   = &apiError{http.StatusUnauthorized, "invalid_client", "wrong client id or secret"}
	errNotAdmin    = &apiError{http.StatusForbidden, "access_denied", "the client lacks the admin permission"}
	errLocked      = &apiError{http.StatusTooManyRequests, "too_many_requests", "too many failed sign-ins; try again later"}
	errStoreFailed = &apiError{http.StatusServiceUnavailable, "temporarily_unavailable", "the store cannot be reached; retry shortly"}
)

func badRequest(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "invalid_request", fmt.Sprintf(format, args...)}
}

// classify maps an error to what the admin sees; nil for an error that is
// the service's fault (a 500, logged by the caller).
func classify(err error) *apiError {
	var api *apiError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &api):
		return api
	case errors.Is(err, users.ErrInvalid):
		return badRequest("%s", err.Error())
	case errors.Is(err, sessions.ErrNotFound):
		return errNoSession
	case errors.Is(err, audit.ErrBadCursor):
		return badRequest("before must be the id of an event, as listed")
	case errors.Is(err, lockout.ErrLocked):
		return errLocked
	case errors.Is(err, blacklist.ErrUnavailable), errors.Is(err, sessions.ErrUnavailable),
		errors.Is(err, audit.ErrUnavailable), errors.Is(err, lockout.ErrUnavailable), errors.Is(err, errUnavailable):
		return errStoreFailed
	case errors.As(err, &tooLarge):
		return &apiError{http.StatusRequestEntityTooLarge, "invalid_request", fmt.Sprintf("request body larger than %d bytes", tooLarge.Limit)}
	}
	return nil
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func writeError(w http.ResponseWriter, r *http.Request, e *apiError) {
	if e.status == http.StatusServiceUnavailable || e.status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, r, e.status, errorBody{Error: e.code, Description: e.description})
}

// fail answers err: its apiError, or a logged 500 with a generic message.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := classify(err)
	if e == nil {
		c.log.ErrorContext(r.Context(), "console: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &apiError{http.StatusInternalServerError, "server_error", "internal error"}
	} else if e.status >= 500 {
		c.log.ErrorContext(r.Context(), "console: store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, r, e)
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if r.Method == http.MethodHead || v == nil {
		return
	}
	// A client that went away is no error of ours.
	_ = json.MarshalWrite(w, v, json.Deterministic(true))
}

// decode reads a request's JSON body strictly, as the API does: exactly
// one object, names as spelled (case-sensitive), none twice, none unknown.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		// A form post from another site cannot send application/json
		// without a preflight.
		return &apiError{http.StatusUnsupportedMediaType, "invalid_request", "the body must be application/json"}
	}
	dec := jsontext.NewDecoder(http.MaxBytesReader(w, r.Body, bodyLimit))
	if dec.PeekKind() != '{' {
		var tooLarge *http.MaxBytesError
		if _, err := dec.ReadToken(); errors.As(err, &tooLarge) {
			return err
		}
		return badRequest("the body must be a JSON object")
	}
	if err := json.UnmarshalDecode(dec, v, json.RejectUnknownMembers(true)); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return badRequest("the body is not the JSON object expected: %v", err)
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		return badRequest("the body must hold exactly one JSON object")
	}
	return nil
}

// read wraps a handler that only reads: it needs a session.
func (c *Console) read(next func(http.ResponseWriter, *http.Request, signedIn) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := c.authenticate(r)
		if err == nil {
			err = next(w, r, sess)
		}
		if err != nil {
			c.fail(w, r, err)
		}
	})
}

// change wraps a handler that changes state: it needs a session, the
// session's CSRF token and a same-origin request, and it is counted as
// action.
func (c *Console) change(action string, next func(http.ResponseWriter, *http.Request, signedIn) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := c.authenticate(r)
		if err == nil {
			if err = checkCSRF(r, sess.session); err == nil {
				err = next(w, r, sess)
			}
		}
		switch e := classify(err); {
		case err == nil:
			c.metrics.ConsoleAction(action, "done")
		case e != nil && e.status < 500:
			c.metrics.ConsoleAction(action, "refused")
		default:
			c.metrics.ConsoleAction(action, "failed")
		}
		if err != nil {
			c.fail(w, r, err)
		}
	})
}

// signInRequest is what the sign-in form sends.
type signInRequest struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// meView is the signed-in admin: the client id and the CSRF token the
// page's script sends back on every change.
type meView struct {
	ClientID   string `json:"client_id"`
	CSRF       string `json:"csrf"`
	SessionTTL int64  `json:"session_ttl_seconds"`
}

// meOf shows sess to its admin, at sign-in and on every page load.
func (c *Console) meOf(sess session) meView {
	return meView{ClientID: sess.Client, CSRF: sess.CSRF, SessionTTL: int64(c.sessions.ttl.Seconds())}
}

// signIn checks an admin client's id and secret under the client
// authentication limits (a locked-out id or address is refused before the
// secret is looked at; a wrong secret counts against both) and opens a
// console session.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	outcome, err := c.doSignIn(w, r)
	c.metrics.ConsoleSignIn(outcome)
	if err != nil {
		c.fail(w, r, err)
	}
}

func (c *Console) doSignIn(w http.ResponseWriter, r *http.Request) (outcome string, err error) {
	if err := sameOrigin(r); err != nil {
		return "failure", err
	}
	var req signInRequest
	if err := decode(w, r, &req); err != nil {
		return "failure", err
	}
	if req.ClientID == "" || req.ClientSecret == "" {
		return "failure", badRequest("client_id and client_secret are required")
	}
	ctx, ip := r.Context(), clientIP(r)
	if err := c.limiter.Check(ctx, req.ClientID, ip); err != nil {
		return limitOutcome(err), err
	}
	cl, ok := c.clients.Check(req.ClientID, req.ClientSecret)
	if !ok {
		c.metrics.ClientAuthFailed()
		if err := c.limiter.Fail(ctx, req.ClientID, ip); err != nil {
			return limitOutcome(err), err
		}
		c.log.InfoContext(ctx, "console: sign-in failed", "client_id", req.ClientID, "ip", ip)
		return "failure", errBadClient
	}
	if !slices.Contains(cl.Permissions, clients.PermAdmin) {
		return "forbidden", errNotAdmin
	}
	cookie, sess, err := c.sessions.open(ctx, cl.ID, c.now())
	if err != nil {
		return "unavailable", err
	}
	c.log.InfoContext(ctx, "console: signed in", "client_id", cl.ID, "ip", ip)
	http.SetCookie(w, c.cookie(cookie, 0))
	writeJSON(w, r, http.StatusOK, c.meOf(sess))
	return "success", nil
}

func limitOutcome(err error) string {
	if errors.Is(err, lockout.ErrLocked) {
		return "locked_out"
	}
	return "unavailable"
}

// clientIP is the address failed sign-ins are counted by: the request's
// RemoteAddr, which the router set to the client's address.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// signOut ends the session: its key is deleted, so the cookie opens
// nothing any more, wherever it was copied.
func (c *Console) signOut(w http.ResponseWriter, r *http.Request, s signedIn) error {
	if err := c.sessions.end(r.Context(), s.cookie); err != nil {
		return err
	}
	c.log.InfoContext(r.Context(), "console: signed out", "client_id", s.Client)
	http.SetCookie(w, c.cookie("", -1))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *Console) me(w http.ResponseWriter, r *http.Request, s signedIn) error {
	writeJSON(w, r, http.StatusOK, c.meOf(s.session))
	return nil
}

// stamp writes a time as the API does: RFC 3339, UTC, milliseconds.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// stampOrEmpty is stamp, or "" for the zero time.
func stampOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return stamp(t)
}

// foundView is one user a search found.
type foundView struct {
	Subject string `json:"subject"`
	// Issuer is the trusted issuer of another provider's user; empty for
	// ours.
	Issuer   string `json:"issuer"`
	Known    bool   `json:"known"`
	Banned   bool   `json:"banned"`
	Sessions int    `json:"sessions"`
}

func (c *Console) searchUsers(w http.ResponseWriter, r *http.Request, _ signedIn) error {
	sub := r.URL.Query().Get("subject")
	if sub == "" {
		return badRequest("subject is required")
	}
	found, err := c.users.Find(r.Context(), sub)
	if err != nil {
		return err
	}
	out := struct {
		Users []foundView `json:"users"`
	}{Users: make([]foundView, 0, len(found))}
	for _, f := range found {
		v := foundView{Known: f.Known, Banned: f.Ban != nil, Sessions: f.Sessions}
		v.Issuer, v.Subject = users.SplitSubject(f.Subject)
		out.Users = append(out.Users, v)
	}
	writeJSON(w, r, http.StatusOK, out)
	return nil
}

// banView is a ban in force.
type banView struct {
	At     string `json:"at"`
	Until  string `json:"until"`
	Reason string `json:"reason"`
	By     string `json:"by"`
}

// userView is a user's page: status, a first page of live sessions.
type userView struct {
	Subject       string      `json:"subject"`
	Issuer        string      `json:"issuer"`
	Banned        bool        `json:"banned"`
	Ban           *banView    `json:"ban"`
	RevokedBefore string      `json:"revoked_before"`
	Sessions      int         `json:"sessions"`
	Live          sessionList `json:"live"`
}

// sessionView is one live session, as the admin sees it.
type sessionView struct {
	ID         string `json:"id"`
	ClientID   string `json:"client_id"`
	DeviceName string `json:"device_name"`
	IP         string `json:"ip"`
	UserAgent  string `json:"user_agent"`
	CreatedAt  string `json:"created_at"`
	LastUsedAt string `json:"last_used_at"`
	ExpiresAt  string `json:"expires_at"`
}

type sessionList struct {
	Sessions   []sessionView `json:"sessions"`
	NextBefore string        `json:"next_before"`
}

// sessionPageSize is how many sessions a page of the user page lists.
const sessionPageSize = 50

func (c *Console) user(w http.ResponseWriter, r *http.Request, _ signedIn) error {
	q := r.URL.Query()
	name, err := c.users.Subject(q.Get("issuer"), q.Get("subject"))
	if err != nil {
		return err
	}
	st, err := c.users.Status(r.Context(), name)
	if err != nil {
		return err
	}
	live, err := c.sessionPage(r.Context(), name, "")
	if err != nil {
		return err
	}
	v := userView{Sessions: st.Sessions, RevokedBefore: stampOrEmpty(st.CutOff), Live: live}
	v.Issuer, v.Subject = users.SplitSubject(st.Subject)
	if b := st.Ban; b != nil {
		v.Banned = true
		v.Ban = &banView{At: stamp(b.At), Until: stampOrEmpty(b.Until), Reason: b.Reason, By: b.By}
	}
	writeJSON(w, r, http.StatusOK, v)
	return nil
}

func (c *Console) userSessions(w http.ResponseWriter, r *http.Request, _ signedIn) error {
	q := r.URL.Query()
	name, err := c.users.Subject(q.Get("issuer"), q.Get("subject"))
	if err != nil {
		return err
	}
	page, err := c.sessionPage(r.Context(), name, q.Get("before"))
	if err != nil {
		return err
	}
	writeJSON(w, r, http.StatusOK, page)
	return nil
}

func (c *Console) sessionPage(ctx context.Context, name, before string) (sessionList, error) {
	page, err := c.users.Sessions(ctx, name, sessions.PageRequest{Limit: sessionPageSize, Before: before})
	if errors.Is(err, sessions.ErrBadCursor) {
		return sessionList{}, badRequest("before must be a next_before, as listed")
	}
	if err != nil {
		return sessionList{}, err
	}
	out := sessionList{Sessions: make([]sessionView, 0, len(page.Sessions)), NextBefore: page.Next}
	for _, s := range page.Sessions {
		out.Sessions = append(out.Sessions, sessionView{
			ID: s.ID, ClientID: s.ClientID,
			DeviceName: s.Device.Name, IP: s.Device.IP, UserAgent: s.Device.UserAgent,
			CreatedAt: stamp(s.CreatedAt), LastUsedAt: stamp(s.LastUsedAt), ExpiresAt: stamp(s.ExpiresAt),
		})
	}
	return out, nil
}

// userRequest names a user: subject, and issuer for a trusted issuer's.
type userRequest struct {
	Subject string `json:"subject"`
	Issuer  string `json:"issuer"`
}

// onUser makes the handler of a change that names a user (a
// userRequest): do is the users workflow that acts on that user, as the
// signed-in admin.
func (c *Console) onUser(do func(ctx context.Context, actor, name string) error) func(http.ResponseWriter, *http.Request, signedIn) error {
	return func(w http.ResponseWriter, r *http.Request, s signedIn) error {
		var req userRequest
		if err := decode(w, r, &req); err != nil {
			return err
		}
		name, err := c.users.Subject(req.Issuer, req.Subject)
		if err != nil {
			return err
		}
		if err := do(r.Context(), s.Client, name); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// banRequest bans a user for Duration (a Go duration), or until lifted
// when it is empty.
type banRequest struct {
	Subject  string `json:"subject"`
	Issuer   string `json:"issuer"`
	Duration string `json:"duration"`
	Reason   string `json:"reason"`
}

func (c *Console) ban(w http.ResponseWriter, r *http.Request, s signedIn) error {
	var req banRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	name, err := c.users.Subject(req.Issuer, req.Subject)
	if err != nil {
		return err
	}
	d, err := users.ParseBanDuration(req.Duration)
	if err != nil {
		return err
	}
	if _, err := c.users.Ban(r.Context(), s.Client, name, d, req.Reason); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// endSessionRequest names a session to end.
type endSessionRequest struct {
	ID string `json:"id"`
}

func (c *Console) endSession(w http.ResponseWriter, r *http.Request, s signedIn) error {
	var req endSessionRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.ID == "" {
		return badRequest("id is required")
	}
	if err := c.users.EndSession(r.Context(), s.Client, req.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// eventView is one audit event.
type eventView struct {
	ID        string `json:"id"`
	Time      string `json:"time"`
	Type      string `json:"type"`
	Actor     string `json:"actor"`
	Subject   string `json:"subject"`
	Issuer    string `json:"issuer"`
	SessionID string `json:"session_id"`
	Reason    string `json:"reason"`
}

// eventTypes are the kinds of audit event the filter offers.
var eventTypes = []string{
	audit.TypeLogout, audit.TypeSessionEnded, audit.TypeAdminSessionEnded,
	audit.TypeAdminRevocation, audit.TypeAdminLogout, audit.TypeBan, audit.TypeUnban,
	sessions.CauseReuse, sessions.CauseRevoked, sessions.CauseExhausted, sessions.CauseEvicted,
	audit.TypeClientLockedOut, audit.TypeClientIPLockedOut,
}

const (
	defaultEventPage = 25
	maxEventPage     = 200
	// maxEventScan bounds how many events one request reads while
	// looking for events of one type: a rare type among many answers a
	// short (or empty) page with a cursor to go on from, instead of
	// reading the whole trail.
	maxEventScan = 2000
)

// events pages through the audit trail, newest first: ?type= one kind,
// ?subject= (with ?issuer=) one user, ?limit=, ?before= the next_before
// of the previous page.
func (c *Console) events(w http.ResponseWriter, r *http.Request, _ signedIn) error {
	q := r.URL.Query()
	typ := q.Get("type")
	if typ != "" && !slices.Contains(eventTypes, typ) {
		return badRequest("type must be one of the listed event types")
	}
	limit := defaultEventPage
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxEventPage {
			return badRequest("limit must be 1 to %d", maxEventPage)
		}
		limit = n
	}
	query := audit.Query{Before: q.Get("before"), Limit: limit}
	if sub := q.Get("subject"); sub != "" {
		name, err := c.users.Subject(q.Get("issuer"), sub)
		if err != nil {
			return err
		}
		query.Subject = name
	} else if q.Get("issuer") != "" {
		return badRequest("issuer selects the user named by subject; give both")
	}
	var found []audit.Event
	next := ""
	if typ == "" {
		list, err := c.users.Events(r.Context(), query)
		if err != nil {
			return err
		}
		found = list
		if len(list) == limit {
			next = list[len(list)-1].ID
		}
	} else {
		// The trail is filtered by type as it is read, a batch at a
		// time, until the page is full, the trail ends or the scan
		// bound is reached; the cursor is the last event read.
		query.Limit = maxEventPage
		for scanned := 0; len(found) < limit && scanned < maxEventScan; {
			list, err := c.users.Events(r.Context(), query)
			if err != nil {
				return err
			}
			for i, e := range list {
				scanned++
				if e.Type == typ {
					found = append(found, e)
				}
				if len(found) == limit {
					list = list[:i+1]
					break
				}
			}
			if len(list) < query.Limit && len(found) < limit {
				next = "" // the trail ended
				break
			}
			// The last event read: the next page goes on after it.
			query.Before = list[len(list)-1].ID
			next = query.Before
		}
	}
	out := struct {
		Events     []eventView `json:"events"`
		NextBefore string      `json:"next_before"`
		Types      []string    `json:"types"`
	}{Events: make([]eventView, 0, len(found)), NextBefore: next, Types: eventTypes}
	for _, e := range found {
		v := eventView{ID: e.ID, Time: stamp(e.Time), Type: e.Type, Actor: e.Actor, SessionID: e.SessionID, Reason: e.Reason}
		v.Issuer, v.Subject = users.SplitSubject(e.Subject)
		out.Events = append(out.Events, v)
	}
	writeJSON(w, r, http.StatusOK, out)
	return nil
}

// dashboardView is a reading of the figures the dashboard shows. The
// page's script turns two readings into rates. Staleness is null for a
// shard not loaded yet (+Inf in the metric).
type dashboardView struct {
	At             string             `json:"at"`
	Decisions      map[string]float64 `json:"decisions"`
	Revocations    float64            `json:"revocations"`
	SessionsOpened float64            `json:"sessions_opened"`
	SessionsEnded  float64            `json:"sessions_ended"`
	MirrorEntries  map[string]float64 `json:"mirror_entries"`
	ShardStaleness []*float64         `json:"shard_staleness"`
	// StaleAfter is revocation.max_staleness in seconds: a shard staler
	// than that fails checks.
	StaleAfter         float64   `json:"stale_after_seconds"`
	ClientAuthFailures float64   `json:"client_auth_failures"`
	Redis              redisView `json:"redis"`
}

// redisView is Redis's health as this instance sees it.
type redisView struct {
	OK          bool    `json:"ok"`
	Error       string  `json:"error"`
	PingMS      float64 `json:"ping_ms"`
	Errors      float64 `json:"command_errors"`
	Connections float64 `json:"connections"`
	Idle        float64 `json:"idle_connections"`
}

func (c *Console) dashboard(w http.ResponseWriter, r *http.Request, _ signedIn) error {
	v := dashboardView{At: stamp(c.now()), Decisions: map[string]float64{}, MirrorEntries: map[string]float64{}, ShardStaleness: []*float64{}, StaleAfter: c.stale.Seconds()}
	if c.figures != nil {
		f, err := c.figures()
		if err != nil {
			return err
		}
		v.At = stamp(f.At)
		v.Decisions, v.Revocations, v.MirrorEntries = f.Decisions, f.Revocations, f.MirrorEntries
		v.SessionsOpened, v.SessionsEnded, v.ClientAuthFailures = f.SessionsOpened, f.SessionsEnded, f.ClientAuthFailures
		for _, s := range f.ShardStaleness {
			if math.IsInf(s, 0) || math.IsNaN(s) {
				v.ShardStaleness = append(v.ShardStaleness, nil)
				continue
			}
			v.ShardStaleness = append(v.ShardStaleness, &s)
		}
		v.Redis.Errors, v.Redis.Connections, v.Redis.Idle = f.RedisErrors, f.RedisConnections, f.RedisIdleConnections
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	took, err := c.sessions.ping(ctx)
	v.Redis.OK, v.Redis.PingMS = err == nil, float64(took.Microseconds())/1000
	if err != nil {
		v.Redis.Error = "Redis does not answer"
		c.log.WarnContext(r.Context(), "console: redis ping", "err", err)
	}
	writeJSON(w, r, http.StatusOK, v)
	return nil
}
