package config

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// Validate checks the shape of the settings that no other package owns
// (addresses, durations and their ranges, limits) and the production
// refusals that need nothing but the file: outside dev mode, no embedded
// store and no ephemeral signing key. The error names every bad setting.
//
// The rules of the settings another package enforces are applied by the
// wiring before anything connects: revocation.mode by blacklist.ParseMode,
// keys and trusted_issuers by auth.Settings.Check, clients (their secrets
// from the environment and the production refusals on them included) by
// clients.New, verify.trusted_proxies by handlers.ParseProxy.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "want host:port, got %q", c.Listen)
	}
	if c.Metrics.Listen != "" {
		host, port, err := net.SplitHostPort(c.Metrics.Listen)
		switch {
		case err != nil:
			bad("metrics.listen", "want host:port or empty (off), got %q", c.Metrics.Listen)
		case sharesListener(host, port, c.Listen):
			bad("metrics.listen", "%q would share the public listener (listen: %q); the metrics need a port of their own", c.Metrics.Listen, c.Listen)
		}
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
		"feed.heartbeat":           c.Feed.Heartbeat,
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
	if c.Events.DeliveryRetention < time.Minute || c.Events.DeliveryRetention > 30*24*time.Hour {
		bad("events.delivery_retention", "want 1m to 720h, got %v", c.Events.DeliveryRetention)
	}
	for i, h := range c.Events.AllowedReceiverHosts {
		if strings.TrimSpace(h) == "" {
			bad(fmt.Sprintf("events.allowed_receiver_hosts[%d]", i), "must not be empty")
		}
	}
	if c.HTTP.BodyLimit < 1024 || c.HTTP.BodyLimit > 16<<20 {
		bad("http.body_limit", "want 1024 to 16777216 bytes, got %d", c.HTTP.BodyLimit)
	}

	if c.Revocation.MaxStaleness <= 0 || c.Revocation.MaxStaleness > time.Minute {
		bad("revocation.max_staleness", "want more than 0 and at most 1m, got %v", c.Revocation.MaxStaleness)
	}
	if c.Revocation.OnStoreFailure != "closed" && c.Revocation.OnStoreFailure != "open" {
		bad("revocation.on_store_failure", "want closed or open, got %q", c.Revocation.OnStoreFailure)
	}

	if d := c.Console.SessionTTL; d < time.Minute || d > 24*time.Hour {
		bad("console.session_ttl", "want 1m to 24h, got %v", d)
	}

	if n := c.ClientAuth.FailuresPerClient; n < 1 || n > 10000 {
		bad("client_auth.failures_per_client", "want 1 to 10000, got %d", n)
	}
	if n := c.ClientAuth.FailuresPerIP; n < 1 || n > 1_000_000 {
		bad("client_auth.failures_per_ip", "want 1 to 1000000, got %d", n)
	}
	if d := c.ClientAuth.Window; d < time.Second || d > 24*time.Hour {
		bad("client_auth.window", "want 1s to 24h, got %v", d)
	}

	if name := c.Verify.Cookie; name != "" && !isToken(name) {
		bad("verify.cookie", "%q is not a valid cookie name (RFC 6265: no spaces, controls or separators)", name)
	}
	if d := c.Verify.CacheMaxAge; d < 0 || d > c.Tokens.AccessTTL || d%time.Second != 0 {
		bad("verify.cache_max_age", "want whole seconds from 0 (no-store) to tokens.access_ttl (%v), got %v", c.Tokens.AccessTTL, d)
	}

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

// sharesListener reports whether host:port would be the same listener as
// public, or clash with it: the same port on the same host, or on every
// address. Port 0 picks a free port, which never clashes.
func sharesListener(host, port, public string) bool {
	pubHost, pubPort, err := net.SplitHostPort(public)
	if err != nil || port != pubPort || port == "0" {
		return false
	}
	any := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return host == pubHost || any(host) || any(pubHost)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// isToken reports whether s is an RFC 7230 token, which is what RFC 6265
// allows as a cookie name.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b <= 0x20 || b >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, b) >= 0 {
			return false
		}
	}
	return s != ""
}
