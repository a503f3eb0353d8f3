package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/tokenguard/tokenguard/blacklist"
)

// isDevSecret reports whether s is one of the client secrets of the
// committed dev configuration or a classic placeholder. Outside dev mode a
// client or key secret equal to one of them stops start-up.
func isDevSecret(s string) bool {
	switch s {
	case "dev-app-secret", "dev-admin-secret", "dev-gateway-secret", "secret", "changeme", "password":
		return true
	}
	return false
}

// MinHMACSecret is the shortest HS256 secret allowed (RFC 7518 §3.2).
const MinHMACSecret = 32

var knownAlgs = []string{"HS256", "RS256", "ES256", "EdDSA"}

var knownPermissions = []string{PermSessions, PermAdmin, PermIntrospect, PermRevoke}

// Validate checks everything that can be checked without the environment's
// secrets; see CheckProduction for the rest. The error names every bad
// setting.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "want host:port, got %q", c.Listen)
	}
	if c.Issuer == "" {
		bad("issuer", "must not be empty")
	}
	if c.Audience == "" {
		bad("audience", "must not be empty")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("log_format", "want text or json, got %q", c.LogFormat)
	}
	if c.Redis.MasterName != "" && len(c.Redis.Addrs) == 0 {
		bad("redis.master_name", "needs redis.addrs (the Sentinel addresses)")
	}
	if c.Redis.DB < 0 {
		bad("redis.db", "must not be negative")
	}
	if c.Redis.DB != 0 && len(c.Redis.Addrs) > 1 && c.Redis.MasterName == "" {
		bad("redis.db", "Redis Cluster has only database 0")
	}
	if c.Redis.MinReplicasAck < 0 || c.Redis.MinReplicasAck > 16 {
		bad("redis.min_replicas_ack", "want 0 (the master alone) to 16 replicas, got %d", c.Redis.MinReplicasAck)
	}
	if c.Redis.MinReplicasAck > 0 && len(c.Redis.Addrs) == 0 {
		bad("redis.min_replicas_ack", "needs redis.addrs: the embedded store has no replicas")
	}
	if c.Redis.KeyPrefix == "" || strings.ContainsAny(c.Redis.KeyPrefix, "{} \t\n") {
		bad("redis.key_prefix", "must be non-empty, without braces or spaces, got %q", c.Redis.KeyPrefix)
	}
	positive := map[string]time.Duration{
		"redis.dial_timeout":       c.Redis.DialTimeout,
		"redis.timeout":            c.Redis.Timeout,
		"tokens.access_ttl":        c.Tokens.AccessTTL,
		"http.read_header_timeout": c.HTTP.ReadHeaderTimeout,
		"http.read_timeout":        c.HTTP.ReadTimeout,
		"http.write_timeout":       c.HTTP.WriteTimeout,
		"http.idle_timeout":        c.HTTP.IdleTimeout,
		"http.shutdown_grace":      c.HTTP.ShutdownGrace,
	}
	for _, k := range sortedKeys(positive) {
		if positive[k] <= 0 {
			bad(k, "must be positive, got %v", positive[k])
		}
	}
	if c.Tokens.AccessTTL > 24*time.Hour {
		bad("tokens.access_ttl", "at most 24h (access tokens are meant to be short-lived), got %v", c.Tokens.AccessTTL)
	}
	if c.Tokens.VerifiedCacheSize < 0 || c.Tokens.VerifiedCacheSize > 1_000_000 {
		bad("tokens.verified_cache_size", "want 0 (off) to 1000000, got %d", c.Tokens.VerifiedCacheSize)
	}
	if c.Tokens.Leeway < 0 || c.Tokens.Leeway > 5*time.Minute {
		bad("tokens.leeway", "want 0 to 5m, got %v", c.Tokens.Leeway)
	}
	const year = 365 * 24 * time.Hour
	lifetimes := map[string]time.Duration{"tokens.refresh_ttl": c.Tokens.RefreshTTL, "tokens.session_max_age": c.Tokens.SessionMaxAge}
	for _, key := range sortedKeys(lifetimes) {
		// A session must outlive the access tokens it refreshes.
		if d := lifetimes[key]; d < c.Tokens.AccessTTL || d > year {
			bad(key, "want tokens.access_ttl (%v) to 8760h, got %v", c.Tokens.AccessTTL, lifetimes[key])
		}
	}
	if c.Tokens.RefreshReuseWindow < 0 || c.Tokens.RefreshReuseWindow > time.Minute {
		bad("tokens.refresh_reuse_window", "want 0 (single use) to 1m, got %v", c.Tokens.RefreshReuseWindow)
	}
	if c.Sessions.MaxPerUser < 0 || c.Sessions.MaxPerUser > 10000 {
		bad("sessions.max_per_user", "want 0 (no cap) to 10000, got %d", c.Sessions.MaxPerUser)
	}
	if c.Events.Retention < time.Minute || c.Events.Retention > year {
		bad("events.retention", "want 1m to 8760h, got %v", c.Events.Retention)
	}
	if c.HTTP.BodyLimit < 1024 || c.HTTP.BodyLimit > 16<<20 {
		bad("http.body_limit", "want 1024 to 16777216 bytes, got %d", c.HTTP.BodyLimit)
	}

	if _, err := blacklist.ParseMode(c.Revocation.Mode); err != nil {
		bad("revocation.mode", "%v", err)
	}
	if c.Revocation.MaxStaleness <= 0 || c.Revocation.MaxStaleness > time.Minute {
		bad("revocation.max_staleness", "want more than 0 and at most 1m, got %v", c.Revocation.MaxStaleness)
	}
	if c.Revocation.OnStoreFailure != "closed" && c.Revocation.OnStoreFailure != "open" {
		bad("revocation.on_store_failure", "want closed or open, got %q", c.Revocation.OnStoreFailure)
	}

	kids := map[string]bool{}
	signers := 0
	for i, k := range c.Keys {
		p := fmt.Sprintf("keys[%d]", i)
		if k.KID == "" {
			bad(p+".kid", "must not be empty")
		} else if kids[k.KID] {
			bad(p+".kid", "duplicate kid %q", k.KID)
		}
		kids[k.KID] = true
		if !slices.Contains(knownAlgs, k.Alg) {
			bad(p+".alg", "want one of %v, got %q", knownAlgs, k.Alg)
		}
		if k.Alg == "HS256" {
			if k.SecretEnv == "" || k.PrivateKeyFile != "" || k.PublicKeyFile != "" {
				bad(p, "an HS256 key takes its secret from secret_env, and nothing else")
			}
		} else if k.SecretEnv != "" || (k.PrivateKeyFile == "" && k.PublicKeyFile == "") {
			bad(p, "a %s key needs private_key_file (or public_key_file when verify_only), not secret_env", k.Alg)
		}
		if !k.VerifyOnly {
			signers++
			if k.Alg != "HS256" && k.PrivateKeyFile == "" {
				bad(p, "a signing key needs private_key_file; set verify_only: true for a public key only")
			}
		}
	}
	if len(c.Keys) > 0 && signers != 1 {
		bad("keys", "exactly one key must sign (the others verify_only: true), got %d", signers)
	}

	ids := map[string]bool{}
	for i, cl := range c.Clients {
		p := fmt.Sprintf("clients[%d]", i)
		if cl.ID == "" || strings.ContainsAny(cl.ID, ": \t\n") {
			bad(p+".id", "must be non-empty, without colons or spaces, got %q", cl.ID)
		} else if ids[cl.ID] {
			bad(p+".id", "duplicate client id %q", cl.ID)
		}
		ids[cl.ID] = true
		sources := 0
		for _, s := range []string{cl.Secret, cl.SecretEnv, cl.SecretSHA256} {
			if s != "" {
				sources++
			}
		}
		if sources != 1 {
			bad(p, "set exactly one of secret, secret_env and secret_sha256")
		}
		if cl.SecretSHA256 != "" {
			if b, err := hex.DecodeString(cl.SecretSHA256); err != nil || len(b) != 32 {
				bad(p+".secret_sha256", "want 64 hex digits (SHA-256 of the secret)")
			}
		}
		if cl.Secret != "" && !c.Dev {
			bad(p+".secret", "a clear-text secret in the file is for dev only; use secret_env or secret_sha256")
		}
		for _, perm := range cl.Permissions {
			if !slices.Contains(knownPermissions, perm) {
				bad(p+".permissions", "unknown permission %q (known: %v)", perm, knownPermissions)
			}
		}
	}

	c.validateSidecar(bad)

	if !c.Dev {
		if len(c.Redis.Addrs) == 0 {
			bad("redis.addrs", "production mode (dev: false) refuses the embedded store, which loses every revocation on exit; set redis.addrs")
		}
		if len(c.Keys) == 0 {
			bad("keys", "production mode (dev: false) refuses an ephemeral signing key; configure keys")
		}
	}
	return errors.Join(errs...)
}

// CheckSecret refuses an empty secret, an HMAC secret shorter than
// MinHMACSecret and, outside dev mode, a known dev secret. what names the
// setting; the secret itself never appears in the error.
func (c Config) CheckSecret(what string, secret []byte, hmacKey bool) error {
	if len(secret) == 0 {
		return fmt.Errorf("%s: the secret is empty (is its environment variable set?)", what)
	}
	if hmacKey && len(secret) < MinHMACSecret {
		return fmt.Errorf("%s: an HMAC secret needs at least %d bytes, got %d", what, MinHMACSecret, len(secret))
	}
	if !c.Dev && isDevSecret(string(secret)) {
		return fmt.Errorf("%s: production mode (dev: false) refuses a known dev secret", what)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
