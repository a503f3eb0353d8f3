package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/clients"
	"github.com/tokenguard/tokenguard/config"
	"github.com/tokenguard/tokenguard/handlers"
	"github.com/tokenguard/tokenguard/signals"
)

// settings is the configuration in the terms of the packages that own its
// rules, every one of those rules applied: what start-up builds the service
// from.
type settings struct {
	auth    auth.Settings
	clients *clients.Registry
	verify  handlers.VerifyConfig
	mode    blacklist.Mode
}

// checkConfig hands each part of the configuration to the package that owns
// its rules, before any file is read, key set fetched or store connected, so
// that a bad configuration stops start-up at once. config has checked the
// shape already; the error names every setting that breaks a rule by its
// YAML path.
func checkConfig(cfg config.Config, getenv func(string) string) (settings, error) {
	var s settings
	var errs []error
	mode, err := blacklist.ParseMode(cfg.Revocation.Mode)
	if err != nil {
		errs = append(errs, fmt.Errorf("revocation.mode: %w", err))
	}
	s.mode = mode

	s.auth = auth.Settings{Issuer: cfg.Issuer, Audience: cfg.Audience, AllowHTTPJWKS: cfg.Dev}
	for _, k := range cfg.Keys {
		kc := auth.KeyConfig{
			ID:             k.KID,
			Alg:            k.Alg,
			PrivateKeyFile: k.PrivateKeyFile,
			PublicKeyFile:  k.PublicKeyFile,
			SecretEnv:      k.SecretEnv,
			VerifyOnly:     k.VerifyOnly,
		}
		if k.SecretEnv != "" {
			kc.Secret = []byte(getenv(k.SecretEnv))
		}
		s.auth.Keys = append(s.auth.Keys, kc)
	}
	for _, ti := range cfg.TrustedIssuers {
		s.auth.TrustedIssuers = append(s.auth.TrustedIssuers, auth.TrustedIssuerConfig{
			Issuer:           ti.Issuer,
			Audience:         ti.Audience,
			Algorithms:       ti.Algorithms,
			JWKSURL:          ti.JWKSURL,
			PublicKeyFile:    ti.PublicKeyFile,
			MaxTokenLifetime: ti.MaxTokenLifetime,
		})
	}
	if err := s.auth.Check(); err != nil {
		errs = append(errs, err)
	}

	entries := make([]clients.Entry, 0, len(cfg.Clients))
	for _, c := range cfg.Clients {
		entries = append(entries, clients.Entry{ID: c.ID, Secret: c.Secret, SecretEnv: c.SecretEnv, SecretSHA256: c.SecretSHA256, Permissions: c.Permissions})
	}
	if s.clients, err = clients.New(clients.Config{Clients: entries, Getenv: getenv, Dev: cfg.Dev}); err != nil {
		errs = append(errs, err)
	}

	if err := signals.CheckHostPatterns(cfg.Events.AllowedReceiverHosts); err != nil {
		errs = append(errs, err)
	}

	v := cfg.Verify
	s.verify = handlers.VerifyConfig{
		Cookie:         v.Cookie,
		TrustedProxies: make([]netip.Prefix, 0, len(v.TrustedProxies)),
		CacheMaxAge:    v.CacheMaxAge,
		EmailClaim:     v.EmailClaim,
		GroupsClaim:    v.GroupsClaim,
	}
	for i, p := range v.TrustedProxies {
		prefix, err := handlers.ParseProxy(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("verify.trusted_proxies[%d]: %w", i, err))
			continue
		}
		s.verify.TrustedProxies = append(s.verify.TrustedProxies, prefix)
	}
	return s, errors.Join(errs...)
}

// prepared is a configuration ready to serve from: loaded (defaults, file,
// environment), every rule applied by the package that owns it, and every
// key file read. serve and check-config both start here, so check-config
// accepts exactly what serve accepts, with the same messages.
type prepared struct {
	// path is the configuration file read, or looked for.
	path string
	cfg  config.Config
	set  settings
	// keys are the configured keys, loaded; none in dev means an
	// ephemeral key (see newAuth).
	keys []*auth.Key
}

