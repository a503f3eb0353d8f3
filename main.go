// Command tokenguard issues JWT access tokens and revokes them immediately:
// logout that really logs out, log out of every device, and a forward-auth
// check for reverse proxies, with the revocation state in Redis.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/auth"
	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/config"
	"github.com/tokenguard/tokenguard/handlers"
	"github.com/tokenguard/tokenguard/redisconn"
	"github.com/tokenguard/tokenguard/sessions"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "tokenguard: %v\n", err)
		os.Exit(1)
	}
}

// run starts the service and serves until ctx is cancelled, then drains
// in-flight requests within the configured grace period.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	return serve(ctx, args, getenv, stderr, nil)
}

// maxHeaderBytes bounds request headers; it leaves room for an oversized
// token to reach verification and be refused there with a 401.
const maxHeaderBytes = 256 << 10

// serve is run with one more argument for tests: onListen, when not nil, is
// told the address the server listens on (they listen on port 0).
func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, onListen func(net.Addr)) error {
	fs := flag.NewFlagSet("tokenguard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFlag := fs.String("config", "", "path of the YAML configuration (default $TOKENGUARD_CONFIG, else config.yaml)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	path, required := *configFlag, true
	if path == "" {
		path = getenv("TOKENGUARD_CONFIG")
	}
	if path == "" {
		path, required = "config.yaml", false
	}
	cfg, err := config.Load(path, required, getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log := newLogger(cfg.LogFormat, stderr)
	log.Info("configuration loaded", "path", path, "config", fmt.Sprintf("%+v", cfg.Redacted()))
	if cfg.Dev {
		log.Warn("DEV MODE: production safety checks are relaxed; never run dev: true in production")
	}

	authSvc, err := newAuth(ctx, cfg, getenv, log)
	if err != nil {
		return err
	}
	clients, err := loadClients(cfg, getenv)
	if err != nil {
		return err
	}

	conn, err := redisconn.Open(ctx, redisconn.Config{
		Addrs:          cfg.Redis.Addrs,
		MasterName:     cfg.Redis.MasterName,
		Username:       cfg.Redis.Username,
		Password:       cfg.Redis.Password,
		DB:             cfg.Redis.DB,
		DialTimeout:    cfg.Redis.DialTimeout,
		Timeout:        cfg.Redis.Timeout,
		MinReplicasAck: cfg.Redis.MinReplicasAck,
	}, log)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer func() {
		if err := conn.Close(); err != nil {
			log.Warn("close store", "err", err)
		}
	}()

	mode, err := blacklist.ParseMode(cfg.Revocation.Mode)
	if err != nil {
		return fmt.Errorf("configuration: revocation.mode: %w", err)
	}
	revocations := blacklist.New(conn.Client, blacklist.Config{
		Prefix:           cfg.Redis.KeyPrefix,
		Leeway:           cfg.Tokens.Leeway,
		MaxTokenLifetime: cfg.Tokens.AccessTTL,
		Logger:           log,
		Writer:           conn.Writer,
		Mode:             mode,
		MaxStaleness:     cfg.Revocation.MaxStaleness,
		FailOpen:         cfg.Revocation.OnStoreFailure == "open",
	})
	// The mirror follows Redis until shutdown; it stops before Redis closes.
	mirrorCtx, stopMirror := context.WithCancel(context.WithoutCancel(ctx))
	mirrorDone := make(chan error, 1)
	go func() { mirrorDone <- revocations.Run(mirrorCtx) }()
	defer func() {
		stopMirror()
		if err := <-mirrorDone; err != nil {
			log.Warn("revocation mirror", "err", err)
		}
	}()
	events := audit.New(conn.Client, audit.Config{Prefix: cfg.Redis.KeyPrefix, Retention: cfg.Events.Retention})
	sessionStore := sessions.New(conn.Client, sessions.Config{
		Prefix:          cfg.Redis.KeyPrefix,
		RefreshTTL:      cfg.Tokens.RefreshTTL,
		MaxAge:          cfg.Tokens.SessionMaxAge,
		ReuseWindow:     cfg.Tokens.RefreshReuseWindow,
		MaxPerUser:      cfg.Sessions.MaxPerUser,
		AccessTokenLife: cfg.Tokens.AccessTTL + cfg.Tokens.Leeway,
		Revoker:         revocations,
		Ended:           recordEnding(events, log),
		Logger:          log,
		Writer:          conn.Writer,
	})
	verify, err := verifyConfig(cfg.Verify)
	if err != nil {
		return err
	}
	e := handlers.New(handlers.Config{
		Verify:        verify,
		Auth:          authSvc,
		Revocations:   revocations,
		Clients:       clients,
		Ready:         revocations.Ready,
		StaleShards:   revocations.StaleShards,
		BodyLimit:     cfg.HTTP.BodyLimit,
		Logger:        log,
		Sessions:      sessionStore,
		RefreshTokens: refreshTokens{store: sessionStore},
		Bans:          revocations,
		Events:        events,
	})
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		WriteTimeout:      cfg.HTTP.WriteTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if onListen != nil {
		onListen(ln.Addr())
	}
	log.Info("listening", "addr", ln.Addr().String(), "embedded_store", conn.Embedded)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down", "grace", cfg.HTTP.ShutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: requests still running after %v: %w", cfg.HTTP.ShutdownGrace, err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

// recordEnding puts the sessions the session store ends on its own
// authority (a replayed or revoked refresh token, the per-user cap) on the
// audit trail.
func recordEnding(events *audit.Log, log *slog.Logger) func(context.Context, sessions.Ending) {
	return func(ctx context.Context, e sessions.Ending) {
		ev := audit.Event{Type: e.Cause, Actor: e.Actor, Subject: e.Session.Subject, SessionID: e.Session.ID}
		if err := events.Record(context.WithoutCancel(ctx), ev); err != nil {
			log.Error("audit event not recorded", "type", ev.Type, "actor", ev.Actor, "sub", ev.Subject, "sid", ev.SessionID, "err", err)
		}
	}
}

func newLogger(format string, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// newAuth loads the configured keys or, in dev mode with none, generates an
// ephemeral one, and the trusted issuers, whose JWKS refreshes run until ctx
// is done.
func newAuth(ctx context.Context, cfg config.Config, getenv func(string) string, log *slog.Logger) (*auth.Service, error) {
	var keys []*auth.Key
	for i, k := range cfg.Keys {
		kc := auth.KeyConfig{
			ID:             k.KID,
			Alg:            k.Alg,
			PrivateKeyFile: k.PrivateKeyFile,
			PublicKeyFile:  k.PublicKeyFile,
			VerifyOnly:     k.VerifyOnly,
		}
		if k.SecretEnv != "" {
			kc.Secret = []byte(getenv(k.SecretEnv))
			what := fmt.Sprintf("keys[%d] (secret from $%s)", i, k.SecretEnv)
			if err := cfg.CheckSecret(what, kc.Secret, true); err != nil {
				return nil, fmt.Errorf("configuration: %w", err)
			}
		}
		key, err := auth.LoadKey(kc)
		if err != nil {
			return nil, fmt.Errorf("configuration: keys[%d]: %w", i, err)
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		key, err := auth.GenerateEdDSAKey(fmt.Sprintf("dev-%d", time.Now().Unix()))
		if err != nil {
			return nil, err
		}
		log.Warn("EPHEMERAL KEY: no keys configured, signing with a fresh EdDSA key; every token dies when tokenguard exits", "kid", key.ID())
		keys = append(keys, key)
	}
	trusted, err := trustedIssuers(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	svc, err := auth.New(auth.Config{
		Issuer:            cfg.Issuer,
		Audience:          cfg.Audience,
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
