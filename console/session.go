package console

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/clients"
	"github.com/tokenguard/tokenguard/internal/keyspace"
)

// cookieName is the console session's cookie.
const cookieName = "tokenguard_console"

// csrfHeader carries the session's CSRF token on every state-changing
// request. A cross-site page can make a browser send the cookie, but it can
// neither read the token nor set a custom header without a CORS preflight,
// which the console never grants.
const csrfHeader = "X-CSRF-Token"

// errUnavailable reports that the session store could not be reached.
var errUnavailable = errors.New("console sessions unavailable")

// session is a signed-in admin: what Redis holds under the digest of the
// cookie's value.
type session struct {
	// Client is the admin client's id: the actor of everything done in
	// the session.
	Client string `json:"client"`
	// CSRF is the token every state-changing request must carry.
	CSRF string `json:"csrf"`
	// Created is when the admin signed in.
	Created time.Time `json:"created"`
}

// sessionStore keeps console sessions in Redis, each under
// keyspace.ConsoleSession of its cookie's value, expiring after ttl unused.
type sessionStore struct {
	rdb  redis.UniversalClient
	keys keyspace.Keys
	ttl  time.Duration
}

func newSessionStore(rdb redis.UniversalClient, prefix string, ttl time.Duration) *sessionStore {
	return &sessionStore{rdb: rdb, keys: keyspace.New(prefix), ttl: ttl}
}

// open starts a session for client and returns the cookie's value.
func (s *sessionStore) open(ctx context.Context, client string, now time.Time) (cookie string, sess session, err error) {
	cookie = randomToken()
	sess = session{Client: client, CSRF: randomToken(), Created: now.UTC()}
	b, err := json.Marshal(sess)
	if err != nil {
		return "", session{}, err
	}
	if err := s.rdb.Set(ctx, s.keys.ConsoleSession(cookie), b, s.ttl).Err(); err != nil {
		return "", session{}, fmt.Errorf("%w: %v", errUnavailable, err)
	}
	return cookie, sess, nil
}

// touch returns the session of cookie and restarts its idle timeout; ok is
// false for no session (never opened, expired or signed out).
func (s *sessionStore) touch(ctx context.Context, cookie string) (sess session, ok bool, err error) {
	b, err := s.rdb.GetEx(ctx, s.keys.ConsoleSession(cookie), s.ttl).Bytes()
	if errors.Is(err, redis.Nil) {
		return session{}, false, nil
	}
	if err != nil {
		return session{}, false, fmt.Errorf("%w: %v", errUnavailable, err)
	}
	if err := json.Unmarshal(b, &sess); err != nil {
		return session{}, false, fmt.Errorf("console session: %w", err)
	}
	return sess, true, nil
}

// end deletes the session of cookie.
func (s *sessionStore) end(ctx context.Context, cookie string) error {
	if err := s.rdb.Del(ctx, s.keys.ConsoleSession(cookie)).Err(); err != nil {
		return fmt.Errorf("%w: %v", errUnavailable, err)
	}
	return nil
}

// ping tells whether Redis answers, and how fast.
func (s *sessionStore) ping(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	err := s.rdb.Ping(ctx).Err()
	return time.Since(start), err
}

// cookie is the session cookie carrying value: HttpOnly (no script reads
// it), SameSite=Strict (no other site's page sends it), Secure outside dev,
// and limited to the console's paths. An empty value with maxAge -1 deletes
// it.
func (c *Console) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     cookieName,
		Value:    value,
		Path:     Path,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   c.secure,
		SameSite: http.SameSiteStrictMode,
	}
}

// signedIn is a request's session and its cookie's value.
type signedIn struct {
	session
	cookie string
}

// errSignedOut is a request without a live session.
var errSignedOut = &apiError{http.StatusUnauthorized, "unauthorized", "sign in to the console"}

// authenticate returns the request's session, refreshing its idle timeout.
// A session whose client no longer holds the admin permission (the
// configuration changed since) is ended.
func (c *Console) authenticate(r *http.Request) (signedIn, error) {
	ck, err := r.Cookie(cookieName)
	if err != nil || ck.Value == "" {
		return signedIn{}, errSignedOut
	}
	sess, ok, err := c.sessions.touch(r.Context(), ck.Value)
	if err != nil {
		return signedIn{}, err
	}
	if !ok {
		return signedIn{}, errSignedOut
	}
	if !c.clients.Permits(sess.Client, clients.PermAdmin) {
		if err := c.sessions.end(r.Context(), ck.Value); err != nil {
			return signedIn{}, err
		}
		return signedIn{}, errSignedOut
	}
	return signedIn{session: sess, cookie: ck.Value}, nil
}

// errCrossSite is a state-changing request from another site, or without
// the session's CSRF token.
var errCrossSite = &apiError{http.StatusForbidden, "csrf", "cross-site request refused: missing or wrong CSRF token, or another origin"}

// sameOrigin refuses a request a browser marks as coming from another
// site: Sec-Fetch-Site other than same-origin (or none, typed by the
// user), or an Origin whose host is not the request's. Browsers send at
// least one of them on every POST.
func sameOrigin(r *http.Request) error {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return errCrossSite
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	if origin != "http://"+r.Host && origin != "https://"+r.Host {
		return errCrossSite
	}
	return nil
}

// checkCSRF refuses a state-changing request that lacks the session's
// token or comes from another origin.
func checkCSRF(r *http.Request, sess session) error {
	if err := sameOrigin(r); err != nil {
		return err
	}
	got := r.Header.Get(csrfHeader)
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRF)) != 1 {
		return errCrossSite
	}
	return nil
}
