// Package clients knows tokenguard's machine callers (app backends,
// gateways, admin tools): who they are, how their secrets are checked and
// what each may do. It holds every rule on a client's configuration; the
// HTTP layer only reads the credentials off a request (HTTP Basic or
// client_secret_post) and asks Check.
package clients

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Permissions a client can hold.
const (
	// PermSessions lets a client open and refresh users' sessions
	// (POST /v1/sessions, /oauth2/token).
	PermSessions = "sessions"
	// PermAdmin lets a client use the admin API (/v1/admin).
	PermAdmin = "admin"
	// PermIntrospect lets a client introspect tokens (RFC 7662).
	PermIntrospect = "introspect"
	// PermRevoke lets a client revoke tokens (RFC 7009).
	PermRevoke = "revoke"
	// PermFeed lets a client follow the revocation feed
	// (/v1/revocations/stream).
	PermFeed = "feed"
	// PermEvents lets a client manage SSF event streams and receive
	// their events (/ssf/...), with HTTP Basic or a token of its own
	// (the client_credentials grant) whose scope holds it.
	PermEvents = "events"
)

var permissions = []string{PermSessions, PermAdmin, PermIntrospect, PermRevoke, PermFeed, PermEvents}

// Client is an authenticated machine caller.
type Client struct {
	ID string
	// SecretHash is the SHA-256 of the client's secret; the secret itself
	// is not kept.
	SecretHash  [sha256.Size]byte
	Permissions []string
}

// Entry is one client as configured. Exactly one of Secret, SecretEnv and
// SecretSHA256 is set.
type Entry struct {
	ID string
	// Secret is the secret in clear text, allowed in dev mode only.
	Secret string
	// SecretEnv names the environment variable holding the secret.
	SecretEnv string
	// SecretSHA256 is the hex SHA-256 of the secret, so that the
	// configuration never holds the secret.
	SecretSHA256 string
	Permissions  []string
}

// Config holds what New builds a Registry from.
type Config struct {
	Clients []Entry
	// Getenv resolves SecretEnv; required when an entry has one.
	Getenv func(string) string
	// Dev allows clear-text secrets in the configuration and the known dev
	// secrets. Outside dev mode both stop start-up.
	Dev bool
}

// Registry is the set of known clients. It is immutable and safe for
// concurrent use; a nil Registry knows no client.
type Registry struct {
	byID map[string]Client
}

// New checks every entry and keeps each client's secret as its SHA-256
// only. The error names every entry that breaks a rule by its place in the
// configuration (clients[1].secret_sha256), never a secret.
func New(cfg Config) (*Registry, error) {
	r := &Registry{byID: make(map[string]Client, len(cfg.Clients))}
	var errs []error
	for i, e := range cfg.Clients {
		c, err := cfg.resolve(e, fmt.Sprintf("clients[%d]", i))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := r.byID[c.ID]; dup {
			errs = append(errs, fmt.Errorf("clients[%d].id: duplicate client id %q", i, c.ID))
			continue
		}
		r.byID[c.ID] = c
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

// resolve checks one entry and turns it into a Client. path names the
// entry in errors.
func (cfg Config) resolve(e Entry, path string) (Client, error) {
	var errs []error
	bad := func(setting, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s: %s", path, setting, fmt.Sprintf(format, args...)))
	}
	// A colon would make the id ambiguous in HTTP Basic credentials.
	if e.ID == "" || strings.ContainsAny(e.ID, ": \t\n") {
		bad(".id", "must be non-empty, without colons or spaces, got %q", e.ID)
	}
	for _, p := range e.Permissions {
		if !slices.Contains(permissions, p) {
			bad(".permissions", "unknown permission %q (known: %v)", p, permissions)
		}
	}
	c := Client{ID: e.ID, Permissions: slices.Clone(e.Permissions)}
	sources := 0
	for _, s := range []string{e.Secret, e.SecretEnv, e.SecretSHA256} {
		if s != "" {
			sources++
		}
	}
	switch {
	case sources != 1:
		bad("", "set exactly one of secret, secret_env and secret_sha256")
	case e.SecretSHA256 != "":
		b, err := hex.DecodeString(e.SecretSHA256)
		if err != nil || len(b) != sha256.Size {
			bad(".secret_sha256", "want 64 hex digits (SHA-256 of the secret)")
		}
		copy(c.SecretHash[:], b)
	case e.Secret != "":
		if !cfg.Dev {
			bad(".secret", "a clear-text secret in the file is for dev only; use secret_env or secret_sha256")
		}
		c.SecretHash = sha256.Sum256([]byte(e.Secret))
	default:
		if cfg.Getenv == nil {
			bad(".secret_env", "no environment to read $%s from", e.SecretEnv)
			break
		}
		secret := cfg.Getenv(e.SecretEnv)
		if err := checkSecret(secret, cfg.Dev); err != nil {
			bad(".secret_env", "$%s: %v", e.SecretEnv, err)
		}
		c.SecretHash = sha256.Sum256([]byte(secret))
	}
	return c, errors.Join(errs...)
}

// MinSecretBytes is the shortest client secret production mode accepts
// from the environment: 32 random bytes are beyond guessing, online or off.
const MinSecretBytes = 32

// checkSecret refuses an empty secret and, outside dev mode, a known dev
// secret or one shorter than MinSecretBytes. The secret never appears in
// the error.
//
// A secret_sha256 cannot be measured (only its hash is configured); the
// README asks for a high-entropy secret there.
func checkSecret(secret string, dev bool) error {
	if secret == "" {
		return errors.New("the secret is empty (is the environment variable set?)")
	}
	if dev {
		return nil
	}
	if isDevSecret(secret) {
		return errors.New("production mode (dev: false) refuses a known dev secret")
	}
	if len(secret) < MinSecretBytes {
		return fmt.Errorf("production mode (dev: false) needs a secret of at least %d bytes, got %d", MinSecretBytes, len(secret))
	}
	return nil
}

// isDevSecret reports whether s is one of the client secrets of the
// committed dev configuration or a classic placeholder.
func isDevSecret(s string) bool {
	switch s {
	case "dev-app-secret", "dev-admin-secret", "dev-gateway-secret", "dev-feed-secret", "dev-ssf-secret", "secret", "changeme", "password":
		return true
	}
	return false
}

// Check authenticates a client by id and secret. The secret is compared in
// constant time as a hash, and an unknown id costs the same as a wrong
// secret, so timing tells nothing about which clients exist.
func (r *Registry) Check(id, secret string) (Client, bool) {
	got := sha256.Sum256([]byte(secret))
	var c Client
	known := false
	if r != nil {
		c, known = r.byID[id]
	}
	match := subtle.ConstantTimeCompare(got[:], c.SecretHash[:]) == 1
	return c, known && match
}

// Permits reports whether the known client id holds perm now, for a caller
// that authenticated with a token the client obtained earlier: a
// permission taken away (or a client removed) takes effect at once.
func (r *Registry) Permits(id, perm string) bool {
	if r == nil {
		return false
	}
	c, ok := r.byID[id]
	return ok && slices.Contains(c.Permissions, perm)
}

// Granted reports whether some client holds permission perm: start-up
// asks it to keep only what some client can use (a strict-mode instance
// keeps a mirror for the revocation feed only if some client may follow
// it). A nil Registry grants nothing.
func (r *Registry) Granted(perm string) bool {
	if r == nil {
		return false
	}
	for _, c := range r.byID {
		if slices.Contains(c.Permissions, perm) {
			return true
		}
	}
	return false
}
