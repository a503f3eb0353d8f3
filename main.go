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

	"github.com/tokenguard/tokenguard/audit"
	"github.com/tokenguard/tokenguard/blacklist"
	"github.com/tokenguard/tokenguard/config"
	"github.com/tokenguard/tokenguard/handlers"
	"github.com/tokenguard/tokenguard/metrics"
	"github.com/tokenguard/tokenguard/redisconn"
	"github.com/tokenguard/tokenguard/sessions"
	"github.com/tokenguard/tokenguard/users"
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
	set, err := checkConfig(cfg, getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log := newLogger(cfg.LogFormat, stderr)
	log.Info("configuration loaded", "path", path, "config", fmt.Sprintf("%+v", cfg.Redacted()))
	if cfg.Dev {
		log.Warn("DEV MODE: production safety checks are relaxed; never run dev: true in production")
	}

	authSvc, err := newAuth(ctx, cfg, set.auth, log)
	if err != nil {
		return err
	}

	meters := metrics.New()
	conn, err := redisconn.Open(ctx, redisconn.Config{
		Addrs:          cfg.Redis.Addrs,
		MasterName:     cfg.Redis.MasterName,
		Username:       cfg.Redis.Username,
		Password:       cfg.Redis.Password,
		DB:             cfg.Redis.DB,
		DialTimeout:    cfg.Redis.DialTimeout,
		Timeout:        cfg.Redis.Timeout,
		MinReplicasAck: cfg.Redis.MinReplicasAck,
		CommandFailed:  meters.RedisCommandFailed,
	}, log)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer func() {
		if err := conn.Close(); err != nil {
			log.Warn("close store", "err", err)
		}
	}()

	revocations := blacklist.New(conn.Client, blacklist.Config{
		Prefix:           cfg.Redis.KeyPrefix,
		Leeway:           cfg.Tokens.Leeway,
		MaxTokenLifetime: cfg.Tokens.AccessTTL,
		Logger:           log,
		Writer:           conn.Writer,
		Mode:             set.mode,
		MaxStaleness:     cfg.Revocation.MaxStaleness,
		FailOpen:         cfg.Revocation.OnStoreFailure == "open",
		OnApplied:        meters.MirrorApplied,
	})
	if err := errors.Join(meters.WatchRedisPool(conn.Client.PoolStats), meters.WatchMirror(revocations.Stats)); err != nil {
		return err
	}
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
		Logger:          log,
		Writer:          conn.Writer,
	})
	accounts, err := users.New(users.Config{
		Tokens:      authSvc,
		Revocations: revocations,
		Sessions:    sessionStore,
		Audit:       events,
		Logger:      log,
		Metrics:     meters,
	})
	if err != nil {
		return err
	}
	e, err := handlers.New(handlers.Config{
		Verify:      set.verify,
		Auth:        authSvc,
		Users:       accounts,
		Clients:     set.clients,
		Ready:       revocations.Ready,
		BodyLimit:   cfg.HTTP.BodyLimit,
		Logger:      log,
		StaleShards: revocations.StaleShards,
		Metrics:     meters,
	})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		WriteTimeout:      cfg.HTTP.WriteTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	stopMetrics, err := serveMetrics(cfg.Metrics.Listen, meters.Handler(log), cfg.HTTP, log)
	if err != nil {
		return err
	}
	defer stopMetrics()
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

func newLogger(format string, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
