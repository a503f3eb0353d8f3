package handlers

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"
)

// Permissions a client may hold.
const (
	permSessions = "sessions"
	permAdmin    = "admin"
)

// Client is a machine caller authenticated with HTTP Basic.
type Client struct {
	ID string
	// SecretHash is the SHA-256 of the client's secret; the secret itself
	// is not kept.
	SecretHash  [sha256.Size]byte
	Permissions []string
}

type clients struct {
	byID map[string]Client
}

func newClients(list []Client) clients {
	cs := clients{byID: make(map[string]Client, len(list))}
	for _, c := range list {
		cs.byID[c.ID] = c
	}
	return cs
}

var errInvalidClient = &apiError{http.StatusUnauthorized, "invalid_client", "client authentication failed"}

// authenticate checks HTTP Basic credentials. The secret is compared in
// constant time as a hash, and an unknown client id costs the same as a wrong
// secret, so timing tells nothing about which clients exist.
func (cs clients) authenticate(r *http.Request) (Client, bool) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		return Client{}, false
	}
	got := sha256.Sum256([]byte(secret))
	c, known := cs.byID[id]
	match := subtle.ConstantTimeCompare(got[:], c.SecretHash[:]) == 1
	return c, known && match
}

const clientKey = "tokenguard.client"

// requireClient admits only clients that authenticate and hold perm.
func (h *handler) requireClient(perm string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			cl, ok := h.clients.authenticate(c.Request())
			if !ok {
				c.Response().Header().Set("WWW-Authenticate", `Basic realm="tokenguard"`)
				return errInvalidClient
			}
			if !slices.Contains(cl.Permissions, perm) {
				return &apiError{http.StatusForbidden, "access_denied", "client lacks the permission " + perm}
			}
			c.Set(clientKey, cl)
			return next(c)
		}
	}
}

// caller returns the client that requireClient admitted.
func caller(c echo.Context) Client {
	cl, _ := c.Get(clientKey).(Client)
	return cl
}