// prepare loads the configuration from configFlag (else $TOKENGUARD_CONFIG,
// else config.yaml if present) and the environment, and checks it, reading
// files but connecting to nothing and fetching nothing. On error, the
// returned path still names the file.
func prepare(configFlag string, getenv func(string) string) (prepared, error) {
	var p prepared
	var required bool
	p.path, required = configPath(configFlag, getenv)
	cfg, err := config.Load(p.path, required, getenv)
	if err != nil {
		return p, fmt.Errorf("configuration: %w", err)
	}
	set, err := checkConfig(cfg, getenv)
	if err != nil {
		return p, fmt.Errorf("configuration: %w", err)
	}
	for i, kc := range set.auth.Keys {
		key, err := auth.LoadKey(kc)
		if err != nil {
			return p, fmt.Errorf("configuration: keys[%d]: %w", i, err)
		}
		p.keys = append(p.keys, key)
	}
	p.cfg, p.set = cfg, set
	return p, nil
}

// configPath is the configuration file to read: the -config flag, else
// $TOKENGUARD_CONFIG, else config.yaml, which alone may be missing.
func configPath(flag string, getenv func(string) string) (path string, required bool) {
	if flag != "" {
		return flag, true
	}
	if p := getenv("TOKENGUARD_CONFIG"); p != "" {
		return p, true
	}
	return "config.yaml", false
}

// newAuth builds the token service from the loaded keys or, in dev mode
// with none configured, an ephemeral one, and the trusted issuers, whose
// JWKS refreshes run until ctx is done.
func newAuth(ctx context.Context, cfg config.Config, s auth.Settings, loaded []*auth.Key, log *slog.Logger) (*auth.Service, error) {
	keys := slices.Clone(loaded)
	if len(keys) == 0 {
		key, err := auth.GenerateEdDSAKey(fmt.Sprintf("dev-%d", time.Now().Unix()))
		if err != nil {
			return nil, err
		}
		log.Warn("EPHEMERAL KEY: no keys configured, signing with a fresh EdDSA key; every token dies when tokenguard exits", "kid", key.ID())
		keys = append(keys, key)
	}
	trusted, err := trustedIssuers(ctx, s.TrustedIssuers, log)
	if err != nil {
		return nil, err
	}
	svc, err := auth.New(auth.Config{
		Issuer:            s.Issuer,
		Audience:          s.Audience,
		AccessTTL:         cfg.Tokens.AccessTTL,
		Leeway:            cfg.Tokens.Leeway,
		Keys:              keys,
		TrustedIssuers:    trusted,
		VerifiedCacheSize: cfg.Tokens.VerifiedCacheSize,
	})
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	return svc, nil
}

// trustedIssuers loads the other identity providers whose tokens are
// accepted. A JWKS that cannot be fetched at start-up does not stop
// tokenguard (its own tokens must keep working); it is logged and fetched
// again on the first token that needs it. The background refreshes stop
// when ctx is done.
func trustedIssuers(ctx context.Context, list []auth.TrustedIssuerConfig, log *slog.Logger) ([]*auth.TrustedIssuer, error) {
	out := make([]*auth.TrustedIssuer, 0, len(list))
	for i, ti := range list {
		ti.Logger = log
		loaded, err := auth.NewTrustedIssuer(ctx, ti)
		if err != nil {
			return nil, fmt.Errorf("configuration: trusted_issuers[%d]: %w", i, err)
		}
		log.Info("trusted issuer", "issuer", ti.Issuer, "audience", ti.Audience, "algorithms", ti.Algorithms, "jwks_url", ti.JWKSURL, "public_key_file", ti.PublicKeyFile, "max_token_lifetime", loaded.MaxTokenLifetime().String())
		out = append(out, loaded)
	}
	return out, nil
}
